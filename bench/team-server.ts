/**
 * The team server (issue 13), on SQLite and (when PostgreSQL 15 is installed) on PostgreSQL:
 * - `skyhop status` as a whole CLI process: local, and through a server (3 clusters on record),
 *   alternating, so both see the same machine;
 * - load: 50 concurrent clients sending GET /api/v1/status at 200 requests/s in all (open loop: each
 *   client on its own schedule, a late answer does not slow the offered rate) for 15 s; latency
 *   percentiles of every answer;
 * - 100 concurrent `exec -d` submissions (POST /api/v1/requests) on one cluster: time until all are
 *   accepted, until all have finished, and the server's peak RSS.
 * - `api start` until the server answers (a cold start).
 * Usage: node --import tsx bench/team-server.ts [runs]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { BIN, freshHome, printRows, ROOT, type Row, summarize } from './lib.js';

const RUNS = Number(process.argv[2] ?? 15);

function cli(args: string[], env: Record<string, string>): { stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { env, cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`skyhop ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r;
}

function timed(args: string[], env: Record<string, string>): number {
  const t = process.hrtime.bigint();
  cli(args, env);
  return Number(process.hrtime.bigint() - t) / 1e6;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
function get(url: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    const req = http.get(url, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`${url}: ${res.statusCode}`));
        else resolve(Number(process.hrtime.bigint() - t) / 1e6);
      });
    });
    req.on('error', reject);
  });
}

function post(
  url: string,
  token: string,
  body: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

async function loadTest(endpoint: string, token: string, pid: number): Promise<Row[]> {
  const CLIENTS = 50;
  const RATE = 200; // requests per second, all clients together
  const SECONDS = 15;
  const interval = (1000 * CLIENTS) / RATE; // each client's period
  const lat: number[] = [];
  let errors = 0;
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 200);
  const start = Date.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, c) => {
      const inflight: Array<Promise<void>> = [];
      for (let i = 0; ; i++) {
        const at = start + (c * interval) / CLIENTS + i * interval;
        if (at - start >= SECONDS * 1000) break;
        const wait = at - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        inflight.push(
          get(`${endpoint}/api/v1/status`, token).then(
            (ms) => void lat.push(ms),
            () => void errors++,
          ),
        );
      }
      await Promise.all(inflight);
    }),
  );
  clearInterval(sampler);
  const took = (Date.now() - start) / 1000;
  console.log(
    `  load: ${lat.length} answers in ${took.toFixed(1)} s (${(lat.length / took).toFixed(0)}/s), ${errors} errors, server peak RSS ${peak.toFixed(0)} MiB`,
  );
  return [
    {
      what: 'p50',
      median: pct(lat, 50),
      min: Math.min(...lat),
      max: pct(lat, 50),
      runs: lat.length,
      unit: 'ms',
    },
    {
      what: 'p99',
      median: pct(lat, 99),
      min: pct(lat, 99),
      max: pct(lat, 99),
      runs: lat.length,
      unit: 'ms',
      target: '≤ 50',
    },
    {
      what: 'max',
      median: Math.max(...lat),
      min: Math.max(...lat),
      max: Math.max(...lat),
      runs: lat.length,
      unit: 'ms',
    },
  ];
}

async function execBurst(
  endpoint: string,
  token: string,
  pid: number,
  env: Record<string, string>,
): Promise<Row[]> {
  const N = 100;
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 100);
  const t0 = Date.now();
  const answers = await Promise.all(
    Array.from({ length: N }, (_, i) =>
      post(`${endpoint}/api/v1/requests`, token, { argv: ['exec', '-d', 'b1', `echo ${i}`] }),
    ),
  );
  const accepted = Date.now() - t0;
  const ids = answers.map((a) => {
    if (a.status !== 202) throw new Error(`submit: ${a.status} ${JSON.stringify(a.json)}`);
    return a.json.request_id as string;
  });
  // Until every request has ended.
  for (;;) {
    const r = JSON.parse(cli(['api', 'status', '--json'], env).stdout) as {
      requests: Array<{ id: string; status: string }>;
    };
    const left = r.requests.filter(
      (q) => ids.includes(q.id) && (q.status === 'PENDING' || q.status === 'RUNNING'),
    );
    if (left.length === 0) {
      const failed = r.requests.filter((q) => ids.includes(q.id) && q.status !== 'SUCCEEDED');
      if (failed.length) throw new Error(`${failed.length} exec requests did not succeed`);
      break;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const done = Date.now() - t0;
  clearInterval(sampler);
  console.log(
    `  100 exec -d: accepted in ${accepted} ms, all finished in ${(done / 1000).toFixed(1)} s, server peak RSS ${peak.toFixed(0)} MiB`,
  );
  return [
    {
      what: '100 concurrent `exec -d`: all accepted',
      median: accepted,
      min: accepted,
      max: accepted,
      runs: 1,
      unit: 'ms',
    },
    {
      what: '100 concurrent `exec -d`: all finished',
      median: done / 1000,
      min: done / 1000,
      max: done / 1000,
      runs: 1,
      unit: 's',
    },
  ];
}

async function bench(db: 'sqlite' | 'postgres'): Promise<void> {
  const h = freshHome();
  let pg: { url: string; stop(): Promise<void> } | null = null;
  const env = { ...h.env };
  try {
    if (db === 'postgres') {
      const { startPostgres } = await import('../test/helpers/postgres.js');
      const started = await startPostgres();
      pg = started;
      env.SKYHOP_DB = started.url;
    }
    for (const c of ['b1', 'b2', 'b3']) cli(['launch', '-y', '-d', '-c', c, 'true'], env);
    // A cold start: `api start` returns once the server answers.
    const starts: number[] = [];
    for (let i = 0; i < 5; i++) {
      starts.push(timed(['api', 'start', '--port', '0'], env));
      cli(['api', 'stop'], env);
    }
    printRows(`\`skyhop api start\` until the server answers (${db})`, [summarize('cold start', starts)]);
    cli(['api', 'start', '--port', '0'], env);
    const dir = join(env.SKYHOP_HOME, 'api', 'servers');
    const rec = JSON.parse(readFileSync(join(dir, readdirSync(dir)[0]), 'utf8')) as {
      endpoint: string;
      pid: number;
    };
    // The clusters were launched without the server, so they are an admin's.
    const admin = cli(['api', 'users', 'add', 'root', '--role', 'admin'], env).stdout.trim();
    const viaAdmin = { ...env, SKYHOP_API_SERVER_ENDPOINT: rec.endpoint, SKYHOP_API_TOKEN: admin };
    const local: number[] = [];
    const remote: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      local.push(timed(['status'], env));
      remote.push(timed(['status'], viaAdmin));
    }
    printRows(`\`skyhop status\`, whole CLI process, 3 clusters (${db})`, [
      summarize('local (no server)', local),
      summarize('through the server', remote, 'ms', '≤ 150'),
    ]);
    printRows(
      `GET /api/v1/status: 50 clients, 200 requests/s, 15 s (${db})`,
      await loadTest(rec.endpoint, admin, rec.pid),
    );
    printRows(
      `100 concurrent exec submissions (${db})`,
      await execBurst(rec.endpoint, admin, rec.pid, viaAdmin),
    );
    cli(['down', '-a', '-y'], env);
    cli(['api', 'stop'], env);
  } finally {
    spawnSync(process.execPath, [BIN, 'api', 'stop'], { env });
    spawnSync(process.execPath, [BIN, 'down', '-a', '-y', '--purge'], { env });
    await pg?.stop();
    h.dispose();
  }
}

await bench('sqlite');
if (existsSync('/usr/lib/postgresql/15/bin/postgres') && existsSync(join(ROOT, 'test/helpers/postgres.ts'))) {
  await bench('postgres');
} else console.log('\n(PostgreSQL 15 or test/helpers/postgres.ts missing: the PostgreSQL runs are skipped)');
