/**
 * What a field parser throws for a bad user value, and how a value is shown in its "got ..." message;
 * shared by the task parser and the config file (no zod here: inline commands load this too).
 */

/** A bad value; the shape check turns it into an issue at the field's position. */
export class ValueError extends Error {
  override readonly name = 'ValueError';
}

/** A short rendering of a user value for "got ..." messages. */
export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Set) return 'a set';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}
