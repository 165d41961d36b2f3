/**
 * GCP failover classification, by Compute Engine error reason (what SkyPilot's GCP failover handler
 * blocks): a zone out of resources or not offering the GPU -> zone; a regional quota -> region; the
 * global GPU quota (GPUS_ALL_REGIONS), a disabled API or missing permission -> the whole cloud;
 * rate limits -> retry; invalid requests -> fatal. What every cloud shares (interrupts, UserError,
 * ProvisionError, bugs, network hiccups and 5xx, unknown errors -> the zone tried) is decided once by the
 * failover loop (src/provision/classify.ts). undefined: not a GCP error this table knows.
 */
import { errorFacts } from '../errors.js';
import type { BlockScope } from '../../core/cluster.js';

const ZONE = new Set([
  'zone_resource_pool_exhausted',
  'zone_resource_pool_exhausted_with_details',
  'unsupported_operation',
  'resource_availability',
  'stockout',
]);
const RETRY = new Set([
  'ratelimitexceeded',
  'resource_operation_rate_exceeded',
  'resource_not_ready',
  'backenderror',
]);
const CLOUD = new Set([
  'permission_denied',
  'forbidden',
  'accessnotconfigured',
  'service_disabled',
  'unauthenticated',
]);

export function classifyGcpError(e: unknown): BlockScope | undefined {
  const f = errorFacts(e);
  const code = f.code.toLowerCase();
  if (code === 'quota_exceeded' || code === 'quotaexceeded') {
    return f.message.includes('gpus_all_regions') ? 'cloud' : 'region';
  }
  if (ZONE.has(code)) return 'zone';
  if (CLOUD.has(code) || f.status === 401 || f.status === 403) return 'cloud';
  if (RETRY.has(code)) return 'retry';
  if (code.startsWith('invalid') || code === 'bad_request' || f.status === 400) return 'fatal';
  if (f.message.includes('does not have enough resources available')) return 'zone';
  return undefined;
}
