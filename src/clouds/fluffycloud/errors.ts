/**
 * FluffyCloud failover classification. Its API answers errors as JSON with a `code` (carried on the
 * thrown error as `code`) and an HTTP status: no capacity in a zone -> zone; a region's quota or a
 * region that is down -> region; a bad key -> the whole cloud; 429/5xx -> retry; 400 -> fatal.
 * Codes are matched by keyword so the API client can pass them through unchanged.
 */
import { SkyhopError } from '../../util/errors.js';
import { errorFacts, isTransient, ProvisioningUnavailableError } from '../credentials.js';
import type { BlockScope } from '../types.js';

export function classifyFluffyCloudError(e: unknown): BlockScope {
  if (e instanceof ProvisioningUnavailableError) return 'cloud';
  if (e instanceof SkyhopError && e.name === 'UserError') return 'fatal';
  const f = errorFacts(e);
  const text = `${f.code} ${f.message}`.toLowerCase();
  if (/capacity|stockout|zone.?(unavailable|exhausted)/.test(text)) return 'zone';
  if (/quota|limit.?exceeded|region.?(unavailable|down|disabled)/.test(text)) return 'region';
  if (/unauthori[sz]ed|forbidden|invalid.?api.?key|auth/.test(text) || f.status === 401 || f.status === 403) {
    return 'cloud';
  }
  if (isTransient(f)) return 'retry';
  if (/invalid|bad.?request|not.?found/.test(text) || f.status === 400 || f.status === 404) return 'fatal';
  return 'zone';
}
