/**
 * The team server through the real CLI (issue 13), on SQLite: users who cannot see or touch each
 * other's clusters and an admin who sees both; a revoked token refused; `api status` and `api logs`
 * re-attaching to a request whose client died; a launch that outlives its killed client; a server
 * killed with -9 during a launch (its request ends, nothing leaks); Ctrl-C during an `exec` as locally.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pidsUnder, pidsWithEnv, type Run, Sandbox, waitFor } from './harness.js';

/** A spawned CLI's output so far, and its ending. */
function collect(child: ChildProcess) {
  const o = { child, stdout: '', stderr: '' };
  child.stdout!.on('data', (d) => (o.stdout += d));
  child.stderr!.on('data', (d) => (o.stderr += d));
  const done = new Promise<Run>((r) =>
    child.on('close', (code, sig) =>
      r({ code: code ?? (sig ? 128 : 1), stdout: o.stdout, stderr: o.stderr }),
    ),
  );
  return Object.assign(o, { done });
}

interface RequestJson {
  id: string;
  user: string;
  argv: string[];
  status: string;
  exit_code: number | null;
}

async function requests(sb: Sandbox, env: Record<string, string> = {}): Promise<RequestJson[]> {
  const r = await sb.run(['api', 'status', '--json'], { env });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).requests;
}

async function clusterNames(sb: Sandbox, env: Record<string, string>): Promise<string[]> {
  const r = await sb.run(['status', '--json'], { env });
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout).clusters as Array<{ name: string }>).map((c) => c.name).sort();
}

/** The running server's record (this sandbox has one). */
function serverRecord(sb: Sandbox): { pid: number; endpoint: string } {
  const dir = join(sb.skyhopHome, 'api', 'servers');
  const [f] = readdirSync(dir).filter((n) => n.endsWith('.json'));
  return JSON.parse(readFileSync(join(dir, f), 'utf8'));
}

describe('team server: users, tokens and requests', () => {
  const sb = new Sandbox({ SKYHOP_LOCAL_CPUS: '2' }, { via: 'sqlite' });
  let alice: Record<string, string>;
  let bob: Record<string, string>;
  before(() => {
    sb.server();
    const add = (name: string) => {
      const r = sb.runOnServer(['api', 'users', 'add', name]);
      assert.equal(r.status, 0, r.stderr);
      return { SKYHOP_API_TOKEN: r.stdout.trim() };
    };
    alice = add('alice');
    bob = add('bob');
  });
  after(() => sb.cleanup());

  test("two users neither see nor touch each other's clusters; an admin sees both", async () => {
    for (const [env, name] of [
      [alice, 'ca'],
      [bob, 'cb'],
    ] as const) {
      const r = await sb.run(['launch', '-y', '-c', name, `echo hello-from-${name}`], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`hello-from-${name}`));
    }
    assert.deepEqual(await clusterNames(sb, alice), ['ca']);
    assert.deepEqual(await clusterNames(sb, bob), ['cb']);
    assert.deepEqual(await clusterNames(sb, {}), ['ca', 'cb'], 'the admin sees every cluster');
    const q = await sb.run(['queue', '--json'], { env: alice });
    assert.equal(q.code, 0, q.stderr);
    assert.deepEqual(Object.keys(JSON.parse(q.stdout)), ['ca']);

    for (const args of [
      ['queue', 'cb'],
      ['logs', 'cb', '1', '--no-follow'],
      ['cancel', 'cb', '1'],
      ['down', '-y', 'cb'],
      ['exec', 'cb', 'echo hi'],
    ]) {
      const r = await sb.run(args, { env: alice });
      assert.notEqual(r.code, 0, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /cluster 'cb' belongs to user 'bob'/, args.join(' '));
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
    // down -a of a user is theirs only.
    const downAll = await sb.run(['down', '-a', '-y'], { env: bob });
    assert.equal(downAll.code, 0, downAll.stderr);
    assert.deepEqual(await clusterNames(sb, {}), ['ca']);
    assert.equal((await sb.run(['down', '-y', 'ca'], { env: alice })).code, 0);
  });

  test('a revoked token is refused (401) with advice to log in', async () => {
    assert.equal((await sb.run(['status'], { env: bob })).code, 0);
    const r = sb.runOnServer(['api', 'users', 'revoke', 'bob']);
    assert.equal(r.status, 0, r.stderr);
    for (const args of [['status'], ['launch', '-y', '-c', 'nope', 'echo hi'], ['api', 'status']]) {
      const s = await sb.run(args, { env: bob });
      assert.equal(s.code, 1, `${args.join(' ')}: ${s.stderr}`);
      assert.match(s.stderr, /refused the token/);
      assert.match(s.stderr, /skyhop api login -e http:\/\/127\.0\.0\.1:\d+ --token TOKEN/);
      assert.doesNotMatch(s.stderr, /\n\s+at /);
    }
    const res = await fetch(`${sb.server().endpoint}/api/v1/status`, {
      headers: { authorization: `Bearer ${bob.SKYHOP_API_TOKEN}` },
    });
    assert.equal(res.status, 401);
    assert.match(((await res.json()) as { error: string }).error, /missing or invalid token/);
    // The others are not affected.
    assert.equal((await sb.run(['status'], { env: alice })).code, 0);
  });

  test('api status lists requests; api logs re-attaches to a running one and gets the rest and its exit code', async () => {
    assert.equal((await sb.run(['launch', '-y', '-c', 'att', 'echo up'], { env: alice })).code, 0);
    const first = collect(
      sb.spawn(['exec', 'att', 'for i in $(seq 1 30); do echo line-$i; sleep 0.1; done; exit 3'], {
        env: alice,
      }),
    );
    await waitFor('the first lines', () => first.stdout.includes('line-2'));
    first.child.kill('SIGKILL');
    await first.done;
    const req = (await requests(sb, alice)).find((r) => r.argv[0] === 'exec' && r.argv.includes('att'));
    assert.ok(req, 'the exec is a request');
    assert.equal(req.status, 'RUNNING', 'the exec runs on without its client');
    const listed = await sb.run(['api', 'status'], { env: alice });
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`^${req.id}\\s+alice\\s+exec att .*RUNNING`, 'm'));
    const re = await sb.run(['api', 'logs', req.id], { env: alice });
    assert.equal(re.code, 3, re.stderr);
    assert.match(re.stdout, /line-29\nline-30\n/);
    assert.match(re.stderr, /exit code 3/);
    const ended = (await requests(sb, alice)).find((r) => r.id === req.id);
    assert.deepEqual([ended?.status, ended?.exit_code], ['FAILED', 3]);
    assert.equal((await sb.run(['down', '-y', 'att'], { env: alice })).code, 0);
  });

  test('a launch whose client is killed (kill -9) keeps running on the server and finishes', async () => {
    const launch = collect(
      sb.spawn(['launch', '-y', '-c', 'orphan', 'echo started; sleep 1; echo finished'], { env: alice }),
    );
    await waitFor('the launch to start', () => /Launching/.test(launch.stderr));
    launch.child.kill('SIGKILL');
    await launch.done;
    const id = await waitFor(
      'the request',
      async () =>
        (await requests(sb, alice)).find((r) => r.argv[0] === 'launch' && r.argv.includes('orphan'))?.id,
    );
    const done = await waitFor('the launch to finish', async () => {
      const r = (await requests(sb, alice)).find((x) => x.id === id);
      return r && r.status !== 'RUNNING' && r.status !== 'PENDING' && r;
    });
    assert.deepEqual([done.status, done.exit_code], ['SUCCEEDED', 0]);
    const logs = await sb.run(['logs', 'orphan', '1', '--no-follow'], { env: alice });
    assert.match(logs.stdout, /started\n.*finished/s);
    assert.deepEqual(await clusterNames(sb, alice), ['orphan']);
    assert.equal((await sb.run(['down', '-y', 'orphan'], { env: alice })).code, 0);
  });
});

describe('team server: killed with -9 during a launch', () => {
  const sb = new Sandbox({}, { via: 'sqlite' });
  after(() => sb.cleanup());

  /** Kills the server (and with `worker`, the request's worker and its command) on the launch's "Preparing" line. */
  async function crash(cluster: string, o: { worker: boolean }) {
    const { endpoint } = sb.server();
    const rec = serverRecord(sb);
    const launch = collect(sb.spawn(['launch', '-y', '-c', cluster, 'echo started; sleep 2; echo finished']));
    await waitFor('the launch to prepare', () => /Preparing/.test(launch.stderr));
    process.kill(rec.pid, 'SIGKILL');
    if (o.worker) {
      // The worker runs in its own process group, with the command it runs.
      const [worker] = pidsWithEnv('SKYHOP_HOME', sb.skyhopHome).filter((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('\0api-worker\0');
        } catch {
          return false;
        }
      });
      assert.ok(worker, 'the worker of the launch runs');
      process.kill(-worker, 'SIGKILL');
    }
    // The same server again, on its port (the client reconnects to it).
    const port = new URL(endpoint).port;
    const r = sb.runOnServer(['api', 'start', '--host', '127.0.0.1', '--port', port]);
    assert.equal(r.status, 0, r.stderr);
    const ended = await launch.done;
    const req = await waitFor('the request to end', async () => {
      const r = (await requests(sb)).find((x) => x.argv[0] === 'launch' && x.argv.includes(cluster));
      return r && r.status !== 'RUNNING' && r.status !== 'PENDING' && r;
    });
    return { ended, req };
  }

  function leftovers(cluster: string) {
    const dir = join(sb.skyhopHome, 'local', 'clusters', cluster);
    let nodes: string[] = [];
    try {
      nodes = readdirSync(dir);
    } catch {}
    return {
      nodes,
      marked: pidsWithEnv('SKYHOP_NODE_ID', `${cluster}/`, true),
      under: pidsUnder(join(sb.skyhopHome, 'local')),
    };
  }

  test('the server alone: its worker finishes the launch; the client that followed it gets the ending', async () => {
    const { ended, req } = await crash('kserver', { worker: false });
    assert.deepEqual([req.status, req.exit_code], ['SUCCEEDED', 0]);
    assert.equal(ended.code, 0, ended.stderr);
    assert.match(ended.stdout, /finished/);
    assert.equal((await sb.run(['down', '-a', '-y'])).code, 0);
    assert.deepEqual(leftovers('kserver'), { nodes: [], marked: [], under: [] });
  });

  test('the server and the worker: the request is FAILED after the restart, down -a leaves nothing', async () => {
    const { ended, req } = await crash('kboth', { worker: true });
    assert.equal(req.status, 'FAILED');
    assert.notEqual(ended.code, 0);
    const refresh = await sb.run(['status', '--refresh', '--json']);
    assert.equal(refresh.code, 0, refresh.stderr);
    assert.equal((await sb.run(['down', '-a', '-y'])).code, 0);
    assert.deepEqual(leftovers('kboth'), { nodes: [], marked: [], under: [] });
    assert.deepEqual(await clusterNames(sb, {}), []);
  });
});

describe('team server: Ctrl-C during an exec', () => {
  const local = new Sandbox({}, { via: null });
  const remote = new Sandbox({}, { via: 'sqlite' });
  after(async () => {
    await local.cleanup();
    await remote.cleanup();
  });

  async function ctrlC(sb: Sandbox): Promise<Run> {
    const up = await sb.run(['launch', '-y', '-c', 'cc', 'echo up']);
    assert.equal(up.code, 0, up.stderr);
    const e = collect(sb.spawn(['exec', 'cc', 'echo started; sleep 300']));
    await waitFor('the job output', () => e.stdout.includes('started'));
    e.child.kill('SIGINT');
    const r = await e.done;
    const q = await sb.run(['queue', 'cc', '--json']);
    assert.equal(
      JSON.parse(q.stdout).cc.find((j: { id: number }) => j.id === 2)?.status,
      'RUNNING',
      'the job keeps running',
    );
    assert.equal((await sb.run(['down', '-y', 'cc'])).code, 0);
    return r;
  }

  test('detaches with the same message and exit code (130) as a local run', async () => {
    const l = await ctrlC(local);
    const r = await ctrlC(remote);
    assert.equal(l.code, 130, l.stderr);
    assert.equal(r.code, l.code, r.stderr);
    assert.equal(r.stdout, l.stdout);
    assert.equal(r.stderr, l.stderr);
  });
});
