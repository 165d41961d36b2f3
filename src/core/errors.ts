/**
 * The typed provisioning error (floor 1, so that every layer that provisions can raise it: a cloud's
 * provider, and the shared layer that waits for nodes to answer over SSH). src/clouds/errors.ts
 * re-exports it with the helpers the classifiers use.
 */
import { CloudError } from '../util/errors.js';
import type { BlockScope } from './cluster.js';

/** A provider's own failure, with what the failover loop should block (or retry). */
export class ProvisionError extends CloudError {
  readonly scope: BlockScope;
  /** A short machine-readable reason ('boot_timeout', 'ssh_unreachable', ...). */
  readonly reason: string;
  constructor(scope: BlockScope, reason: string, message: string, opts: { cause?: unknown } = {}) {
    super(message, opts);
    this.name = 'ProvisionError';
    this.scope = scope;
    this.reason = reason;
  }
}
