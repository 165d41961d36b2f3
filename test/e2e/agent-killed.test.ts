/**
 * A killed agent (issue 9 item 4), through the CLI on the local cloud: kill -9 the head node's agent
 * while a job runs. Its supervisor brings it back with no client command; the job is ended with a
 * reason saying what happened (in `queue` and at the end of its log), and the next job runs.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { AGENT_DIED_REASON } from '../../src/agent/daemon.js';
import { alive, waitFor } from '../unit/runtime/helpers.js';
import { findFiles, pidsWithEnv, Sandbox } from './harness.js';

describe('a killed agent', () => {
  const sb = new Sandbox();
  after(() => sb.cleanup());

  test('kill -9 during a job: the agent is back by itself, the job is ended and says why', async () => {
    const up = await sb.run(['launch', '-y', '-d', '-c', 'k9', 'echo before-the-kill; sleep 1000']);
    assert.equal(up.code, 0, up.stderr);
    const queue = async () => {
      const q = await sb.run(['queue', 'k9', '--json']);
      assert.equal(q.code, 0, q.stderr);
      return JSON.parse(q.stdout).k9 as { id: number; status: string; reason: string | null }[];
    };
    await waitFor(
      'the job to run',
      async () => (await queue()).find((j) => j.id === 1)?.status === 'RUNNING',
    );
    const pidFile = findFiles(join(sb.skyhopHome, 'local'), 'agent.pid')[0] ?? null;
    assert.ok(pidFile);
    const first = Number(readFileSync(pidFile, 'utf8'));
    await waitFor('the job to print', () => {
      const log = findFiles(join(pidFile, '..', 'jobs'), 'run.log')[0] ?? null;
      return log && readFileSync(log, 'utf8').includes('before-the-kill');
    });
    process.kill(first, 'SIGKILL');
    // No skyhop command until the agent is back.
    await waitFor(
      'the agent to be back',
      () => {
        const p = Number(readFileSync(pidFile, 'utf8'));
        return p !== first && alive(p);
      },
      15_000,
    );
    const job = await waitFor('the job to end', async () =>
      (await queue()).find((j) => j.id === 1 && j.status !== 'RUNNING'),
    );
    assert.equal(job.status, 'FAILED');
    assert.equal(job.reason, AGENT_DIED_REASON);
    const logs = await sb.run(['logs', 'k9', '1']);
    assert.match(logs.stdout, /before-the-kill\n/);
    assert.ok(logs.stdout.includes(`[skyhop] ${AGENT_DIED_REASON}`), logs.stdout);
    assert.deepEqual(
      pidsWithEnv('SKYHOP_JOB_ID', '-1', true).filter((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'latin1').includes('sleep\u00001000');
        } catch {
          return false;
        }
      }),
      [],
      'the job left nothing running',
    );
    const next = await sb.run(['exec', 'k9', 'echo next-ran']);
    assert.equal(next.code, 0, next.stderr);
    assert.match(next.stdout, /next-ran/);
    assert.equal((await sb.run(['down', '-y', 'k9'])).code, 0);
  });
});
