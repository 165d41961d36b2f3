/** `skyhop api users` (cli/api.ts). */
import { users } from './api.js';
import { flags, type OptionsOf, options } from './options.js';

export const parse = options({ args: flags.words(), role: flags.str(), db: flags.str() });

export default function apiCmd(o: OptionsOf<typeof parse>): Promise<number> {
  return users(o);
}
