import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LocalProvider } from '../../../src/clouds/local/provider.js';
import type { ClusterSpec, NodeInfo } from '../../../src/core/cluster.js';
import { LocalRunner } from '../../../src/runtime/local-runner.js';
import { CloudError, UserError } from '../../../src/util/errors.js';
import { shq } from '../../../src/util/shell.js';

const savedHome = process.env.SKYHOP_HOME;
const savedIps = process.env.SKYHOP_LOCAL_IPS;
let dir = '';
let home = '';
let n = 0;
/** Pids of processes a test started and must stop if the code under test did not. */
const started: number[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'skyhop-local-provider-'));
});
afterEach(() => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone, as it should be
    }
  }
});
after(() => {
  if (savedHome === undefined) delete process.env.SKYHOP_HOME;
  else process.env.SKYHOP_HOME = savedHome;
  if (savedIps === undefined) delete process.env.SKYHOP_LOCAL_IPS;
  else process.env.SKYHOP_LOCAL_IPS = savedIps;
  rmSync(dir, { recursive: true, force: true });
});

/**
 * A fresh SKYHOP_HOME for each test, with an address registry of its own (SKYHOP_LOCAL_IPS; the
 * machine's is shared with whatever else runs here), so its addresses start at 127.0.0.2.
 */
function fresh(): LocalProvider {
  home = join(dir, `home${n++}`);
  mkdirSync(home);
  process.env.SKYHOP_HOME = home;
  process.env.SKYHOP_LOCAL_IPS = join(home, 'local', 'ips');
  return new LocalProvider(home);
}

function spec(cluster: string, numNodes: number, extra: Partial<ClusterSpec> = {}): ClusterSpec {
  return {
    cluster,
    numNodes,
    instanceType: 'local',
    region: 'local',
    zone: null,
    useSpot: false,
    accelerators: null,
    ...extra,
  };
}

function homeOf(node: NodeInfo): string {
  assert.equal(node.connection.kind, 'local');
  return node.connection.kind === 'local' ? node.connection.home : '';
}

/** Live (non-zombie) processes whose environment carries SKYHOP_NODE_ID=<value>, from /proc. */
function pidsWithMarker(value: string): number[] {
  const want = `SKYHOP_NODE_ID=${value}`;
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const env = readFileSync(`/proc/${name}/environ`, 'utf8').split('\0');
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (env.includes(want) && state !== 'Z') out.push(Number(name));
    } catch {
      // exited while we looked, or not ours to read
    }
  }
  return out;
}

/**
 * Start fully detached daemons inside a node through the runtime's real LocalRunner, the way a
 * user's `run` script would: a daemon that itself starts another one in the background.
 */
async function startDaemon(node: NodeInfo): Promise<number> {
  assert.equal(node.connection.kind, 'local');
  if (node.connection.kind !== 'local') return 0;
  const nodeId = node.connection.nodeId;
  const runner = new LocalRunner(node.connection);
  const r = await runner.run(
    `setsid nohup sh -c ${shq('setsid nohup sleep 1000 >/dev/null 2>&1 & exec sleep 1001')} >/dev/null 2>&1 </dev/null &`,
  );
  await runner.close();
  assert.equal(r.code, 0, r.stderr);
  for (let i = 0; i < 300; i++) {
    const pids = pidsWithMarker(nodeId);
    if (pids.length >= 2) {
      started.push(...pids);
      return pids[0];
    }
    await new Promise((res) => setTimeout(res, 10));
  }
  throw new Error('the daemons did not show up in /proc');
}

describe('local provider', () => {
  test('one node: its dir, HOME, record with tags, a loopback IP, a local connection', async () => {
    const p = fresh();
    const [node, ...rest] = await p.runInstances(spec('one', 1));
    assert.equal(rest.length, 0);
    assert.equal(node.role, 'head');
    assert.equal(node.rank, 0);
    assert.equal(node.status, 'running');
    assert.equal(node.internalIp, '127.0.0.2');
    assert.equal(node.externalIp, '127.0.0.2');
    assert.equal(node.instanceType, 'local');
    assert.deepEqual(node.tags, { 'skyhop-cluster': 'one', 'skyhop-role': 'head', 'skyhop-rank': '0' });
    assert.deepEqual(node.connection, {
      kind: 'local',
      home: join(home, 'local', 'clusters', 'one', node.id, 'home'),
      nodeId: `one/${node.id}`,
    });
    assert.ok(existsSync(homeOf(node)));
    const rec = JSON.parse(
      readFileSync(join(home, 'local', 'clusters', 'one', node.id, 'node.json'), 'utf8'),
    );
    assert.equal(rec.status, 'running');
    assert.equal(rec.ip, '127.0.0.2');
    assert.deepEqual(rec.tags, node.tags);
    assert.ok(!Number.isNaN(Date.parse(rec.createdAt)));
    assert.ok(existsSync(join(home, 'local', 'ips', '127.0.0.2')));
  });

  test('three nodes: head first, ranks 0..2, distinct IPs and HOMEs', async () => {
    const p = fresh();
    const nodes = await p.runInstances(spec('three', 3));
    assert.deepEqual(
      nodes.map((x) => [x.role, x.rank]),
      [
        ['head', 0],
        ['worker', 1],
        ['worker', 2],
      ],
    );
    assert.equal(new Set(nodes.map((x) => x.internalIp)).size, 3);
    assert.equal(new Set(nodes.map(homeOf)).size, 3);
    assert.equal(new Set(nodes.map((x) => x.id)).size, 3);
    for (const x of nodes) assert.match(x.internalIp, /^127\.0\.0\.\d+$/);
  });

  test('re-running reuses the nodes; growing adds workers; shrinking is refused', async () => {
    const p = fresh();
    const first = await p.runInstances(spec('re', 1));
    const again = await p.runInstances(spec('re', 1));
    assert.deepEqual(again, first);
    const grown = await p.runInstances(spec('re', 3));
    assert.equal(grown.length, 3);
    assert.deepEqual(grown[0], first[0]);
    assert.deepEqual(await p.runInstances(spec('re', 3)), grown);
    await assert.rejects(p.runInstances(spec('re', 2)), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /already has 3 nodes/);
      return true;
    });
  });

  test('after a crash, a new provider reads the nodes from disk', async () => {
    const p = fresh();
    const nodes = await p.runInstances(spec('crash', 2));
    const p2 = new LocalProvider(home);
    assert.deepEqual(await p2.queryInstances('crash'), nodes);
    assert.deepEqual(await p2.queryInstances('nothing-here'), []);
  });

  test('a half-done creation, a stale IP and a dead lock holder are cleaned up', async () => {
    const p = fresh();
    const root = join(home, 'local');
    // A process died after mkdir and IP reservation, before writing node.json.
    mkdirSync(join(root, 'clusters', 'half', 'n0-dead00', 'home'), { recursive: true });
    mkdirSync(join(root, 'ips'), { recursive: true });
    writeFileSync(join(root, 'ips', '127.0.0.2'), JSON.stringify({ owner: 'half/n0-dead00' }));
    // One died mid-terminate: its dir is gone, its IP is not.
    writeFileSync(join(root, 'ips', '127.0.0.3'), JSON.stringify({ owner: 'half/n1-gone00' }));
    // Another cluster's IP must survive.
    writeFileSync(join(root, 'ips', '127.0.0.4'), JSON.stringify({ owner: 'other/n0-alive0' }));
    mkdirSync(join(root, 'clusters', 'other', 'n0-alive0'), { recursive: true });
    // And the lock is held by a process that no longer exists.
    const dead = spawnSync('true');
    assert.equal(dead.status, 0);
    mkdirSync(join(root, 'locks'), { recursive: true });
    writeFileSync(
      join(root, 'locks', 'half.lock'),
      JSON.stringify({ pid: dead.pid, start: null, token: 'x' }),
    );

    const nodes = await p.runInstances(spec('half', 1));
    assert.equal(nodes.length, 1);
    assert.notEqual(nodes[0].id, 'n0-dead00');
    assert.ok(!existsSync(join(root, 'clusters', 'half', 'n0-dead00')));
    assert.ok(!existsSync(join(root, 'ips', '127.0.0.3')));
    assert.ok(existsSync(join(root, 'ips', '127.0.0.4')));
    assert.ok(!existsSync(join(root, 'locks', 'half.lock')), 'the lock is released');
    const ips = readdirSync(join(root, 'ips')).sort();
    assert.deepEqual(ips, [nodes[0].internalIp, '127.0.0.4'].sort());
  });

  test('terminate removes dirs and IP reservations and is safe to repeat', async () => {
    const p = fresh();
    const nodes = await p.runInstances(spec('gone', 3));
    const keep = await p.runInstances(spec('keep', 1));
    // A read-only tree in a node's HOME (only blocks removal when not root; as root this just runs).
    const ro = join(homeOf(nodes[2]), 'ro');
    mkdirSync(join(ro, 'sub'), { recursive: true });
    writeFileSync(join(ro, 'sub', 'f'), 'x');
    chmodSync(join(ro, 'sub'), 0o555);
    chmodSync(ro, 0o555);
    await p.terminateInstances('gone');
    assert.deepEqual(await p.queryInstances('gone'), []);
    for (const x of nodes) assert.ok(!existsSync(homeOf(x)));
    assert.ok(!existsSync(join(home, 'local', 'clusters', 'gone')));
    assert.deepEqual(readdirSync(join(home, 'local', 'ips')), [keep[0].internalIp]);
    await p.terminateInstances('gone');
    await p.terminateInstances('never-existed');
    assert.deepEqual(await p.queryInstances('keep'), keep);
    // Released addresses are handed out again.
    const again = await p.runInstances(spec('gone', 1));
    assert.equal(again[0].internalIp, '127.0.0.2');
  });

  test('stop kills processes and keeps HOME and IPs; start brings the same nodes back', async () => {
    const p = fresh();
    const nodes = await p.runInstances(spec('pause', 2));
    writeFileSync(join(homeOf(nodes[1]), 'data.txt'), 'kept');
    const pid = await startDaemon(nodes[1]);
    await p.stopInstances('pause');
    const nodeId = nodes[1].connection.kind === 'local' ? nodes[1].connection.nodeId : '';
    assert.deepEqual(pidsWithMarker(nodeId), [], `process ${pid} survived stop`);
    const stopped = await p.queryInstances('pause');
    assert.deepEqual(
      stopped.map((x) => x.status),
      ['stopped', 'stopped'],
    );
    await p.stopInstances('pause');
    const started2 = await p.startInstances('pause');
    assert.deepEqual(
      started2.map((x) => [x.id, x.internalIp, x.status, homeOf(x)]),
      nodes.map((x) => [x.id, x.internalIp, 'running', homeOf(x)]),
    );
    assert.equal(readFileSync(join(homeOf(started2[1]), 'data.txt'), 'utf8'), 'kept');
    // runInstances restarts a stopped cluster too.
    await p.stopInstances('pause');
    const relaunched = await p.runInstances(spec('pause', 2));
    assert.deepEqual(relaunched, started2);
    await assert.rejects(p.startInstances('no-such'), CloudError);
  });

  test('a daemonised process in a node is gone after terminate; other nodes are untouched', async () => {
    const p = fresh();
    const [victim] = await p.runInstances(spec('victim', 1));
    const [bystander] = await p.runInstances(spec('bystander', 1));
    const victimPid = await startDaemon(victim);
    const bystanderPid = await startDaemon(bystander);
    await p.terminateInstances('victim');
    const victimId = victim.connection.kind === 'local' ? victim.connection.nodeId : '';
    const bystanderId = bystander.connection.kind === 'local' ? bystander.connection.nodeId : '';
    assert.deepEqual(pidsWithMarker(victimId), [], `process ${victimPid} survived terminate`);
    assert.ok(pidsWithMarker(bystanderId).includes(bystanderPid));
    assert.equal(pidsWithMarker(bystanderId).length, 2);
    await p.terminateInstances('bystander');
    assert.deepEqual(pidsWithMarker(bystanderId), []);
  });

  test('IPs stay unique when several processes provision at once', async () => {
    fresh();
    const fixture = fileURLToPath(new URL('./fixtures/alloc.ts', import.meta.url));
    const go = join(home, 'go');
    const children = [0, 1, 2].map((i) => {
      const jobs = ['shared:3', ...Array.from({ length: 8 }, (_, j) => `c${i}-${j}:2`)];
      const ready = join(home, `ready${i}`);
      const child = spawn(process.execPath, ['--import', 'tsx', fixture, go, ready, ...jobs], {
        env: { ...process.env, SKYHOP_HOME: home },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => {
        out += d;
      });
      child.stderr.on('data', (d) => {
        err += d;
      });
      const done = new Promise<string>((resolve, reject) =>
        child.on('exit', (code) =>
          code === 0 ? resolve(out) : reject(new Error(`child ${i}: ${code} ${err}`)),
        ),
      );
      return { ready, done };
    });
    while (!children.every((c) => existsSync(c.ready))) await new Promise((r) => setTimeout(r, 10));
    writeFileSync(go, '');
    const results = (await Promise.all(children.map((c) => c.done))).flatMap(
      (s) => JSON.parse(s) as Array<{ cluster: string; id: string; ip: string }>,
    );
    const own = results.filter((r) => r.cluster !== 'shared');
    assert.equal(own.length, 3 * 8 * 2);
    assert.equal(new Set(own.map((r) => r.ip)).size, own.length, 'every node has its own IP');
    // All three asked for the same 3-node cluster: exactly one set of 3 nodes exists.
    const p = new LocalProvider(home);
    const shared = await p.queryInstances('shared');
    assert.equal(shared.length, 3);
    assert.equal(new Set(results.filter((r) => r.cluster === 'shared').map((r) => r.id)).size, 3);
    const all = new Set([...own.map((r) => r.ip), ...shared.map((x) => x.internalIp)]);
    assert.equal(all.size, own.length + 3);
    assert.equal(readdirSync(join(home, 'local', 'ips')).length, all.size);
  });

  test('bad names and requests the local cloud cannot serve are refused', async () => {
    const p = fresh();
    for (const bad of ['../x', 'a/b', '.hidden', '', 'x'.repeat(65)]) {
      await assert.rejects(p.runInstances(spec(bad, 1)), UserError, bad);
      await assert.rejects(p.queryInstances(bad), UserError, bad);
      await assert.rejects(p.terminateInstances(bad), UserError, bad);
    }
    await assert.rejects(p.runInstances(spec('ok', 0)), UserError);
    await assert.rejects(p.runInstances(spec('ok', 1, { useSpot: true })), /spot/);
    await assert.rejects(p.runInstances(spec('ok', 1, { instanceType: 'm5.large' })), CloudError);
    await assert.rejects(p.runInstances(spec('ok', 1, { zone: 'z1' })), CloudError);
    await assert.rejects(
      p.runInstances(spec('ok', 1, { accelerators: { name: 'NoSuchGpu', count: 1 } })),
      /the local machine has/,
    );
    const aborted = new AbortController();
    aborted.abort();
    await assert.rejects(p.runInstances(spec('ok', 1), aborted.signal), /Interrupted/);
    assert.deepEqual(await p.queryInstances('ok'), []);
  });
});

describe("local addresses are the machine's", () => {
  test('two homes never get the same address; a reservation whose node folder is gone is taken over; older per-home reservations are kept', async () => {
    const shared = join(dir, `shared-ips-${n++}`);
    const homeA = join(dir, `homeA${n}`);
    const homeB = join(dir, `homeB${n}`);
    mkdirSync(homeA);
    mkdirSync(homeB);
    process.env.SKYHOP_LOCAL_IPS = shared;
    // An older version's reservation in home B's own folder, for a node that still exists.
    mkdirSync(join(homeB, 'local', 'ips'), { recursive: true });
    mkdirSync(join(homeB, 'local', 'clusters', 'old', 'n0-old000'), { recursive: true });
    writeFileSync(join(homeB, 'local', 'ips', '127.0.0.3'), JSON.stringify({ owner: 'old/n0-old000' }));
    // A stale reservation: its node folder is gone.
    mkdirSync(shared, { recursive: true });
    writeFileSync(join(shared, '127.0.0.2'), JSON.stringify({ owner: join(dir, 'gone', 'n0-gone00') }));
    process.env.SKYHOP_HOME = homeA;
    const a = await new LocalProvider(homeA).runInstances(spec('same', 1));
    process.env.SKYHOP_HOME = homeB;
    const b = await new LocalProvider(homeB).runInstances(spec('same', 2));
    const ips = [...a, ...b].map((x) => x.internalIp);
    assert.equal(new Set(ips).size, 3, ips.join(' '));
    assert.equal(a[0]!.internalIp, '127.0.0.2', 'the stale reservation was taken over');
    assert.ok(!ips.includes('127.0.0.3'), "the older version's reservation is kept");
    await new LocalProvider(homeB).terminateInstances('same');
    process.env.SKYHOP_HOME = homeA;
    await new LocalProvider(homeA).terminateInstances('same');
    assert.deepEqual(
      readdirSync(shared).filter((f) => !f.startsWith('.')),
      [],
      'every reservation is released',
    );
  });
});
