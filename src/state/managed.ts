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
