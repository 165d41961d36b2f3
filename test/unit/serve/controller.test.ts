/**
 * The serve controller's pieces below the e2e tests: the readiness probe against real HTTP servers,
 * and the controller's ops (`skyhop serve-controller up|update|status|down`) run as real processes of
 * the built CLI on a temporary home: a name's claim, versions, refusals, and what they write.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ReadinessProbe, ServiceSpec } from '../../../src/core/serve.js';
import type { Task } from '../../../src/core/task.js';
import { removeOrphans } from '../../../src/serve/files.js';
import { probe, ServiceRun } from '../../../src/serve/service.js';
import type { Store } from '../../../src/state/index.js';

const BIN = resolve(import.meta.dirname, '../../../bin/skyhop.js');

function probeOf(p: Partial<ReadinessProbe>): Pick<ServiceSpec, 'readinessProbe'> {
  return {
    readinessProbe: { path: '/health', initialDelaySeconds: 1200, timeoutSeconds: 2, headers: {}, ...p },
  };
}

describe('the readiness probe', () => {
  let server: Server;
  let base = '';
  const seen: Array<{ method: string; url: string; body: string; auth?: string; type?: string }> = [];
  let status = 200;
  before(async () => {
    server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        seen.push({
          method: req.method ?? '',
          url: req.url ?? '',
          body,
          auth: req.headers.authorization,
          type: req.headers['content-type'],
        });
        if (req.url === '/hang') return; // never answers
        if (req.url === '/stream') {
          // Answers 200 and a body that never ends (a chunk every 50 ms).
          res.writeHead(200);
          const t = setInterval(() => res.write('x'), 50);
          res.once('close', () => clearInterval(t));
          return;
        }
        res.writeHead(status);
        res.end('x');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const a = server.address();
    assert.ok(a && typeof a === 'object');
    base = `http://127.0.0.1:${a.port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  test('a GET answered 2xx passes; 503 fails; headers are sent', async () => {
    status = 200;
    assert.equal(await probe(base, probeOf({ headers: { Authorization: 'Bearer t' } })), true);
    assert.deepEqual(seen.at(-1), {
      method: 'GET',
      url: '/health',
      body: '',
      auth: 'Bearer t',
      type: undefined,
    });
    status = 503;
    assert.equal(await probe(base, probeOf({})), false);
    status = 200;
  });

  test('post_data makes it a POST of the value as JSON', async () => {
    assert.equal(await probe(base, probeOf({ path: '/v1/models', postData: { model: 'm', n: 1 } })), true);
    const last = seen.at(-1)!;
    assert.equal(last.method, 'POST');
    assert.equal(last.url, '/v1/models');
    assert.deepEqual(JSON.parse(last.body), { model: 'm', n: 1 });
    assert.equal(last.type, 'application/json');
  });

  test("a path starting with '//' is a path on the replica, not another host", async () => {
    status = 200;
    assert.equal(await probe(base, probeOf({ path: '//127.0.0.1:1/health' })), true);
    assert.equal(seen.at(-1)?.url, '//127.0.0.1:1/health');
  });

  test('an answer whose body does not end within timeout_seconds fails (the probe never hangs)', async () => {
    assert.equal(await probe(base, probeOf({ path: '/stream', timeoutSeconds: 0.3 })), false);
  });

  test('no answer within timeout_seconds fails; nothing listening fails', async () => {
    assert.equal(await probe(base, probeOf({ path: '/hang', timeoutSeconds: 0.3 })), false);
    assert.equal(await probe('http://127.0.0.1:1', probeOf({})), false);
  });
});

describe('the serve controller ops (built CLI, a temporary home)', () => {
  let dir = '';
  let home = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'skyhop-serve-ops-'));
    home = join(dir, 'skyhop');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function op(args: string[], input?: unknown) {
    const r = spawnSync(process.execPath, [BIN, 'serve-controller', ...args], {
      input: input === undefined ? '' : JSON.stringify(input),
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', HOME: dir, SKYHOP_HOME: home },
      timeout: 30_000,
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  }

  const task = (version: number): Task => ({
    name: 'svc',
    numNodes: 1,
    envs: { VERSION: String(version) },
    secrets: { TOKEN: '' },
    fileMounts: {},
    run: 'node replica.js',
    resources: [{ cloud: 'local', useSpot: false, ports: ['8080'] }],
    ordered: false,
    service: {
      readinessProbe: { path: '/health', initialDelaySeconds: 60, timeoutSeconds: 5, headers: {} },
      replicaPolicy: {
        minReplicas: 2,
        maxReplicas: 2,
        upscaleDelaySeconds: 300,
        downscaleDelaySeconds: 1200,
        baseOndemandFallbackReplicas: 0,
        dynamicOndemandFallback: false,
      },
      port: 8080,
      loadBalancingPolicy: 'least_load',
    },
  });
  const submission = (name: string, version: number) => ({
    submission: {
      name,
      user: 'alice',
      task: task(version),
      secrets: { TOKEN: 's3cret' },
      request: { clouds: ['local'] },
    },
  });

  test('up claims the name once; the version holds no secret, the secrets file is 0600', () => {
    const r = op(['up'], submission('web', 1));
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse(r.out).name, 'web');
    const dirOf = join(home, 'serve', 'services', 'web');
    const rec = JSON.parse(readFileSync(join(dirOf, 'service.json'), 'utf8'));
    assert.equal(rec.status, 'CONTROLLER_INIT');
    assert.equal(rec.user, 'alice');
    const v1 = readFileSync(join(dirOf, 'versions', '1.json'), 'utf8');
    assert.ok(!v1.includes('s3cret'), 'no secret in the version file');
    const key = JSON.parse(v1).request.secretsKey as string;
    const secrets = join(home, 'serve', 'secrets', `${key}.json`);
    assert.equal(statSync(secrets).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(readFileSync(secrets, 'utf8')), { TOKEN: 's3cret' });
    const again = op(['up'], submission('web', 1));
    assert.equal(again.code, 1);
    assert.match(again.err, /a service named 'web' exists; `skyhop serve update web FILE` changes it/);
  });

  test('update writes the next version; status lists the service; down asks for its removal', () => {
    const u = op(['update'], {
      ...submission('web', 2),
      submission: { ...submission('web', 2).submission, mode: 'blue_green' },
    });
    assert.equal(u.code, 0, u.err);
    assert.equal(JSON.parse(u.out).version, 2);
    const v2 = JSON.parse(readFileSync(join(home, 'serve', 'services', 'web', 'versions', '2.json'), 'utf8'));
    assert.equal(v2.mode, 'blue_green');
    const s = op(['status'], { names: null });
    assert.equal(s.code, 0, s.err);
    const services = JSON.parse(s.out).services as Array<{
      name: string;
      status: string;
      endpoint: string | null;
    }>;
    assert.deepEqual(
      services.map((x) => [x.name, x.status, x.endpoint]),
      [['web', 'CONTROLLER_INIT', null]],
    );
    const missing = op(['update'], submission('nope', 2));
    assert.equal(missing.code, 1);
    assert.match(missing.err, /there is no service named 'nope'/);
    const bad = op(['down'], { names: ['nope'], all: false, purge: false });
    assert.equal(bad.code, 1);
    assert.match(bad.err, /there is no service named 'nope'/);
    const d = op(['down'], { names: ['web'], all: false, purge: false });
    assert.equal(d.code, 0, d.err);
    assert.deepEqual(JSON.parse(d.out).names, ['web']);
    assert.ok(existsSync(join(home, 'serve', 'services', 'web', 'down.json')));
    const late = op(['update'], submission('web', 3));
    assert.equal(late.code, 1);
    assert.match(late.err, /going down/);
  });

  test('a name that is not a service name reaches no file outside serve/services/ (../x)', () => {
    // A folder beside services/ that looks like a service: a crafted name must not reach it.
    const outside = join(home, 'serve', 'evil');
    mkdirSync(join(outside, 'versions'), { recursive: true });
    const rec = {
      name: 'evil',
      user: 'bob',
      status: 'READY',
      version: 1,
      mode: 'rolling',
      createdAt: 0,
      lbHost: null,
      lbPort: null,
      tls: false,
      nextReplicaId: 1,
      reason: null,
      replicas: [],
      target: 0,
      qps: 0,
    };
    writeFileSync(join(outside, 'service.json'), JSON.stringify(rec));
    writeFileSync(join(outside, 'controller.log'), 'private log line\n');
    for (const name of ['../evil', '..', 'web/../../evil']) {
      const logs = op(['logs', name, '--controller', '--no-follow']);
      assert.equal(logs.code, 1, `logs ${name}: ${logs.out}`);
      assert.ok(!logs.out.includes('private log line'), `logs ${name} read a file outside`);
      assert.match(logs.err, /is not a valid service name/);
      const st = op(['status'], { names: [name] });
      assert.equal(st.code, 1, `status ${name}: ${st.out}`);
      assert.match(st.err, /is not a valid service name/);
      const u = op(['update'], { submission: { ...submission('x', 2).submission, name } });
      assert.equal(u.code, 1, `update ${name}: ${u.out}`);
      assert.match(u.err, /is not a valid service name/);
      const d = op(['down'], { names: [name], all: false, purge: false });
      assert.equal(d.code, 1, `down ${name}: ${d.out}`);
      const lb = op(['lb', name]);
      assert.equal(lb.code, 1, `lb ${name}: ${lb.out}`);
      assert.match(lb.err, /is not a valid service name/);
    }
    assert.ok(!existsSync(join(outside, 'versions', '2.json')), 'no version written outside');
    assert.ok(!existsSync(join(outside, 'down.json')), 'no down.json written outside');
  });

  test('bad input: a bad name, no service section, input that is not JSON', () => {
    const bad = op(['up'], submission('Bad_Name', 1));
    assert.equal(bad.code, 1);
    assert.match(bad.err, /'Bad_Name' is not a valid service name/);
    const { service: _s, ...plain } = task(1);
    const none = op(['up'], { submission: { ...submission('plain', 1).submission, task: plain } });
    assert.equal(none.code, 1);
    assert.match(none.err, /no service section/);
    const r = spawnSync(process.execPath, [BIN, 'serve-controller', 'up'], {
      input: 'not json',
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', HOME: dir, SKYHOP_HOME: home },
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /not JSON/);
  });
});

describe('what a service leaves on the controller (its secrets, its uploads, its TLS key)', () => {
  let dir = '';
  let home = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'skyhop-serve-leftovers-'));
    home = join(dir, 'skyhop');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function op(args: string[], input?: unknown) {
    const r = spawnSync(process.execPath, [BIN, 'serve-controller', ...args], {
      input: input === undefined ? '' : JSON.stringify(input),
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', HOME: dir, SKYHOP_HOME: home },
      timeout: 30_000,
    });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  }

  /** A submission whose workdir and TLS files were uploaded under serve/uploads/<key>/ (as the client does). */
  function submit(name: string, key: string) {
    const up = join(home, 'serve', 'uploads', key);
    mkdirSync(join(up, 'workdir'), { recursive: true });
    writeFileSync(join(up, 'workdir', 'replica.js'), '');
    writeFileSync(join(up, 'tls-key.pem'), 'PRIVATE KEY', { mode: 0o600 });
    writeFileSync(join(up, 'tls-cert.pem'), 'CERT');
    const task: Task = {
      name,
      numNodes: 1,
      envs: {},
      secrets: { TOKEN: '' },
      fileMounts: {},
      workdir: join(up, 'workdir'),
      run: 'node replica.js',
      resources: [{ cloud: 'local', useSpot: false, ports: ['8080'] }],
      ordered: false,
      service: {
        readinessProbe: { path: '/', initialDelaySeconds: 60, timeoutSeconds: 5, headers: {} },
        replicaPolicy: {
          minReplicas: 1,
          maxReplicas: 1,
          upscaleDelaySeconds: 300,
          downscaleDelaySeconds: 1200,
          baseOndemandFallbackReplicas: 0,
          dynamicOndemandFallback: false,
        },
        port: 8080,
        loadBalancingPolicy: 'least_load',
        tls: { keyfile: join(up, 'tls-key.pem'), certfile: join(up, 'tls-cert.pem') },
      },
    };
    op(['up'], {
      submission: { name, user: 'alice', task, secrets: { TOKEN: 's3cret' }, request: { clouds: ['local'] } },
    });
    const v = JSON.parse(readFileSync(join(home, 'serve', 'services', name, 'versions', '1.json'), 'utf8'));
    return join(home, 'serve', 'secrets', `${v.request.secretsKey}.json`);
  }

  test("serve down removes the service's secrets file and upload folder (TLS key included), not another's", async () => {
    const webSecrets = submit('web', 'k-web');
    const otherSecrets = submit('other', 'k-other');
    op(['down'], { names: ['web'], all: false, purge: false });
    const run = ServiceRun.open({
      home,
      name: 'web',
      store: {} as Store, // no replica: never used
      cloudsNow: async () => new Map(),
      timings: { probeMs: 1000, decisionMs: 1000, qpsWindowSeconds: 60 },
      host: '127.0.0.1',
      portsInUse: () => new Set(),
      cli: [process.execPath, BIN],
      log: () => undefined,
    });
    assert.ok(run);
    assert.equal(await run.tick(), 'gone');
    assert.ok(!existsSync(join(home, 'serve', 'services', 'web')));
    assert.ok(!existsSync(webSecrets), 'the secrets file of a removed service is gone');
    assert.ok(!existsSync(join(home, 'serve', 'uploads', 'k-web')), 'its uploads (its TLS key) are gone');
    assert.ok(existsSync(otherSecrets), "another service's secrets stay");
    assert.ok(
      existsSync(join(home, 'serve', 'uploads', 'k-other', 'tls-key.pem')),
      "another service's key stays",
    );
  });

  test('a load balancer that dies at its start is started again after a backoff, not every tick', async () => {
    submit('flaky', 'k-flaky');
    const recPath = join(home, 'serve', 'services', 'flaky', 'service.json');
    // FAILED: the controller launches no replica, and keeps the endpoint up.
    const rec = JSON.parse(readFileSync(recPath, 'utf8'));
    writeFileSync(recPath, JSON.stringify({ ...rec, status: 'FAILED', lbHost: '127.0.0.1', lbPort: 1 }));
    const run = ServiceRun.open({
      home,
      name: 'flaky',
      store: {} as Store,
      cloudsNow: async () => new Map(),
      timings: { probeMs: 1000, decisionMs: 1000, qpsWindowSeconds: 60 },
      host: '127.0.0.1',
      portsInUse: () => new Set(),
      // A load balancer that exits at once (as one whose TLS key does not match its certificate).
      cli: [process.execPath, '-e', 'process.exit(1)'],
      log: () => undefined,
    });
    assert.ok(run);
    const lbPid = () =>
      JSON.parse(readFileSync(join(home, 'serve', 'services', 'flaky', 'lb-process.json'), 'utf8'))
        .pid as number;
    const gone = async (pid: number) => {
      for (let i = 0; i < 200; i++) {
        try {
          process.kill(pid, 0);
        } catch {
          return;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.fail(`pid ${pid} did not exit`);
    };
    const t0 = Date.now();
    await run.tick(t0);
    const first = lbPid();
    await gone(first);
    await run.tick(t0 + 100);
    const second = lbPid();
    assert.notEqual(second, first, 'the first death: started again within a tick');
    await gone(second);
    await run.tick(t0 + 200);
    assert.equal(lbPid(), second, 'died again soon after its start: not started again on the next tick');
    await run.tick(t0 + 1300);
    const third = lbPid();
    assert.notEqual(third, second, 'started again after the first backoff (1 s)');
    await gone(third);
    await run.tick(t0 + 1400);
    await run.tick(t0 + 3000);
    assert.equal(lbPid(), third, 'the backoff doubled (2 s)');
    await run.tick(t0 + 3500);
    assert.notEqual(lbPid(), third);
    await gone(lbPid());
  });

  test('a version file not readable (yet) is taken at a later tick; the tick does not fail', async () => {
    submit('upd', 'k-upd');
    const dirOf = join(home, 'serve', 'services', 'upd');
    const recPath = join(dirOf, 'service.json');
    const rec = JSON.parse(readFileSync(recPath, 'utf8'));
    writeFileSync(recPath, JSON.stringify({ ...rec, status: 'FAILED', lbHost: '127.0.0.1', lbPort: 1 }));
    const run = ServiceRun.open({
      home,
      name: 'upd',
      store: {} as Store,
      cloudsNow: async () => new Map(),
      timings: { probeMs: 1000, decisionMs: 1000, qpsWindowSeconds: 60 },
      host: '127.0.0.1',
      portsInUse: () => new Set(),
      cli: [process.execPath, '-e', ''],
      log: () => undefined,
    });
    assert.ok(run);
    // As an update's file half written (an older build wrote it in place).
    writeFileSync(join(dirOf, 'versions', '2.json'), '{"version":2,"mode":');
    assert.equal(await run.tick(), 'running');
    assert.equal(JSON.parse(readFileSync(recPath, 'utf8')).version, 1);
    rmSync(join(dirOf, 'versions', '2.json'));
  });

  test('a retired run (its tick failed) writes nothing more, and close() waits for its launch in flight', async () => {
    submit('stale', 'k-stale');
    const recPath = join(home, 'serve', 'services', 'stale', 'service.json');
    const rec = JSON.parse(readFileSync(recPath, 'utf8'));
    writeFileSync(
      recPath,
      JSON.stringify({ ...rec, status: 'REPLICA_INIT', lbHost: '127.0.0.1', lbPort: 1 }),
    );
    let release!: (m: Map<string, never>) => void;
    const clouds = new Promise<Map<string, never>>((r) => (release = r));
    const run = ServiceRun.open({
      home,
      name: 'stale',
      store: {} as Store,
      // The launch waits here: in flight.
      cloudsNow: () => clouds,
      timings: { probeMs: 1000, decisionMs: 1000, qpsWindowSeconds: 60 },
      host: '127.0.0.1',
      portsInUse: () => new Set(),
      cli: [process.execPath, '-e', ''],
      log: () => undefined,
    });
    assert.ok(run);
    await run.tick();
    const launching = JSON.parse(readFileSync(recPath, 'utf8'));
    assert.deepEqual(
      launching.replicas.map((r: { status: string }) => r.status),
      ['PROVISIONING'],
    );
    let settled = false;
    const closed = run.close().then(() => {
      settled = true;
    });
    // The run that replaces it has written its own record meanwhile.
    writeFileSync(recPath, JSON.stringify({ ...launching, nextReplicaId: 99 }));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(settled, false, 'close() waits for the launch in flight');
    release(new Map<string, never>()); // the launch goes on, and fails (no cloud)
    await closed;
    assert.equal(
      JSON.parse(readFileSync(recPath, 'utf8')).nextReplicaId,
      99,
      'the retired run wrote nothing',
    );
  });

  test('a load balancer running unrecorded (the controller died as it started it) is adopted, and stopped by serve down', async () => {
    submit('orph', 'k-orph');
    const dirOf = join(home, 'serve', 'services', 'orph');
    const recPath = join(dirOf, 'service.json');
    const rec = JSON.parse(readFileSync(recPath, 'utf8'));
    writeFileSync(recPath, JSON.stringify({ ...rec, status: 'FAILED', lbHost: '127.0.0.1', lbPort: 1 }));
    // The orphan: a process of the load balancer's command line, with its lb-stats.json, no lb-process.json.
    const orphan = spawn(
      process.execPath,
      ['-e', 'setInterval(() => {}, 1000)', 'serve-controller', 'lb', 'orph'],
      {
        stdio: 'ignore',
      },
    );
    const exited = new Promise<void>((r) => orphan.once('exit', () => r()));
    try {
      writeFileSync(
        join(dirOf, 'lb-stats.json'),
        JSON.stringify({ pid: orphan.pid, port: 1, at: Date.now(), counts: [] }),
      );
      const run = ServiceRun.open({
        home,
        name: 'orph',
        store: {} as Store,
        cloudsNow: async () => new Map(),
        timings: { probeMs: 1000, decisionMs: 1000, qpsWindowSeconds: 60 },
        host: '127.0.0.1',
        portsInUse: () => new Set(),
        cli: [process.execPath, '-e', ''],
        log: () => undefined,
      });
      assert.ok(run);
      await run.tick();
      const recorded = JSON.parse(readFileSync(join(dirOf, 'lb-process.json'), 'utf8')).pid;
      assert.equal(recorded, orphan.pid, 'adopted, not a second one started');
      op(['down'], { names: ['orph'], all: false, purge: false });
      assert.equal(await run.tick(), 'gone');
      await exited; // serve down stopped it
    } finally {
      orphan.kill('SIGKILL');
    }
  });

  test('the sweep removes old secrets and uploads no version names, keeps named and recent ones', () => {
    const secretsDir = join(home, 'serve', 'secrets');
    const uploads = join(home, 'serve', 'uploads');
    writeFileSync(join(secretsDir, 'orphan.json'), '{"TOKEN":"x"}', { mode: 0o600 });
    writeFileSync(join(secretsDir, 'fresh.json'), '{"TOKEN":"x"}', { mode: 0o600 });
    mkdirSync(join(uploads, 'k-orphan'), { recursive: true });
    writeFileSync(join(uploads, 'k-orphan', 'tls-key.pem'), 'PRIVATE KEY', { mode: 0o600 });
    const old = (Date.now() - 7 * 3_600_000) / 1000;
    // Old enough to be swept, each: only what no version names goes.
    for (const n of readdirSync(secretsDir))
      if (n !== 'fresh.json') utimesSync(join(secretsDir, n), old, old);
    for (const n of readdirSync(uploads)) utimesSync(join(uploads, n), old, old);
    removeOrphans(home);
    assert.deepEqual(readdirSync(uploads).sort(), ['k-flaky', 'k-other', 'k-stale', 'k-upd']);
    const left = readdirSync(secretsDir).sort();
    assert.equal(left.length, 5, left.join(', '));
    assert.ok(left.includes('fresh.json'), 'a secrets file younger than a submission stays');
    assert.ok(!left.includes('orphan.json'));
  });
});
