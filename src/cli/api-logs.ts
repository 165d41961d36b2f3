/** `skyhop api logs` (cli/api.ts). */
import { logs } from './api.js';
import { flags, type OptionsOf, options } from './options.js';

export const parse = options({ args: flags.words(), follow: flags.bool() });

export default function apiCmd(o: OptionsOf<typeof parse>): Promise<number> {
  return logs(o);
}
