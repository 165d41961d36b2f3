/** `skyhop api status` (cli/api.ts). */
import { status } from './api.js';
import { flags, type OptionsOf, options } from './options.js';

export const parse = options({ args: flags.words(), all: flags.bool(), json: flags.bool() });

export default function apiCmd(o: OptionsOf<typeof parse>): Promise<number> {
  return status(o);
}
