/**
 * Lambda Cloud failover classification, by the API's error codes (`global/...`,
 * `instance-operations/launch/...`). Lambda has no zones, so capacity is per region; quotas and
 * keys are per account (the whole cloud). Unknown errors block the region tried.
 */
import { SkyhopError } from '../../util/errors.js';
import { errorFacts, isTransient, ProvisioningUnavailableError } from '../errors.js';
import type { BlockScope } from '../../core/cluster.js';

export function classifyLambdaError(e: unknown): BlockScope {
  if (e instanceof ProvisioningUnavailableError) return 'cloud';
  if (e instanceof SkyhopError && e.name === 'UserError') return 'fatal';
  const f = errorFacts(e);
  const code = f.code.toLowerCase();
  if (code.includes('insufficient-capacity') || f.message.includes('not enough capacity')) return 'region';
  if (
    code.includes('invalid-api-key') ||
    code.includes('unauthorized') ||
    code.includes('quota-exceeded') ||
    code.includes('account-inactive') ||
    f.status === 401 ||
    f.status === 403
  ) {
    return 'cloud';
  }
  if (isTransient(f)) return 'retry';
  if (code.includes('invalid-parameters') || code.includes('object-does-not-exist') || f.status === 400)
    return 'fatal';
  return 'region';
}
