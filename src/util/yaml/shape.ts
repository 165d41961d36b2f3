/**
 * A zod shape check's problems as one UserError in file order: `file:line:col: field: message` for
 * the first, up to five more as details. Positions are found for every problem (cheap), messages only
 * for those shown: a file with 20,000 unknown keys must not build 20,000 errors and suggestions.
 * Shared by the task parser and the config file.
 */
import * as z from 'zod';
import { UserError } from '../errors.js';
import type { Path, SourceDoc } from './source.js';
import { ValueError } from './value.js';

/**
 * The UserError for a failed `safeParse` of the document `src` (of the value at `at` in it, when that
 * is what was checked); `unknownKey` words an unknown key (its path is the full path in the document).
 */
export function shapeError(
  src: SourceDoc,
  error: z.ZodError,
  unknownKey: (path: Path, key: string) => string,
  at: Path = [],
): UserError {
  const problems: Array<{ line: number; col: number; err: () => UserError }> = [];
  for (const issue of error.issues) {
    const path = [...at, ...issue.path.filter((p): p is string | number => typeof p !== 'symbol')];
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) {
        const at = [...path, k];
        problems.push({
          ...src.pos(at, { key: true }),
          err: () => src.error(at, unknownKey(path, k), { key: true, label: path }),
        });
      }
    } else {
      problems.push({ ...src.pos(path), err: () => src.error(path, issue.message) });
    }
  }
  problems.sort((a, b) => a.line - b.line || a.col - b.col);
  const [first, ...rest] = problems;
  const more = rest.length > 5 ? [`and ${rest.length - 5} more problems`] : [];
  return new UserError(first.err().message, {
    details: [...rest.slice(0, 5).map((p) => `also: ${p.err().message}`), ...more],
  });
}

/** A field parsed by `fn`; null/absent -> undefined; a ValueError becomes a zod issue at the field. */
export function via<T>(fn: (v: unknown) => T) {
  return z
    .unknown()
    .transform((v, ctx): T | undefined => {
      if (v === null || v === undefined) return undefined;
      try {
        return fn(v);
      } catch (e) {
        if (e instanceof ValueError) {
          ctx.addIssue({ code: 'custom', message: e.message, input: v });
          return z.NEVER;
        }
        throw e;
      }
    })
    .optional();
}
