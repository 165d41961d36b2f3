/**
 * The SDK's client of a team server: `ApiClient` speaks the API (`sdk/api-schemas.ts`) to the server
 * `apiTarget()` (`api-target.ts`) names. With no server configured nothing here is loaded.
 */
import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import { SkyhopError } from '../util/errors.js';
import * as S from './api-schemas.js';
import type { ApiTarget } from './api-target.js';

export { type ApiTarget, apiTarget, tokenPath } from './api-target.js';

export class ApiError extends SkyhopError {
  constructor(message: string, opts: { exitCode?: number; cause?: unknown } = {}) {
    super(message, { exitCode: opts.exitCode ?? 1, cause: opts.cause });
    this.name = 'ApiError';
  }
}

/** An answer: its status and body (a stream, read once). */
export interface ApiResponse {
  status: number;
  body: IncomingMessage;
  text(): Promise<string>;
  json(): Promise<unknown>;
}

export interface ApiRequestInit {
  method?: string;
  headers?: Record<string, string>;
  /** A JSON text, or a stream (an upload). */
  body?: string | NodeJS.ReadableStream;
  signal?: AbortSignal;
}

export class ApiClient {
  constructor(readonly target: ApiTarget) {}

  /**
   * One HTTP exchange over node:http (not fetch: loading undici costs a CLI call ~100 ms). Errors
   * become ApiErrors: unreachable, 401 (log in again), or the server's own message.
   */
  async fetch(path: string, init: ApiRequestInit = {}): Promise<ApiResponse> {
    const url = new URL(`${this.target.endpoint}${path}`);
    const mod = url.protocol === 'https:' ? await import('node:https') : await import('node:http');
    const headers: Record<string, string> = {
      ...(this.target.token ? { authorization: `Bearer ${this.target.token}` } : {}),
      ...(init.headers ?? {}),
    };
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = mod.request(url, { method: init.method ?? 'GET', headers, signal: init.signal }, resolve);
      req.on('error', (e) => {
        if (init.signal?.aborted) return reject(e);
        const code = (e as { code?: string }).code;
        reject(
          new ApiError(
            `cannot reach the skyhop API server at ${this.target.endpoint}${code ? ` (${code})` : ''}; ` +
              'start it (skyhop api start) or log out to work locally (skyhop api logout)',
            { cause: e },
          ),
        );
      });
      const body = init.body;
      if (body === undefined) req.end();
      else if (typeof body === 'string') req.end(body);
      else (body as NodeJS.ReadableStream).pipe(req);
    });
    const text = async () => {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    };
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) {
      return { status, body: res, text, json: async () => JSON.parse(await text()) };
    }
    let msg = `${status} ${res.statusMessage ?? ''}`.trim();
    try {
      const body = JSON.parse(await text()) as { error?: string };
      if (body.error) msg = body.error;
    } catch {
      // not JSON
    }
    if (status === 401) {
      throw new ApiError(
        `the API server at ${this.target.endpoint} refused the token (${msg}); log in again: skyhop api login -e ${this.target.endpoint} --token TOKEN`,
      );
    }
    throw new ApiError(`the API server said: ${msg}`, { exitCode: status === 404 ? 1 : 2 });
  }

  /**
   * A call whose answer's body is not needed: read and dropped all the same, or its keep-alive socket
   * stays busy and holds the process for the server's keep-alive timeout (72 s).
   */
  async send(path: string, init: ApiRequestInit = {}): Promise<void> {
    await (await this.fetch(path, init)).text();
  }

  async json<T extends z.ZodType>(schema: T, path: string, init: ApiRequestInit = {}): Promise<z.infer<T>> {
    const res = await this.fetch(path, init);
    const body = await res.json();
    const r = schema.safeParse(body);
    if (!r.success)
      throw new ApiError(
        `the API server's answer to ${path} is not what this skyhop expects; is it another version?`,
      );
    return r.data;
  }

  post<T extends z.ZodType>(schema: T, path: string, body: unknown): Promise<z.infer<T>> {
    return this.json(schema, path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  whoami() {
    return this.json(S.whoamiAnswer, '/api/v1/whoami');
  }

  submit(body: z.input<typeof S.submitBody>) {
    return this.post(S.submitAnswer, '/api/v1/requests', body);
  }

  request(id: string) {
    return this.json(S.requestInfo, `/api/v1/requests/${encodeURIComponent(id)}`);
  }

  requests(all = false) {
    return this.json(S.requestList, `/api/v1/requests${all ? '?all=1' : ''}`);
  }

  async stdin(id: string, data: string): Promise<void> {
    await this.send(`/api/v1/requests/${encodeURIComponent(id)}/stdin`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ data }),
    });
  }

  async signal(id: string, signal: 'SIGINT' | 'SIGTERM'): Promise<void> {
    await this.send(`/api/v1/requests/${encodeURIComponent(id)}/signal`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ signal }),
    });
  }

  /**
   * Follows a request's output (from after `seq`) until it ends; resolves with the ending. Reconnects
   * from the last event seen when the connection breaks (the server restarted, say), for up to a minute.
   */
  async stream(
    id: string,
    onEvent: (e: S.StreamEvent) => void,
    o: { signal?: AbortSignal; after?: number } = {},
  ): Promise<Extract<S.StreamEvent, { type: 'end' }>> {
    let after = o.after ?? 0;
    let brokeAt: number | null = null;
    for (;;) {
      try {
        const res = await this.fetch(`/api/v1/requests/${encodeURIComponent(id)}/stream?after=${after}`, {
          signal: o.signal,
          headers: { accept: 'text/event-stream' },
        });
        brokeAt = null;
        res.body.setEncoding('utf8');
        let buf = '';
        for await (const chunk of res.body) {
          buf += chunk as string;
          let i = buf.indexOf('\n\n');
          while (i >= 0) {
            const frame = buf.slice(0, i);
            buf = buf.slice(i + 2);
            i = buf.indexOf('\n\n');
            const line = frame.split('\n').find((l) => l.startsWith('data: '));
            if (!line) continue;
            const e = S.streamEvent.parse(JSON.parse(line.slice(6)));
            if (e.type === 'end') return e;
            after = e.seq;
            onEvent(e);
          }
        }
      } catch (e) {
        if (o.signal?.aborted) throw e;
        // Unreachable, or the connection broke mid-stream (ECONNRESET, 'aborted'): reconnect.
        const broken =
          (e instanceof ApiError && /cannot reach/.test(e.message)) ||
          /ECONNRESET|aborted|socket hang up/i.test(
            `${(e as { code?: string }).code ?? ''} ${(e as Error).message}`,
          );
        if (!broken) throw e;
      }
      brokeAt ??= Date.now();
      if (Date.now() - brokeAt > 60_000) {
        throw new ApiError(
          `lost the API server while following request ${id}; re-attach: skyhop api logs ${id}`,
        );
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
