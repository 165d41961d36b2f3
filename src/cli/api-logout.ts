/** `skyhop api logout` (cli/api.ts). */
import { logout } from './api.js';
import { type OptionsOf, options } from './options.js';

export const parse = options({});

export default function apiCmd(o: OptionsOf<typeof parse>): Promise<number> {
  return logout(o);
}
