import { homedir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** $SKYHOP_HOME, default ~/.skyhop. Tests always set their own. */
export function skyhopHome(): string {
  return process.env.SKYHOP_HOME || join(homedir(), '.skyhop');
}

/** The package root (where package.json, catalogs/ and dist/ live), from src/ or dist/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (dir.endsWith('/src') || dir.endsWith('/dist')) return dirname(dir);
    dir = dirname(dir);
  }
  throw new Error('cannot locate the skyhop package root');
}
