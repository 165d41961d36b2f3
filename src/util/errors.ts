/**
 * Errors meant for users. The CLI prints `message` as one line (what, where, how to fix) and
 * exits with `exitCode`; a stack trace is shown only with SKYHOP_DEBUG=1.
 *
 * Exit codes (DESIGN.md): 0 ok, 1 user error, 2 cloud/provision error, 130 interrupted.
 */
export class SkyhopError extends Error {
  readonly exitCode: number;
  /** Optional extra lines printed after the message (e.g. nearest feasible offers). */
  readonly details: string[];
  constructor(message: string, opts: { exitCode?: number; details?: string[]; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SkyhopError';
    this.exitCode = opts.exitCode ?? 1;
    this.details = opts.details ?? [];
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
