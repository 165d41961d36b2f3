/**
 * RunPod failover classification. RunPod's GraphQL API reports errors as messages: no machine left
 * with the requested GPUs in a data center (zone) -> zone; a bad key or an empty balance -> the
 * whole cloud. What every cloud shares (interrupts, UserError, ProvisionError, bugs, rate limits and
 * 5xx, unknown errors -> the zone tried) is decided once by the failover loop (src/provision/classify.ts).
 */
import { errorFacts } from '../errors.js';
import type { BlockScope } from '../../core/cluster.js';

export function classifyRunpodError(e: unknown): BlockScope | undefined {
  const f = errorFacts(e);
  if (/no longer any instances available|no instances? available|not enough .*available/.test(f.message)) {
    return 'zone';
  }
  if (/unauthori[sz]ed|forbidden|api key|insufficient (funds|balance)|balance is too low/.test(f.message)) {
    return 'cloud';
  }
  if (f.status === 401 || f.status === 403) return 'cloud';
  if (f.status === 400) return 'fatal';
  return undefined;
}
