/**
 * The agent is supervised (issue 9 item 4): a daemon killed with SIGKILL during a job is back at once
 * without any client command, and the job its predecessor left running is ended (its processes
 * killed) with a reason saying so, in its state and in its log: the queue never shows it RUNNING
 * when nothing runs it.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { agentRunning, getQueue, submitJob } from '../../../src/agent/client.js';
import { AGENT_DIED_REASON } from '../../../src/agent/daemon.js';
import { listByMarker } from '../../../src/runtime/procs.js';
import {
  agentPid,
  alive,
  baseSpec,
  type FakeCluster,
  makeCluster,
  runLog,
  waitFor,
  waitStatus,
  waitTerminal,
} from './cluster.js';

/** Pids of this machine's processes titled `comm` that carry the head node's marker of `c`. */
function pidsOf(c: FakeCluster, comm: string): number[] {
  const conn = c.info.nodes[0].connection;
  const marker = `SKYHOP_NODE_ID=${conn.kind === 'local' ? conn.nodeId : ''}\0`;
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return (
          readFileSync(`/proc/${p}/comm`, 'utf8').trim() === comm &&
          readFileSync(`/proc/${p}/environ`, 'latin1').includes(marker)
        );
      } catch {
        return false;
      }
    })
    .map(Number);
}

function currentAgentPid(c: FakeCluster): number | null {
  try {
    const p = agentPid(c);
    return alive(p) ? p : null;
  } catch {
    return null;
  }
}

describe('agent supervision', () => {
  test('kill -9 of the agent during a job: it is back at once, and the job is ended and says why', async (t) => {
    const c = await makeCluster({ cpus: 1 });
    t.after(() => c.cleanup());
    // The daemon serves first and starts its supervisor beside it (off the path to the first job).
    await waitFor('the supervisor to start beside the daemon', () => pidsOf(c, 'skyhop-sup').length > 0);
    assert.equal(pidsOf(c, 'skyhop-sup').length, 1, 'one supervisor runs beside the daemon');
    const spec = { ...baseSpec, demand: { cpus: 1, accelerators: null } };
    const running = await submitJob(c.head, {
      ...spec,
      name: 'orphan',
      run: 'echo before-the-kill; echo "$SKYHOP_JOB_ID" > ~/marker; sleep 1000 & echo $! > ~/orphan.pid; wait',
    });
    await waitFor('the job to start', () => existsSync(join(c.homes[0], 'orphan.pid')));
    const pending = await submitJob(c.head, { ...spec, name: 'next', run: 'echo next-ran' });
    await waitStatus(c, pending, 'PENDING');
    const orphan = Number(readFileSync(join(c.homes[0], 'orphan.pid'), 'utf8'));
    const first = agentPid(c);
    process.kill(first, 'SIGKILL');

    // No client command from here on: the supervisor brings the agent back by itself.
    const second = await waitFor(
      'the agent to be back',
      () => {
        const p = currentAgentPid(c);
        return p !== null && p !== first ? p : null;
      },
      15_000,
    );
    assert.ok(!alive(first));
    const failed = await waitTerminal(c, running);
    assert.equal(failed.status, 'FAILED');
    assert.equal(failed.reason, AGENT_DIED_REASON);
    await waitFor('the orphan to be killed', () => !alive(orphan));
    const marker = readFileSync(join(c.homes[0], 'marker'), 'utf8').trim();
    assert.deepEqual(listByMarker('SKYHOP_JOB_ID', marker), []);
    const log = runLog(c, running);
    assert.match(log, /^before-the-kill\n/);
    assert.ok(log.endsWith(`[skyhop] ${AGENT_DIED_REASON}\n`), log);
    assert.equal((await waitTerminal(c, pending)).status, 'SUCCEEDED');
    assert.match(runLog(c, pending), /next-ran/);
    assert.equal(await agentRunning(c.head), true);
    assert.equal(agentPid(c), second);
    const q = await getQueue(c.head);
    assert.deepEqual(
      q.map((j) => [j.id, j.status]),
      [
        [running, 'FAILED'],
        [pending, 'SUCCEEDED'],
      ],
    );
    const agentLog = readFileSync(join(c.agentDir, 'agent.log'), 'utf8');
    assert.match(agentLog, new RegExp(`supervisor: agent ${first} died( \\(SIGKILL\\))?; restarting it\\n`));
    assert.match(agentLog, new RegExp(`agent ${second} restarted by its supervisor`));
  });

  test('the agent is restarted every time it dies', async (t) => {
    const c = await makeCluster({ cpus: 1 });
    t.after(() => c.cleanup());
    const seen = new Set<number>();
    for (let i = 0; i < 3; i++) {
      const p = await waitFor('a live agent', () => currentAgentPid(c), 15_000);
      assert.ok(!seen.has(p), 'a new daemon each time');
      seen.add(p);
      process.kill(p, 'SIGKILL');
      await waitFor('it to die', () => !alive(p));
    }
    const last = await waitFor('a live agent', () => currentAgentPid(c), 15_000);
    const id = await submitJob(c.head, { ...baseSpec, name: 'after', run: 'echo still-serving' });
    assert.equal((await waitTerminal(c, id)).status, 'SUCCEEDED');
    assert.equal(currentAgentPid(c), last);
    assert.equal(pidsOf(c, 'skyhop-sup').length, 1, 'still one supervisor');
    assert.equal(pidsOf(c, 'skyhop-agent').length, 1, 'and one daemon');
  });
});
