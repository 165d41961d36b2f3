/**
 * `skyhop serve` on clouds other than local, end to end through the built CLI, with real parts: the
 * serve controller is a local cluster of the sandbox; its replicas are clusters it launches on the
 * FluffyCloud emulator (real sshd hosts on loopback addresses), on the local cloud, and on AWS (moto,
 * with moto hosts: every instance a real SSH host). Each replica is a small Node HTTP server written
 * by the test (binds its node's address, the first line of SKYPILOT_NODE_IPS; /health answers 200, /
 * answers the address), probed by the controller and reached through the service's load balancer.
 *
 * - spot replicas with an on-demand base: one spot replica's instance is preempted by the emulator
 *   while a bounded GET loop runs through the endpoint; the replica is PREEMPTED, a replacement comes
 *   up READY, and no GET failed;
 * - dynamic_ondemand_fallback with no spot capacity anywhere: on-demand replicas serve;
 * - any_of across local and FluffyCloud: the optimizer places the replicas;
 * - a replica whose run exits: the service is FAILED, the replica's output is kept after its teardown;
 * - AWS on moto hosts: a replica READY, the endpoint answers from it, `serve down` leaves 0 instances.
 *
 * After each test `serve down -a -y` leaves no replica cluster (the controller's own status) and no
 * emulator or moto instance; the file ends with `down -a -y` and 0 clusters.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, get } from 'node:http';
import { dirname, join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import type { ServiceInfo } from '../../src/core/serve.js';
import { type EmulatorHandle, startEmulator } from '../helpers/fluffycloud.js';
import {
  type MotoHandle,
  type MotoHosts,
  motoHostsMissing,
  motoMissing,
  startMoto,
} from '../helpers/moto.js';
import { Sandbox } from './harness.js';
import { clusterInstances, liveInstances, preempt } from './jobs-harness.js';

const missing = motoMissing() ?? motoHostsMissing();
if (missing) console.log(`# serve on AWS (moto hosts) skipped: ${missing}`);

const API_KEY = `fc-serve-${randomBytes(8).toString('hex')}`;
const BASE = { users: { e2e: { api_key: API_KEY } }, boot_delay_s: 0 };
const CONTROLLER = 'skyhop-serve-controller';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The replicas' port: random, because the local cloud's node addresses (127.0.0.x) are reserved per
 * $SKYHOP_HOME, so local replicas of another home on this machine (a parallel test) may hold 8080 on
 * the same address.
 */
const PORT = 18_000 + Math.floor(Math.random() * 1000);

/** The stand-in model server: binds this node's address on PORT; / answers which replica it is. */
const REPLICA_JS = `const http = require('node:http');
const host = (process.env.SKYPILOT_NODE_IPS || '127.0.0.1').split('\\n')[0];
const port = Number(process.env.PORT);
http.createServer((req, res) => {
  if (req.url === '/health') return res.end('ok\\n');
  res.end('replica ' + host + '\\n');
}).listen(port, host, () => console.log('serving on ' + host + ':' + port));
`;

/** A service YAML: `resources` and `service` lines as given, the stand-in replica as its run. */
function serviceYaml(name: string, workdir: string, resources: string[], service: string[]): string {
  return [
    `name: ${name}`,
    `workdir: ${workdir}`,
    'resources:',
    ...resources.map((l) => `  ${l}`),
    `  ports: ${PORT}`,
    'envs:',
    `  PORT: ${PORT}`,
    'service:',
    '  readiness_probe:',
    '    path: /health',
    '    initial_delay_seconds: 120',
    '    timeout_seconds: 2',
    ...service.map((l) => `  ${l}`),
    'run: node replica.js',
    '',
  ].join('\n');
}

interface LoadResult {
  ok: number;
  failed: number;
  errors: string[];
  /** Which replica (its address) answered how many times. */
  by: Map<string, number>;
}

/**
 * GETs `url` at about `rps` requests/s for `ms` (keep-alive; bounded: each request times out after
 * 15 s), counting answers that are not 200 and errors as failures.
 */
async function getLoop(url: string, rps: number, ms: number): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const out: LoadResult = { ok: 0, failed: 0, errors: [], by: new Map() };
  const one = () =>
    new Promise<void>((resolve) => {
      const req = get(url, { agent, timeout: 15_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => {
          const m = /^replica (\S+)/.exec(body);
          if (res.statusCode === 200 && m) {
            out.ok++;
            out.by.set(m[1]!, (out.by.get(m[1]!) ?? 0) + 1);
          } else {
            out.failed++;
            if (out.errors.length < 10) out.errors.push(`${res.statusCode}: ${body.trim()}`);
          }
          resolve();
        });
        res.on('error', (e) => {
          out.failed++;
          if (out.errors.length < 10) out.errors.push(`response: ${e.message}`);
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (e) => {
        out.failed++;
        if (out.errors.length < 10) out.errors.push(e.message);
        resolve();
      });
    });
  const inflight: Promise<void>[] = [];
  const end = Date.now() + ms;
  try {
    while (Date.now() < end) {
      inflight.push(one());
      await sleep(1000 / rps);
    }
    await Promise.all(inflight);
  } finally {
    agent.destroy();
  }
  return out;
}

describe('skyhop serve on FluffyCloud, local + FluffyCloud and AWS (built CLI, emulator, moto hosts)', () => {
  let emu: EmulatorHandle;
  let moto: MotoHandle | null = null;
  let hosts: MotoHosts | null = null;
  let sb: Sandbox;
  let workdir: string;
  /** What a failed wait shows: the controller's log of each service seen (its folder goes at down). */
  const logs = new Map<string, string>();

  before(async () => {
    emu = await startEmulator({ scenario: BASE });
    if (!missing) {
      moto = await startMoto({ hosts: true });
      hosts = moto.hosts;
    }
    sb = new Sandbox(
      moto
        ? {
            SKYHOP_AWS_ENDPOINT_URL: moto.endpoint,
            // No Price List API on moto: a loopback address with nothing listening answers at once.
            SKYHOP_AWS_PRICING_ENDPOINT_URL: 'http://127.0.0.1:9',
            AWS_ACCESS_KEY_ID: 'testing',
            AWS_SECRET_ACCESS_KEY: 'testing',
            AWS_REGION: 'us-east-1',
          }
        : {},
    );
    mkdirSync(sb.home, { recursive: true });
    mkdirSync(sb.skyhopHome, { recursive: true });
    emu.writeCredentials(sb.home);
    // Short timings; the controller gets this file at every `serve up`.
    writeFileSync(
      join(sb.skyhopHome, 'config.yaml'),
      'serve:\n  controller:\n    probe_interval_seconds: 0.5\n    decision_interval_seconds: 1\n    qps_window_seconds: 2\n',
    );
    workdir = join(sb.dir, 'wd');
    mkdirSync(workdir);
    writeFileSync(join(workdir, 'replica.js'), REPLICA_JS);
  });

  /** The controller node's own $SKYHOP_HOME, or null before the controller exists. */
  const controllerHome = (): string | null => {
    // Through a team server the controller is the (admin) user's own.
    const base = join(sb.skyhopHome, 'local', 'clusters', sb.via ? `${CONTROLLER}-admin` : CONTROLLER);
    if (!existsSync(base)) return null;
    for (const node of readdirSync(base)) {
      const h = join(base, node, 'home', '.skyhop');
      if (existsSync(join(h, 'state.db'))) return h;
    }
    return null;
  };

  /** The controller's log of service `name` (kept in `logs` for after its folder is gone). */
  const controllerLog = (name: string): string => {
    const h = controllerHome();
    const p = h && join(h, 'serve', 'services', name, 'controller.log');
    if (p && existsSync(p)) logs.set(name, readFileSync(p, 'utf8'));
    return logs.get(name) ?? '(no controller.log)';
  };

  /** The clusters the controller launched and has not torn down (its own `status`). */
  const controllerClusters = async (): Promise<Array<{ name: string; cloud: string; status: string }>> => {
    const h = controllerHome();
    if (!h) return [];
    const r = await sb.run(['status', '--json'], {
      env: { SKYHOP_HOME: h, HOME: dirname(h), SKYHOP_API_SERVER_ENDPOINT: '', SKYHOP_API_TOKEN: '' },
    });
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { clusters: Array<{ name: string; cloud: string; status: string }> })
      .clusters;
  };

  const services = async (): Promise<ServiceInfo[]> => {
    const r = await sb.run(['serve', 'status', '--json'], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    return JSON.parse(r.stdout) as ServiceInfo[];
  };

  /** Polls service `name` until `ok` holds (bounded; a failure shows the controller's log). */
  const waitService = async (
    name: string,
    ok: (s: ServiceInfo) => boolean,
    what: string,
    timeoutMs = 240_000,
  ): Promise<ServiceInfo> => {
    const deadline = Date.now() + timeoutMs;
    let last: ServiceInfo | undefined;
    for (;;) {
      last = (await services()).find((s) => s.name === name);
      if (last && ok(last)) return last;
      if (last?.status === 'FAILED' || Date.now() > deadline) break;
      await sleep(500);
    }
    // The output of each replica that ended, for the failure message.
    let out = '';
    for (const r of last?.replicas ?? []) {
      if (!r.status.startsWith('FAILED')) continue;
      const l = await sb.run(['serve', 'logs', '--no-follow', name, String(r.id)], { timeoutMs: 30_000 });
      out += `replica ${r.id}:\n${l.stdout}${l.stderr}\n`;
    }
    assert.fail(
      `service ${name}: waited for ${what}; last seen ${JSON.stringify(last, null, 1)}\ncontroller log:\n${controllerLog(name)}\n${out}`,
    );
  };

  const alive = (s: ServiceInfo) =>
    s.replicas.filter((r) =>
      ['PENDING', 'PROVISIONING', 'STARTING', 'READY', 'NOT_READY'].includes(r.status),
    );
  const ready = (s: ServiceInfo) => s.replicas.filter((r) => r.status === 'READY');

  /** `serve up -y -n NAME yaml`: the endpoint. */
  const serveUp = async (name: string, yaml: string): Promise<string> => {
    const path = join(sb.dir, `${name}.yaml`);
    writeFileSync(path, yaml);
    const r = await sb.run(['serve', 'up', '-y', '-n', name, path], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const m = /^Endpoint URL: (http:\/\/\S+)$/m.exec(r.stdout);
    assert.ok(m, r.stdout + r.stderr);
    return m[1]!;
  };

  /** One GET of the endpoint: the replica's address that answered. */
  const getOnce = async (endpoint: string): Promise<string> => {
    const res = await fetch(endpoint, { signal: AbortSignal.timeout(30_000) });
    const body = await res.text();
    assert.equal(res.status, 200, body);
    const m = /^replica (\S+)/.exec(body);
    assert.ok(m, body);
    return m[1]!;
  };

  /** FluffyCloud instances, moto hosts still running. */
  const cloudLeft = async () => ({
    fluffycloud: await liveInstances(emu),
    moto: hosts
      ? hosts
          .list()
          .filter((h) => h.state !== 'terminated')
          .map((h) => h.instanceId)
      : [],
  });

  /** `serve down -a -y`; then no replica cluster is left on the controller and no cloud instance. */
  const downAll = async () => {
    if (!controllerHome()) return;
    for (const s of await services().catch(() => [])) controllerLog(s.name);
    const d = await sb.run(['serve', 'down', '-a', '-y'], { timeoutMs: 300_000 });
    assert.equal(d.code, 0, d.stdout + d.stderr);
    assert.deepEqual(await services(), [], 'no service is left');
    const deadline = Date.now() + 60_000;
    for (;;) {
      const clusters = await controllerClusters();
      const left = await cloudLeft();
      if (clusters.length === 0 && left.fluffycloud.length === 0 && left.moto.length === 0) return;
      if (Date.now() > deadline) {
        assert.fail(
          `left behind after serve down: controller clusters ${JSON.stringify(clusters)}, instances ${JSON.stringify(left)}`,
        );
      }
      await sleep(500);
    }
  };

  afterEach(async () => {
    try {
      await downAll();
    } finally {
      await emu.setScenario(BASE);
    }
  });

  after(async () => {
    try {
      if (sb) {
        let d: Awaited<ReturnType<Sandbox['run']>> | null = null;
        let st: Awaited<ReturnType<Sandbox['run']>> | null = null;
        try {
          await downAll().catch(() => {});
          d = await sb.run(['down', '-a', '-y'], { timeoutMs: 180_000 });
          st = await sb.run(['status', '--json']);
        } finally {
          await sb.cleanup();
        }
        assert.equal(d.code, 0, d.stdout + d.stderr);
        assert.deepEqual(JSON.parse(st.stdout).clusters, [], 'no cluster is left');
        assert.deepEqual(await cloudLeft(), { fluffycloud: [], moto: [] }, 'no cloud instance is left');
      }
    } finally {
      const errors = hosts ? [...hosts.errors] : [];
      await emu?.stop();
      await moto?.stop();
      assert.deepEqual(errors, [], 'the moto hosts had no trouble');
    }
  });

  test('spot replicas on FluffyCloud: one preempted under load is replaced, no GET fails; the base is on-demand', async () => {
    const endpoint = await serveUp(
      'spotty',
      serviceYaml(
        'spotty',
        workdir,
        ['cloud: fluffycloud', 'instance_type: ff.small', 'use_spot: true'],
        ['replica_policy:', '  min_replicas: 2', '  max_replicas: 2', '  base_ondemand_fallback_replicas: 1'],
      ),
    );
    const s1 = await waitService(
      'spotty',
      (s) => s.status === 'READY' && ready(s).length === 2,
      '2 replicas READY',
    );
    // The base: one on-demand replica, the rest spot; the emulator agrees.
    const spots = s1.replicas.filter((r) => r.spot);
    const onDemand = s1.replicas.filter((r) => !r.spot);
    assert.equal(spots.length, 1, JSON.stringify(s1.replicas));
    assert.equal(onDemand.length, 1, JSON.stringify(s1.replicas));
    for (const r of s1.replicas) {
      assert.equal(r.cloud, 'fluffycloud');
      assert.equal(r.status, 'READY');
      assert.match(r.url ?? '', new RegExp(`^http://127\\.1\\.\\d+\\.\\d+:${PORT}$`));
      const insts = await clusterInstances(emu, r.cluster);
      assert.equal(insts.length, 1, `${r.cluster}: ${JSON.stringify(insts)}`);
      const state = (await emu.adminState()).instances[insts[0]!.id] as { spot: boolean };
      assert.equal(state.spot, r.spot, `${r.cluster} is ${r.spot ? 'spot' : 'on-demand'} in the emulator`);
    }
    assert.equal(s1.endpoint, endpoint);

    // The endpoint answers from every replica.
    const warm = await getLoop(endpoint, 20, 2_000);
    assert.equal(warm.failed, 0, warm.errors.join('\n'));

    // Under load, one spot replica's instance is preempted.
    const victim = spots[0]!;
    const victimAddr = new URL(victim.url!).hostname;
    const load = getLoop(endpoint, 20, 25_000);
    await sleep(3_000);
    const [inst] = await clusterInstances(emu, victim.cluster);
    assert.ok(inst, `${victim.cluster} has an instance`);
    await preempt(emu, inst.id);
    const preempted = await waitService(
      'spotty',
      (s) => s.replicas.find((r) => r.id === victim.id)?.status === 'PREEMPTED',
      `replica ${victim.id} PREEMPTED`,
    );
    assert.match(preempted.replicas.find((r) => r.id === victim.id)?.reason ?? '', /running|record/);
    const result = await load;
    assert.equal(result.failed, 0, `failed GETs:\n${result.errors.join('\n')}`);
    assert.ok(result.ok > 0);
    assert.ok((result.by.get(victimAddr) ?? 0) > 0, 'the victim served before its preemption');

    // A replacement (spot, as the one it replaces) comes up READY.
    const s2 = await waitService(
      'spotty',
      (s) => ready(s).length === 2 && ready(s).some((r) => r.id > 2),
      '2 replicas READY with a replacement',
    );
    const replacement = ready(s2).find((r) => r.id > 2)!;
    assert.equal(replacement.spot, true, JSON.stringify(replacement));
    assert.equal(replacement.cloud, 'fluffycloud');
    const [rInst] = await clusterInstances(emu, replacement.cluster);
    assert.ok(rInst, `${replacement.cluster} has an instance`);
    assert.equal(
      ((await emu.adminState()).instances[rInst.id] as { spot: boolean }).spot,
      true,
      'the replacement is a spot instance in the emulator',
    );
    assert.equal(alive(s2).filter((r) => !r.spot).length, 1, 'still one on-demand replica');
    assert.equal(s2.replicas.find((r) => r.id === victim.id)?.status, 'PREEMPTED');
    assert.deepEqual(await clusterInstances(emu, victim.cluster), [], "the victim's instance is gone");
    // The replacement serves.
    const after = await getLoop(endpoint, 20, 3_000);
    assert.equal(after.failed, 0, after.errors.join('\n'));
    assert.ok(
      (after.by.get(new URL(replacement.url!).hostname) ?? 0) > 0,
      `the replacement serves: ${JSON.stringify([...after.by])}`,
    );
    assert.equal(after.by.get(victimAddr) ?? 0, 0, 'nothing answers from the preempted address');
  });

  test('dynamic_ondemand_fallback: with no spot capacity anywhere, on-demand replicas serve', async () => {
    // FluffyCloud offers spot ff.small only in fluffy-east and fluffy-west: with those full, no spot
    // launch can succeed; fluffy-eu (on-demand only) has room.
    await emu.setScenario({
      ...BASE,
      regions: { 'fluffy-east': { capacity: { '*': 0 } }, 'fluffy-west': { capacity: { '*': 0 } } },
    });
    const endpoint = await serveUp(
      'fallback',
      serviceYaml(
        'fallback',
        workdir,
        ['cloud: fluffycloud', 'instance_type: ff.small', 'use_spot: true'],
        ['replica_policy:', '  min_replicas: 2', '  max_replicas: 2', '  dynamic_ondemand_fallback: true'],
      ),
    );
    const s = await waitService(
      'fallback',
      (x) => x.status === 'READY' && ready(x).length >= 2,
      '2 on-demand replicas READY',
    );
    for (const r of ready(s)) {
      assert.equal(r.spot, false, JSON.stringify(r));
      assert.equal(r.cloud, 'fluffycloud');
      assert.equal(r.region, 'fluffy-eu');
    }
    // The spot ones kept failing to provision.
    assert.ok(
      s.replicas.some((r) => r.spot && r.status === 'FAILED_PROVISION') ||
        alive(s).some((r) => r.spot && r.status !== 'READY'),
      JSON.stringify(s.replicas),
    );
    const load = await getLoop(endpoint, 10, 2_000);
    assert.equal(load.failed, 0, load.errors.join('\n'));
    assert.deepEqual(
      [...load.by.keys()].sort(),
      ready(s)
        .map((r) => new URL(r.url!).hostname)
        .sort(),
    );
    // Once spot capacity is back, spot replicas come up READY and the extra on-demand ones go.
    await emu.setScenario(BASE);
    const back = await waitService(
      'fallback',
      (x) => ready(x).filter((r) => r.spot).length === 2 && alive(x).filter((r) => !r.spot).length === 0,
      '2 spot replicas READY and no on-demand replica',
    );
    for (const r of ready(back)) assert.notEqual(r.region, 'fluffy-eu');
    const again = await getLoop(endpoint, 10, 2_000);
    assert.equal(again.failed, 0, again.errors.join('\n'));
  });

  test('any_of across local and FluffyCloud: the optimizer places the replicas', async () => {
    const endpoint = await serveUp(
      'anyof',
      serviceYaml(
        'anyof',
        workdir,
        ['any_of:', '  - cloud: local', '  - cloud: fluffycloud', '    instance_type: ff.small'],
        ['replicas: 2'],
      ),
    );
    const s = await waitService('anyof', (x) => ready(x).length === 2, '2 replicas READY');
    const placed = ready(s).map((r) => r.cloud);
    // Local is free: the optimizer puts both there.
    assert.deepEqual(placed, ['local', 'local'], JSON.stringify(s.replicas));
    const load = await getLoop(endpoint, 10, 2_000);
    assert.equal(load.failed, 0, load.errors.join('\n'));
    assert.equal(load.by.size, 2, JSON.stringify([...load.by]));
    await downAll();

    // An alternative the local machine cannot hold: the optimizer places the replica on FluffyCloud.
    const endpoint2 = await serveUp(
      'anyof2',
      serviceYaml(
        'anyof2',
        workdir,
        [
          'any_of:',
          '  - cloud: local',
          '    cpus: 100000+',
          '  - cloud: fluffycloud',
          '    instance_type: ff.small',
        ],
        ['replicas: 1'],
      ),
    );
    const s2 = await waitService('anyof2', (x) => ready(x).length === 1, '1 replica READY');
    assert.equal(ready(s2)[0]!.cloud, 'fluffycloud', JSON.stringify(s2.replicas));
    assert.equal(await getOnce(endpoint2), new URL(ready(s2)[0]!.url!).hostname);
  });

  test('a replica whose run exits on FluffyCloud: the service FAILED, the output kept after its teardown', async () => {
    const yaml = serviceYaml(
      'broken',
      workdir,
      ['cloud: fluffycloud', 'instance_type: ff.small'],
      ['replicas: 1'],
    ).replace('run: node replica.js', 'run: |\n  echo "model weights missing on $(hostname)"\n  exit 3');
    await serveUp('broken', yaml);
    const deadline = Date.now() + 120_000;
    let s: ServiceInfo | undefined;
    while (Date.now() < deadline) {
      s = (await services()).find((x) => x.name === 'broken');
      // FAILED, and every replica ended and torn down (one launched before the first failed fails too).
      if (s?.status === 'FAILED' && s.replicas.every((r) => r.status.startsWith('FAILED'))) break;
      await sleep(500);
    }
    assert.equal(s?.status, 'FAILED', `${JSON.stringify(s, null, 1)}\n${controllerLog('broken')}`);
    const failed = s!.replicas.filter((r) => r.status === 'FAILED');
    assert.ok(failed.length >= 1, JSON.stringify(s!.replicas));
    assert.match(s!.reason ?? '', /serve logs broken \d+/);
    assert.deepEqual(await controllerClusters(), [], 'no replica cluster is left');
    assert.deepEqual(await liveInstances(emu), []);
    for (const r of failed) {
      const l = await sb.run(['serve', 'logs', '--no-follow', 'broken', String(r.id)], { timeoutMs: 60_000 });
      assert.equal(l.code, 0, l.stdout + l.stderr);
      assert.match(l.stdout, /^model weights missing on \S+$/m, `replica ${r.id}: ${l.stdout}`);
    }
  });

  test('AWS on moto hosts: a replica READY, the endpoint answers from it, serve down leaves 0 instances', {
    skip: missing ?? false,
  }, async () => {
    const endpoint = await serveUp(
      'awssvc',
      serviceYaml(
        'awssvc',
        workdir,
        ['cloud: aws', 'region: us-east-1', 'instance_type: t3.micro'],
        ['replicas: 1'],
      ),
    );
    const s = await waitService('awssvc', (x) => ready(x).length === 1, '1 replica READY');
    const r = ready(s)[0]!;
    assert.equal(r.cloud, 'aws');
    assert.equal(r.region, 'us-east-1');
    const live = hosts!.list().filter((h) => h.state === 'running');
    assert.equal(live.length, 1, JSON.stringify(hosts!.list()));
    assert.equal(new URL(r.url!).hostname, live[0]!.ip, "the replica's URL is its host's address");
    assert.equal(await getOnce(endpoint), live[0]!.ip, 'the endpoint answers from the AWS replica');

    const d = await sb.run(['serve', 'down', '-y', 'awssvc'], { timeoutMs: 300_000 });
    assert.equal(d.code, 0, d.stdout + d.stderr);
    assert.deepEqual(await services(), []);
    assert.deepEqual(await controllerClusters(), []);
    assert.equal(hosts!.running(), 0, '0 moto hosts');
    assert.deepEqual(
      hosts!.list().map((h) => h.state),
      ['terminated'],
      'the instance is terminated in moto',
    );
  });
});
