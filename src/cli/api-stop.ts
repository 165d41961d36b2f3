/** `skyhop api stop` (cli/api.ts). */
import { stop } from './api.js';
import { flags, type OptionsOf, options } from './options.js';

export const parse = options({ port: flags.str() });

export default function apiCmd(o: OptionsOf<typeof parse>): Promise<number> {
  return stop(o);
}
