/** `skyhop api login` (cli/api.ts). */
import { login } from './api.js';
import { flags, type OptionsOf, options } from './options.js';

export const parse = options({ endpoint: flags.str(), token: flags.str() });

export default function apiCmd(o: OptionsOf<typeof parse>): Promise<number> {
  return login(o);
}
