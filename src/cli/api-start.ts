/** `skyhop api start` (cli/api.ts). */
import { start } from './api.js';
import { flags, type OptionsOf, options } from './options.js';

export const parse = options({
  host: flags.str(),
  port: flags.str(),
  db: flags.str(),
  foreground: flags.bool(),
});

export default function apiCmd(o: OptionsOf<typeof parse>): Promise<number> {
  return start(o);
}
