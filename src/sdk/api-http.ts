/**
 * One HTTP exchange with a team server over node:http (not fetch: loading undici costs a CLI call
 * ~100 ms), with no schema library: `status` through a server uses only this (`cli/remote.ts`), the
 * rest of the client (`api-client.ts`) checks answers with the API's zod shapes on top.
 */
import type { IncomingMessage } from 'node:http';
import { SkyhopError } from '../util/errors.js';
import type { ApiTarget } from './api-target.js';

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

/**
 * One HTTP exchange over node:http (not fetch: loading undici costs a CLI call ~100 ms). Errors
 * become ApiErrors: unreachable, 401 (log in again), or the server's own message.
 */
export async function apiRequest(
  target: ApiTarget,
  path: string,
  init: ApiRequestInit = {},
): Promise<ApiResponse> {
  const url = new URL(`${target.endpoint}${path}`);
  const mod = url.protocol === 'https:' ? await import('node:https') : await import('node:http');
  const headers: Record<string, string> = {
    ...(target.token ? { authorization: `Bearer ${target.token}` } : {}),
    ...(init.headers ?? {}),
  };
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = mod.request(url, { method: init.method ?? 'GET', headers, signal: init.signal }, resolve);
    req.on('error', (e) => {
      if (init.signal?.aborted) return reject(e);
      const code = (e as { code?: string }).code;
      reject(
        new ApiError(
          `cannot reach the skyhop API server at ${target.endpoint}${code ? ` (${code})` : ''}; ` +
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
      `the API server at ${target.endpoint} refused the token (${msg}); log in again: skyhop api login -e ${target.endpoint} --token TOKEN`,
    );
  }
  throw new ApiError(`the API server said: ${msg}`, { exitCode: status === 404 ? 1 : 2 });
}
