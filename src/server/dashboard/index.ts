/**
 * The team server's dashboard: server-rendered pages under /dashboard (no framework bundle, no CDN),
 * logged in with an API token kept in an HttpOnly, SameSite=Strict cookie. Every page reads only
 * what it shows, through the user's scoped store (a user sees their own things, an admin all); the
 * clusters page reads the records only (it never asks a cloud). A job's log streams live over SSE
 * from the agent (the SDK's `logs`), and stops following when the job ends or the browser leaves.
 * Cancelling a job is a POST carrying a form token derived from the session (and, when the browser
 * sends one, an Origin of this server), and is written to the audit log.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import cookie from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { resourceName } from '../../sdk/api-schemas.js';
import { check } from '../../sdk/check.js';
import { describeLaunched } from '../../sdk/clusters.js';
import { cancel as cancelJobs } from '../../sdk/jobs.js';
import { controllerCluster, managedQueue } from '../../sdk/managed.js';
import { logs, queue } from '../../sdk/queue.js';
import { storage } from '../../sdk/storage.js';
import { type ClusterRecord, ForeignNameError, type StorageUse, type Store } from '../../state/index.js';
import { InterruptedError, SkyhopError } from '../../util/errors.js';
import type { ApiUser, ServerContext } from '../context.js';
import { LOG_SCRIPT, type PageUser, STYLE } from './html.js';
import {
  type ClusterRow,
  type CostGroup,
  clusterPage,
  clustersPage,
  cloudsPage,
  costPage,
  errorPage,
  jobPage,
  loginPage,
  managedPage,
  storagePage,
} from './pages.js';

export const COOKIE = 'skyhop_token';
const COOKIE_MAX_AGE_S = 7 * 24 * 3600;

/** A 4xx (or 5xx) answer with a message the user may read. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

interface Session {
  user: ApiUser;
  token: string;
}

const CSP =
  "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
};

/** The form token of a session: only a holder of the token (the cookie) can compute it. */
export function csrfToken(token: string): string {
  return createHmac('sha256', token).update('skyhop-dashboard-form').digest('base64url');
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Where a login may send the browser back to: a dashboard page of this server, nothing else. */
const NEXT_RE = /^\/dashboard(\/[A-Za-z0-9._~-]+)*\/?$/;

const idRe = /^[1-9][0-9]{0,8}$/;

function clip(v: unknown): string {
  const s = typeof v === 'string' ? v : String(v);
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}

/** The `:name` of a path, validated as the API's `resourceName` (never a path). */
export function parseName(v: unknown): string {
  const r = resourceName.safeParse(v);
  if (!r.success) throw new HttpError(400, `invalid cluster name ${clip(v)}: ${r.error.issues[0]?.message}`);
  return r.data;
}

export function parseJobId(v: unknown): number {
  if (typeof v !== 'string' || !idRe.test(v))
    throw new HttpError(400, `invalid job id ${clip(v)}: a job id is a positive number`);
  return Number(v);
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

const formBody = z
  .object({ csrf: z.string().max(200).optional(), back: z.enum(['cluster', 'job']).optional() })
  .passthrough();
const loginBody = z.object({ token: z.string().max(200).optional(), next: z.string().max(300).optional() });

/**
 * Adds the dashboard's routes to `app` (call before `listen`). Its cookie and form parsing stay inside
 * the dashboard (an encapsulated plugin): the API under /api/v1 is unchanged.
 */
export function registerDashboard(app: FastifyInstance, ctx: ServerContext): void {
  app.register(
    async (sub) => {
      if (!sub.hasRequestDecorator('cookies')) await sub.register(cookie);
      if (!sub.hasContentTypeParser('application/x-www-form-urlencoded')) {
        sub.addContentTypeParser(
          'application/x-www-form-urlencoded',
          { parseAs: 'string', bodyLimit: 16 * 1024 },
          (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
        );
      }
      dashboardRoutes(sub, ctx);
    },
    { prefix: '/dashboard' },
  );
}

function dashboardRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const sessions = new WeakMap<FastifyRequest, Session>();
  /** Log follows in progress: aborted when the server closes. */
  const follows = new Set<AbortController>();

  const sessionOf = async (req: FastifyRequest): Promise<Session | null> => {
    const known = sessions.get(req);
    if (known) return known;
    const token = req.cookies?.[COOKIE];
    if (!token) return null;
    const user = await ctx.authenticate(token);
    if (!user) return null;
    const s = { user, token };
    sessions.set(req, s);
    return s;
  };
  const pageUser = (s: Session): PageUser => ({
    name: s.user.name,
    role: s.user.role,
    csrf: csrfToken(s.token),
  });
  const session = (req: FastifyRequest): Session => {
    const s = sessions.get(req);
    if (!s) throw new HttpError(401, 'log in first');
    return s;
  };
  const sendPage = (reply: FastifyReply, body: string, code = 200) =>
    reply.code(code).type('text/html; charset=utf-8').send(body);

  /** The origin the browser says a POST comes from must be this server (when it says). */
  const checkOrigin = (req: FastifyRequest) => {
    let from = req.headers.origin;
    if (!from && req.headers.referer) {
      try {
        from = new URL(req.headers.referer).origin;
      } catch {
        from = 'null';
      }
    }
    if (from === undefined) return;
    let host: string | null = null;
    try {
      host = new URL(from).host;
    } catch {}
    if (!host || host !== req.headers.host)
      throw new HttpError(403, 'this form was sent from another site; use the dashboard itself');
  };
  const checkForm = (req: FastifyRequest, s: Session) => {
    checkOrigin(req);
    const body = formBody.safeParse(req.body ?? {});
    const got = body.success ? body.data.csrf : undefined;
    if (!got || !sameToken(got, csrfToken(s.token)))
      throw new HttpError(403, 'this form has expired or was not sent by the dashboard; reload the page');
    return body.data!;
  };

  app.addHook('onRequest', async (req, reply) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
    if (!req.url.startsWith('/dashboard/static/')) reply.header('cache-control', 'no-store');
  });

  /** Every page but the login and the static files needs a valid token cookie. */
  app.addHook('preHandler', async (req, reply) => {
    const config = req.routeOptions.config as { public?: boolean } | undefined;
    if (config?.public || !req.routeOptions.url) return;
    if (await sessionOf(req)) return;
    const had = Boolean(req.cookies?.[COOKIE]);
    if (had) reply.clearCookie(COOKIE, { path: '/dashboard' });
    if (req.method === 'GET' && !req.url.endsWith('/log')) {
      const next = req.url.split('?')[0]!;
      const q = new URLSearchParams();
      if (NEXT_RE.test(next) && next !== '/dashboard' && next !== '/dashboard/') q.set('next', next);
      if (had) q.set('expired', '1');
      const qs = q.toString();
      return reply.redirect(`/dashboard/login${qs ? `?${qs}` : ''}`, 303);
    }
    return reply.code(401).type('text/plain; charset=utf-8').send('log in first: /dashboard/login');
  });

  app.setErrorHandler(async (err: Error & { statusCode?: number }, req, reply) => {
    let code = 500;
    let message = 'something went wrong on the server; its log has the details';
    if (err instanceof HttpError) {
      code = err.statusCode;
      message = err.message;
    } else if (err instanceof ForeignNameError) {
      code = 404;
      message = err.message;
    } else if (err instanceof SkyhopError) {
      code = 400;
      message = err.message;
    } else if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      code = err.statusCode;
      message = err.message;
    }
    if (code >= 500) req.log.error({ err }, 'dashboard error');
    const s = await sessionOf(req).catch(() => null);
    return sendPage(reply, errorPage(s ? pageUser(s) : null, code, message), code);
  });

  app.setNotFoundHandler(async (req, reply) => {
    const s = await sessionOf(req).catch(() => null);
    return sendPage(reply, errorPage(s ? pageUser(s) : null, 404, 'there is no dashboard page here'), 404);
  });

  app.addHook('preClose', async () => {
    for (const f of follows) f.abort();
  });

  // ---- static files ----

  const publicRoute = { config: { public: true } };
  app.get('/static/style.css', publicRoute, async (_req, reply) =>
    reply.type('text/css; charset=utf-8').header('cache-control', 'max-age=300').send(STYLE),
  );
  app.get('/static/log.js', publicRoute, async (_req, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'max-age=300').send(LOG_SCRIPT),
  );

  // ---- logging in and out ----

  app.get('/login', publicRoute, async (req, reply) => {
    const q = (req.query ?? {}) as Record<string, unknown>;
    const next = typeof q.next === 'string' && NEXT_RE.test(q.next) ? q.next : undefined;
    if (await sessionOf(req)) return reply.redirect(next ?? '/dashboard', 303);
    const info =
      q.expired === '1'
        ? 'Your session ended: the token is no longer valid. Log in again.'
        : q.out === '1'
          ? 'You are logged out.'
          : undefined;
    return sendPage(reply, loginPage({ info, next }));
  });

  app.post('/login', publicRoute, async (req, reply) => {
    checkOrigin(req);
    const body = loginBody.safeParse(req.body ?? {});
    const token = body.success ? body.data.token?.trim() : undefined;
    const next = body.success && body.data.next && NEXT_RE.test(body.data.next) ? body.data.next : undefined;
    const user = token ? await ctx.authenticate(token) : null;
    if (!user || !token) {
      const error = token
        ? 'That token is not valid: it is unknown or was revoked. Check it, or ask an admin for a new one.'
        : 'Enter your API token.';
      return sendPage(reply, loginPage({ error, next }), 401);
    }
    reply.setCookie(COOKIE, token, {
      path: '/dashboard',
      httpOnly: true,
      sameSite: 'strict',
      secure: req.protocol === 'https',
      maxAge: COOKIE_MAX_AGE_S,
    });
    ctx.audit(user, 'dashboard login', null, 'ok');
    return reply.redirect(next ?? '/dashboard', 303);
  });

  app.post('/logout', async (req, reply) => {
    checkForm(req, session(req));
    reply.clearCookie(COOKIE, { path: '/dashboard' });
    return reply.redirect('/dashboard/login?out=1', 303);
  });

  // ---- reads ----

  /** A cluster of the user's (404 for a name they do not own: another user's is not revealed). */
  const clusterFor = (store: Store, user: ApiUser, name: string): ClusterRecord => {
    let rec: ClusterRecord | null;
    try {
      rec = store.getCluster(name);
    } catch (e) {
      if (!(e instanceof ForeignNameError)) throw e;
      rec = null;
    }
    if (!rec)
      throw new HttpError(
        404,
        `there is no cluster '${name}' among ${user.role === 'admin' ? 'the' : 'your'} clusters`,
      );
    return rec;
  };
  /** USD of the cluster's current life so far, by name. */
  const liveCosts = (store: Store, now: number): Map<string, number> => {
    const out = new Map<string, number>();
    for (const r of store.costReport(now))
      if (r.status !== 'terminated' && !out.has(r.cluster)) out.set(r.cluster, r.cost);
    return out;
  };

  app.get('/', async (req, reply) => {
    const s = session(req);
    const store = ctx.storeFor(s.user);
    const now = Date.now();
    const clusters = store.listClusters();
    const costs = liveCosts(store, now);
    const owners = s.user.role === 'admin' ? store.owners('cluster') : null;
    const rows: ClusterRow[] = clusters.map((rec) => ({
      rec,
      resources: describeLaunched(rec),
      owner: owners ? (owners.get(rec.name) ?? null) : s.user.name,
      cost: costs.get(rec.name) ?? 0,
    }));
    return sendPage(reply, clustersPage(pageUser(s), rows, now));
  });

  app.get('/clusters/:name', async (req, reply) => {
    const s = session(req);
    const name = parseName((req.params as { name?: unknown }).name);
    const store = ctx.storeFor(s.user);
    const rec = clusterFor(store, s.user, name);
    const now = Date.now();
    let jobs = null;
    let jobsError: string | null = null;
    if (rec.status === 'UP') {
      try {
        jobs = (await queue({ clusters: [name], store }))[name] ?? [];
      } catch (e) {
        jobsError = `Could not read the cluster's jobs: ${messageOf(e)}`;
      }
    }
    const q = (req.query ?? {}) as Record<string, unknown>;
    let flash: string | null = null;
    if (typeof q.cancelled === 'string' && idRe.test(q.cancelled))
      flash = `Job ${q.cancelled} was cancelled.`;
    if (typeof q.ended === 'string' && idRe.test(q.ended)) flash = `Job ${q.ended} had already ended.`;
    const owner = s.user.role === 'admin' ? store.ownerOf('cluster', name) : s.user.name;
    return sendPage(
      reply,
      clusterPage(
        pageUser(s),
        {
          rec,
          resources: describeLaunched(rec),
          owner,
          cost: liveCosts(store, now).get(name) ?? 0,
          jobs,
          jobsError,
          flash,
        },
        now,
      ),
    );
  });

  /** The cluster (UP) and the id of a job route. */
  const jobTarget = (req: FastifyRequest, s: Session) => {
    const p = req.params as { name?: unknown; id?: unknown };
    const name = parseName(p.name);
    const id = parseJobId(p.id);
    const store = ctx.storeFor(s.user);
    const rec = clusterFor(store, s.user, name);
    if (rec.status !== 'UP')
      throw new HttpError(409, `cluster ${name} is ${rec.status}: its jobs can be read while it is UP`);
    return { name, id, store, rec };
  };

  app.get('/clusters/:name/jobs/:id', async (req, reply) => {
    const s = session(req);
    const { name, id, store, rec } = jobTarget(req, s);
    const list = (await queue({ clusters: [name], store }))[name] ?? [];
    const job = list.find((j) => j.id === id);
    if (!job) throw new HttpError(404, `cluster ${name} has no job ${id}`);
    return sendPage(reply, jobPage(pageUser(s), { rec, job }, Date.now()));
  });

  app.get('/clusters/:name/jobs/:id/log', async (req, reply) => {
    const s = session(req);
    const { name, id, store } = jobTarget(req, s);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    });
    const send = (event: string, data: unknown) => {
      if (!res.writableEnded && !res.destroyed)
        res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    // The browser reconnects by itself after a dropped connection: the log then starts over.
    res.write('retry: 3000\n\n');
    send('reset', {});
    const ac = new AbortController();
    follows.add(ac);
    const gone = () => ac.abort();
    res.on('close', gone);
    const ping = setInterval(() => {
      if (!res.writableEnded && !res.destroyed) res.write(': ping\n\n');
    }, 15_000);
    try {
      const end = await logs({
        cluster: name,
        jobId: id,
        follow: true,
        store,
        signal: ac.signal,
        onOutput: (chunk) => send('out', chunk),
      });
      send('end', { status: end.status, exitCode: end.exitCode, reason: end.reason });
    } catch (e) {
      if (!(e instanceof InterruptedError) && !ac.signal.aborted) {
        send('fail', { error: `following the log stopped: ${messageOf(e)}` });
      }
    } finally {
      clearInterval(ping);
      follows.delete(ac);
      res.off('close', gone);
      if (!res.writableEnded) res.end();
    }
  });

  app.post('/clusters/:name/jobs/:id/cancel', async (req, reply) => {
    const s = session(req);
    const form = checkForm(req, s);
    const { name, id, store } = jobTarget(req, s);
    let done: number[];
    try {
      done = await cancelJobs(store, name, [id]);
    } catch (e) {
      ctx.audit(s.user, 'dashboard cancel', `${name}/${id}`, `error: ${messageOf(e)}`);
      throw e;
    }
    const cancelled = done.includes(id);
    ctx.audit(s.user, 'dashboard cancel', `${name}/${id}`, cancelled ? 'cancelled' : 'already ended');
    const to =
      form.back === 'job'
        ? `/dashboard/clusters/${encodeURIComponent(name)}/jobs/${id}`
        : `/dashboard/clusters/${encodeURIComponent(name)}?${cancelled ? 'cancelled' : 'ended'}=${id}`;
    return reply.redirect(to, 303);
  });

  app.get('/managed', async (req, reply) => {
    const s = session(req);
    const store = ctx.storeFor(s.user);
    let controller: ClusterRecord | null = null;
    try {
      controller = store.getCluster(controllerCluster(s.user.name));
    } catch (e) {
      if (!(e instanceof ForeignNameError)) throw e;
    }
    let jobs = null;
    let note: string | null = null;
    let error: string | null = null;
    if (!controller) {
      note =
        'There is no jobs controller: no managed jobs were launched yet (`skyhop jobs launch` starts one).';
    } else if (controller.status !== 'UP') {
      note = `The jobs controller is ${controller.status} (it stops itself when idle): its jobs show once it runs again (\`skyhop jobs queue --refresh\`).`;
    } else {
      try {
        jobs = await managedQueue({ store, user: s.user.name });
      } catch (e) {
        error = `The jobs controller did not answer: ${messageOf(e)}`;
      }
    }
    return sendPage(reply, managedPage(pageUser(s), { jobs, note, error }, Date.now()));
  });

  app.get('/storage', async (req, reply) => {
    const s = session(req);
    const store = ctx.storeFor(s.user);
    const uses = new Map<string, StorageUse[]>();
    for (const u of store.storageUses()) uses.set(u.name, [...(uses.get(u.name) ?? []), u]);
    const owners = s.user.role === 'admin' ? store.owners('storage') : null;
    const buckets = storage.ls({ store }).map((rec) => ({
      rec,
      uses: uses.get(rec.name) ?? [],
      owner: owners ? (owners.get(rec.name) ?? null) : s.user.name,
    }));
    return sendPage(reply, storagePage(pageUser(s), { buckets }, Date.now()));
  });

  app.get('/clouds', async (req, reply) => {
    const s = session(req);
    return sendPage(reply, cloudsPage(pageUser(s), await check()));
  });

  app.get('/cost', async (req, reply) => {
    const s = session(req);
    const store = ctx.storeFor(s.user);
    const now = Date.now();
    const rows = store.costReport(now);
    const owners = store.owners('cluster');
    const groups = new Map<string | null, CostGroup>();
    for (const r of rows) {
      const owner = s.user.role === 'admin' ? (owners.get(r.cluster) ?? null) : s.user.name;
      let g = groups.get(owner);
      if (!g) {
        g = { owner, rows: [], total: 0, hourly: 0 };
        groups.set(owner, g);
      }
      g.rows.push(r);
      g.total += r.cost;
      if (r.status === 'live') g.hourly += r.hourlyPrice * r.numNodes;
    }
    const list = [...groups.values()].sort((a, b) => b.total - a.total);
    return sendPage(reply, costPage(pageUser(s), list, now));
  });
}
