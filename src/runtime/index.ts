/**
 * The runtime: how skyhop reaches its nodes. `makeRunner` is the only factory of runners.
 */
import type { Connection } from '../core/cluster.js';
import { UserError } from '../util/errors.js';
import { LocalRunner } from './local-runner.js';
import { SshRunner } from './ssh-runner.js';
import type { CommandRunner } from './types.js';

export type { CommandRunner, RunOptions, RunResult } from './types.js';
export { LocalRunner } from './local-runner.js';
export { killByMarker, killByMarkerShell, listByMarker } from './procs.js';
export { inParallel, allOrThrow, type Settled } from './parallel.js';

/** A runner for one node. */
export function makeRunner(conn: Connection): CommandRunner {
  switch (conn.kind) {
    case 'local':
      return new LocalRunner(conn);
    case 'ssh':
      return new SshRunner(conn);
    default: {
      const kind = (conn as { kind?: unknown }).kind;
      throw new UserError(
        `Unknown node connection kind ${JSON.stringify(kind)}; this skyhop build knows 'local' and 'ssh'.`,
      );
    }
  }
}
