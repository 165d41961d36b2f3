/**
 * `skyhop serve` end to end on the local cloud, through the built CLI: the serve controller is a real
 * local cluster running `skyhop serve-controller serve`; each replica is a local cluster of its own
 * running a real HTTP server bound to its node's address; the endpoint is the load balancer process.
 * Covers a probe that fails first, the endpoint under kill -9 of the load balancer and of the
 * controller, a rolling update and 1 -> 3 -> 1 autoscaling under a bounded load (0 failed requests),
 * the user's mistakes (a typo, no port, a bad name), and `serve down` leaving nothing.
 * Spot, preemption and other clouds: serve-clouds.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { Agent } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { after, afterEach, before, describe, test } from 'node:test';
import { join } from 'node:path';
import { pidsUnder, viaServer } from './harness.js';
import { get, load, ServeSandbox } from './serve-harness.js';

const READY = (s: { replicas: Array<{ status: string }> }, n: number) =>
  s.replicas.filter((r) => r.status === 'READY').length === n;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('serve on the local cloud (built CLI)', () => {
  let ss: ServeSandbox;

  before(() => {
    ss = new ServeSandbox();
  });
  afterEach(async () => {
    await ss.downAll();
  });
  after(async () => {
    await ss?.finish();
  });

  test('mistakes: a typo in service:, no port, a bad name, a pipeline: clear errors, nothing started', async () => {
    const typo = ss.file(
      'typo.yaml',
      [
        'resources:',
        '  ports: 8080',
        'service:',
        '  readiness_probe: /',
        '  replica:',
        '    2',
        'run: sleep 1',
      ].join('\n'),
    );
    let r = await ss.run(['serve', 'up', '-y', typo]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /typo\.yaml:5:3: .*'replica'.*did you mean 'replicas'/);
    const noPort = ss.file(
      'noport.yaml',
      ['service:', '  readiness_probe: /', '  replicas: 1', 'run: sleep 1'].join('\n'),
    );
    r = await ss.run(['serve', 'up', '-y', noPort]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /noport\.yaml:\d+:\d+: .*port/);
    const ok = ss.serviceYaml('fine', ['readiness_probe: /health', 'replicas: 1']);
    r = await ss.run(['serve', 'up', '-y', '-n', 'Bad_Name', ok]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /'Bad_Name' is not a valid service name/);
    const noService = ss.file('plain.yaml', 'resources:\n  cloud: local\nrun: echo hi\n');
    r = await ss.run(['serve', 'up', '-y', noService]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /no service: section/);
    assert.equal(ss.controllerHome(), null, 'no controller was started');
    const st = await ss.run(['serve', 'status']);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /No services/);
    const down = await ss.run(['serve', 'down', '-y', 'nothing']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /no service named 'nothing'/);
  });

  test('a probe that fails first, two replicas behind one endpoint, logs, kill -9 of the load balancer and the controller', async () => {
    const yaml = ss.serviceYaml(
      'hello',
      [
        'readiness_probe:',
        '  path: /health',
        '  initial_delay_seconds: 60',
        '  timeout_seconds: 2',
        'replicas: 2',
      ],
      { envs: { FAIL_FIRST: 3 } },
    );
    const endpoint = await ss.up('hello', yaml);
    const s = await ss.waitService('hello', (x) => READY(x, 2), 'two READY replicas');
    assert.equal(s.status, 'READY');
    assert.equal(s.endpoint, endpoint);
    const urls = s.replicas.map((r) => r.url);
    assert.equal(new Set(urls).size, 2, 'each replica has its own address');
    // The probe failed three times on each replica before it passed.
    const agent = new Agent({ keepAlive: true });
    for (const u of urls) {
      const p = await get(`${u}/probes`, agent);
      assert.ok(Number(p.body) >= 4, `replica ${u} was probed ${p.body} times`);
    }
    // Requests reach both replicas through the endpoint.
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) seen.add((await get(endpoint, agent)).body.trim());
    assert.equal(seen.size, 2, [...seen].join(' | '));

    const logs = await ss.run(['serve', 'logs', '--no-follow', 'hello', '1']);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /serving on 127\.\d+\.\d+\.\d+:8080/);
    const clog = await ss.run(['serve', 'logs', '--no-follow', '--controller', 'hello']);
    assert.match(clog.stdout, /replica 1: READY/);
    const lblog = await ss.run(['serve', 'logs', '--no-follow', '--load-balancer', 'hello']);
    assert.match(lblog.stdout, /load balancer on http/);

    // kill -9 of the load balancer: the controller starts it again on the same endpoint.
    const before = ss.pids('hello');
    process.kill(before.lb, 'SIGKILL');
    const lb2 = await waitForPid(() => ss.pids('hello').lb, before.lb);
    assert.notEqual(lb2, before.lb);
    assert.equal((await getEventually(endpoint, agent)).status, 200);

    // kill -9 of the controller under load: its job's loop starts it again; the endpoint never fails
    // (the load balancer is a process of its own); nothing is launched twice.
    let stopLoad!: () => void;
    const loading = load(endpoint, 20, { maxMs: 30_000, stop: new Promise<void>((r) => (stopLoad = r)) });
    await new Promise((r) => setTimeout(r, 1000));
    process.kill(before.controller, 'SIGKILL');
    const c2 = await waitForPid(() => ss.pids('hello').controller, before.controller);
    await ss.waitService('hello', (x) => READY(x, 2), 'both replicas READY after the restart');
    await new Promise((r) => setTimeout(r, 1500));
    stopLoad();
    const res = await loading;
    assert.deepEqual(res.failed, [], `failed requests while the controller restarted (pid ${c2})`);
    assert.ok(res.ok > 10, `only ${res.ok} requests`);
    assert.deepEqual(
      (await ss.controllerClusters()).sort(),
      ['hello-1', 'hello-2'],
      'nothing launched twice',
    );
    agent.destroy();

    // The serve controller is not torn down under a service.
    const refused = await ss.run([
      'down',
      '-y',
      ss.sb.via ? 'skyhop-serve-controller-admin' : 'skyhop-serve-controller',
    ]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /still runs service hello/);

    const lb = ss.pids('hello').lb;
    const d = await ss.run(['serve', 'down', '-y', 'hello'], { timeoutMs: 120_000 });
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stderr, /Service hello removed/);
    assert.deepEqual(await ss.controllerClusters(), []);
    await waitForGone(lb);
    // The replicas' nodes live in the controller's home: no process has its HOME there any more.
    assert.deepEqual(
      pidsUnder(join(ss.controllerHome()!, 'local', 'clusters')),
      [],
      'no replica process is left',
    );
  });

  test('serve update (rolling) under load: no failed request, then only the new version serves', async () => {
    const v1 = ss.serviceYaml('roll', ['readiness_probe: /health', 'replicas: 2'], { envs: { VERSION: 1 } });
    const endpoint = await ss.up('roll', v1);
    await ss.waitService('roll', (x) => READY(x, 2), 'two READY replicas');
    let stopLoad!: () => void;
    const loading = load(endpoint, 20, { maxMs: 90_000, stop: new Promise<void>((r) => (stopLoad = r)) });
    const v2 = ss.serviceYaml('roll2', ['readiness_probe: /health', 'replicas: 2'], {
      envs: { VERSION: 2, FAIL_FIRST: 2 },
    });
    const u = await ss.run(['serve', 'update', '-y', 'roll', v2], { timeoutMs: 60_000 });
    assert.equal(u.code, 0, u.stderr);
    assert.match(u.stderr, /updating to version 2 \(rolling\)/);
    const s = await ss.waitService(
      'roll',
      (x) => READY(x, 2) && x.replicas.every((r) => r.version === 2),
      'only version 2 replicas, both READY',
    );
    assert.equal(s.version, 2);
    await new Promise((r) => setTimeout(r, 1500));
    stopLoad();
    const res = await loading;
    assert.deepEqual(res.failed, [], 'no request failed during the rolling update');
    const versions = [...res.bodies.keys()].map((b) => b.split(' ').pop());
    assert.ok(
      versions.includes('1') && versions.includes('2'),
      `answers: ${[...res.bodies.keys()].join(' | ')}`,
    );
    // The old replicas' clusters are gone.
    const names = await ss.controllerClusters();
    assert.deepEqual(names.sort(), s.replicas.map((r) => r.cluster).sort());
  });

  test('tls: the endpoint is https with the given key and certificate; a blue_green update switches at once', async () => {
    const key = join(ss.sb.dir, 'key.pem');
    const cert = join(ss.sb.dir, 'cert.pem');
    const made = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=skyhop-test',
      ],
      { encoding: 'utf8' },
    );
    assert.equal(made.status, 0, `openssl is needed for this test: ${made.error?.message ?? made.stderr}`);
    // A key readable by others here (as files often are) is still 0600 on the controller.
    chmodSync(key, 0o644);
    const tls = ['tls:', `  keyfile: ${key}`, `  certfile: ${cert}`];
    const v1 = ss.serviceYaml('secure', ['readiness_probe: /health', 'replicas: 1', ...tls], {
      envs: { VERSION: 1 },
    });
    const endpoint = await ss.up('secure', v1);
    assert.match(endpoint, /^https:\/\//);
    await ss.waitService('secure', (x) => READY(x, 1), 'one READY replica');
    const agent = new HttpsAgent({
      keepAlive: true,
      ca: readFileSync(cert),
      checkServerIdentity: () => undefined,
    });
    const first = await httpsGet(endpoint, agent);
    assert.equal(first.status, 200);
    assert.match(first.body, /version 1/);
    // The key went to the controller as a 0600 file.
    const versions = join(ss.serviceDir('secure'), 'versions');
    const rec = JSON.parse(readFileSync(join(versions, '1.json'), 'utf8')) as {
      task: { service: { tls: { keyfile: string } } };
    };
    assert.equal(statSync(rec.task.service.tls.keyfile).mode & 0o777, 0o600);
    // A second `up` of the name is refused: what it uploaded (the key again) does not stay behind.
    const uploads = join(ss.controllerHome()!, 'serve', 'uploads');
    const before = readdirSync(uploads);
    const again = await ss.run(['serve', 'up', '-y', '-n', 'secure', v1], { timeoutMs: 60_000 });
    assert.equal(again.code, 1, again.stdout);
    assert.match(again.stderr, /a service named 'secure' exists/);
    assert.deepEqual(readdirSync(uploads), before, 'the refused up left no upload (no copy of the key)');

    // blue_green: version 1 answers until version 2's replica is READY, then only version 2.
    const v2 = ss.serviceYaml('secure2', ['readiness_probe: /health', 'replicas: 1', ...tls], {
      envs: { VERSION: 2, FAIL_FIRST: 4 },
    });
    const u = await ss.run(['serve', 'update', '-y', '--mode', 'blue_green', 'secure', v2], {
      timeoutMs: 60_000,
    });
    assert.equal(u.code, 0, u.stderr);
    const answers: string[] = [];
    const end = Date.now() + 60_000;
    for (;;) {
      const r = await httpsGet(endpoint, agent);
      assert.equal(r.status, 200, r.body);
      answers.push(r.body.trim().split(' ').pop()!);
      if (answers.at(-1) === '2' || Date.now() > end) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(answers.at(-1), '2', 'version 2 serves in the end');
    const switched = answers.indexOf('2');
    assert.ok(
      answers.slice(switched).every((v) => v === '2'),
      `no version 1 after the switch: ${answers.join('')}`,
    );
    for (let i = 0; i < 10; i++) assert.match((await httpsGet(endpoint, agent)).body, /version 2/);
    agent.destroy();
  });

  test('a replica whose run exits: FAILED with its exit code, the service FAILED, nothing left running', async () => {
    const yaml = ss.file(
      'broken.yaml',
      [
        'resources:',
        '  cloud: local',
        '  ports: 8080',
        'service:',
        '  readiness_probe: /health',
        '  replicas: 2',
        'run: echo "cannot load the model"; exit 3',
      ].join('\n'),
    );
    await ss.up('broken', yaml);
    const s = await ss.waitService('broken', (x) => x.status === 'FAILED', 'the service FAILED');
    assert.match(s.reason ?? '', /exit code 3/);
    assert.match(s.reason ?? '', /serve logs broken \d/);
    const failed = s.replicas.filter((r) => r.status === 'FAILED');
    assert.ok(failed.length >= 1, JSON.stringify(s.replicas));
    const id = failed[0]!.id;
    const st = await ss.run(['serve', 'status', 'broken']);
    assert.match(st.stdout, /FAILED/);
    assert.match(st.stdout, /broken: .*exit code 3/);
    await waitForClusters(ss, 0);
    // Its output was copied to the controller before its cluster went: the logs say why.
    const logs = await ss.run(['serve', 'logs', 'broken', String(id)]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /cannot load the model/);
  });

  // As a team server's workers run: SKYHOP_API_USER (and _ROLE) name the user (through a server, the
  // sandbox is its admin and cannot act as another user, so this runs in the local pass only).
  test("an admin's `down` of another user's serve controller is refused while it runs services", {
    skip: viaServer ? 'the local pass acts as two users' : false,
  }, async () => {
    const bob = { SKYHOP_API_USER: 'bob', SKYHOP_API_ROLE: 'user' };
    const admin = { SKYHOP_API_USER: 'admin', SKYHOP_API_ROLE: 'admin' };
    const yaml = ss.serviceYaml('bobs', ['readiness_probe: /health', 'replicas: 1']);
    const up = await ss.run(['serve', 'up', '-y', '-n', 'bobs', yaml], { env: bob, timeoutMs: 120_000 });
    assert.equal(up.code, 0, up.stderr);
    let refused: Awaited<ReturnType<ServeSandbox['run']>> | undefined;
    try {
      refused = await ss.run(['down', '-y', 'skyhop-serve-controller-bob'], { env: admin });
    } finally {
      // bob's own way out; then the admin's down of the idle controller goes ahead.
      const d = await ss.run(['serve', 'down', '-y', '-a'], { env: bob, timeoutMs: 120_000 });
      const c = await ss.run(['down', '-y', 'skyhop-serve-controller-bob'], {
        env: admin,
        timeoutMs: 120_000,
      });
      assert.equal(refused?.code, 1, `the admin's down went ahead: ${refused?.stdout}${refused?.stderr}`);
      assert.match(refused?.stderr ?? '', /serve controller of user 'bob' still runs service bobs/);
      assert.equal(d.code, 0, d.stderr);
      assert.equal(c.code, 0, c.stderr);
    }
  });

  test('autoscaling 1 -> 3 -> 1 under a bounded load (target_qps_per_replica)', async () => {
    const yaml = ss.serviceYaml('auto', [
      'readiness_probe: /health',
      'replica_policy:',
      '  min_replicas: 1',
      '  max_replicas: 3',
      '  target_qps_per_replica: 4',
      '  upscale_delay_seconds: 1',
      '  downscale_delay_seconds: 2',
    ]);
    const endpoint = await ss.up('auto', yaml);
    await ss.waitService('auto', (x) => READY(x, 1), 'one READY replica');
    let stopLoad!: () => void;
    // 16 requests/s wants ceil(16 / 4) = 4 replicas, clamped to 3.
    const loading = load(endpoint, 16, { maxMs: 120_000, stop: new Promise<void>((r) => (stopLoad = r)) });
    const up = await ss.waitService('auto', (x) => READY(x, 3), 'three READY replicas under load', 100_000);
    assert.equal(up.targetReplicas, 3);
    stopLoad();
    const res = await loading;
    assert.deepEqual(res.failed, [], 'no request failed while scaling up');
    const down = await ss.waitService(
      'auto',
      (x) => x.replicas.filter((r) => r.status !== 'SHUTTING_DOWN').length === 1 && READY(x, 1),
      'back to one replica without load',
      100_000,
    );
    assert.equal(down.targetReplicas, 1);
    await waitForClusters(ss, 1);
  });
});

async function waitForPid(read: () => number, old: number): Promise<number> {
  const end = Date.now() + 30_000;
  for (;;) {
    try {
      const p = read();
      if (p !== old && alive(p)) return p;
    } catch {
      // the record is being rewritten
    }
    if (Date.now() > end) assert.fail(`no new process replaced pid ${old}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function waitForGone(pid: number): Promise<void> {
  const end = Date.now() + 10_000;
  while (alive(pid)) {
    if (Date.now() > end) assert.fail(`process ${pid} is still running`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A GET that may meet the load balancer still starting: tried for a few seconds. */
async function getEventually(url: string, agent: Agent): Promise<{ status: number; body: string }> {
  const end = Date.now() + 15_000;
  for (;;) {
    try {
      const r = await get(url, agent);
      if (r.status === 200 || Date.now() > end) return r;
    } catch (e) {
      if (Date.now() > end) throw e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function waitForClusters(ss: ServeSandbox, n: number): Promise<void> {
  const end = Date.now() + 60_000;
  for (;;) {
    const names = await ss.controllerClusters();
    if (names.length === n) return;
    if (Date.now() > end) assert.fail(`expected ${n} replica clusters, have ${names.join(', ')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function httpsGet(url: string, agent: HttpsAgent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { agent, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}
