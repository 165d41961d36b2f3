/**
 * The service's load balancer: one endpoint in front of the READY replicas (SkyServe's load balancer).
 * A long-lived process per service on the controller's node; the controller tells it the replicas
 * through DIR/replicas.json and reads the request counts it writes to DIR/lb-stats.json (see
 * lb-files.ts and SERVING.md, "The load balancer contract").
 *
 * Node's own http/https, no framework. Bodies stream both ways as they come (server-sent events,
 * chunked answers, large uploads): nothing is buffered. Keep-alive connections to the replicas. The
 * request path does no file system work and no logging; the replica list is re-read off the request
 * path (fs.watch on DIR, and a poll every 250 ms).
 *
 * Retries: a request that failed to reach a replica before any byte of an answer goes to another
 * replica when that is safe — any method when its connection never opened (refused, unreachable,
 * connect timeout: nothing was sent), idempotent methods (GET HEAD OPTIONS PUT DELETE TRACE) after
 * any such error as long as none of the request's body was read yet. A replica that failed so is
 * avoided for AVOID_MS (it is still used when there is nothing else). No replica at all: the request
 * waits up to NO_REPLICA_WAIT_MS for one, then 503; every replica failed: 502; at most
 * RETRY_BUDGET_MS of trying per request.
 */
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import {
  LB_STATS_FILE,
  type LbReplica,
  type LbStats,
  parseReplicas,
  REPLICAS_FILE,
  writeAtomic,
} from './lb-files.js';

export interface LoadBalancerOptions {
  /** Address to listen on. */
  host: string;
  /** 0 = any free port (tests). */
  port: number;
  /** The service's folder: replicas.json is read from it, lb-stats.json written to it. */
  dir: string;
  policy: 'round_robin' | 'least_load';
  /** Serve HTTPS with these. */
  tls?: { key: Buffer; cert: Buffer };
  /** Aborting closes the load balancer. */
  signal?: AbortSignal;
  /** One line per start, stop and change of the replica set (never per request). */
  log?: (line: string) => void;
}

export interface LoadBalancer {
  port: number;
  close(): Promise<void>;
}

/** A replica that failed to take a request is passed over this long. */
const AVOID_MS = 2000;
/** With no replica in the list, a request waits this long for one before its 503. */
const NO_REPLICA_WAIT_MS = 3000;
/** A request is retried for at most this long after it arrived; then 502. */
const RETRY_BUDGET_MS = 10_000;
/** Every replica failed this request: wait this long (or for a new list) before trying them again. */
const RETRY_PAUSE_MS = 250;
/** A connection to a replica not open after this long has failed (nothing was sent). */
const CONNECT_TIMEOUT_MS = 3000;
/** Idle keep-alive connections to replicas are closed after this long: below the 5 s most servers keep them (Node's, uvicorn's), so a request rarely meets one the replica has just closed. */
const IDLE_SOCKET_MS = 4000;
/** Idle connections from clients are closed after this long (as nginx's 75 s, AWS load balancers' 60 s). */
const CLIENT_KEEPALIVE_MS = 65_000;
const LISTEN_BACKLOG = 4096;
const POLL_MS = 250;
const STATS_MS = 500;
/** lb-stats.json is written this long after each half second (see `nextStats`). */
const STATS_PHASE_MS = 5;
const STATS_SECONDS = 600;

const NO_REPLICA_BODY = 'No replica of this service is ready yet; try again shortly.\n';

interface Upstream {
  id: number;
  url: string;
  key: string;
  request: typeof http.request;
  agent: http.Agent;
  hostname: string;
  port: number;
  /** The Host header sent to it. */
  hostHeader: string;
  /** Requests in flight to it from this load balancer (least_load). */
  inflight: number;
  /** Epoch ms until which it is passed over (it failed to take a request). */
  avoidUntil: number;
}

/** One request's passage through the load balancer. */
class Exchange {
  /** The request's headers for the replica; [1] is the Host, set per attempt. */
  headers: string[] | null = null;
  tried: Upstream[] | null = null;
  up: http.ClientRequest | null = null;
  attempts = 0;
  /** When it first found no replica in the list (0: never). */
  waitSince = 0;
  bodyTouched = false;
  responded = false;
  gone = false;
  lastError = '';
  cancelWait: (() => void) | null = null;
  constructor(
    readonly req: http.IncomingMessage,
    readonly res: http.ServerResponse,
    readonly start: number,
    readonly idempotent: boolean,
    readonly hasBody: boolean,
  ) {}
}

function isIdempotent(method: string | undefined): boolean {
  switch (method) {
    case 'GET':
    case 'HEAD':
    case 'OPTIONS':
    case 'PUT':
    case 'DELETE':
    case 'TRACE':
      return true;
    default:
      return false;
  }
}

/** Hop-by-hop headers (RFC 9110 7.6.1), never forwarded. */
function isHopByHop(name: string): boolean {
  switch (name) {
    case 'connection':
    case 'keep-alive':
    case 'proxy-connection':
    case 'proxy-authenticate':
    case 'proxy-authorization':
    case 'te':
    case 'trailer':
    case 'transfer-encoding':
    case 'upgrade':
      return true;
    default:
      return false;
  }
}

/** The extra hop-by-hop names a Connection header lists (lower case), or null. */
function connectionTokens(value: string | string[] | undefined): string[] | null {
  if (value === undefined) return null;
  const v = Array.isArray(value) ? value.join(',') : value;
  // The usual values name no header of their own.
  if (v === 'keep-alive' || v === 'close' || v === 'Keep-Alive' || v === 'Close') return null;
  const out: string[] = [];
  for (const t of v.split(',')) {
    const n = t.trim().toLowerCase();
    if (n && n !== 'close' && n !== 'keep-alive') out.push(n);
  }
  return out.length ? out : null;
}

export async function startLoadBalancer(o: LoadBalancerOptions): Promise<LoadBalancer> {
  const log = o.log ?? (() => {});
  const leastLoad = o.policy === 'least_load';
  const proto = o.tls ? 'https' : 'http';
  const replicasPath = join(o.dir, REPLICAS_FILE);
  const statsPath = join(o.dir, LB_STATS_FILE);
  await mkdir(o.dir, { recursive: true });

  const agentOptions = {
    keepAlive: true,
    timeout: IDLE_SOCKET_MS,
    noDelay: true,
    maxFreeSockets: 256,
    scheduling: 'lifo' as const,
  };
  const httpAgent = new http.Agent(agentOptions);
  const httpsAgent = new https.Agent(agentOptions);

  // ---- the replica list ----
  let list: Upstream[] = [];
  let rr = 0;
  let closed = false;
  const waiters = new Set<() => void>();

  function upstreamOf(r: LbReplica): Upstream {
    const u = new URL(r.url);
    const secure = u.protocol === 'https:';
    const port = u.port ? Number(u.port) : secure ? 443 : 80;
    const hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    return {
      id: r.id,
      url: r.url,
      key: `${r.id} ${r.url}`,
      request: secure ? https.request : http.request,
      agent: secure ? httpsAgent : httpAgent,
      hostname,
      port,
      hostHeader: u.host,
      inflight: 0,
      avoidUntil: 0,
    };
  }

  function setReplicas(next: LbReplica[]): void {
    const old = new Map(list.map((u) => [u.key, u]));
    const nl = next.map((r) => old.get(`${r.id} ${r.url}`) ?? upstreamOf(r));
    const changed = nl.length !== list.length || nl.some((u, i) => u !== list[i]);
    list = nl;
    if (!changed) return;
    log(
      nl.length
        ? `replicas: ${nl.map((u) => `${u.id} (${u.url})`).join(', ')}`
        : 'replicas: none (requests wait, then get 503)',
    );
    wake();
  }

  function wake(): void {
    if (waiters.size === 0) return;
    const ws = [...waiters];
    waiters.clear();
    for (const w of ws) w();
  }

  let fileSig = '';
  let fileProblem = '';
  let reading = false;
  let readAgain = false;
  /** Re-reads replicas.json; `force` skips the "unchanged since last time" check (a watch event). */
  async function reload(force: boolean): Promise<void> {
    if (reading) {
      readAgain ||= force;
      return;
    }
    reading = true;
    try {
      await readReplicas(force);
      while (readAgain && !closed) {
        readAgain = false;
        await readReplicas(true);
      }
    } catch (e) {
      log(`cannot read ${REPLICAS_FILE}: ${(e as Error).message}`); // never a crash: the last good list stays
    } finally {
      reading = false;
    }
  }

  async function readReplicas(force: boolean): Promise<void> {
    let text: string;
    try {
      const st = await stat(replicasPath);
      const sig = `${st.ino}:${st.size}:${st.mtimeMs}`;
      if (!force && sig === fileSig) return;
      fileSig = sig;
      text = await readFile(replicasPath, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      fileSig = '';
      problem(code === 'ENOENT' ? `${REPLICAS_FILE} is missing` : `${REPLICAS_FILE}: ${code}`);
      return;
    }
    let next: LbReplica[];
    try {
      next = parseReplicas(text);
    } catch (e) {
      problem(`${REPLICAS_FILE} is malformed (${(e as Error).message})`);
      return;
    }
    fileProblem = '';
    if (!closed) setReplicas(next);
  }

  /** Logs a problem with the file once (until it is fixed); the last good list stays. */
  function problem(what: string): void {
    if (what === fileProblem) return;
    fileProblem = what;
    log(`${what}; keeping the last good list (${list.length} replica${list.length === 1 ? '' : 's'})`);
  }

  // ---- request counts (lb-stats.json) ----
  const secOf = new Float64Array(STATS_SECONDS);
  const countOf = new Uint32Array(STATS_SECONDS);
  function count(nowMs: number): void {
    const s = Math.floor(nowMs / 1000);
    const i = s % STATS_SECONDS;
    if (secOf[i] !== s) {
      secOf[i] = s;
      countOf[i] = 0;
    }
    countOf[i]++;
  }
  function stats(): LbStats {
    const at = Date.now();
    const now = Math.floor(at / 1000);
    const counts: Array<[number, number]> = [];
    for (let s = now - STATS_SECONDS + 1; s <= now; s++) {
      const i = s % STATS_SECONDS;
      if (secOf[i] === s && countOf[i] > 0) counts.push([s, countOf[i]]);
    }
    return { pid: process.pid, port, at, counts };
  }
  let statsWrite: Promise<void> | null = null;
  function writeStats(): Promise<void> {
    if (statsWrite) return statsWrite;
    statsWrite = writeAtomic(statsPath, `${JSON.stringify(stats())}\n`)
      .catch((e) => log(`cannot write ${LB_STATS_FILE}: ${(e as Error).message}`))
      .finally(() => {
        statsWrite = null;
      });
    return statsWrite;
  }

  // ---- choosing a replica ----
  /** The next replica for a request (not one it already tried), or undefined. */
  function pick(tried: Upstream[] | null, now: number): Upstream | undefined {
    const n = list.length;
    if (n === 0) return undefined;
    const start = rr % n;
    rr = start + 1;
    let best: Upstream | undefined;
    let fallback: Upstream | undefined;
    for (let k = 0; k < n; k++) {
      const u = list[(start + k) % n];
      if (tried?.includes(u)) continue;
      if (u.avoidUntil > now) {
        if (fallback === undefined || u.inflight < fallback.inflight) fallback = u;
        continue;
      }
      if (!leastLoad) return u;
      if (best === undefined || u.inflight < best.inflight) best = u;
    }
    return best ?? fallback;
  }

  // ---- a request ----
  function onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const now = Date.now();
    count(now);
    const h = req.headers;
    const ex = new Exchange(
      req,
      res,
      now,
      isIdempotent(req.method),
      h['transfer-encoding'] !== undefined ||
        (h['content-length'] !== undefined && h['content-length'] !== '0'),
    );
    res.once('close', () => {
      if (res.writableFinished) return;
      ex.gone = true;
      ex.cancelWait?.();
      ex.up?.destroy();
    });
    attempt(ex);
  }

  function attempt(ex: Exchange): void {
    if (ex.gone) return;
    if (closed) {
      reply(ex, 503, 'The load balancer is shutting down.\n');
      return;
    }
    const now = Date.now();
    const budgetEnd = ex.start + RETRY_BUDGET_MS;
    if (ex.attempts > 0 && now >= budgetEnd && list.length > 0) {
      reply(ex, 502, badGateway(ex));
      return;
    }
    const u = pick(ex.tried, now);
    if (u !== undefined) {
      forward(ex, u);
      return;
    }
    if (list.length === 0) {
      if (ex.waitSince === 0) ex.waitSince = now;
      const until = Math.min(ex.waitSince + NO_REPLICA_WAIT_MS, budgetEnd);
      if (now >= until) {
        reply(ex, 503, NO_REPLICA_BODY);
        return;
      }
      wait(ex, until - now);
      return;
    }
    // Every replica failed this request.
    if (now >= budgetEnd) {
      reply(ex, 502, badGateway(ex));
      return;
    }
    wait(ex, Math.min(RETRY_PAUSE_MS, budgetEnd - now));
  }

  /** Waits for a new replica list or `ms`, then tries again (every replica, the failed ones too). */
  function wait(ex: Exchange, ms: number): void {
    const done = () => {
      clearTimeout(timer);
      waiters.delete(done);
      ex.cancelWait = null;
      ex.tried = null;
      attempt(ex);
    };
    const timer = setTimeout(done, ms);
    waiters.add(done);
    ex.cancelWait = () => {
      clearTimeout(timer);
      waiters.delete(done);
      ex.cancelWait = null;
    };
  }

  function badGateway(ex: Exchange): string {
    return `No replica could take the request (${ex.attempts} tried; last: ${ex.lastError}).\n`;
  }

  function reply(ex: Exchange, status: number, body: string): void {
    const res = ex.res;
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    const headers: Record<string, string | number> = {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
    };
    if (status === 503) headers['retry-after'] = '1';
    // The body was not (all) read: do not wait for it, close the connection after the answer.
    if (!ex.req.complete) headers.connection = 'close';
    res.writeHead(status, headers);
    res.end(body);
  }

  /** The request's headers for a replica: hop-by-hop ones dropped, X-Forwarded-* added. */
  function requestHeaders(req: http.IncomingMessage): string[] {
    const h = req.headers;
    const out: string[] = ['host', ''];
    const extra = connectionTokens(h.connection);
    for (const name in h) {
      if (
        isHopByHop(name) ||
        name === 'host' ||
        name === 'expect' ||
        name === 'x-forwarded-for' ||
        name === 'x-forwarded-proto' ||
        name === 'x-forwarded-host' ||
        extra?.includes(name)
      ) {
        continue;
      }
      const v = h[name];
      if (v === undefined) continue;
      if (typeof v === 'string') out.push(name, v);
      else for (const one of v) out.push(name, one);
    }
    // A chunked body is sent on chunked (Node frames it anew).
    if (h['transfer-encoding'] !== undefined) out.push('transfer-encoding', 'chunked');
    let ip = req.socket.remoteAddress ?? '';
    if (ip.startsWith('::ffff:')) ip = ip.slice(7);
    const prior = h['x-forwarded-for'];
    out.push('x-forwarded-for', prior ? `${prior}, ${ip}` : ip);
    out.push('x-forwarded-proto', proto);
    if (h.host !== undefined) out.push('x-forwarded-host', h.host);
    return out;
  }

  function forward(ex: Exchange, u: Upstream): void {
    const req = ex.req;
    ex.attempts++;
    u.inflight++;
    if (ex.headers === null) ex.headers = requestHeaders(req);
    ex.headers[1] = u.hostHeader;
    const up = u.request({
      agent: u.agent,
      hostname: u.hostname,
      port: u.port,
      method: req.method,
      path: req.url,
      headers: ex.headers,
      setHost: false,
    });
    ex.up = up;
    let connected = false;
    let released = false;
    let connectTimer: NodeJS.Timeout | undefined;
    const release = () => {
      if (released) return;
      released = true;
      u.inflight--;
    };
    const sendBody = () => {
      connected = true;
      if (ex.hasBody && !ex.gone) {
        ex.bodyTouched = true;
        req.pipe(up);
      }
    };
    up.once('close', release);
    up.once('socket', (s: Socket) => {
      if (!s.connecting) {
        sendBody();
        return;
      }
      const left = ex.start + RETRY_BUDGET_MS - Date.now();
      connectTimer = setTimeout(
        () => up.destroy(new Error('connect timeout')),
        Math.max(100, Math.min(CONNECT_TIMEOUT_MS, left)),
      );
      s.once('connect', () => {
        clearTimeout(connectTimer);
        sendBody();
      });
    });
    up.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(connectTimer);
      release();
      if (ex.up === up) ex.up = null;
      if (ex.gone) return;
      if (ex.responded) {
        ex.res.destroy();
        return;
      }
      u.avoidUntil = Date.now() + AVOID_MS;
      ex.lastError = `replica ${u.id}: ${err.code ?? err.message}`;
      if (ex.bodyTouched || (connected && !ex.idempotent)) {
        // Some of the request may have reached the replica: sending it again is not safe.
        if (ex.bodyTouched) req.unpipe(up);
        reply(ex, 502, badGateway(ex));
        return;
      }
      if (ex.tried === null) ex.tried = [u];
      else ex.tried.push(u);
      attempt(ex);
    });
    up.once('response', (ur: http.IncomingMessage) => {
      ex.responded = true;
      const res = ex.res;
      if (ex.gone || res.destroyed) {
        up.destroy();
        return;
      }
      res.writeHead(ur.statusCode ?? 502, ur.statusMessage, responseHeaders(ur));
      const broken = () => res.destroy();
      ur.once('aborted', broken);
      ur.once('error', broken);
      ur.pipe(res);
      // A streamed answer (no length): the client gets the headers now, not with the first chunk.
      if (ur.headers['content-length'] === undefined) setImmediate(flushHeaders, res);
    });
    if (!ex.hasBody) up.end();
  }

  function flushHeaders(res: http.ServerResponse): void {
    if (!res.headersSent && !res.destroyed) res.flushHeaders();
  }

  /** The replica's answer headers, hop-by-hop ones dropped (names as the replica wrote them). */
  function responseHeaders(ur: http.IncomingMessage): string[] {
    const raw = ur.rawHeaders;
    const extra = connectionTokens(ur.headers.connection);
    const out: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const lower = raw[i].toLowerCase();
      if (isHopByHop(lower) || extra?.includes(lower)) continue;
      out.push(raw[i], raw[i + 1]);
    }
    return out;
  }

  // ---- the server ----
  // No limit on a whole request's time (long uploads, long streams); idle client connections are kept
  // CLIENT_KEEPALIVE_MS, longer than clients usually keep them, so that a client rarely sends a request
  // on a connection the load balancer is closing.
  const serverOptions = { requestTimeout: 0 };
  const server = o.tls
    ? https.createServer({ ...serverOptions, key: o.tls.key, cert: o.tls.cert }, onRequest)
    : http.createServer(serverOptions, onRequest);
  server.keepAliveTimeout = CLIENT_KEEPALIVE_MS;

  await reload(true);
  let port = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // A deep accept queue: a burst of new client connections (a stalled moment under load) waits to be
    // accepted instead of being reset by the kernel (Node's default is 511).
    server.listen({ port: o.port, host: o.host, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((e) => {
    httpAgent.destroy();
    httpsAgent.destroy();
    throw e;
  });
  port = (server.address() as { port: number }).port;

  let watcher: FSWatcher | null = null;
  try {
    watcher = watch(o.dir, (_event, name) => {
      if (name === null || name === REPLICAS_FILE) void reload(true);
    });
    watcher.on('error', () => {
      watcher?.close();
      watcher = null; // the poll goes on
    });
  } catch {
    // No watching here: the poll alone.
  }
  const poll = setInterval(() => void reload(false), POLL_MS);
  // Written just after each half second, not every 500 ms from whenever the process started: a
  // decision that reads the file during a second then finds the seconds before it counted whole (with
  // an arbitrary phase, the last one lacked the requests after the last write: the autoscaler's QPS
  // read up to one second's share of the window low).
  let statsTimer: NodeJS.Timeout | undefined;
  const nextStats = () => {
    statsTimer = setTimeout(
      () => {
        if (closed) return;
        void writeStats();
        nextStats();
      },
      STATS_MS - (Date.now() % STATS_MS) + STATS_PHASE_MS,
    );
  };
  nextStats();
  void writeStats();
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  log(`load balancer on ${proto}://${host}:${port} (${o.policy}), pid ${process.pid}`);

  let closing: Promise<void> | null = null;
  function close(): Promise<void> {
    closing ??= (async () => {
      closed = true;
      clearInterval(poll);
      clearTimeout(statsTimer);
      watcher?.close();
      wake(); // waiting requests get their 503 now
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Requests in flight get a moment to finish; then every connection goes.
      const force = setTimeout(() => server.closeAllConnections(), 1000);
      await stopped;
      clearTimeout(force);
      httpAgent.destroy();
      httpsAgent.destroy();
      while (reading || statsWrite) await (statsWrite ?? new Promise((r) => setTimeout(r, 10)));
      await writeStats();
      log(`load balancer on port ${port} stopped`);
    })();
    return closing;
  }
  if (o.signal) {
    if (o.signal.aborted) void close();
    else o.signal.addEventListener('abort', () => void close(), { once: true });
  }
  return {
    get port() {
      return port;
    },
    close,
  };
}
