/** The managed-job vocabulary shared by the state, the jobs controller and the client. */
import type { ManagedJobStatus, ManagedTaskState } from './types.js';

/** The states a managed job (or task) ends in. */
export const MANAGED_TERMINAL_STATUSES: readonly ManagedJobStatus[] = [
  'SUCCEEDED',
  'CANCELLED',
  'FAILED',
  'FAILED_SETUP',
  'FAILED_PRECHECKS',
  'FAILED_NO_RESOURCE',
  'FAILED_CONTROLLER',
];

export function isManagedTerminal(s: ManagedJobStatus): boolean {
  return MANAGED_TERMINAL_STATUSES.includes(s);
}

/**
 * Whether a job still needs its controller: not ended, or ended with its clusters still being torn
 * down (phase `cleanup`).
 */
export function isManagedUnfinished(j: { status: ManagedJobStatus; phase: string }): boolean {
  return !isManagedTerminal(j.status) || j.phase !== 'idle';
}

/** A task of a job just submitted: PENDING, nothing run, nothing spent. */
export function newManagedTask(name: string): ManagedTaskState {
  return {
    name,
    status: 'PENDING',
    resources: '-',
    startedAt: null,
    endedAt: null,
    recoveryCount: 0,
    restartsOnErrors: 0,
    runMs: 0,
    runningSince: null,
    cost: 0,
    cluster: null,
    clusterJobId: null,
    clusterSince: null,
    clusterHourly: null,
    infra: null,
    exitCode: null,
    reason: null,
  };
}

/** USD a task has cost so far: its ended clusters, and its current one up to `now`. */
export function taskCostSoFar(t: ManagedTaskState, now: number): number {
  return (
    t.cost +
    (t.clusterSince !== null && t.clusterHourly !== null
      ? (t.clusterHourly * (now - t.clusterSince)) / 3_600_000
      : 0)
  );
}

/** ms a task has spent running, over every cluster, up to `now`. */
export function taskRunMs(t: ManagedTaskState, now: number): number {
  return t.runMs + (t.runningSince !== null ? now - t.runningSince : 0);
}
