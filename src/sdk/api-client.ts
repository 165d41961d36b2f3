/**
 * The SDK's client of a team server: `ApiClient` speaks the API (`sdk/api-schemas.ts`) to the server
 * `apiTarget()` (`api-target.ts`) names. With no server configured nothing here is loaded.
 */
import type { z } from 'zod';
import { ApiError, type ApiRequestInit, type ApiResponse, apiRequest } from './api-http.js';
import * as S from './api-schemas.js';
import type { ApiTarget } from './api-target.js';

export { ApiError, type ApiRequestInit, type ApiResponse } from './api-http.js';
export { type ApiTarget, apiTarget, tokenPath } from './api-target.js';

export class ApiClient {
  constructor(readonly target: ApiTarget) {}

  /** One HTTP exchange (`api-http.ts`): a 2xx answer, else an ApiError. */
  fetch(path: string, init: ApiRequestInit = {}): Promise<ApiResponse> {
    return apiRequest(this.target, path, init);
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
