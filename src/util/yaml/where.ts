/**
 * Where a value came from, for error messages: a field path, a CLI flag. No YAML here, so the
 * command-line path (`skyhop exec c 'cmd'`) does not load the YAML parser.
 */
import { UserError } from '../errors.js';

export type Path = ReadonlyArray<string | number>;

/** `resources.any_of[1].cpus`, `envs.MY_VAR`, `file_mounts['/data']`. */
export function formatPath(path: Path): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg).replace(/^"|"$/g, "'")}]`;
  }
  return out;
}

/** A place a value came from; `prefix` is what goes before `: message` in an error line. */
export interface Where {
  prefix(): string;
}

/** A CLI flag, e.g. `--cpus`. */
export function flagWhere(flag: string): Where {
  return { prefix: () => flag };
}

/** A field of a task built in code (no file). */
export function fieldWhere(path: Path): Where {
  return { prefix: () => formatPath(path) || 'task' };
}

export function whereError(w: Where, message: string): UserError {
  return new UserError(`${w.prefix()}: ${message}`);
}
