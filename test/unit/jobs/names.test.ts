/** What the controller derives from a job: cluster names, SKYPILOT_TASK_ID, and the queue's figures. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateClusterName } from '../../../src/sdk/clusters.js';
import { managedClusterName, managedTaskId } from '../../../src/jobs/job.js';
import { withFigures } from '../../../src/sdk/managed.js';
import { type ManagedJobRecord, type ManagedTaskState, newManagedTask } from '../../../src/state/index.js';

test('cluster names: <name>-<id>, a pipeline task <name>-<id>-<i>, always a valid cluster name', () => {
  assert.equal(managedClusterName('train', 7, 0, 1), 'train-7');
  assert.equal(managedClusterName('train', 7, 2, 3), 'train-7-2');
  for (const raw of ['My Job!!', '123-start', '---', 'x'.repeat(80), 'ünïcode', 'a_b.c']) {
    const n = managedClusterName(raw, 12, 1, 2);
    assert.doesNotThrow(() => validateClusterName(n), n);
    assert.match(n, /^[a-z][a-z0-9-]*-12-1$/);
  }
});

test('SKYPILOT_TASK_ID: the submission time, name, id and task index (the same on every recovery)', () => {
  const at = Date.UTC(2026, 11, 7, 5, 4, 3, 21);
  assert.equal(managedTaskId(at, 'train', 7, 0), 'skyhop-managed-2026-12-07-05-04-03-021000_train_7-0');
  assert.equal(managedTaskId(at, 'train', 7, 0), managedTaskId(at, 'train', 7, 0));
  assert.notEqual(managedTaskId(at, 'train', 7, 1), managedTaskId(at, 'train', 7, 0));
});

function task(p: Partial<ManagedTaskState>): ManagedTaskState {
  return { ...newManagedTask('t'), status: 'RUNNING', resources: '1x x', startedAt: 0, ...p };
}

test('figures: cost of ended clusters plus the current one so far; running time; recoveries summed', () => {
  const hour = 3_600_000;
  const r: ManagedJobRecord = {
    id: 1,
    name: 'j',
    user: 'u',
    status: 'RUNNING',
    reason: null,
    submittedAt: 0,
    startedAt: 0,
    endedAt: null,
    currentTask: 1,
    phase: 'running',
    cancelRequested: false,
    updatedAt: 0,
    tasks: [
      task({ status: 'SUCCEEDED', cost: 0.5, runMs: hour, recoveryCount: 2 }),
      task({
        cost: 0.25,
        clusterSince: hour,
        clusterHourly: 2,
        runMs: 10,
        runningSince: 2 * hour,
        recoveryCount: 1,
      }),
    ],
  };
  const f = withFigures(r, 3 * hour);
  assert.equal(f.cost, 0.5 + 0.25 + 2 * 2);
  assert.equal(f.jobDurationMs, hour + 10 + hour);
  assert.equal(f.totalDurationMs, 3 * hour);
  assert.equal(f.recoveryCount, 3);
  const ended = withFigures({ ...r, endedAt: 2 * hour }, 5 * hour);
  assert.equal(ended.totalDurationMs, 2 * hour);
});
