/**
 * The team server's HTTP API (Fastify). Every route under `/api/v1/` needs `Authorization: Bearer
 * <token>`; bodies and answers are checked against `sdk/api-schemas.ts`; bad input is a 4xx with one
 * clear line, never a stack trace. `/health` and `/openapi.json` are open; `/dashboard` is
 * `dashboard/`'s.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { z } from 'zod';
import * as S from '../sdk/api-schemas.js';
import { OUTPUT_STREAMS, REQUEST_TERMINAL, type RequestRow } from '../state/api.js';
import { SkyhopError } from '../util/errors.js';
import { VERSION } from '../version.js';
import { type ApiUser, issueToken, type ServerContext } from './context.js';
import { openApiDocument, type RouteDoc } from './openapi.js';
import { BadRequest, submitRequest } from './requests.js';

declare module 'fastify' {
  interface FastifyRequest {
    apiUser: ApiUser | null;
  }
}

const JSON_LIMIT = 1024 * 1024;
const UPLOAD_LIMIT = 1024 * 1024 * 1024;
const STREAM_POLL_MS = 50;

/** Parses `v` with `schema`; a mismatch is a 400 naming the field. */
export function check<T extends z.ZodType>(schema: T, v: unknown, what: string): z.infer<T> {
  const r = schema.safeParse(v);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = issue.path.length ? `${what}.${issue.path.join('.')}` : what;
  throw new BadRequest(`${path}: ${issue.message}`);
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

export function requestInfo(r: RequestRow): S.RequestInfo {
  return {
    id: r.id,
    user: r.user,
    command: r.command,
    argv: r.argv,
    status: r.status,
    exit_code: r.exitCode,
    error: r.error,
    created_at: new Date(r.createdAt).toISOString(),
    started_at: iso(r.startedAt),
    ended_at: iso(r.endedAt),
  };
}

export function userOf(req: FastifyRequest): ApiUser {
  if (!req.apiUser) throw new BadRequest('missing or invalid token', 401);
  return req.apiUser;
}

function requireAdmin(req: FastifyRequest): ApiUser {
  const u = userOf(req);
  if (u.role !== 'admin') throw new BadRequest('only an admin may do this', 403);
  return u;
}

/** The request `id` if the user may see it (their own; an admin: any), else 404. */
function visibleRequest(ctx: ServerContext, user: ApiUser, id: string): RequestRow {
  const rid = check(S.requestId, id, 'id');
  const r = ctx.api.getRequest(rid);
  if (!r || (r.user !== user.name && user.role !== 'admin')) throw new BadRequest(`no request '${rid}'`, 404);
  return r;
}

function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (typeof h === 'string' && h.startsWith('Bearer ')) return h.slice(7).trim();
  return undefined;
}

export interface AppOptions {
  /** Registers extra routes (the dashboard) on the app. */
  plugins?: Array<(app: FastifyInstance, ctx: ServerContext) => void | Promise<void>>;
}

export async function buildApp(ctx: ServerContext, o: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: JSON_LIMIT, routerOptions: { maxParamLength: 200 } });
  const docs: RouteDoc[] = [];
  app.decorateRequest('apiUser', null);

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (err instanceof BadRequest) return reply.code(err.statusCode).send({ error: err.message });
    if (err instanceof SkyhopError) return reply.code(400).send({ error: err.message });
    const code = err.statusCode;
    if (typeof code === 'number' && code >= 400 && code < 500) {
      return reply.code(code).send({ error: err.message.replace(/^FST_\w+: /, '') });
    }
    process.stderr.write(
      `[${new Date().toISOString()}] ${req.method} ${req.url.split('?')[0]}: ${err.stack ?? err}\n`,
    );
    return reply.code(500).send({ error: 'internal error; the server log has the details' });
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: `no such endpoint: ${req.method} ${req.url.split('?')[0].slice(0, 200)}` });
  });

  app.addHook('onRequest', async (req) => {
    // The route matched (`/%61pi/v1/...` is routed to `/api/v1/...`), else the address as sent.
    const path = req.routeOptions.url ?? req.url;
    if (!path.startsWith('/api/v1/') && path !== '/api/v1') return;
    const user = ctx.authenticate(bearer(req));
    if (!user)
      throw new BadRequest(
        'missing or invalid token: send Authorization: Bearer <token> (skyhop api login)',
        401,
      );
    req.apiUser = user;
  });

  // The body of an upload: a gzipped tar, streamed.
  app.addContentTypeParser(
    ['application/gzip', 'application/x-tar'],
    { bodyLimit: UPLOAD_LIMIT },
    (_req, payload, done) => done(null, payload),
  );

  const doc = (d: RouteDoc) => docs.push(d);

  app.get('/health', async () => ({ ok: true, version: VERSION }));
  app.get('/openapi.json', async () => openApiDocument(docs));

  doc({
    method: 'get',
    path: '/api/v1/whoami',
    summary: 'who the token belongs to',
    response: S.whoamiAnswer,
  });
  app.get('/api/v1/whoami', async (req) => {
    const u = userOf(req);
    return S.whoamiAnswer.parse({ user: u.name, role: u.role, server: ctx.serverId, version: VERSION });
  });

  // ---- requests ----
  doc({
    method: 'post',
    path: '/api/v1/requests',
    summary: 'run a CLI command',
    body: S.submitBody,
    response: S.submitAnswer,
  });
  app.post('/api/v1/requests', async (req, reply) => {
    const user = userOf(req);
    const body = check(S.submitBody, req.body, 'body');
    let clientRoot: string | undefined;
    if (body.upload) {
      clientRoot = uploadDir(ctx, user, body.upload);
      const { existsSync } = await import('node:fs');
      if (!existsSync(clientRoot)) throw new BadRequest(`no upload '${body.upload}'`, 404);
    }
    const id = submitRequest(ctx, user, {
      argv: body.argv,
      clientRoot,
      cwd: body.cwd,
      clientHome: body.home,
      stdinTty: body.stdinTty,
    });
    ctx.audit(
      user,
      body.argv[0] === 'jobs' || body.argv[0] === 'storage'
        ? `${body.argv[0]} ${body.argv[1] ?? ''}`.trim()
        : body.argv[0],
      id,
    );
    reply.code(202);
    return S.submitAnswer.parse({ request_id: id });
  });

  doc({
    method: 'get',
    path: '/api/v1/requests',
    summary: "your requests (an admin: ?all=1 for everyone's)",
    response: S.requestList,
  });
  app.get('/api/v1/requests', async (req) => {
    const user = userOf(req);
    const q = check(S.requestsQuery, req.query, 'query');
    const all = user.role === 'admin' && q.all === '1';
    return { requests: ctx.api.listRequests(all ? null : user.name, q.limit ?? 50).map(requestInfo) };
  });

  doc({ method: 'get', path: '/api/v1/requests/{id}', summary: 'one request', response: S.requestInfo });
  app.get('/api/v1/requests/:id', async (req) => {
    const user = userOf(req);
    return requestInfo(visibleRequest(ctx, user, (req.params as { id: string }).id));
  });

  doc({
    method: 'get',
    path: '/api/v1/requests/{id}/stream',
    summary: 'its output and ending (server-sent events, each a StreamEvent)',
    response: S.streamEvent,
  });
  app.get('/api/v1/requests/:id/stream', async (req, reply) => {
    const user = userOf(req);
    const r = visibleRequest(ctx, user, (req.params as { id: string }).id);
    const q = check(S.streamQuery, req.query, 'query');
    await streamRequest(ctx, r.id, q.after ?? 0, req, reply);
  });

  doc({
    method: 'post',
    path: '/api/v1/requests/{id}/stdin',
    summary: 'a line for its stdin (a confirmation)',
    body: S.stdinBody,
  });
  app.post('/api/v1/requests/:id/stdin', async (req) => {
    const user = userOf(req);
    const r = visibleRequest(ctx, user, (req.params as { id: string }).id);
    const body = check(S.stdinBody, req.body, 'body');
    if (REQUEST_TERMINAL.has(r.status)) throw new BadRequest(`request '${r.id}' has ended`, 409);
    ctx.api.appendLog(r.id, 'in', body.data);
    return { ok: true };
  });

  doc({
    method: 'post',
    path: '/api/v1/requests/{id}/signal',
    summary: 'Ctrl-C (SIGINT) or SIGTERM for its command',
    body: S.signalBody,
  });
  app.post('/api/v1/requests/:id/signal', async (req) => {
    const user = userOf(req);
    const r = visibleRequest(ctx, user, (req.params as { id: string }).id);
    const body = check(S.signalBody, req.body, 'body');
    if (!REQUEST_TERMINAL.has(r.status)) ctx.api.appendLog(r.id, 'sig', body.signal);
    ctx.audit(user, `signal ${body.signal}`, r.id);
    return { ok: true };
  });

  // ---- uploads ----
  doc({
    method: 'post',
    path: '/api/v1/uploads',
    summary: "a gzipped tar of the client's files, mirrored by absolute path",
    response: S.uploadAnswer,
  });
  app.post('/api/v1/uploads', async (req) => {
    const user = userOf(req);
    if (!req.body || typeof (req.body as Readable).pipe !== 'function') {
      throw new BadRequest('an upload is a gzipped tar body (Content-Type: application/gzip)', 415);
    }
    const { newRequestId } = await import('../state/api.js');
    const id = newRequestId();
    const dir = uploadDir(ctx, user, id);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const { extract } = await import('./uploads.js');
    try {
      const r = await extract(req.body as Readable, dir);
      return S.uploadAnswer.parse({ upload_id: id, files: r.files, bytes: r.bytes });
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e instanceof BadRequest
        ? e
        : new BadRequest(`the upload is not a readable gzipped tar: ${(e as Error).message}`);
    }
  });

  // ---- fast reads, in this process ----
  doc({
    method: 'get',
    path: '/api/v1/status',
    summary: 'your clusters (status without --refresh)',
    response: S.statusAnswer,
  });
  app.get('/api/v1/status', async (req) => {
    const user = userOf(req);
    const q = check(S.statusQuery, req.query, 'query');
    const { statusAnswer } = await import('./reads.js');
    return statusAnswer(ctx, user, q.clusters === undefined ? undefined : [q.clusters].flat());
  });

  doc({
    method: 'get',
    path: '/api/v1/cost',
    summary: "cost report rows (yours; an admin: everyone's)",
    response: S.costAnswer,
  });
  app.get('/api/v1/cost', async (req) => {
    const { costAnswer } = await import('./reads.js');
    return costAnswer(ctx, userOf(req));
  });

  doc({
    method: 'get',
    path: '/api/v1/storage',
    summary: 'buckets (yours; an admin: every one)',
    response: S.storageAnswer,
  });
  app.get('/api/v1/storage', async (req) => {
    const { storageAnswer } = await import('./reads.js');
    return storageAnswer(ctx, userOf(req));
  });

  // ---- users (admins) ----
  doc({ method: 'get', path: '/api/v1/users', summary: 'users (admin)', response: S.usersAnswer });
  app.get('/api/v1/users', async (req) => {
    requireAdmin(req);
    return {
      users: ctx.api
        .listUsers()
        .map((u) => ({ name: u.name, role: u.role, created_at: new Date(u.createdAt).toISOString() })),
    };
  });

  doc({
    method: 'post',
    path: '/api/v1/users',
    summary: 'add a user or give one a new token (admin); the token is shown once',
    body: S.addUserBody,
    response: S.tokenAnswer,
  });
  app.post('/api/v1/users', async (req) => {
    const admin = requireAdmin(req);
    const body = check(S.addUserBody, req.body, 'body');
    const { token } = issueToken(ctx.api, body.name, body.role);
    ctx.audit(admin, 'users add', body.name, body.role);
    return S.tokenAnswer.parse({ user: body.name, role: body.role, token });
  });

  doc({ method: 'delete', path: '/api/v1/users/{name}/tokens', summary: "revoke a user's tokens (admin)" });
  app.delete('/api/v1/users/:name/tokens', async (req) => {
    const admin = requireAdmin(req);
    const name = check(S.userName, (req.params as { name: string }).name, 'name');
    if (!ctx.api.getUser(name)) throw new BadRequest(`no user '${name}'`, 404);
    const n = ctx.api.revokeTokens(name);
    ctx.audit(admin, 'users revoke', name, `${n} token(s)`);
    return { revoked: n };
  });

  doc({ method: 'get', path: '/api/v1/audit', summary: 'who did what (admin)', response: S.auditAnswer });
  app.get('/api/v1/audit', async (req) => {
    requireAdmin(req);
    const q = check(S.requestsQuery, req.query, 'query');
    return {
      entries: ctx.api.listAudit(q.limit ?? 200).map((a) => ({
        at: new Date(a.at).toISOString(),
        user: a.user,
        action: a.action,
        target: a.target,
        outcome: a.outcome,
      })),
    };
  });

  for (const p of o.plugins ?? []) await p(app, ctx);
  return app;
}

/** Where a user's upload lives (ids are checked: no path can be named). */
export function uploadDir(ctx: ServerContext, user: ApiUser, id: string): string {
  const uid = check(S.requestId, id, 'upload');
  return join(ctx.home, 'api', 'uploads', user.name, uid);
}

/** Server-sent events: the request's output from `after`, then its ending. */
async function streamRequest(
  ctx: ServerContext,
  id: string,
  after: number,
  req: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  let closed = false;
  req.raw.on('close', () => {
    closed = true;
  });
  const send = (e: S.StreamEvent) => {
    res.write(`data: ${JSON.stringify(e)}\n\n`);
  };
  let seq = after;
  let lastBeat = Date.now();
  while (!closed) {
    // Read the ending first: output written before it is then surely in the log.
    const r = ctx.api.getRequest(id);
    const chunks = ctx.api.readLog(id, seq, 500, OUTPUT_STREAMS);
    for (const c of chunks) {
      seq = c.seq;
      send({ type: c.stream as 'out' | 'err', seq: c.seq, data: c.data });
    }
    if (chunks.length === 500) continue;
    if (!r || REQUEST_TERMINAL.has(r.status)) {
      send({
        type: 'end',
        status: r?.status ?? 'FAILED',
        exit_code: r?.exitCode ?? null,
        error: r ? r.error : 'the request is gone',
      });
      break;
    }
    if (Date.now() - lastBeat > 15_000) {
      res.write(': keep-alive\n\n');
      lastBeat = Date.now();
    }
    await new Promise((r) => setTimeout(r, STREAM_POLL_MS));
  }
  res.end();
}
