/**
 * The serving load balancer's overhead (issue 14; goal: ≤ 1 ms at p50 at 1,000 req/s on loopback).
 * A replica (test/helpers/http-replica.mjs: a minimal Node HTTP server) and the load balancer
 * (src/serve/lb.ts, least_load, one replica in replicas.json) each run in their own child process, as in
 * production; this process is the client. GETs at a fixed rate (open loop: sent on a schedule, whether
 * or not earlier ones were answered), keep-alive connections, for SECONDS; the latency of each is from
 * its send to the end of its answer. Runs alternate direct / through the load balancer (each after 1 s
 * of warm-up at the same rate); the table gives the median of the runs' p50 and p99 (min and max over the runs).
 * Also: the load balancer's CPU time per request (from /proc, over the runs through it).
 * Usage: node --import tsx bench/serve-lb.ts [runs=5] [seconds=10] [rate=1000]
 *        node BUNDLE --lb DIR   (the load balancer child: this file bundled by esbuild, as from dist/)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { printRows, ROOT, type Row, summarize } from './lib.js';

async function child(args: string[]): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const rl = createInterface({ input: proc.stdout! });
  const [line] = (await once(rl, 'line')) as [string];
  rl.close();
  return { proc, port: (JSON.parse(line) as { port: number }).port };
}

/** utime + stime of a process, in ms. */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // fields 14 and 15, in ticks of 1/100 s
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

// A client's connection pool: at most 256 connections (beyond, requests queue here, and their wait
// counts in their latency); idle ones closed before the servers' 5 s, so that no request meets a
// connection being closed.
const agent = new http.Agent({ keepAlive: true, timeout: 4000, maxSockets: 256 });

/** GETs at `rate` per second for `seconds`; the latency of every answer, sorted, and the errors. */
async function load(
  url: string,
  rate: number,
  seconds: number,
): Promise<{ lat: number[]; errors: number; why: Set<string> }> {
  const why = new Set<string>();
  const total = Math.round(rate * seconds);
  const lat: number[] = [];
  let errors = 0;
  let sent = 0;
  let answered = 0;
  let finish!: () => void;
  const done = new Promise<void>((ok) => (finish = ok));
  const settle = () => {
    if (++answered === total) finish();
  };
  const fire = () => {
    const t0 = performance.now();
    const req = http.get(url, { agent }, (res) => {
      let body = '';
      if (res.statusCode === 200) res.resume();
      else res.on('data', (c) => (body += c));
      res.on('end', () => {
        if (res.statusCode === 200) lat.push(performance.now() - t0);
        else {
          errors++;
          why.add(`${res.statusCode} ${body.trim()}`);
        }
        settle();
      });
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      errors++;
      why.add(e.code ?? e.message);
      settle();
    });
  };
  const start = performance.now();
  const tick = () => {
    const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
    while (sent < due) {
      sent++;
      fire();
    }
    if (sent < total) setTimeout(tick, 1);
  };
  tick();
  await done;
  lat.sort((a, b) => a - b);
  return { lat, errors, why };
}

async function main(): Promise<void> {
  const RUNS = Number(process.argv[2] ?? 5);
  const SECONDS = Number(process.argv[3] ?? 10);
  const RATE = Number(process.argv[4] ?? 1000);
  console.log(
    `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}; ${RUNS} runs of ${SECONDS} s at ${RATE} req/s`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'skyhop-bench-lb-'));
  const procs: ChildProcess[] = [];
  try {
    const replica = await child([join(ROOT, 'test/helpers/http-replica.mjs'), '1']);
    procs.push(replica.proc);
    const { writeReplicas } = await import('../src/serve/lb-files.js');
    writeReplicas(dir, [{ id: 1, url: `http://127.0.0.1:${replica.port}` }]);
    // The load balancer runs bundled by esbuild, as from dist/ (tsx's transform would wrap every closure).
    const { build } = await import('esbuild');
    const lbScript = join(dir, 'lb-child.mjs');
    await build({
      entryPoints: [join(ROOT, 'bench/serve-lb.ts')],
      outfile: lbScript,
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      logLevel: 'warning',
    });
    // LB_NODE_ARGS: extra node flags for the load balancer (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
    const lbFlags = (process.env.LB_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const lb = await child([...lbFlags, lbScript, '--lb', dir]);
    procs.push(lb.proc);
    const direct = `http://127.0.0.1:${replica.port}/`;
    const via = `http://127.0.0.1:${lb.port}/`;

    const r: Record<'direct' | 'lb', { p50: number[]; p99: number[]; max: number[] }> = {
      direct: { p50: [], p99: [], max: [] },
      lb: { p50: [], p99: [], max: [] },
    };
    const over50: number[] = [];
    const over99: number[] = [];
    let lbCpu = 0;
    let lbRequests = 0;
    for (let i = 0; i < RUNS; i++) {
      const order = i % 2 === 0 ? (['direct', 'lb'] as const) : (['lb', 'direct'] as const);
      const p: Record<string, { p50: number; p99: number }> = {};
      for (const which of order) {
        await load(which === 'lb' ? via : direct, RATE, 1); // warm-up, not counted
        const cpu0 = which === 'lb' ? cpuMs(lb.proc.pid!) : 0;
        const { lat, errors, why } = await load(which === 'lb' ? via : direct, RATE, SECONDS);
        if (which === 'lb') {
          lbCpu += cpuMs(lb.proc.pid!) - cpu0;
          lbRequests += lat.length + errors;
        }
        if (errors) throw new Error(`${which}: ${errors} failed requests (${[...why].join(', ')})`);
        p[which] = { p50: pct(lat, 50), p99: pct(lat, 99) };
        r[which].p50.push(p[which].p50);
        r[which].p99.push(p[which].p99);
        r[which].max.push(lat[lat.length - 1]);
        console.log(
          `  run ${i + 1} ${which.padEnd(6)} p50 ${p[which].p50.toFixed(3)} ms  p99 ${p[which].p99.toFixed(3)} ms  max ${lat[lat.length - 1].toFixed(1)} ms  (${lat.length} answers)`,
        );
      }
      over50.push(p.lb.p50 - p.direct.p50);
      over99.push(p.lb.p99 - p.direct.p99);
    }
    const rows: Row[] = [
      summarize('direct to the replica: p50', r.direct.p50),
      summarize('through the load balancer: p50', r.lb.p50),
      summarize('overhead at p50 (per run: LB p50 − direct p50)', over50, 'ms', '≤ 1 ms'),
      summarize('direct to the replica: p99', r.direct.p99),
      summarize('through the load balancer: p99', r.lb.p99),
      summarize('overhead at p99', over99),
      summarize('direct: max', r.direct.max),
      summarize('through the load balancer: max', r.lb.max),
    ];
    const fmt = (n: number) => n.toFixed(3);
    printRows(`GET at ${RATE} req/s on loopback, ${SECONDS} s per run (ms)`, rows);
    console.log('\n(exact values)');
    for (const row of rows)
      console.log(`  ${row.what}: median ${fmt(row.median)}, min ${fmt(row.min)}, max ${fmt(row.max)}`);
    console.log(
      `\nLoad balancer CPU: ${((lbCpu * 1000) / lbRequests).toFixed(1)} µs per request (${lbRequests} requests, ${(lbCpu / 1000).toFixed(2)} s CPU; ${((lbCpu / (RUNS * SECONDS * 1000)) * 100).toFixed(0)}% of a core at ${RATE} req/s)`,
    );
  } finally {
    agent.destroy();
    // The children are gone before their folder is (the load balancer writes its stats as it stops).
    await Promise.all(
      procs.map(async (p) => {
        if (p.exitCode !== null || p.signalCode !== null) return;
        const exited = once(p, 'exit');
        p.kill('SIGTERM');
        await exited;
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--lb') {
  // The load balancer's own process.
  const { startLoadBalancer } = await import('../src/serve/lb.js');
  const lb = await startLoadBalancer({
    host: '127.0.0.1',
    port: 0,
    dir: process.argv[3],
    policy: 'least_load',
  });
  process.stdout.write(`${JSON.stringify({ port: lb.port })}\n`);
  process.on('SIGTERM', () => void lb.close().then(() => process.exit(0)));
} else {
  await main();
}
