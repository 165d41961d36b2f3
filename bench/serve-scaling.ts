/**
 * Serving: a scaling run 1 → 3 → 1 on the local cloud, and the scale-up decision latency.
 *
 * A temp home whose config runs the serve controller fast (probe 0.5 s, decision 1 s, QPS window 3 s);
 * `serve up` of a stand-in replica (a Node HTTP server on its node's address) with
 * `replica_policy: {min 1, max 3, target_qps_per_replica 5, upscale_delay 2 s, downscale_delay 5 s}`;
 * an open-loop GET load through the endpoint on loopback: 2 req/s for 10 s, 14 req/s for 30 s,
 * 2 req/s for 30 s (500 requests). Every 0.5 s the controller's service.json and the load balancer's
 * lb-stats.json (read straight from the controller's node) give the QPS, the target and the replica
 * counts. Per run:
 * - threshold crossed: the first moment the QPS the controller computes (the same qpsOver over the
 *   load balancer's per-second counts) is above 5 (one replica's target);
 * - → the controller's decision (its first `target:` line above 1 in controller.log), → the last new
 *   replica READY (its `READY` line), and the same from the start of the 14 req/s phase;
 * - load dropped → target back to 1 → one replica alive;
 * - failed requests (any answer but 200).
 * The first run's series is written to docs/images/serve-scaling.json and drawn (by hand, SVG) into
 * docs/images/serve-scaling.svg. `serve down` and `down -a` at the end; nothing may be left.
 * Usage: node --import tsx bench/serve-scaling.ts [runs]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { qpsOver } from '../src/serve/autoscaler.js';
import { freshHome, median, printRows, ROOT, type Row, summarize } from './lib.js';
import {
  ALIVE,
  cli,
  controllerHome,
  downEverything,
  machine,
  openLoop,
  type Sent,
  serviceFilesOf,
  sleep,
  writeReplica,
} from './serve-lib.js';

const RUNS = Number(process.argv[2] ?? 3);
const WINDOW_S = 3;
const TARGET_QPS = 5;
const PHASES = [
  { rate: 2, seconds: 10 },
  { rate: 14, seconds: 30 },
  { rate: 2, seconds: 30 },
];

export interface Sample {
  /** Seconds since the load started. */
  t: number;
  /** The offered load now (req/s). */
  offered: number;
  /** QPS over the window from the load balancer's counts (what the next decision sees). */
  lbQps: number;
  /** The QPS the controller saw at its last decision. */
  qps: number;
  target: number;
  ready: number;
  alive: number;
  /** Replicas in no alive state (SHUTTING_DOWN, or ended and kept in the record). */
  other: string[];
}

interface RunResult {
  samples: Sample[];
  /** Seconds since the load started. */
  marks: {
    highStart: number;
    highEnd: number;
    crossed: number;
    decided: number;
    decidedTarget: number;
    /** The target reaching max_replicas (3). */
    decidedMax: number | null;
    firstNewReady: number;
    allNewReady: number;
    targetDown: number | null;
    oneAlive: number | null;
    /** The last scaled-down replica torn down and removed. */
    removed: number | null;
  };
  requests: number;
  failed: number;
  /** Replicas seen in a terminal state (none expected: scaled-down ones are forgotten). */
  ended: string[];
  p50ms: number;
}

const h = freshHome();
mkdirSync(h.env.SKYHOP_HOME!, { recursive: true });
mkdirSync(h.env.HOME!, { recursive: true });
writeFileSync(
  join(h.env.SKYHOP_HOME!, 'config.yaml'),
  `serve:\n  controller:\n    probe_interval_seconds: 0.5\n    decision_interval_seconds: 1\n    qps_window_seconds: ${WINDOW_S}\n`,
);
const wd = join(h.dir, 'wd');
mkdirSync(wd);
writeReplica(wd);
const yaml = join(h.dir, 'service.yaml');
writeFileSync(
  yaml,
  `workdir: ${wd}
resources:
  cloud: local
  ports: 8080
service:
  readiness_probe:
    path: /health
    initial_delay_seconds: 30
    timeout_seconds: 2
  replica_policy:
    min_replicas: 1
    max_replicas: 3
    target_qps_per_replica: ${TARGET_QPS}
    upscale_delay_seconds: 2
    downscale_delay_seconds: 5
run: node replica.js
`,
);

async function waitFor<T>(what: string, ms: number, fn: () => T | null | undefined | false): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function oneRun(name: string): Promise<RunResult> {
  const up = cli(h.env, ['serve', 'up', '-y', '-n', name, yaml]);
  const endpoint = /Endpoint URL: (http\S+)/.exec(up.stdout)?.[1];
  if (!endpoint) throw new Error(`serve up gave no endpoint: ${up.stdout}`);
  const f = serviceFilesOf(controllerHome(h.env.SKYHOP_HOME!), name);
  await waitFor('one READY replica', 60_000, () => f.service()?.replicas.some((r) => r.status === 'READY'));
  // A moment with one READY replica and nothing else going on before the load starts.
  await sleep(2000);

  const sent: Sent[] = [];
  const samples: Sample[] = [];
  const t0 = Date.now();
  let offered = 0;
  let sampling = true;
  const sampler = (async () => {
    for (let k = 0; sampling; k++) {
      const now = Date.now();
      const s = f.service();
      const stats = f.lbStats();
      if (s) {
        samples.push({
          t: (now - t0) / 1000,
          offered,
          lbQps: qpsOver(stats?.counts ?? [], now, WINDOW_S),
          qps: s.qps,
          target: s.target,
          ready: s.replicas.filter((r) => r.status === 'READY').length,
          alive: s.replicas.filter((r) => ALIVE.has(r.status)).length,
          other: s.replicas.filter((r) => !ALIVE.has(r.status)).map((r) => `${r.id}:${r.status}`),
        });
      }
      await sleep(Math.max(0, t0 + (k + 1) * 500 - Date.now()));
    }
  })();
  const starts: number[] = [];
  try {
    await openLoop(endpoint, PHASES, sent, (i, at) => {
      starts.push(at);
      offered = PHASES[i]?.rate ?? 0;
    });
    // Downscaled by now, normally; else give it a little longer (bounded).
    await waitFor('one replica left', 60_000, () => {
      const s = f.service();
      return (
        s &&
        s.target === 1 &&
        s.replicas.filter((r) => ALIVE.has(r.status)).length === 1 &&
        !s.replicas.some((r) => r.status === 'SHUTTING_DOWN')
      );
    }).catch(() => null);
    await sleep(1000);
  } finally {
    sampling = false;
    await sampler;
  }

  const highStart = starts[1]!;
  const highEnd = starts[2]!;
  const counts = f.lbStats()?.counts ?? [];
  let crossed = Number.NaN;
  for (let t = highStart - 1000; t < highEnd; t += 10) {
    if (qpsOver(counts, t, WINDOW_S) > TARGET_QPS) {
      crossed = t;
      break;
    }
  }
  const log = f.log().filter(([t]) => t >= t0);
  const targets = log
    .map(([t, l]) => [t, Number(/^target: (\d+) replica/.exec(l)?.[1] ?? Number.NaN)] as const)
    .filter(([, n]) => !Number.isNaN(n));
  const decision = targets.find(([t, n]) => t >= highStart && n > 1);
  if (!decision) throw new Error(`no scale-up decision in the controller log:\n${log.join('\n')}`);
  const launched = new Set(
    log
      .filter(([t]) => t >= decision[0])
      .map(([, l]) => Number(/^replica (\d+): to launch/.exec(l)?.[1]))
      .filter((n) => !Number.isNaN(n)),
  );
  const readies = log
    .filter(([t, l]) => t >= decision[0] && launched.has(Number(/^replica (\d+): READY/.exec(l)?.[1])))
    .map(([t]) => t);
  if (readies.length === 0) throw new Error('no new replica got READY');
  const max = targets.find(([t, n]) => t >= highStart && n === 3);
  const down = targets.find(([t, n]) => t >= highEnd && n === 1);
  const oneAlive = samples.find((s) => s.t * 1000 >= highEnd - t0 && s.alive === 1);
  const removed = log.filter(([t, l]) => t >= highEnd && /^replica \d+: removed/.test(l)).map(([t]) => t);
  const rel = (t: number) => (t - t0) / 1000;
  const failed = sent.filter((s) => s.status !== 200);
  if (failed.length > 0) {
    const why = [...new Set(failed.map((s) => `${s.status} ${s.error ?? ''}`.trim()))];
    console.error(`${name}: ${failed.length} failed request(s): ${why.join(', ')}`);
  }
  if (process.env.BENCH_VERBOSE) {
    for (const [t, l] of log) console.error(`  ${((t - t0) / 1000).toFixed(3)} s ${l}`);
  }
  cli(h.env, ['serve', 'down', '-y', name]);
  return {
    samples,
    marks: {
      highStart: rel(highStart),
      highEnd: rel(highEnd),
      crossed: rel(crossed),
      decided: rel(decision[0]),
      decidedTarget: decision[1],
      decidedMax: max ? rel(max[0]) : null,
      firstNewReady: rel(Math.min(...readies)),
      allNewReady: rel(Math.max(...readies)),
      targetDown: down ? rel(down[0]) : null,
      oneAlive: oneAlive ? oneAlive.t : null,
      removed: removed.length > 0 ? rel(Math.max(...removed)) : null,
    },
    requests: sent.length,
    failed: failed.length,
    ended: [...new Set(samples.flatMap((x) => x.other).filter((o) => !o.endsWith(':SHUTTING_DOWN')))],
    p50ms: median(sent.map((s) => s.ms)),
  };
}

// ---- the plot -------------------------------------------------------------------------------------

/** Two panels over one time axis: QPS (offered, measured, the controller's) and replicas. */
export function renderSvg(r: RunResult): string {
  const W = 820;
  const H = 460;
  const L = 56;
  const R = 200;
  const panels = [
    { top: 36, h: 170, max: 16, step: 4, label: 'requests / s' },
    { top: 256, h: 150, max: 4, step: 1, label: 'replicas' },
  ];
  const tMax = Math.ceil(Math.max(...r.samples.map((s) => s.t)) / 10) * 10;
  const x = (t: number) => L + (t / tMax) * (W - L - R);
  const y = (p: (typeof panels)[number], v: number) => p.top + p.h - (v / p.max) * p.h;
  const out: string[] = [];
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const text = (tx: number, ty: number, s: string, extra = '') =>
    out.push(`<text x="${tx.toFixed(1)}" y="${ty.toFixed(1)}" ${extra}>${esc(s)}</text>`);
  /** A step line: each value holds until the next sample. */
  const steps = (p: (typeof panels)[number], vals: Array<[number, number]>) => {
    const pts: string[] = [];
    vals.forEach(([t, v], i) => {
      if (i > 0) pts.push(`${x(t).toFixed(1)},${y(p, vals[i - 1]![1]).toFixed(1)}`);
      pts.push(`${x(t).toFixed(1)},${y(p, v).toFixed(1)}`);
    });
    return pts.join(' ');
  };
  const line = (p: (typeof panels)[number], vals: Array<[number, number]>) =>
    vals.map(([t, v]) => `${x(t).toFixed(1)},${y(p, v).toFixed(1)}`).join(' ');
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
  );
  text(
    L,
    20,
    'skyhop serve: 1 → 3 → 1 replicas (target_qps_per_replica 5, upscale 2 s, downscale 5 s)',
    'font-weight="bold"',
  );
  // Load phases shaded in both panels.
  for (const p of panels) {
    out.push(
      `<rect x="${x(r.marks.highStart).toFixed(1)}" y="${p.top}" width="${(x(r.marks.highEnd) - x(r.marks.highStart)).toFixed(1)}" height="${p.h}" fill="#f3f3f3"/>`,
    );
    for (let v = 0; v <= p.max; v += p.step) {
      const yy = y(p, v).toFixed(1);
      out.push(`<line x1="${L}" y1="${yy}" x2="${W - R}" y2="${yy}" stroke="#ddd"/>`);
      text(L - 6, y(p, v) + 4, String(v), 'text-anchor="end"');
    }
    out.push(`<rect x="${L}" y="${p.top}" width="${W - L - R}" height="${p.h}" fill="none" stroke="#888"/>`);
    text(14, p.top + p.h / 2, p.label, `transform="rotate(-90 14 ${p.top + p.h / 2})" text-anchor="middle"`);
  }
  const [q, n] = panels as [(typeof panels)[number], (typeof panels)[number]];
  for (let t = 0; t <= tMax; t += 10) {
    out.push(
      `<line x1="${x(t).toFixed(1)}" y1="${n.top + n.h}" x2="${x(t).toFixed(1)}" y2="${n.top + n.h + 4}" stroke="#888"/>`,
    );
    text(x(t), n.top + n.h + 17, String(t), 'text-anchor="middle"');
  }
  text((L + W - R) / 2, H - 12, 'seconds since the load started', 'text-anchor="middle"');
  // Thresholds: 1 and 2 replicas' worth of QPS.
  for (const k of [1, 2]) {
    const yy = y(q, TARGET_QPS * k).toFixed(1);
    out.push(`<line x1="${L}" y1="${yy}" x2="${W - R}" y2="${yy}" stroke="#c44" stroke-dasharray="2,3"/>`);
  }
  const S = r.samples;
  const series = [
    {
      p: q,
      kind: 'step',
      vals: S.map((s) => [s.t, s.offered] as [number, number]),
      style: 'stroke="#999" stroke-width="1.5"',
      name: 'offered load',
    },
    {
      p: q,
      kind: 'line',
      vals: S.map((s) => [s.t, s.lbQps] as [number, number]),
      style: 'stroke="#1f77b4" stroke-width="2"',
      name: `QPS at the LB (${WINDOW_S} s window)`,
    },
    {
      p: q,
      kind: 'step',
      vals: S.map((s) => [s.t, s.qps] as [number, number]),
      style: 'stroke="#17becf" stroke-width="1.5" stroke-dasharray="4,3"',
      name: 'QPS at the last decision',
    },
    {
      p: n,
      kind: 'step',
      vals: S.map((s) => [s.t, s.target + 0.1] as [number, number]),
      style: 'stroke="#ff7f0e" stroke-width="2" stroke-dasharray="6,3"',
      name: 'target',
    },
    {
      p: n,
      kind: 'step',
      vals: S.map((s) => [s.t, s.alive] as [number, number]),
      style: 'stroke="#9467bd" stroke-width="1.5"',
      name: 'alive replicas',
    },
    {
      p: n,
      kind: 'step',
      vals: S.map((s) => [s.t, s.ready - 0.1] as [number, number]),
      style: 'stroke="#2ca02c" stroke-width="2.5"',
      name: 'READY replicas',
    },
  ];
  for (const s of series) {
    const pts = s.kind === 'step' ? steps(s.p, s.vals) : line(s.p, s.vals);
    out.push(`<polyline fill="none" ${s.style} points="${pts}"/>`);
  }
  // Marks: threshold crossed and the decision.
  for (const [t, label] of [
    [r.marks.crossed, 'crossed'],
    [r.marks.decided, 'decided'],
  ] as const) {
    out.push(
      `<line x1="${x(t).toFixed(1)}" y1="${q.top}" x2="${x(t).toFixed(1)}" y2="${n.top + n.h}" stroke="#c44" stroke-width="1"/>`,
    );
    text(
      label === 'decided' ? x(t) + 3 : x(t) - 3,
      q.top + 12,
      label,
      `fill="#c44" font-size="11" text-anchor="${label === 'decided' ? 'start' : 'end'}"`,
    );
  }
  // Legend.
  series.forEach((s, i) => {
    const ly = (i < 3 ? q.top : n.top) + 14 + (i % 3) * 20;
    out.push(`<line x1="${W - R + 10}" y1="${ly - 4}" x2="${W - R + 30}" y2="${ly - 4}" ${s.style}/>`);
    text(W - R + 34, ly, s.name, 'font-size="10.5"');
  });
  const ly = q.top + 14 + 3 * 20;
  out.push(
    `<line x1="${W - R + 10}" y1="${ly - 4}" x2="${W - R + 30}" y2="${ly - 4}" stroke="#c44" stroke-dasharray="2,3"/>`,
  );
  text(W - R + 34, ly, '1 and 2 replicas at 5 req/s', 'font-size="10.5"');
  out.push(`<rect x="${W - R + 10}" y="${ly + 10}" width="20" height="10" fill="#f3f3f3" stroke="#ccc"/>`);
  text(W - R + 34, ly + 20, 'the 14 req/s phase', 'font-size="10.5"');
  text(W - R + 10, ly + 44, 'red lines: QPS crosses 5;', 'font-size="10.5" fill="#c44"');
  text(W - R + 10, ly + 58, 'the controller decides', 'font-size="10.5" fill="#c44"');
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

// ---- main -----------------------------------------------------------------------------------------

let left: string[] = [];
console.log(`Machine at the start: ${machine()}`);
try {
  const results: RunResult[] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await oneRun(`scale${i}`);
    results.push(r);
    console.error(
      `run ${i}: ${JSON.stringify(r.marks)} failed ${r.failed}/${r.requests}${r.ended.length ? `; ended replicas: ${r.ended.join(', ')}` : ''}`,
    );
    if (i === 0) {
      const dir = join(ROOT, 'docs', 'images');
      writeFileSync(join(dir, 'serve-scaling.json'), `${JSON.stringify(r, null, 1)}\n`);
      writeFileSync(join(dir, 'serve-scaling.svg'), renderSvg(r));
    }
  }
  const m = (fn: (r: RunResult) => number | null) =>
    results.map(fn).filter((v): v is number => v !== null && Number.isFinite(v));
  const rows: Row[] = [
    summarize(
      'threshold crossed (QPS over the window > 5) → the controller decides to scale up',
      m((r) => r.marks.decided - r.marks.crossed),
      's',
      '1–2 s: the 2nd decision (2 s / 1 s) wanting more',
    ),
    summarize(
      'threshold crossed → target 3 (max)',
      m((r) => (r.marks.decidedMax === null ? null : r.marks.decidedMax - r.marks.crossed)),
      's',
    ),
    summarize(
      'threshold crossed → last new replica READY (local cloud)',
      m((r) => r.marks.allNewReady - r.marks.crossed),
      's',
    ),
    summarize(
      'decision → first new replica READY',
      m((r) => r.marks.firstNewReady - r.marks.decided),
      's',
    ),
    summarize(
      '14 req/s starts → decision',
      m((r) => r.marks.decided - r.marks.highStart),
      's',
    ),
    summarize(
      '14 req/s starts → last new replica READY',
      m((r) => r.marks.allNewReady - r.marks.highStart),
      's',
    ),
    summarize(
      'load drops to 2 req/s → target back to 1',
      m((r) => (r.marks.targetDown === null ? null : r.marks.targetDown - r.marks.highEnd)),
      's',
      'the 5th decision (5 s / 1 s) wanting fewer',
    ),
    summarize(
      'load drops → the scaled-down replicas torn down (after a 2 s drain)',
      m((r) => (r.marks.removed === null ? null : r.marks.removed - r.marks.highEnd)),
      's',
    ),
    summarize(
      'request latency through the LB during the run, p50',
      m((r) => r.p50ms),
      'ms',
    ),
    summarize(
      'failed requests per run (of 500)',
      m((r) => r.failed),
      '',
      '0',
    ),
  ];
  printRows('Serving: scaling 1 → 3 → 1 (`bench/serve-scaling.ts`, local cloud)', rows);
  console.log(`\nDecided targets: ${results.map((r) => r.marks.decidedTarget).join(', ')}`);
  console.log(`Machine at the end: ${machine()}`);
} finally {
  left = await downEverything(h.env, h.dir);
  h.dispose();
}
if (left.length > 0) {
  console.error(`LEFT BEHIND:\n${left.join('\n')}`);
  process.exit(1);
}
console.log('\nCleanup: serve down + down -a left 0 local clusters and no process.');
