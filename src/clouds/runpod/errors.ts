/**
 * RunPod failover classification. RunPod's GraphQL API reports errors as messages: no machine left
 * with the requested GPUs in a data center (zone) -> zone; a bad key or an empty balance -> the
 * whole cloud; rate limits and 5xx -> retry. Unknown errors block the zone tried.
 */
import { SkyhopError } from '../../util/errors.js';
import { errorFacts, isTransient, ProvisioningUnavailableError } from '../errors.js';
import type { BlockScope } from '../../core/cluster.js';

export function classifyRunpodError(e: unknown): BlockScope {
  if (e instanceof ProvisioningUnavailableError) return 'cloud';
  if (e instanceof SkyhopError && e.name === 'UserError') return 'fatal';
  const f = errorFacts(e);
  if (/no longer any instances available|no instances? available|not enough .*available/.test(f.message)) {
    return 'zone';
  }
  if (/unauthori[sz]ed|forbidden|api key|insufficient (funds|balance)|balance is too low/.test(f.message)) {
    return 'cloud';
  }
  if (f.status === 401 || f.status === 403) return 'cloud';
  if (isTransient(f)) return 'retry';
  if (f.status === 400) return 'fatal';
  return 'zone';
}
