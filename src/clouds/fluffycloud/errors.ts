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
 *
 * The provider's own failures (a node that died or never came up while booting: region; nodes of the
 * cluster in another region: fatal; removed nodes slow to go: retry) are ProvisionErrors that carry
 * their scope (src/clouds/fluffycloud/provider.ts), and a node that never answers SSH is the shared
 * reachability wait's (runtime/bootstrap.ts), so none of them is classified here.
 *
 * Capacity blocks the region, as the issue asks. The alternative, blocking only the zone the message
 * names, is not strictly better on FluffyCloud. skyhop's failover pins the cheapest zone of a region
 * (provision/blocklist.ts firstZone), and FluffyCloud caps capacity per region or per zone; a
 * region-wide shortage answers "... in region R (zone Z)" just like a shortage in zone Z, so the
 * message cannot tell them apart. The zone rule costs a failed launch (and, for a multi-node cluster,
 * creating and removing nodes) in every further zone of a region that is out; the region rule misses
 * capacity that other zones of the region still have. A cloud whose capacity errors are reliably per
 * zone (AWS's InsufficientInstanceCapacity) should map them to 'zone'.
 *
 * Errors not from the client are matched by their code and message, so that errors with the shape of
 * other SDKs (`{code: 'InsufficientCapacity'}`) classify sensibly too. What every cloud shares
 * (interrupts, UserError, the provider's own ProvisionError, bugs, other network hiccups, unknown errors
 * -> the zone tried) is decided once by the failover loop (src/provision/classify.ts); undefined here
 * means "not a FluffyCloud error this table knows".
 */
import { errorFacts } from '../errors.js';
import type { BlockScope } from '../../core/cluster.js';
import { FluffyCloudApiError } from './api.js';

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
};

export function classifyFluffyCloudError(e: unknown): BlockScope | undefined {
  if (e instanceof FluffyCloudApiError) {
    const known = BY_CODE[e.code];
    if (known) return known;
    if (e.transient) return 'retry';
    if (e.status === null) return 'cloud'; // connection refused, no such host: the API is not there
    if (e.status >= 500) return 'retry';
    return 'fatal';
  }
  const f = errorFacts(e);
  const code = f.code.toLowerCase();
  if (BY_CODE[code]) return BY_CODE[code];
  const text = `${code} ${f.message}`;
  if (/capacity|stockout|exhausted/.test(text)) return 'region';
  if (/region.?(unavailable|down|disabled)/.test(text)) return 'region';
  if (/quota|limit.?exceeded/.test(text) || f.status === 403) return 'cloud';
  if (/unauthori[sz]ed|invalid.?api.?key|forbidden/.test(text) || f.status === 401) return 'cloud';
  if (/econnrefused|enotfound/.test(text)) return 'cloud';
  // A 429/5xx is transient even when its message says "invalid" (the rule below).
  if (f.status === 429 || (f.status !== null && f.status >= 500)) return 'retry';
  if (/invalid|bad.?request|not.?found/.test(text) || f.status === 400 || f.status === 404) return 'fatal';
  return undefined;
}
