/**
 * Step 5 of the new-cloud guide: failover. Turns what a FluffyCloud launch threw into what the
 * failover loop blocks (src/provision/failover.ts):
 *
 *   code (HTTP)                         scope     why
 *   capacity (503)                      region    see below
 *   region_unavailable (503)            region    the region is down
 *   quota (403)                         cloud     quotas are per user, across every region
 *   unauthorized (401)                  cloud     the API key is wrong everywhere
 *   internal (500), rate_limited (429),
 *   other 5xx, timeout, ECONNRESET/EPIPE retry    transient: the same place again after a backoff
 *   ECONNREFUSED, ENOTFOUND, other
 *   network failures                    cloud     the API cannot be reached at all (the client
 *                                                 already retried)
 *   bad_request (400), not_found (404)  fatal     the request itself is wrong; no place fixes it
 *   boot_failed, boot_timeout           region    an instance died or never came up while booting
 *   ssh_unreachable                     fatal     SSH set-up is the same in every place
 *   cluster_conflict                    fatal     the cluster already has nodes in another region
 *   terminate_timeout                   retry     removed nodes were slow to go (cleanup only)
 *
 * Capacity blocks the region, as the issue asks. The alternative, blocking only the zone the message
 * names, is not strictly better on FluffyCloud: capacity can be capped per region or per zone, and a
 * launch without a zone (skyhop leaves the zone open unless the user pins one or spot prices differ
 * by zone) has already been tried in every zone of the region by the cloud itself, so its capacity
 * error means the region is out. A region-wide cap names just one zone in its message, so "names a
 * zone" does not tell a zonal shortage from a regional one. The cost: a launch pinned to a full zone
 * does not try the region's other zones. A cloud whose capacity errors are reliably per zone (AWS's
 * InsufficientInstanceCapacity) should map them to 'zone'.
 *
 * Errors not from the client are matched by their code and message, so that errors with the shape of
 * other SDKs (`{code: 'InsufficientCapacity'}`) classify sensibly too.
 */
import { ProvisioningUnavailableError, errorFacts, isTransient } from '../credentials.js';
import type { BlockScope } from '../types.js';
import { CloudError, InterruptedError, UserError } from '../../util/errors.js';
import { FluffyCloudApiError } from './api.js';

/** What the provider itself throws when a node never becomes usable. `code` drives the classification. */
export class FluffyCloudProvisionError extends CloudError {
  readonly code:
    | 'boot_failed'
    | 'boot_timeout'
    | 'ssh_unreachable'
    | 'cluster_conflict'
    | 'terminate_timeout';
  constructor(code: FluffyCloudProvisionError['code'], message: string, opts: { cause?: unknown } = {}) {
    super(message, opts);
    this.name = 'FluffyCloudProvisionError';
    this.code = code;
  }
}

const BY_CODE: Record<string, BlockScope> = {
  capacity: 'region',
  region_unavailable: 'region',
  quota: 'cloud',
  unauthorized: 'cloud',
  internal: 'retry',
  rate_limited: 'retry',
  timeout: 'retry',
  bad_request: 'fatal',
  not_found: 'fatal',
  bad_response: 'retry',
  boot_failed: 'region',
  boot_timeout: 'region',
  ssh_unreachable: 'fatal',
  cluster_conflict: 'fatal',
  terminate_timeout: 'retry',
};

const PROGRAMMING_ERRORS = new Set(['TypeError', 'RangeError', 'ReferenceError', 'SyntaxError']);

export function classifyFluffyCloudError(e: unknown): BlockScope {
  if (e instanceof ProvisioningUnavailableError) return 'cloud';
  if (e instanceof InterruptedError || e instanceof UserError) return 'fatal';
  if (e instanceof FluffyCloudApiError) {
    const known = BY_CODE[e.code];
    if (known) return known;
    if (e.transient) return 'retry';
    if (e.status === null) return 'cloud'; // connection refused, no such host: the API is not there
    if (e.status >= 500) return 'retry';
    return 'fatal';
  }
  if (e instanceof FluffyCloudProvisionError) return BY_CODE[e.code];
  if (e instanceof Error && PROGRAMMING_ERRORS.has(e.name)) return 'fatal';

  const f = errorFacts(e);
  const code = f.code.toLowerCase();
  if (BY_CODE[code]) return BY_CODE[code];
  const text = `${code} ${f.message}`;
  if (/capacity|stockout|exhausted/.test(text)) return 'region';
  if (/region.?(unavailable|down|disabled)/.test(text)) return 'region';
  if (/quota|limit.?exceeded/.test(text) || f.status === 403) return 'cloud';
  if (/unauthori[sz]ed|invalid.?api.?key|forbidden/.test(text) || f.status === 401) return 'cloud';
  if (/econnrefused|enotfound/.test(text)) return 'cloud';
  if (isTransient(f)) return 'retry';
  if (/invalid|bad.?request|not.?found/.test(text) || f.status === 400 || f.status === 404) return 'fatal';
  return 'region';
}
