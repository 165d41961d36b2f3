/**
 * `exec`: run a task on a cluster that is already UP: no provisioning, no setup, no file_mounts
 * (the workdir is synced). The task must fit the cluster (same rule as reusing a cluster in launch).
 */
import { allClouds } from '../clouds/registry.js';
import type { Store } from '../state/index.js';
import { openStore } from '../state/index.js';
import { CloudError, InterruptedError, UserError } from '../util/errors.js';
import {
  type SdkEvents,
  describeLaunched,
  goingAway,
  incompatibility,
  jobDemand,
  requireUp,
} from './clusters.js';
import { followJob, type JobOutcome, submitTask } from './jobs.js';
import { isYamlPath, loadTask, type TaskInput, type TaskOverrides } from './tasks.js';

export interface ExecOptions extends SdkEvents {
  /** An UP cluster. */
  cluster: string;
  /** A task YAML path, the words of a command, or a Dag of one task. */
  task: TaskInput;
  /** Overrides of the task's fields (the CLI's --env, --gpus, ...). */
  overrides?: TaskOverrides;
  /** Submit and return without following the job. */
  detach?: boolean;
  /** Aborting stops following (the job keeps running): exec then throws an InterruptedError. */
  signal?: AbortSignal;
  /** Called once the job is queued. */
  onSubmitted?(cluster: string, jobId: number): void;
  store?: Store;
}

export interface ExecResult {
  cluster: string;
  jobId: number;
  /** How the job ended; null when detached. */
  outcome: JobOutcome | null;
}

export async function exec(o: ExecOptions): Promise<ExecResult> {
  const store = o.store ?? openStore();
  const rec = requireUp(store, o.cluster);
  // A command's names are checked against the cluster when it runs; a file's against the catalogs.
  const fromFile = typeof o.task !== 'object' || Array.isArray(o.task) ? isYamlPath(o.task) : true;
  const dag = await loadTask(o.task, o.overrides, { clouds: fromFile ? allClouds() : [] });
  if (dag.tasks.length !== 1) throw new UserError('exec runs one task; this file is a pipeline');
  for (const w of dag.warnings ?? []) o.onWarning?.(w);
  const task = dag.tasks[0];
  const why = incompatibility(rec, task);
  if (why)
    throw new UserError(`cluster ${o.cluster} (${describeLaunched(rec)}) cannot run this task: ${why}`);
  if (task.workdir) {
    const { runnersFor, syncTaskFiles, closeAll } = await import('../runtime/bootstrap.js');
    const runners = runnersFor(rec.nodes);
    try {
      await syncTaskFiles(task, runners, { fileMounts: false });
    } finally {
      await closeAll(runners);
    }
  }
  let jobId: number | null = null;
  try {
    jobId = await submitTask(store, rec, task, {
      withSetup: false,
      demand: jobDemand(task, rec),
      command: typeof o.task === 'string' ? o.task : Array.isArray(o.task) ? o.task.join(' ') : undefined,
    });
    o.onSubmitted?.(o.cluster, jobId);
    if (o.detach) return { cluster: o.cluster, jobId, outcome: null };
    const outcome = await followJob(store, rec, jobId, { onOutput: o.onOutput, signal: o.signal });
    // A job that failed because its cluster went away under it (a racing `down` or `stop`) says so.
    const why = outcome.status === 'SUCCEEDED' ? null : goingAway(store, o.cluster);
    if (why !== null) throw new CloudError(`${why}; job ${jobId} ended with it`);
    return { cluster: o.cluster, jobId, outcome };
  } catch (e) {
    if (o.signal?.aborted || e instanceof InterruptedError) throw e;
    // A `down` (or `stop`) racing this exec: say so, not what the vanishing node last printed.
    const why = goingAway(store, o.cluster);
    if (why === null) throw e;
    throw new CloudError(
      jobId === null ? `${why}; the job was not submitted` : `${why}; job ${jobId} ended with it`,
      { cause: e },
    );
  }
}
