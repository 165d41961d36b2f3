/**
 * skyhop's SDK: everything the `skyhop` command does, as typed functions
 * (`import { launch, exec, status, down } from 'skyhop'`). The CLI is a thin layer over these.
 *
 * State lives in $SKYHOP_HOME (default ~/.skyhop), as for the CLI; every function that takes a
 * `store` opens that one when none is given. docs/sdk.md shows how to use it.
 */
import { openStore, type Store } from '../state/index.js';
import type { SdkEvents } from './clusters.js';
import * as jobs from './jobs.js';
import * as lifecycle from './lifecycle.js';

// Tasks: YAML, a command, or a Dag built in code.
export type {
  AcceleratorDemand,
  Amount,
  Dag,
  DataEstimate,
  Resources,
  Task,
} from '../core/task.js';
export { isYamlPath, loadTask, type TaskInput, type TaskOverrides } from './tasks.js';

// Clouds.
export { allClouds, enabledClouds, getCloud } from '../clouds/registry.js';
export type { Cloud } from '../clouds/types.js';
export { check, type CloudCheck } from './check.js';
export {
  type CatalogInfo,
  type CatalogUpdate,
  catalogs,
  updateAwsCatalog,
  updateCatalogs,
} from './catalogs.js';
export {
  COMMON_ACCELERATORS,
  type GpuOffer,
  type GpuOverview,
  type GpuQuery,
  gpuOffers,
  gpuOverview,
} from './gpus.js';

// Launching and running jobs.
export { launch, type LaunchOptions, type LaunchResult } from './launch.js';
export { exec, type ExecOptions, type ExecResult } from './exec.js';
export { logs, type LogsOptions, queue } from './queue.js';
export { exitCodeFor, type JobOutcome, type JobRecord } from './jobs.js';
export type { SdkEvents } from './clusters.js';

// Managed jobs (`skyhop jobs`): run on a cluster of their own, recovered when preempted, cleaned up.
export {
  CONTROLLER_CLUSTER,
  controllerCluster,
  type ManagedJob,
  type ManagedLaunchOptions,
  type ManagedLaunchResult,
  managedCancel,
  managedLaunch,
  managedLogs,
  managedQueue,
} from './managed.js';
export type { ManagedJobStatus, ManagedTaskState } from '../state/index.js';

// Services (`skyhop serve`): replicas anywhere behind one endpoint, autoscaled, spot with fallback.
export {
  type ServeDownOptions,
  type ServeLogsOptions,
  type ServeUpdateOptions,
  type ServeUpOptions,
  serveControllerCluster,
  serveDown,
  serveLogs,
  serveStatus,
  serveUp,
  serveUpdate,
} from './serve.js';
export type {
  ReplicaInfo,
  ReplicaPolicy,
  ReplicaStatus,
  ServiceInfo,
  ServiceSpec,
  ServiceStatus,
  UpdateMode,
} from '../core/serve.js';

// Clusters.
export {
  allClusterNames,
  type CostReport,
  costReport,
  type StatusOptions,
  type StatusResult,
  status,
} from './status.js';
export type { RefreshChange } from './lifecycle.js';
export type { Autostop, ClusterRecord, ClusterStatus, CostRow, Store } from '../state/index.js';

// Storage (buckets of `file_mounts`).
export { type StorageDeleteResult, type StorageRecord, storage } from './storage.js';
export { openStore } from '../state/index.js';

// Errors (each has `exitCode`, and `details` lines to show after the message).
export { CloudError, InterruptedError, SkyhopError, UserError } from '../util/errors.js';

interface StoreOption {
  store?: Store;
}

/** Stops a cluster (its disks are kept; `start` brings it back). */
export function stop(cluster: string, o: SdkEvents & StoreOption = {}): Promise<void> {
  return lifecycle.stop(o.store ?? openStore(), cluster, o);
}

/** Restarts a stopped cluster (or relaunches one left INIT); resolves with its record once UP. */
export function start(cluster: string, o: SdkEvents & StoreOption = {}) {
  return lifecycle.start(o.store ?? openStore(), cluster, o);
}

/**
 * Tears a cluster down: everything on it is deleted. `purge` forgets it locally even when its
 * cloud cannot be reached.
 */
export function down(cluster: string, o: SdkEvents & StoreOption & { purge?: boolean } = {}): Promise<void> {
  return lifecycle.down(o.store ?? openStore(), cluster, o);
}

/** Stops (or with `down`, tears down) an UP cluster after it has been idle; null cancels it. */
export function autostop(
  cluster: string,
  setting: { idleMinutes: number; down: boolean } | null,
  o: StoreOption = {},
): Promise<void> {
  return lifecycle.setAutostop(o.store ?? openStore(), cluster, setting);
}

/** Reconciles the record of every (or the named) cluster with its cloud. */
export function refresh(clusters?: string[], o: StoreOption = {}) {
  return lifecycle.refresh(o.store ?? openStore(), clusters);
}

/** Cancels jobs (or every unfinished one); resolves with the ids cancelled. */
export function cancel(cluster: string, jobIds: number[] | 'all', o: StoreOption = {}): Promise<number[]> {
  return jobs.cancel(o.store ?? openStore(), cluster, jobIds);
}
