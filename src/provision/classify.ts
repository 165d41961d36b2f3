/**
 * What the failover loop does after a failed attempt, decided ONCE for every cloud:
 *
 *   1. the user interrupted, the input is wrong (UserError), or skyhop itself is wrong (TypeError,
 *      RangeError, ...): fatal, no other place can help;
 *   2. a provider's own failure (`ProvisionError`) carries its scope;
 *   3. a cloud whose provisioning is not built (`ProvisioningUnavailableError`): the whole cloud;
 *   4. the cloud's own API errors: `cloud.classifyError` (its error codes);
 *   5. anything else that looks transient (network hiccup, 429, 5xx): retry the same place;
 *   6. anything else: block the zone tried (the region, where there is no zone), as SkyPilot's default
 *      handler does.
 */
import { ProvisionError, ProvisioningUnavailableError, errorFacts, isTransient } from '../clouds/errors.js';
import type { Cloud } from '../clouds/types.js';
import type { BlockScope } from '../core/cluster.js';
import { InterruptedError, UserError } from '../util/errors.js';

const PROGRAMMING_ERRORS = new Set(['TypeError', 'RangeError', 'ReferenceError', 'SyntaxError']);

export function classify(cloud: Pick<Cloud, 'classifyError'>, e: unknown): BlockScope {
  if (e instanceof InterruptedError || e instanceof UserError) return 'fatal';
  if (e instanceof ProvisionError) return e.scope;
  if (e instanceof ProvisioningUnavailableError) return 'cloud';
  if (e instanceof Error && PROGRAMMING_ERRORS.has(e.name)) return 'fatal';
  const own = cloud.classifyError(e);
  if (own !== undefined) return own;
  if (isTransient(errorFacts(e))) return 'retry';
  return 'zone';
}
