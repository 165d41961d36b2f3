/**
 * Step 0 of the new-cloud guide: the FluffyCloud API client (docs/fluffycloud-api.md).
 *
 * The seed's four calls are `launch`, `remove`, `setTags` and `listInstances`; `instanceTypes`,
 * `regions` and the SSH-key calls complete what provisioning needs. Everything goes through node's
 * fetch with `Authorization: Bearer <api key>` and a timeout per HTTP call.
 *
 * Errors: every failure is a `FluffyCloudApiError` (a CloudError) with the HTTP `status` (null when
 * no answer came), the API's `code` (`capacity`, `quota`, ...; `timeout` or `network` when no answer
 * came) and the server's message, which starts `FluffyCloudError:`. The API key never appears in a
 * message: it is sent only in the Authorization header, and a server message that echoed it would be
 * masked.
 *
 * Retries: transient failures (HTTP 500/502/504, 429, a 503 that is not a capacity or region answer,
 * timeouts, connection resets) are retried with exponential backoff for the idempotent calls (list,
 * remove, set tags, SSH keys, types, regions). `launch` is never retried blindly, as a lost answer could
 * mean the instance exists: after a transient failure it lists instances and looks for the instance
 * by its name (launch names are unique per call). Found: its id is returned. Not found and the server
 * had answered (a 5xx or 429 is a finished request): the launch is sent again. Not found and no answer
 * came (timeout, reset): the request may still be in flight, so the error is thrown; the instance, if
 * it appears later, carries the cluster's tags, so `queryInstances`/`terminateInstances` find it.
 */
import { CloudError, InterruptedError } from '../../util/errors.js';
import { loadFluffyCloudCredentials } from './credentials.js';
import { sleep } from '../../util/sleep.js';

/** One instance as `GET /v1/instances` lists it (its id added). */
export interface FluffyInstance {
  id: string;
  /** `pending`, `running` or `terminated` (terminated ones are listed for 10 minutes). */
  status: string;
  tags: Record<string, string>;
  name: string;
  ip: string;
  ssh_port: number;
  ssh_user: string;
  region: string;
  zone: string | null;
  instance_type: string;
  spot: boolean;
  created_at: string;
  /** Why it ended, for terminated instances: e.g. `preempted`. */
  status_reason?: string;
}

export interface FluffyInstanceType {
  name: string;
  vcpus: number;
  memory_gib: number;
  accelerator: { name: string; count: number } | null;
}

export interface FluffyRegion {
  name: string;
  zones: string[];
}

export interface FluffySshKey {
  name: string;
  fingerprint: string;
}

export interface LaunchOptions {
  zone?: string | null;
  spot?: boolean;
  tags?: Record<string, string>;
}

export interface FluffyCloudApiOptions {
  /** The API's base URL (`endpoint` in ~/.fluffycloud/credentials), without a trailing `/v1`. */
  endpoint: string;
  apiKey: string;
  /** Per HTTP call; default 30 s. */
  timeoutMs?: number;
  /** Extra attempts for a transient failure of an idempotent call; default 4. */
  retries?: number;
  /** Backoff between attempts: doubles from `initial` up to `max` (with jitter); default 250 ms .. 4 s. */
  backoffMs?: { initial: number; max: number };
}

/** Options of one call: an AbortSignal stops waiting (InterruptedError). */
export interface CallOptions {
  signal?: AbortSignal;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_RETRIES = 4;
const DEFAULT_BACKOFF = { initial: 250, max: 4_000 };
/** A Retry-After longer than this is not waited for inside one call. */
const MAX_RETRY_AFTER_MS = 30_000;

const STATUS_CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'quota',
  404: 'not_found',
  429: 'rate_limited',
  500: 'internal',
};

const HINTS: Record<string, string> = {
  unauthorized: 'check api_key in ~/.fluffycloud/credentials (`skyhop check fluffycloud`)',
  quota: 'remove FluffyCloud instances you no longer need or ask FluffyCloud for a higher quota',
};

/** Network error codes after which the same request may well succeed. */
const TRANSIENT_NETWORK = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'UND_ERR_SOCKET', 'EAI_AGAIN']);

/** A failed FluffyCloud API call. `message` starts with `FluffyCloudError:` and never holds the API key. */
export class FluffyCloudApiError extends CloudError {
  /** HTTP status; null when no answer came (timeout, connection failure). */
  readonly status: number | null;
  /** The API's error code (`capacity`, `quota`, `unauthorized`, ...) or `timeout` / `network`. */
  readonly code: string;
  /** `METHOD /path` of the call. */
  readonly call: string;
  /** Worth retrying the same request (see the module comment). */
  readonly transient: boolean;
  /** From a 429's Retry-After header, in ms. */
  readonly retryAfterMs: number | null;

  constructor(
    message: string,
    o: { status: number | null; code: string; call: string; retryAfterMs?: number | null; cause?: unknown },
  ) {
    super(message, o.cause === undefined ? {} : { cause: o.cause });
    this.name = 'FluffyCloudApiError';
    this.status = o.status;
    this.code = o.code;
    this.call = o.call;
    this.retryAfterMs = o.retryAfterMs ?? null;
    this.transient = isTransientFailure(o.status, o.code);
  }
}

function isTransientFailure(status: number | null, code: string): boolean {
  if (status === null) return code === 'timeout' || TRANSIENT_NETWORK.has(code);
  if (code === 'capacity' || code === 'region_unavailable') return false;
  return status === 429 || status === 500 || status === 502 || status === 503 || status === 504;
}

function networkCode(e: unknown): string {
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur && typeof cur === 'object'; i++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return 'network';
}

/** The API client. Cheap to make; holds no connection. */
export class FluffyCloudApi {
  private readonly endpoint: string;
  private readonly apiKey: string;
  /** The endpoint as messages show it: origin and path, never a user:password part. */
  readonly shownEndpoint: string;
  readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoff: { initial: number; max: number };

  constructor(o: FluffyCloudApiOptions) {
    const url = new URL(o.endpoint);
    this.endpoint = o.endpoint.replace(/\/+$/, '');
    this.shownEndpoint = `${url.origin}${url.pathname}`.replace(/\/+$/, '');
    this.apiKey = o.apiKey;
    this.timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.retries = o.retries ?? DEFAULT_RETRIES;
    this.backoff = o.backoffMs ?? DEFAULT_BACKOFF;
  }

  /** Hides the API key should a server message ever echo it. */
  private mask(text: string): string {
    return this.apiKey.length >= 4 ? text.split(this.apiKey).join('***') : text;
  }

  /** One HTTP request, no retries. */
  private async once<T>(method: string, path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const call = `${method} ${path}`;
    if (signal?.aborted) throw new InterruptedError();
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const both = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${this.endpoint}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.apiKey}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: both,
      });
      text = await res.text();
    } catch (e) {
      if (signal?.aborted) throw new InterruptedError();
      if (timeout.aborted) {
        throw new FluffyCloudApiError(
          `FluffyCloudError: no answer to ${call} from ${this.shownEndpoint} within ${this.timeoutMs / 1000} s`,
          { status: null, code: 'timeout', call },
        );
      }
      const code = networkCode(e);
      throw new FluffyCloudApiError(
        `FluffyCloudError: cannot reach the FluffyCloud API at ${this.shownEndpoint} for ${call} (${code}); ` +
          'check endpoint in ~/.fluffycloud/credentials',
        { status: null, code, call, cause: e },
      );
    }
    let data: unknown = null;
    try {
      data = text === '' ? null : JSON.parse(text);
    } catch {
      data = null;
    }
    if (!res.ok) {
      const err = (data as { error?: { code?: unknown; message?: unknown } } | null)?.error;
      const code =
        typeof err?.code === 'string' && err.code !== '' ? err.code : (STATUS_CODES[res.status] ?? 'http');
      let message =
        typeof err?.message === 'string' && err.message !== ''
          ? this.mask(err.message.split('\n')[0])
          : `FluffyCloudError: HTTP ${res.status} from ${call}`;
      if (!message.startsWith('FluffyCloudError:')) message = `FluffyCloudError: ${message}`;
      if (HINTS[code]) message = `${message}; ${HINTS[code]}`;
      const ra = Number(res.headers.get('retry-after'));
      throw new FluffyCloudApiError(message, {
        status: res.status,
        code,
        call,
        retryAfterMs: Number.isFinite(ra) && ra > 0 ? Math.min(ra * 1000, MAX_RETRY_AFTER_MS) : null,
      });
    }
    if (data === null && text !== '') {
      throw new FluffyCloudApiError(
        `FluffyCloudError: ${call} answered ${res.status} with a body that is not JSON`,
        {
          status: res.status,
          code: 'bad_response',
          call,
        },
      );
    }
    return data as T;
  }

  private delay(attempt: number, e: FluffyCloudApiError): number {
    if (e.retryAfterMs !== null) return e.retryAfterMs;
    const base = Math.min(this.backoff.initial * 2 ** attempt, this.backoff.max);
    return Math.round(base * (0.75 + Math.random() * 0.5));
  }

  /** An idempotent request: transient failures are retried with backoff. */
  private async idempotent<T>(method: string, path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.once<T>(method, path, body, signal);
      } catch (e) {
        if (!(e instanceof FluffyCloudApiError) || !e.transient || attempt >= this.retries) throw e;
        await sleep(this.delay(attempt, e), signal);
      }
    }
  }

  /**
   * The seed's "launch an instance": a new instance named `name` (status `pending`); returns its id.
   * Not retried blindly; see the module comment. The signal is checked between attempts only: an
   * abandoned launch request could still create the instance.
   */
  async launch(
    name: string,
    instanceType: string,
    region: string,
    sshKeyName: string,
    opts: LaunchOptions & CallOptions = {},
  ): Promise<{ id: string }> {
    const body = {
      name,
      instance_type: instanceType,
      region,
      ...(opts.zone ? { zone: opts.zone } : {}),
      ssh_key_name: sshKeyName,
      spot: opts.spot ?? false,
      tags: opts.tags ?? {},
    };
    for (let attempt = 0; ; attempt++) {
      if (opts.signal?.aborted) throw new InterruptedError();
      try {
        const r = await this.once<{ id: string }>('POST', '/v1/instances', body);
        if (typeof r?.id !== 'string') {
          throw new FluffyCloudApiError(
            'FluffyCloudError: POST /v1/instances answered without an instance id',
            {
              status: 201,
              code: 'bad_response',
              call: 'POST /v1/instances',
            },
          );
        }
        return { id: r.id };
      } catch (e) {
        if (!(e instanceof FluffyCloudApiError) || !e.transient) throw e;
        // Did it happen? Launch names are unique per call, so the name tells. If even the list fails,
        // the launch's own error is the one to report.
        let found: FluffyInstance | undefined;
        try {
          found = (await this.listInstances()).find((i) => i.name === name && i.status !== 'terminated');
        } catch {
          throw e;
        }
        if (found) return { id: found.id };
        if (e.status === null || attempt >= this.retries) throw e;
        await sleep(this.delay(attempt, e), opts.signal);
      }
    }
  }

  /** The seed's "remove an instance". A repeated remove answers 200; an unknown id is a `not_found` error. */
  remove(id: string, opts: CallOptions = {}): Promise<{ id: string; status: string }> {
    return this.idempotent('DELETE', `/v1/instances/${encodeURIComponent(id)}`, undefined, opts.signal);
  }

  /** The seed's "set instance tags": merged into the instance's tags; a null value deletes a tag. */
  async setTags(
    id: string,
    tags: Record<string, string | null>,
    opts: CallOptions = {},
  ): Promise<Record<string, string>> {
    const r = await this.idempotent<{ id: string; tags: Record<string, string> }>(
      'PUT',
      `/v1/instances/${encodeURIComponent(id)}/tags`,
      { tags },
      opts.signal,
    );
    return r?.tags ?? {};
  }

  /** The seed's "list instances": every instance not yet terminated (and recently terminated ones). */
  async listInstances(opts: CallOptions = {}): Promise<FluffyInstance[]> {
    const r = await this.idempotent<Record<string, Omit<FluffyInstance, 'id'>>>(
      'GET',
      '/v1/instances',
      undefined,
      opts.signal,
    );
    if (r === null || typeof r !== 'object' || Array.isArray(r)) {
      throw new FluffyCloudApiError(
        'FluffyCloudError: GET /v1/instances did not answer an object of instances',
        {
          status: 200,
          code: 'bad_response',
          call: 'GET /v1/instances',
        },
      );
    }
    return Object.entries(r).map(([id, i]) => ({ ...i, id, tags: i.tags ?? {} }));
  }

  instanceTypes(opts: CallOptions = {}): Promise<FluffyInstanceType[]> {
    return this.idempotent('GET', '/v1/instance-types', undefined, opts.signal);
  }

  regions(opts: CallOptions = {}): Promise<FluffyRegion[]> {
    return this.idempotent('GET', '/v1/regions', undefined, opts.signal);
  }

  /** Registers a public key under `name`; the same name and key again is fine (idempotent). */
  registerSshKey(name: string, publicKey: string, opts: CallOptions = {}): Promise<FluffySshKey> {
    return this.idempotent('POST', '/v1/ssh-keys', { name, public_key: publicKey.trim() }, opts.signal);
  }

  listSshKeys(opts: CallOptions = {}): Promise<FluffySshKey[]> {
    return this.idempotent('GET', '/v1/ssh-keys', undefined, opts.signal);
  }

  async deleteSshKey(name: string, opts: CallOptions = {}): Promise<void> {
    await this.idempotent('DELETE', `/v1/ssh-keys/${encodeURIComponent(name)}`, undefined, opts.signal);
  }
}

/** A client with the user's credentials (~/.fluffycloud/credentials); CloudError when they are unusable. */
export async function fluffyCloudApi(
  opts: Omit<FluffyCloudApiOptions, 'endpoint' | 'apiKey'> = {},
): Promise<FluffyCloudApi> {
  const { apiKey, endpoint } = await loadFluffyCloudCredentials();
  return new FluffyCloudApi({ ...opts, apiKey, endpoint });
}

// The seed's four functions (and the rest) over the user's credentials, for scripts and the REPL.

export async function launch(
  name: string,
  instanceType: string,
  region: string,
  sshKeyName: string,
  opts: LaunchOptions = {},
): Promise<{ id: string }> {
  return (await fluffyCloudApi()).launch(name, instanceType, region, sshKeyName, opts);
}

export async function remove(id: string): Promise<{ id: string; status: string }> {
  return (await fluffyCloudApi()).remove(id);
}

export async function setTags(
  id: string,
  tags: Record<string, string | null>,
): Promise<Record<string, string>> {
  return (await fluffyCloudApi()).setTags(id, tags);
}

export async function listInstances(): Promise<FluffyInstance[]> {
  return (await fluffyCloudApi()).listInstances();
}

export async function instanceTypes(): Promise<FluffyInstanceType[]> {
  return (await fluffyCloudApi()).instanceTypes();
}

export async function regions(): Promise<FluffyRegion[]> {
  return (await fluffyCloudApi()).regions();
}

export async function registerSshKey(name: string, publicKey: string): Promise<FluffySshKey> {
  return (await fluffyCloudApi()).registerSshKey(name, publicKey);
}
