/**
 * Lambda Cloud failover classification, by the API's error codes (`global/...`,
 * `instance-operations/launch/...`). Lambda has no zones, so capacity is per region; quotas and
 * keys are per account (the whole cloud). What every cloud shares (interrupts, UserError, ProvisionError,
 * bugs, network hiccups and 429/5xx) is decided once by the failover loop (src/provision/classify.ts);
 * its default for unknown errors, the zone tried, is the region here (Lambda has no zones).
 */
import { errorFacts } from '../errors.js';
import type { BlockScope } from '../../core/cluster.js';

export function classifyLambdaError(e: unknown): BlockScope | undefined {
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
  if (code.includes('invalid-parameters') || code.includes('object-does-not-exist') || f.status === 400)
    return 'fatal';
  return undefined;
}
