/**
 * Provisioning errors, typed: what every cloud's provider raises and every classifier reads. A
 * provider that knows what its own failure means raises `ProvisionError(scope, ...)`; the failover loop
 * handles the cases common to every cloud; a cloud's `classifyError` maps only its own API's errors.
 */
import { CloudError } from '../util/errors.js';

// Defined on floor 1 (core/errors.ts) so that the shared layer below the clouds raises it too
// (runtime/bootstrap.ts's SSH reachability wait).
export { ProvisionError } from '../core/errors.js';

/**
 * What a failover classifier needs from any thrown value: the error's code or name (SDK errors carry
 * `code`/`name`/`Code`, HTTP clients `status`/`statusCode`) and its message, lower-cased for matching.
 */
export function errorFacts(e: unknown): { code: string; status: number | null; message: string } {
  if (e === null || e === undefined) return { code: '', status: null, message: '' };
  if (typeof e !== 'object') return { code: '', status: null, message: String(e).toLowerCase() };
  const o = e as Record<string, unknown>;
  const pick = (...keys: string[]) => {
    for (const k of keys) if (typeof o[k] === 'string' && o[k] !== '') return o[k] as string;
    return '';
  };
  let code = pick('code', 'Code', 'errorCode', 'reason');
  if (!code && typeof o.name === 'string' && o.name !== 'Error') code = o.name;
  const meta = o.$metadata as { httpStatusCode?: unknown } | undefined;
  const rawStatus = o.status ?? o.statusCode ?? meta?.httpStatusCode;
  const status = typeof rawStatus === 'number' ? rawStatus : null;
  return { code, status, message: pick('message').toLowerCase() };
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ECONNREFUSED',
  'EPIPE',
  'UND_ERR_SOCKET',
]);

/** A network hiccup or an HTTP 429/5xx: worth retrying the same place after a backoff. */
export function isTransient(f: { code: string; status: number | null; message: string }): boolean {
  if (TRANSIENT_CODES.has(f.code.toUpperCase())) return true;
  if (f.status !== null && (f.status === 429 || f.status >= 500)) return true;
  return /\b(rate.?limit|throttl|timed? ?out|temporarily unavailable|try again later)/.test(f.message);
}

/** Thrown by `provider()` of a cloud whose provisioning is not built yet (its planning side is). */
export class ProvisioningUnavailableError extends CloudError {
  readonly code = 'ProvisioningUnavailable';
  constructor(displayName: string) {
    super(`provisioning on ${displayName} is not available in skyhop yet; \`skyhop optimize\` plans for it`);
    this.name = 'ProvisioningUnavailableError';
  }
}
