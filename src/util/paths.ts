import { homedir } from 'node:os';
import { join } from 'node:path';

/** $SKYHOP_HOME, default ~/.skyhop. Tests always set their own. */
export function skyhopHome(): string {
  return process.env.SKYHOP_HOME || join(homedir(), '.skyhop');
}
