import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  agentRunning,
  cancelJobs,
  ensureAgent,
  followLogs,
  getJob,
  getQueue,
  installAgent,
  setAutostop,
  submitJob,
} from '../../../src/agent/client.js';
import { listByMarker } from '../../../src/runtime/procs.js';
import { CloudError, UserError } from '../../../src/util/errors.js';
import {
  agentPid,
  alive,
  baseSpec,
  type FakeCluster,
  jobState,
  makeCluster,
  waitFor,
  waitStatus,
  waitTerminal,
} from './cluster.js';

/** The pids of the head node's agent supervisors (process title skyhop-sup, the node's marker). */
function supervisorPids(c: FakeCluster): number[] {
  const conn = c.info.nodes[0].connection;
  const marker = `SKYHOP_NODE_ID=${conn.kind === 'local' ? conn.nodeId : ''}\0`;
  const pids = readdirSync('/proc').filter((p) => {
    try {
      return (
        /^\d+$/.test(p) &&
        readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'skyhop-sup' &&
        readFileSync(`/proc/${p}/environ`, 'latin1').includes(marker)
      );
    } catch {
      return false;
    }
  });
  return pids.map(Number);
}

/** The one supervisor, once the daemon has started it beside itself. */
async function supervisorPid(c: FakeCluster): Promise<number> {
  await waitFor('the supervisor beside the daemon', () => supervisorPids(c).length > 0);
  const pids = supervisorPids(c);
  assert.equal(pids.length, 1, 'one supervisor');
  return pids[0];
}

function getQueueInit(c: FakeCluster, id: number): boolean {
  try {
    const q = JSON.parse(readFileSync(join(c.agentDir, 'queue.json'), 'utf8')) as {
      id: number;
      status: string;
    }[];
    return q.some((j) => j.id === id && j.status === 'INIT');
  } catch {
    return false;
  }
}

describe('agent: cancel, autostop, restart, install', () => {
  test('cancel kills the whole job tree on every node, a setsid+nohup grandchild included', async (t) => {
    const c = await makeCluster({ nodes: 2, cpus: 2 });
    t.after(() => c.cleanup());
    const id = await submitJob(c.head, {
      ...baseSpec,
      name: 'to-cancel',
      numNodes: 2,
      run: [
        'echo "$SKYHOP_JOB_ID" > ~/marker',
        'setsid nohup sleep 1000 >/dev/null 2>&1 < /dev/null & echo $! > ~/daemon.pid',
        'sleep 1000 & echo $! > ~/child.pid',
        'touch ~/ready',
        'wait',
      ].join('\n'),
    });
    await waitFor('both ranks to be ready', () => c.homes.every((h) => existsSync(join(h, 'ready'))));
    const marker = readFileSync(join(c.homes[0], 'marker'), 'utf8').trim();
    const pids = c.homes.flatMap((h) =>
      ['daemon.pid', 'child.pid'].map((f) => Number(readFileSync(join(h, f), 'utf8'))),
    );
    const before = listByMarker('SKYHOP_JOB_ID', marker);
    for (const p of pids) assert.ok(before.includes(p), `pid ${p} carries the job marker`);
    const cancelled = await cancelJobs(c.head, [id]);
    assert.deepEqual(cancelled, [id]);
    const rec = jobState(c, id)!;
    assert.equal(rec.status, 'CANCELLED');
    for (const p of pids) await waitFor(`pid ${p} to die`, () => !alive(p));
    assert.deepEqual(listByMarker('SKYHOP_JOB_ID', marker), []);
    // Cancelling a finished job is a no-op; an unknown id is a user error.
    assert.deepEqual(await cancelJobs(c.head, [id]), []);
    await assert.rejects(cancelJobs(c.head, [4242]), UserError);
  });

  test("cancel 'all' ends pending and running jobs", async (t) => {
    const c = await makeCluster({ cpus: 1 });
    t.after(() => c.cleanup());
    const spec = { ...baseSpec, name: 'long', demand: { cpus: 1, accelerators: null }, run: 'sleep 1000' };
    const done = await submitJob(c.head, { ...spec, run: 'true' });
    await waitTerminal(c, done);
    const a = await submitJob(c.head, spec);
    const b = await submitJob(c.head, spec);
    await waitStatus(c, a, 'RUNNING');
    await waitStatus(c, b, 'PENDING');
    const cancelled = await cancelJobs(c.head, 'all');
    assert.deepEqual(cancelled.sort(), [a, b]);
    assert.equal(jobState(c, a)?.status, 'CANCELLED');
    assert.equal(jobState(c, b)?.status, 'CANCELLED');
    assert.equal(jobState(c, b)?.startedAt, null);
    assert.equal(jobState(c, done)?.status, 'SUCCEEDED');
  });

  test('autostop runs its command once after the idle time, outside the node; setAutostop re-arms it', async (t) => {
    const c = await makeCluster({ cpus: 2, install: false });
    t.after(() => c.cleanup());
    const fired = join(c.root, 'autostop-fired');
    const envDump = join(c.root, 'autostop-env');
    const command = {
      argv: ['sh', '-c', 'echo "$WHY" >> "$1"; env > "$2"', 'sh', fired, envDump],
      env: { WHY: 'idle' },
    };
    c.info.autostop = { idleMinutes: 0.02, down: false, command };
    await installAgent(c.head, c.info, c.bundle);
    const id = await submitJob(c.head, { ...baseSpec, name: 'short', run: 'sleep 0.2' });
    await waitTerminal(c, id);
    await waitFor(
      'autostop to fire',
      () => existsSync(envDump) && /^WHY=/m.test(readFileSync(envDump, 'utf8')),
    );
    const env = readFileSync(envDump, 'utf8');
    assert.match(env, /^WHY=idle$/m);
    assert.doesNotMatch(env, /SKYHOP_NODE_ID/, 'the autostop command does not carry the node marker');
    // Once: more idle rounds do not fire it again.
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(readFileSync(fired, 'utf8'), 'idle\n');
    // Re-configuring restarts the idle clock and arms it again.
    await setAutostop(c.head, { ...c.info.autostop, command: { ...command, env: { WHY: 'again' } } });
    await waitFor('autostop to fire again', () => readFileSync(fired, 'utf8').includes('again'));
    assert.equal(readFileSync(fired, 'utf8'), 'idle\nagain\n');
    // Turned off: nothing more.
    await setAutostop(c.head, null);
    assert.equal(JSON.parse(readFileSync(join(c.agentDir, 'cluster.json'), 'utf8')).autostop, null);
  });

  test("autostop's worker script runs on every worker first; a failing worker does not stop the head's command", async (t) => {
    const c = await makeCluster({ nodes: 3, cpus: 1, install: false });
    t.after(() => c.cleanup());
    const fired = join(c.root, 'head-fired');
    c.info.autostop = {
      idleMinutes: 0.01,
      down: true,
      command: {
        argv: ['sh', '-c', 'ls "$HOME"/../*/worker-ran 2>/dev/null | wc -l > "$1"', 'sh', fired],
        env: {},
        // Rank 2 fails after writing its file: logged, and the head's command still runs.
        workers: 'echo "$HOME" > ~/worker-ran; case "$HOME" in *2) exit 3;; esac',
      },
    };
    await installAgent(c.head, c.info, c.bundle);
    await waitFor('the head command', () => existsSync(fired) && readFileSync(fired, 'utf8').trim() !== '');
    for (const h of c.homes.slice(1)) {
      assert.equal(readFileSync(join(h, 'worker-ran'), 'utf8').trim(), h, `the worker script ran in ${h}`);
    }
    assert.ok(!existsSync(join(c.homes[0], 'worker-ran')), 'the worker script does not run on the head');
    // The head's command saw both workers' files: it ran after them.
    assert.equal(readFileSync(fired, 'utf8').trim(), '2');
    const log = readFileSync(join(c.agentDir, 'agent.log'), 'utf8');
    assert.match(log, /autostop: node rank 2: exit code 3/);
  });

  test('an agent started again after it died unsupervised (a stopped cluster) marks jobs left running as FAILED, kills their processes and runs pending ones', async (t) => {
    const c = await makeCluster({ cpus: 1 });
    t.after(() => c.cleanup());
    const spec = { ...baseSpec, demand: { cpus: 1, accelerators: null } };
    const running = await submitJob(c.head, {
      ...spec,
      name: 'orphan',
      run: 'echo "$SKYHOP_JOB_ID" > ~/marker; sleep 1000 & echo $! > ~/orphan.pid; wait',
    });
    await waitFor('the job to start', () => existsSync(join(c.homes[0], 'orphan.pid')));
    const pending = await submitJob(c.head, { ...spec, name: 'next', run: 'echo next-ran' });
    await waitStatus(c, pending, 'PENDING');
    // Its supervisor first (as when the node stops), so nothing restarts the daemon by itself.
    const sup = await supervisorPid(c);
    process.kill(sup, 'SIGKILL');
    await waitFor('the supervisor to die', () => !alive(sup));
    const pid = agentPid(c);
    process.kill(pid, 'SIGKILL');
    await waitFor('the agent to die', () => !alive(pid));
    assert.equal(await agentRunning(c.head), false);
    const orphan = Number(readFileSync(join(c.homes[0], 'orphan.pid'), 'utf8'));
    assert.ok(alive(orphan), 'the job outlived its agent');
    // Following a job whose agent is dead gives up with a clear error instead of hanging.
    await assert.rejects(
      followLogs(c.head, running, { follow: true, onData: () => {} }),
      (e: unknown) => e instanceof CloudError && /agent .* is not running/.test(e.message),
    );
    await ensureAgent(c.head);
    assert.notEqual(agentPid(c), pid);
    const failed = await waitTerminal(c, running);
    assert.equal(failed.status, 'FAILED');
    assert.equal(failed.reason, 'the cluster was stopped or the agent died');
    await waitFor('the orphan to be killed', () => !alive(orphan));
    const marker = readFileSync(join(c.homes[0], 'marker'), 'utf8').trim();
    assert.deepEqual(listByMarker('SKYHOP_JOB_ID', marker), []);
    assert.equal((await waitTerminal(c, pending)).status, 'SUCCEEDED');
  });

  test('install is idempotent and racing installs leave exactly one daemon', async (t) => {
    const c = await makeCluster({ cpus: 1 });
    t.after(() => c.cleanup());
    const first = agentPid(c);
    await Promise.all([1, 2, 3].map(() => installAgent(c.head, c.info, c.bundle)));
    assert.equal(agentPid(c), first, 'a running agent is kept');
    process.kill(first, 'SIGKILL');
    await waitFor('the agent to die', () => !alive(first));
    await Promise.all([1, 2, 3, 4].map(() => ensureAgent(c.head)));
    const daemons = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return (
            readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'skyhop-agent' &&
            readFileSync(`/proc/${p}/environ`, 'latin1').includes(
              `SKYHOP_NODE_ID=${c.info.nodes[0].connection.kind === 'local' ? c.info.nodes[0].connection.nodeId : ''}\0`,
            )
          );
        } catch {
          return false;
        }
      });
    await waitFor('losing starters to exit', () => daemons.filter((p) => alive(Number(p))).length === 1);
    const id = await submitJob(c.head, { ...baseSpec, name: 'after', run: 'true' });
    assert.equal((await waitTerminal(c, id)).status, 'SUCCEEDED');
    const q = await getQueue(c.head);
    assert.deepEqual(
      q.map((j) => j.id),
      [id],
    );
  });

  test('a spec still being written is INIT, then runs once complete; the queue command prints it', async (t) => {
    const c = await makeCluster({ cpus: 1 });
    t.after(() => c.cleanup());
    const id = await submitJob(c.head, { ...baseSpec, name: 'first', run: 'true' });
    await waitTerminal(c, id);
    // A submitter that has claimed id+1 but not finished writing its spec.
    const full = JSON.stringify({
      ...baseSpec,
      name: 'slow-writer',
      run: 'echo written',
      submittedAt: 1,
      user: 'u',
    });
    const specPath = join(c.agentDir, 'jobs', `${id + 1}.json`);
    writeFileSync(specPath, full.slice(0, 20));
    process.kill(agentPid(c), 'SIGUSR1');
    await waitFor('the claim to show as INIT', () => jobState(c, id + 1) === null && getQueueInit(c, id + 1));
    assert.equal((await getJob(c.head, id + 1))?.status, 'INIT');
    // A new submission skips the claimed id.
    const next = await submitJob(c.head, { ...baseSpec, name: 'next', run: 'true' });
    assert.equal(next, id + 2);
    writeFileSync(specPath, full);
    process.kill(agentPid(c), 'SIGUSR1');
    assert.equal((await waitTerminal(c, id + 1)).status, 'SUCCEEDED');
    const { execFileSync } = await import('node:child_process');
    const table = execFileSync(process.execPath, [join(c.agentDir, 'agent.cjs'), 'queue'], {
      env: { PATH: process.env.PATH, HOME: c.homes[0] },
    }).toString();
    assert.match(table, /^ID\s+NAME\s+USER\s+SUBMITTED\s+STATUS/m);
    assert.match(table, new RegExp(`^${id + 1}\\s+slow-writer\\s+u\\s+\\S+\\s+SUCCEEDED`, 'm'));
    assert.match(table, /agent: running/);
  });

  test('shell-injection corpus in names, env values, secrets and paths executes nothing', async (t) => {
    const payloads = (canary: string) => [
      `'; touch ${canary}; '`,
      `"; touch ${canary}; "`,
      `$(touch ${canary})`,
      `\`touch ${canary}\``,
      `a\ntouch ${canary}\n`,
      `x; touch ${canary}`,
      `$(touch ${canary})'"\`;|&<>*?~`,
    ];
    // The canary path is fixed before the cluster exists; it lives in its own temp root.
    const { mkdtempSync, rmSync, mkdirSync, symlinkSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const canaryRoot = mkdtempSync(join(tmpdir(), 'skyhop-canary-'));
    t.after(() => rmSync(canaryRoot, { recursive: true, force: true }));
    const canary = join(canaryRoot, 'CANARY');
    const p = payloads(canary);
    const weirdBin = join(canaryRoot, `bin ${p[2]}`);
    mkdirSync(weirdBin, { recursive: true });
    symlinkSync(process.execPath, join(weirdBin, 'node'));
    const c = await makeCluster({
      name: p[0],
      nodes: 2,
      cpus: 2,
      // Directory names cannot hold '/': these payloads touch a relative CANARYREL, looked for below.
      homeNames: payloads('CANARYREL')
        .map((x, i) => `h${i} ${x}`)
        .slice(0, 2),
      nodePath: join(weirdBin, 'node'),
    });
    t.after(() => c.cleanup());
    const envs = Object.fromEntries(p.map((v, i) => [`V${i}`, v]));
    const id = await submitJob(c.head, {
      ...baseSpec,
      name: p[3],
      numNodes: 2,
      envs,
      secrets: { S: p[4] },
      run: 'for i in 0 1 2 3 4 5 6; do eval "printf %s \\"\\$V$i\\"" | od -An -c | tr -d " \\n"; echo; done',
    });
    const rec = await waitTerminal(c, id);
    assert.equal(rec.status, 'SUCCEEDED', rec.reason ?? '');
    assert.equal(rec.name, p[3]);
    assert.ok(!existsSync(canary), 'the canary was created: something executed a payload');
    // Each rank saw every value byte for byte (od output is compared, not parsed by a shell).
    const seen = readFileSync(join(c.agentDir, 'jobs', String(id), 'run.log'), 'utf8');
    const { execFileSync } = await import('node:child_process');
    for (const v of p) {
      const od = execFileSync('sh', ['-c', 'printf %s "$1" | od -An -c | tr -d " \\n"', 'sh', v]).toString();
      assert.ok(seen.includes(`(head, rank=0) ${od}`), `value ${JSON.stringify(v)} arrived intact`);
    }
    const found = execFileSync('find', [
      c.root,
      canaryRoot,
      process.cwd(),
      '-maxdepth',
      '6',
      '-name',
      'CANARYREL',
    ])
      .toString()
      .trim();
    assert.equal(found, '', 'a relative canary was created');
    assert.ok(!existsSync(canary));
  });
});
