/**
 * The agent over SSH: two real sshd nodes (each root in its own mount and pid namespace with a temp
 * dir as /root, so the agent's ~/.skyhop/agent lives in the test's dir and dies with the node), the
 * real agent bundle built with esbuild, and src/agent/client.ts talking to the head through an
 * SshRunner. The agent on the head reaches both nodes (itself included) through SshRunners too.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  agentRunning,
  cancelJobs,
  followLogs,
  getQueue,
  installAgent,
  submitJob,
} from '../../../src/agent/client.js';
import { AGENT_DIED_REASON } from '../../../src/agent/daemon.js';
import { type ClusterInfoFile, isTerminal } from '../../../src/agent/types.js';
import type { SshRunner } from '../../../src/runtime/ssh-runner.js';
import { createSshd, type TestSshd } from '../../helpers/sshd.js';
import { baseSpec, buildAgent, waitFor } from '../agent/cluster.js';
import { type SshEnv, sshdUnavailable, sshEnv } from './helpers.js';

const skip = sshdUnavailable();

describe('the agent over SSH', { skip }, () => {
  let env: SshEnv;
  let worker: TestSshd;
  let head: SshRunner;
  let workerRunner: SshRunner;
  let info: ClusterInfoFile;
  const realAgentDir = '/root/.skyhop/agent';
  let realAgentDirBefore = false;

  before(async () => {
    realAgentDirBefore = existsSync(realAgentDir);
    env = await sshEnv();
    worker = await createSshd();
    head = env.runner();
    workerRunner = env.runner({}, worker.connection);
    const bundle = await buildAgent(env.root);
    info = {
      name: 'ssh-agent-test',
      cloud: 'fluffycloud',
      region: 'loopback',
      nodes: [
        { rank: 0, ip: '127.0.0.1', connection: env.sshd.connection },
        { rank: 1, ip: '127.0.0.1', connection: worker.connection },
      ],
      perNode: { cpus: 2, memoryGiB: 4, accelerators: null },
      autostop: null,
      agentPath: '~/.skyhop/agent/agent.cjs',
      nodePath: process.execPath,
    };
    const t = performance.now();
    await installAgent(head, info, bundle);
    console.log(`# ssh: installAgent over SSH (upload + start) ${(performance.now() - t).toFixed(0)} ms`);
  });
  after(async () => {
    await worker?.destroy();
    await env?.cleanup();
  });

  test('the agent runs on the head node, in its own home', async () => {
    assert.equal(await agentRunning(head), true);
    const pid = Number(readFileSync(join(env.sshd.home, '.skyhop/agent/agent.pid'), 'utf8').trim());
    assert.ok(pid > 0);
    assert.equal(existsSync(realAgentDir), realAgentDirBefore, "the test did not touch this machine's /root");
  });

  test('submit and follow a two-node job: env, both ranks, streamed log', async () => {
    const msg = 'it\'s $(not run) `nor this`; "quoted"';
    const t = performance.now();
    const id = await submitJob(head, {
      ...baseSpec,
      name: 'hello-ssh',
      numNodes: 2,
      envs: { MSG: msg },
      run: 'echo "rank $SKYPILOT_NODE_RANK of $SKYPILOT_NUM_NODES: $MSG"; touch ~/ran-$SKYPILOT_NODE_RANK; echo to-stderr >&2',
    });
    let log = '';
    const rec = await followLogs(head, id, {
      follow: true,
      onData: (c) => {
        log += c;
      },
    });
    console.log(`# ssh: two-node job submit -> followed to the end ${(performance.now() - t).toFixed(0)} ms`);
    assert.equal(rec.status, 'SUCCEEDED', `${rec.reason}\n${log}`);
    assert.match(log, new RegExp(`rank 0 of 2: ${escapeRe(msg)}`));
    assert.match(log, new RegExp(`rank 1 of 2: ${escapeRe(msg)}`));
    assert.match(log, /to-stderr/);
    assert.ok(existsSync(join(env.sshd.home, 'ran-0')), 'rank 0 ran on the head');
    assert.ok(existsSync(join(worker.home, 'ran-1')), 'rank 1 ran on the worker');
    assert.ok(!existsSync(join(env.sshd.home, 'ran-1')));
  });

  test('a failing job: FAILED with its exit code', async () => {
    const id = await submitJob(head, { ...baseSpec, name: 'fails', run: 'echo bye; exit 3' });
    const rec = await followLogs(head, id, { follow: true, onData: () => {} });
    assert.equal(rec.status, 'FAILED');
    assert.equal(rec.exitCode, 3);
  });

  test('aborting a followed log stops the remote reader; cancel kills the job on both nodes', async () => {
    const id = await submitJob(head, {
      ...baseSpec,
      name: 'long',
      numNodes: 2,
      run: 'echo started-$SKYPILOT_NODE_RANK; exec sleep 300',
    });
    const ac = new AbortController();
    let log = '';
    await followLogs(head, id, {
      follow: true,
      signal: ac.signal,
      onData: (c) => {
        log += c;
        if (log.includes('started-0') && log.includes('started-1')) ac.abort();
      },
    });
    assert.match(log, /started-0/);
    // The remote `agent logs --follow` process was killed with the session.
    const readers = await head.run('pgrep -f "agent[.]cjs logs" || true');
    assert.equal(readers.stdout.trim(), '', 'a log reader survived the abort');
    const cancelled = await cancelJobs(head, [id]);
    assert.deepEqual(cancelled, [id]);
    for (const r of [head, workerRunner]) {
      const left = await r.run('pgrep -x sleep || true');
      assert.equal(left.stdout.trim(), '', `the job's sleep survived on ${r.where}`);
    }
    const q = await getQueue(head);
    assert.equal(q.find((j) => j.id === id)?.status, 'CANCELLED');
  });

  test('kill -9 of the agent over SSH: its supervisor brings it back at once; the job it ran is ended and says why', async () => {
    const id = await submitJob(head, {
      ...baseSpec,
      name: 'orphan-ssh',
      run: 'echo before-the-kill; sleep 1000',
    });
    const status = async () => (await getQueue(head)).find((j) => j.id === id);
    await waitFor('the job to run', async () => (await status())?.status === 'RUNNING');
    const pidOf = async () => (await head.run('cat ~/.skyhop/agent/agent.pid')).stdout.trim();
    const first = await pidOf();
    assert.match(first, /^\d+$/);
    assert.equal((await head.run(`kill -9 ${first}`)).code, 0);
    // No client command brings it back: only the supervisor on the node.
    await waitFor(
      'the agent to be back',
      async () => (await pidOf()) !== first && (await agentRunning(head)),
      15_000,
    );
    const rec = await waitFor('the job to end', async () => {
      const j = await status();
      return j && isTerminal(j.status) ? j : null;
    });
    assert.equal(rec.status, 'FAILED');
    assert.equal(rec.reason, AGENT_DIED_REASON);
    let log = '';
    await followLogs(head, id, { follow: false, onData: (c) => (log += c) });
    assert.match(log, /before-the-kill\n/);
    assert.ok(log.endsWith(`[skyhop] ${AGENT_DIED_REASON}\n`), log);
    const left = await head.run("ps -eo args | grep -c '^sleep 1000' || true");
    assert.equal(left.stdout.trim(), '0', 'the job left nothing running');
  });
});

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
