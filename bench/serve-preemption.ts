/**
 * Serving: a spot replica preempted on FluffyCloud (its emulator, 0 s boot delay) and replaced while
 * the endpoint keeps answering.
 *
 * The serve controller runs on the local cloud (fast timings: probe 0.5 s, decision 1 s); the service
 * is 2 spot replicas of a stand-in model server on FluffyCloud. Each run waits for 2 READY replicas in
 * the load balancer's replicas.json, preempts one replica's instance through the emulator's admin API
 * (`POST /admin/instances/{id}/preempt`, the instance is killed at once) and measures, from the
 * preemption:
 * - the controller noticing (its `shutting down` line; the replica leaves replicas.json then);
 * - the replica marked PREEMPTED (after its 2 s drain and the teardown of its cluster);
 * - the replacement READY (its `READY` line), in replicas.json, and answering a request through the
 *   endpoint (its address in the body of a GET);
 * while a GET loop through the endpoint (one request in flight, a new one every ~20 ms, keep-alive)
 * counts the requests that did not answer 200 (the goal: 0; the load balancer retries a GET whose
 * replica died on another one).
 * `serve down`, `down -a` and the emulator's teardown at the end; nothing may be left.
 * Usage: node --import tsx bench/serve-preemption.ts [runs] [GET loops, default 1]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { startEmulator } from '../test/helpers/fluffycloud.js';
import { freshHome, printRows, type Row, summarize } from './lib.js';
import {
  cli,
  controllerHome,
  downEverything,
  machine,
  get,
  type Sent,
  serviceFilesOf,
  sleep,
  writeReplica,
} from './serve-lib.js';

const RUNS = Number(process.argv[2] ?? 5);
/** GET loops through the endpoint at once (each: one request in flight). */
const LOOPS = Number(process.argv[3] ?? 1);
const KEY = 'fc-bench-key';
const NAME = 'spot';

const h = freshHome();
mkdirSync(h.env.SKYHOP_HOME!, { recursive: true });
mkdirSync(h.env.HOME!, { recursive: true });
writeFileSync(
  join(h.env.SKYHOP_HOME!, 'config.yaml'),
  'serve:\n  controller:\n    probe_interval_seconds: 0.5\n    decision_interval_seconds: 1\n    qps_window_seconds: 3\n',
);
const emu = await startEmulator({
  scenario: { users: { bench: { api_key: KEY } }, boot_delay_s: 0 },
}).catch((e: Error) => {
  h.dispose();
  throw e;
});
emu.writeCredentials(h.env.HOME!);
const wd = join(h.dir, 'wd');
mkdirSync(wd);
writeReplica(wd);
const yaml = join(h.dir, 'service.yaml');
writeFileSync(
  yaml,
  `workdir: ${wd}
resources:
  cloud: fluffycloud
  use_spot: true
  ports: 8080
service:
  readiness_probe:
    path: /health
    initial_delay_seconds: 60
    timeout_seconds: 2
  replicas: 2
run: node replica.js
`,
);

async function waitFor<T>(what: string, ms: number, fn: () => T | null | undefined | false): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

interface Measure {
  noticed: number;
  preempted: number;
  replacementReady: number;
  inLb: number;
  served: number;
  requests: number;
  failed: number;
}

let left: string[] = [];
console.log(`Machine at the start: ${machine()}`);
try {
  const up = cli(h.env, ['serve', 'up', '-y', '-n', NAME, yaml]);
  const endpoint = /Endpoint URL: (http\S+)/.exec(up.stdout)?.[1];
  if (!endpoint) throw new Error(`serve up gave no endpoint: ${up.stdout}`);
  const f = serviceFilesOf(controllerHome(h.env.SKYHOP_HOME!), NAME);
  const results: Measure[] = [];
  const failures: string[] = [];

  for (let run = 0; run < RUNS; run++) {
    // Two READY replicas, both in the load balancer's list, nothing else going on.
    const ready = await waitFor('2 READY replicas in replicas.json', 120_000, () => {
      const s = f.service();
      const lb = f.replicas();
      if (!s || !lb || lb.replicas.length !== 2) return null;
      const busy = s.replicas.some((r) => r.status !== 'READY' && r.status !== 'PREEMPTED');
      const rs = s.replicas.filter((r) => r.status === 'READY');
      return !busy && rs.length === 2 ? rs : null;
    });
    await sleep(1000);
    const victim = ready[run % 2]!;
    const instances = (await emu.adminState()).instances as Record<
      string,
      { status: string; tags?: Record<string, string> }
    >;
    const inst = Object.entries(instances).find(
      ([, v]) => v.status === 'running' && v.tags?.['skyhop-cluster'] === victim.cluster,
    )?.[0];
    if (!inst) throw new Error(`no running instance for ${victim.cluster}`);

    // The GET loop through the endpoint.
    const sent: Sent[] = [];
    let looping = true;
    const agent = new Agent({ keepAlive: true, maxSockets: LOOPS });
    const loop = Promise.all(
      Array.from({ length: LOOPS }, async () => {
        const end = Date.now() + 180_000;
        while (looping && Date.now() < end) {
          sent.push(await get(endpoint, agent, true));
          await sleep(20);
        }
      }),
    );
    await sleep(1000);

    const t0 = Date.now();
    const r = await fetch(`${emu.url}/admin/instances/${inst}/preempt`, {
      method: 'POST',
      headers: { authorization: `Bearer ${emu.adminToken}` },
    });
    if (!r.ok) throw new Error(`preempt failed: ${r.status} ${await r.text()}`);
    let inLb = Number.NaN;
    let served = Number.NaN;
    let newId = -1;
    let newUrl = '';
    try {
      // The replacement: a replica id beyond the two, READY in replicas.json.
      const known = new Set(ready.map((x) => x.id));
      await waitFor('the replacement in replicas.json', 120_000, () => {
        const lb = f.replicas()?.replicas ?? [];
        const fresh = lb.find((x) => !known.has(x.id));
        if (!fresh) return null;
        inLb = Date.now();
        newId = fresh.id;
        newUrl = fresh.url;
        return true;
      });
      const host = new URL(newUrl).hostname;
      await waitFor('a request served by the replacement', 30_000, () => {
        const hit = sent.find((s) => s.at >= t0 && s.body?.includes(`hello from ${host}\n`));
        if (hit) served = hit.at + hit.ms;
        return hit;
      });
      await waitFor(`replica ${victim.id} PREEMPTED`, 60_000, () =>
        f.service()?.replicas.some((x) => x.id === victim.id && x.status === 'PREEMPTED'),
      );
      await sleep(1000);
    } finally {
      looping = false;
      await loop;
      agent.destroy();
    }
    const log = f.log().filter(([t]) => t >= t0 - 5);
    const at = (re: RegExp) => log.find(([, l]) => re.test(l))?.[0] ?? Number.NaN;
    const m: Measure = {
      noticed: at(new RegExp(`^replica ${victim.id}: shutting down`)) - t0,
      preempted: at(new RegExp(`^replica ${victim.id}: PREEMPTED`)) - t0,
      replacementReady: at(new RegExp(`^replica ${newId}: READY`)) - t0,
      inLb: inLb - t0,
      served: served - t0,
      requests: sent.length,
      failed: sent.filter((s) => s.status !== 200).length,
    };
    for (const s of sent.filter((x) => x.status !== 200))
      failures.push(`${s.status} ${s.error ?? s.body ?? ''}`.trim());
    results.push(m);
    if (process.env.BENCH_VERBOSE) {
      for (const [t, l] of log) console.error(`  +${t - t0} ms ${l}`);
    }
    console.error(`run ${run}: replica ${victim.id} (${inst}) → ${newId}: ${JSON.stringify(m)}`);
  }

  const col = (k: keyof Measure) => results.map((x) => x[k]).filter((v) => Number.isFinite(v));
  const rows: Row[] = [
    summarize(
      'preempted → the controller notices (leaves the LB list)',
      col('noticed'),
      'ms',
      '≤ probe interval + a check',
    ),
    summarize('preempted → replica marked PREEMPTED (2 s drain + teardown)', col('preempted'), 'ms'),
    summarize('preempted → replacement READY (boot 0 s)', col('replacementReady'), 'ms'),
    summarize("preempted → replacement in the LB's replicas.json", col('inLb'), 'ms'),
    summarize('preempted → a request through the endpoint served by the replacement', col('served'), 'ms'),
    summarize('GETs through the endpoint per run', col('requests'), ''),
    summarize('failed GETs per run', col('failed'), '', '0'),
  ];
  printRows(
    'Serving: a spot replica preempted and replaced (`bench/serve-preemption.ts`, FluffyCloud)',
    rows,
  );
  if (failures.length > 0) console.log(`\nFailed requests: ${[...new Set(failures)].join('; ')}`);
  console.log(`Machine at the end: ${machine()}`);
} finally {
  left = await downEverything(h.env, h.dir);
  try {
    const inst = Object.entries(
      (await emu.adminState()).instances as Record<string, { status: string }>,
    ).filter(([, v]) => v.status !== 'terminated');
    if (inst.length > 0)
      left.push(`FluffyCloud instances left: ${inst.map(([k, v]) => `${k} ${v.status}`).join(', ')}`);
  } finally {
    await emu.stop();
    h.dispose();
  }
}
if (left.length > 0) {
  console.error(`LEFT BEHIND:\n${left.join('\n')}`);
  process.exit(1);
}
console.log('\nCleanup: serve down + down -a left 0 clusters, 0 FluffyCloud instances and no process.');
