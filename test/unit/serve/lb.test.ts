/**
 * The load balancer (src/serve/lb.ts) in front of real HTTP servers on 127.0.0.1: replicas in this
 * process, and as child processes where one is killed. Its files (replicas.json in, lb-stats.json out)
 * in a temp folder. Ordering is checked with handshakes, never with times.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import {
  LB_STATS_FILE,
  type LbStats,
  REPLICAS_FILE,
  writeAtomicSync,
  writeReplicas,
} from '../../../src/serve/lb-files.js';
import { type LoadBalancer, type LoadBalancerOptions, startLoadBalancer } from '../../../src/serve/lb.js';

/** A test that hangs fails instead (a load balancer that buffers or loses a request leaves its client waiting). */
const T = { timeout: 60_000 };
const REPLICA_SCRIPT = resolve(import.meta.dirname, '../../helpers/http-replica.mjs');

// ---- everything started here is stopped at the end ----
const dirs: string[] = [];
const lbs: LoadBalancer[] = [];
const servers: Array<http.Server | net.Server> = [];
const children: ChildProcess[] = [];
const agent = new http.Agent({ keepAlive: true });

after(async () => {
  agent.destroy();
  await Promise.all(lbs.map((l) => l.close()));
  for (const s of servers) {
    if (s instanceof http.Server) s.closeAllConnections();
    s.close();
  }
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'skyhop-lb-'));
  dirs.push(d);
  return d;
}

interface Lb extends LoadBalancer {
  dir: string;
  url: string;
  logs: string[];
  /** Resolves with the first log line (already written or to come) that matches. */
  logged(re: RegExp): Promise<string>;
}

async function lb(o: Partial<LoadBalancerOptions> & { replicas?: number[] } = {}): Promise<Lb> {
  const dir = o.dir ?? tempDir();
  if (o.replicas)
    writeReplicas(
      dir,
      o.replicas.map((port, i) => ({ id: i + 1, url: `http://127.0.0.1:${port}` })),
    );
  const logs: string[] = [];
  const ev = new EventEmitter();
  const l = await startLoadBalancer({
    host: '127.0.0.1',
    port: 0,
    dir,
    policy: 'round_robin',
    ...o,
    log: (line) => {
      logs.push(line);
      ev.emit('line', line);
    },
  });
  lbs.push(l);
  return Object.assign(l, {
    dir,
    url: `http://127.0.0.1:${l.port}`,
    logs,
    logged: (re: RegExp) =>
      new Promise<string>((ok) => {
        const seen = logs.find((x) => re.test(x));
        if (seen) return ok(seen);
        const on = (line: string) => {
          if (!re.test(line)) return;
          ev.off('line', on);
          ok(line);
        };
        ev.on('line', on);
      }),
  });
}

/** A replica in this process on 127.0.0.1. */
async function replica(handler: http.RequestListener): Promise<number> {
  const s = http.createServer(handler);
  servers.push(s);
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  return (s.address() as net.AddressInfo).port;
}

/** A replica that answers its id (and counts what it got). */
async function idReplica(id: string): Promise<{ port: number; hits: string[] }> {
  const hits: string[] = [];
  const port = await replica((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      hits.push(`${req.method} ${body}`);
      res.end(req.method === 'POST' ? `${id}:${body}` : id);
    });
  });
  return { port, hits };
}

/** A replica as a child process (node test/helpers/http-replica.mjs). */
async function childReplica(id: string): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, [REPLICA_SCRIPT, id], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const rl = createInterface({ input: child.stdout! });
  const [line] = (await once(rl, 'line')) as [string];
  rl.close();
  return { port: (JSON.parse(line) as { port: number }).port, child };
}

/** A port nothing listens on (connections are refused). */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((ok) => s.close(ok));
  return port;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function call(
  url: string,
  o: { method?: string; body?: string; headers?: http.OutgoingHttpHeaders; agent?: http.Agent | false } = {},
): Promise<Answer> {
  return new Promise((ok, fail) => {
    const req = http.request(
      url,
      { method: o.method ?? 'GET', headers: o.headers, agent: o.agent ?? agent },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', fail);
      },
    );
    req.on('error', fail);
    req.end(o.body);
  });
}

function tally(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

function readStats(dir: string): LbStats {
  return JSON.parse(readFileSync(join(dir, LB_STATS_FILE), 'utf8')) as LbStats;
}

// ---- the tests ----

test('round_robin: requests go to every replica in turn', T, async () => {
  const rs = await Promise.all(['1', '2', '3'].map(idReplica));
  const l = await lb({ replicas: rs.map((r) => r.port) });
  const got: string[] = [];
  for (let i = 0; i < 30; i++) {
    const a = await call(`${l.url}/x`);
    assert.equal(a.status, 200);
    got.push(a.body);
  }
  assert.deepEqual(tally(got), { 1: 10, 2: 10, 3: 10 });
});

/**
 * One fast replica and one that holds every request until the end. Each request is sent once the
 * previous one was answered (fast replica) or has reached the slow one (handshake).
 */
async function slowReplicaShare(policy: 'round_robin' | 'least_load', n: number): Promise<number> {
  const fast = await idReplica('fast');
  const held: http.ServerResponse[] = [];
  let arrived: (() => void) | null = null;
  const slow = await replica((req, res) => {
    req.resume();
    held.push(res);
    arrived?.();
  });
  const l = await lb({ policy, replicas: [fast.port, slow] });
  const answers: Array<Promise<Answer>> = [];
  for (let i = 0; i < n; i++) {
    const atSlow = new Promise<void>((ok) => (arrived = ok));
    const a = call(`${l.url}/`, { agent: false });
    answers.push(a);
    await Promise.race([a, atSlow]);
  }
  const slowCount = held.length;
  for (const res of held) res.end('slow');
  for (const a of await Promise.all(answers)) assert.equal(a.status, 200);
  assert.equal(fast.hits.length + slowCount, n);
  return slowCount;
}

test('least_load: a slow replica gets fewer requests (round_robin gives it half)', T, async () => {
  assert.equal(await slowReplicaShare('round_robin', 20), 10);
  // The slow replica holds its first request: every later one goes where none is in flight.
  assert.equal(await slowReplicaShare('least_load', 20), 1);
});

test('a replica killed mid-run: every GET still answered (retried on the other)', T, async () => {
  const a = await childReplica('a');
  const b = await childReplica('b');
  const l = await lb({ policy: 'least_load', replicas: [a.port, b.port] });
  const TOTAL = 400;
  let sent = 0;
  let done = 0;
  const failed: string[] = [];
  const got: string[] = [];
  const worker = async () => {
    while (sent < TOTAL) {
      sent++;
      try {
        const r = await call(`${l.url}/work`);
        if (r.status === 200) got.push(r.body);
        else failed.push(`${r.status} ${r.body}`);
      } catch (e) {
        failed.push((e as Error).message);
      }
      if (++done === 100) a.child.kill('SIGKILL');
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  assert.deepEqual(failed, []);
  assert.equal(got.length, TOTAL);
  const t = tally(got);
  assert.ok(t.a > 0 && t.b > 0, JSON.stringify(t));
  assert.equal(a.child.signalCode, 'SIGKILL');
});

test('a POST to a replica that refuses the connection goes to another one', T, async () => {
  const live = await idReplica('live');
  // The list starts with the refusing replicas: the first request meets them first.
  const l = await lb({ replicas: [await deadPort(), await deadPort(), live.port] });
  for (let i = 0; i < 3; i++) {
    const a = await call(`${l.url}/submit`, { method: 'POST', body: `job ${i}` });
    assert.equal(a.status, 200);
    assert.equal(a.body, `live:job ${i}`);
  }
  assert.deepEqual(live.hits, ['POST job 0', 'POST job 1', 'POST job 2']);
});

/** A replica that resets every connection once a request has come in on it. */
async function resettingReplica(): Promise<{ port: number; requests: () => number }> {
  let requests = 0;
  const s = net.createServer((sock) => {
    sock.once('data', () => {
      requests++;
      sock.resetAndDestroy();
    });
    sock.on('error', () => {});
  });
  servers.push(s);
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  return { port: (s.address() as net.AddressInfo).port, requests: () => requests };
}

test('a POST whose connection resets after it was sent is not sent again: 502', T, async () => {
  const reset = await resettingReplica();
  const live = await idReplica('live');
  const l = await lb({ replicas: [reset.port, live.port] });
  const a = await call(`${l.url}/submit`, { method: 'POST', body: 'once' });
  assert.equal(a.status, 502);
  assert.match(a.body, /replica 1/);
  assert.equal(reset.requests(), 1);
  assert.deepEqual(live.hits, []);
});

test('a GET whose connection resets is retried on another replica', T, async () => {
  const reset = await resettingReplica();
  const live = await idReplica('live');
  const l = await lb({ replicas: [reset.port, live.port] });
  const a = await call(`${l.url}/read`);
  assert.equal(a.status, 200);
  assert.equal(a.body, 'live');
  assert.equal(reset.requests(), 1);
  assert.deepEqual(live.hits, ['GET ']);
});

test(
  'no replica: 503 after the wait; a replica written to replicas.json serves without a restart',
  T,
  async () => {
    const l = await lb();
    const a = await call(`${l.url}/`);
    assert.equal(a.status, 503);
    assert.match(a.body, /no replica .* ready/i);
    assert.equal(a.body.split('\n').filter(Boolean).length, 1);
    const r = await idReplica('new');
    writeReplicas(l.dir, [{ id: 7, url: `http://127.0.0.1:${r.port}` }]);
    const b = await call(`${l.url}/`); // waits for the list if it was not read yet
    assert.equal(b.status, 200);
    assert.equal(b.body, 'new');
    await l.close();
    // Both were counted, the 503 too.
    const s = readStats(l.dir);
    assert.equal(
      s.counts.reduce((n, [, c]) => n + c, 0),
      2,
    );
  },
);

test('a malformed or missing replicas.json keeps the last good list', T, async () => {
  const one = await idReplica('one');
  const two = await idReplica('two');
  const l = await lb({ replicas: [one.port] });
  assert.equal((await call(`${l.url}/`)).body, 'one');
  const file = join(l.dir, REPLICAS_FILE);
  writeAtomicSync(file, '{"replicas": [');
  await l.logged(/malformed \(not JSON/);
  assert.equal((await call(`${l.url}/`)).body, 'one');
  writeAtomicSync(file, '{"replicas": [{"id": 2, "url": "ftp://x"}]}');
  await l.logged(/malformed \(replicas\[0\]\.url is not http/);
  assert.equal((await call(`${l.url}/`)).body, 'one');
  writeReplicas(l.dir, [{ id: 2, url: `http://127.0.0.1:${two.port}` }]);
  await l.logged(/^replicas: 2 /);
  assert.equal((await call(`${l.url}/`)).body, 'two');
  unlinkSync(file);
  await l.logged(/replicas\.json is missing; keeping the last good list \(1 replica\)/);
  assert.equal((await call(`${l.url}/`)).body, 'two');
});

// A load balancer that held the stream back would never let the replica send event 2: the timeout fails it.
test('server-sent events arrive one by one, before the replica ends the stream', T, async () => {
  let clientSawFirst!: () => void;
  const sawFirst = new Promise<void>((ok) => (clientSawFirst = ok));
  const sentSecondAfterClientSawFirst: boolean[] = [];
  let firstSeen = false;
  const port = await replica(async (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write('data: 1\n\n');
    await sawFirst; // the client must get event 1 while the replica still holds the stream open
    sentSecondAfterClientSawFirst.push(firstSeen);
    res.write('data: 2\n\n');
    res.end();
  });
  const l = await lb({ replicas: [port] });
  const events = await new Promise<string[]>((ok, fail) => {
    http
      .get(`${l.url}/events`, { agent }, (res) => {
        assert.equal(res.headers['content-type'], 'text/event-stream');
        let buf = '';
        const evs: string[] = [];
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          buf += c;
          let i = buf.indexOf('\n\n');
          while (i >= 0) {
            evs.push(buf.slice(0, i));
            buf = buf.slice(i + 2);
            i = buf.indexOf('\n\n');
          }
          if (evs.length >= 1 && !firstSeen) {
            firstSeen = true;
            clientSawFirst();
          }
        });
        res.on('end', () => ok(evs));
        res.on('error', fail);
      })
      .on('error', fail);
  });
  assert.deepEqual(events, ['data: 1', 'data: 2']);
  assert.deepEqual(sentSecondAfterClientSawFirst, [true]);
});

test('a large upload and a large download stream through whole', T, async () => {
  const MiB = 1 << 20;
  const block = randomBytes(MiB);
  const BLOCKS = 64;
  const port = await replica((req, res) => {
    if (req.method === 'PUT' || req.method === 'POST') {
      const h = createHash('sha256');
      let n = 0;
      req.on('data', (c: Buffer) => {
        h.update(c);
        n += c.length;
      });
      req.on('end', () => res.end(JSON.stringify({ n, sha: h.digest('hex') })));
      return;
    }
    // Download: BLOCKS MiB, chunked, written as the client takes them.
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    let i = 0;
    const more = () => {
      while (i < BLOCKS) {
        i++;
        if (!res.write(block)) return void res.once('drain', more);
      }
      res.end();
    };
    more();
  });
  const l = await lb({ replicas: [port] });
  const want = createHash('sha256');
  for (let i = 0; i < BLOCKS; i++) want.update(block);
  const wantSha = want.digest('hex');

  for (const [method, framing] of [
    ['POST', 'chunked'],
    ['PUT', 'length'],
  ] as const) {
    const up = await new Promise<Answer>((ok, fail) => {
      const req = http.request(
        `${l.url}/upload`,
        {
          method,
          agent,
          headers: framing === 'length' ? { 'content-length': BLOCKS * MiB } : {},
        },
        (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body }));
        },
      );
      req.on('error', fail);
      let i = 0;
      const more = () => {
        while (i < BLOCKS) {
          i++;
          if (!req.write(block)) return void req.once('drain', more);
        }
        req.end();
      };
      more();
    });
    assert.equal(up.status, 200, up.body);
    assert.deepEqual(JSON.parse(up.body), { n: BLOCKS * MiB, sha: wantSha });
  }

  const down = await new Promise<{ n: number; sha: string }>((ok, fail) => {
    http
      .get(`${l.url}/download`, { agent }, (res) => {
        const h = createHash('sha256');
        let n = 0;
        res.on('data', (c: Buffer) => {
          h.update(c);
          n += c.length;
        });
        res.on('end', () => ok({ n, sha: h.digest('hex') }));
        res.on('error', fail);
      })
      .on('error', fail);
  });
  assert.deepEqual(down, { n: BLOCKS * MiB, sha: wantSha });
});

test('TLS: the load balancer serves HTTPS with the given key and certificate', T, async (t) => {
  const dir = tempDir();
  const r = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { encoding: 'utf8' },
  );
  if (r.error || r.status !== 0) {
    const why = `openssl cannot make a certificate: ${r.error?.message ?? r.stderr}`;
    if (process.env.CI === 'true') throw new Error(`${why}; under CI=true the TLS test must run, not skip`);
    t.skip(why);
    return;
  }
  const cert = readFileSync(join(dir, 'cert.pem'));
  const key = readFileSync(join(dir, 'key.pem'));
  let proto: string | undefined;
  const port = await replica((req, res) => {
    proto = req.headers['x-forwarded-proto'] as string;
    res.end('secure');
  });
  const l = await lb({ dir: join(dir, 'svc'), replicas: [port], tls: { key, cert } });
  const tlsAgent = new https.Agent({ keepAlive: true, ca: cert });
  try {
    const body = await new Promise<string>((ok, fail) => {
      https
        .get(`https://127.0.0.1:${l.port}/`, { agent: tlsAgent }, (res) => {
          let b = '';
          res.on('data', (c) => (b += c));
          res.on('end', () => ok(`${res.statusCode} ${b}`));
        })
        .on('error', fail);
    });
    assert.equal(body, '200 secure');
    assert.equal(proto, 'https');
    // Plain HTTP is not served on that port.
    await assert.rejects(call(`http://127.0.0.1:${l.port}/`, { agent: false }));
  } finally {
    tlsAgent.destroy();
  }
});

test('lb-stats.json: the requests received, per second', T, async () => {
  const r = await idReplica('s');
  const l = await lb({ policy: 'least_load', replicas: [r.port] });
  const N = 57;
  await Promise.all(
    Array.from({ length: N }, (_, i) => call(`${l.url}/${i}`).then((a) => assert.equal(a.status, 200))),
  );
  await l.close();
  const s = readStats(l.dir);
  assert.equal(s.pid, process.pid);
  assert.equal(s.port, l.port);
  assert.equal(
    s.counts.reduce((n, [, c]) => n + c, 0),
    N,
  );
  for (const [sec, c] of s.counts) {
    assert.ok(Number.isInteger(sec) && c > 0);
    assert.ok(sec <= Math.floor(s.at / 1000) && sec > Math.floor(s.at / 1000) - 600);
  }
  assert.deepEqual(
    s.counts.map(([sec]) => sec),
    [...s.counts.map(([sec]) => sec)].sort((a, b) => a - b),
  );
});

test('hop-by-hop headers are dropped both ways; X-Forwarded-* are set', T, async () => {
  let seen: http.IncomingHttpHeaders = {};
  const port = await replica((req, res) => {
    seen = req.headers;
    res.setHeader('set-cookie', ['a=1', 'b=2']);
    res.setHeader('proxy-authenticate', 'Basic');
    res.setHeader('x-kept', 'yes');
    res.end('ok');
  });
  const l = await lb({ replicas: [port] });
  const a = await call(`${l.url}/h`, {
    agent: false,
    headers: {
      connection: 'keep-alive, X-Hop',
      'x-hop': 'dropped',
      'keep-alive': 'timeout=5',
      te: 'trailers',
      'proxy-authorization': 'Basic eDp5',
      'x-forwarded-for': '10.1.2.3',
      'x-forwarded-proto': 'gopher',
      'x-end-to-end': 'kept',
    },
  });
  assert.equal(a.status, 200);
  for (const h of ['x-hop', 'keep-alive', 'te', 'proxy-authorization']) assert.equal(seen[h], undefined, h);
  assert.doesNotMatch(String(seen.connection), /x-hop/i);
  assert.equal(seen['x-end-to-end'], 'kept');
  assert.equal(seen['x-forwarded-for'], '10.1.2.3, 127.0.0.1');
  assert.equal(seen['x-forwarded-proto'], 'http');
  assert.equal(seen['x-forwarded-host'], `127.0.0.1:${l.port}`);
  assert.equal(seen.host, `127.0.0.1:${port}`);
  assert.deepEqual(a.headers['set-cookie'], ['a=1', 'b=2']);
  assert.equal(a.headers['proxy-authenticate'], undefined);
  assert.equal(a.headers['x-kept'], 'yes');
});

test('the abort signal closes the load balancer', T, async () => {
  const ac = new AbortController();
  const l = await lb({ signal: ac.signal });
  ac.abort();
  await l.close(); // the same close the signal started
  await assert.rejects(call(`${l.url}/`, { agent: false }), /ECONNREFUSED/);
  assert.match(l.logs.at(-1) ?? '', /stopped/);
});
