/**
 * Errors meant for users. The CLI prints `message` as one line (what, where, how to fix) and
 * exits with `exitCode`; a stack trace is shown only with SKYHOP_DEBUG=1.
 *
 * Exit codes (DESIGN.md): 0 ok, 1 user error, 2 cloud/provision error, 130 interrupted.
 */
/** A run of text without spaces longer than this is cut in messages (a path or name never needs more). */
const LONG_TOKEN = 160;
/** A quoted value with spaces is cut past this length (a message's own prose between quotes is shorter). */
const LONG_QUOTED = 600;
/** Of a cut run, this many characters are kept. */
const KEPT = 60;

/**
 * A message with every over-long value cut to a readable length, an ellipsis and the value's length:
 * a 2 MB string in a task file gives a one-line error, not a 2 MB one. Applied to every SkyhopError, so
 * no call site has to remember it.
 */
export function clipLongValues(text: string): string {
  if (text.length <= LONG_TOKEN) return text;
  return text.replace(
    new RegExp(
      `'[^'\\n]{${LONG_QUOTED + 1},}'|"[^"\\n]{${LONG_QUOTED + 1},}"|(['"]?)[^\\s'"]{${LONG_TOKEN + 1},}\\1`,
      'g',
    ),
    (m) => {
      const q = m.length > 1 && (m[0] === "'" || m[0] === '"') && m.at(-1) === m[0] ? m[0] : '';
      const body = q ? m.slice(1, -1) : m;
      return `${q}${body.slice(0, KEPT)}…${q} (${body.length.toLocaleString('en-US')} characters)`;
    },
  );
}

export class SkyhopError extends Error {
  readonly exitCode: number;
  /** Optional extra lines printed after the message (e.g. nearest feasible offers). */
  readonly details: string[];
  constructor(message: string, opts: { exitCode?: number; details?: string[]; cause?: unknown } = {}) {
    super(clipLongValues(message), opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SkyhopError';
    this.exitCode = opts.exitCode ?? 1;
    this.details = (opts.details ?? []).map(clipLongValues);
  }
}

/** A mistake in the user's input: a task file, a flag, a name. Exit code 1. */
export class UserError extends SkyhopError {
  constructor(message: string, opts: { details?: string[]; cause?: unknown } = {}) {
    super(message, { ...opts, exitCode: 1 });
    this.name = 'UserError';
  }
}

/** A cloud or provisioning failure. Exit code 2. */
export class CloudError extends SkyhopError {
  constructor(message: string, opts: { details?: string[]; cause?: unknown } = {}) {
    super(message, { ...opts, exitCode: 2 });
    this.name = 'CloudError';
  }
}

/** The user interrupted (Ctrl-C). Exit code 130. */
export class InterruptedError extends SkyhopError {
  constructor(message = 'Interrupted.') {
    super(message, { exitCode: 130 });
    this.name = 'InterruptedError';
  }
}
