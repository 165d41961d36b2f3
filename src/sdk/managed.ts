/**
 * Managed jobs, the client's side (`skyhop jobs ...`, SkyPilot's `sky jobs`): a job run on a cluster
 * of its own by the jobs controller, relaunched elsewhere when its cluster is preempted, and torn
 * down when it ends.
 *
 * The controller is a skyhop cluster like any other (`skyhop-jobs-controller`; on the local cloud
 * unless the config's `jobs.controller.resources` places it elsewhere), launched on first use through
 * the same launch path, running one long-lived process (`skyhop jobs-controller serve`, src/jobs/) as
 * a job of its agent. That process has its own $SKYHOP_HOME on the controller's node: its own state
 * database with the managed jobs, and the clusters it launches. The client talks to it only through
 * the controller's runner (`skyhop jobs-controller <op>` on the node, JSON on stdin and stdout), so
 * the same code works wherever the controller runs. The credentials the controller needs are carried
 * to it as 0600 files (never in argv), at every `jobs launch`.
 */
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import type { Cloud } from '../clouds/types.js';
import type { Dag } from '../core/task.js';
import {
  isManagedTerminal,
  isManagedUnfinished,
  taskCostSoFar,
  taskRunMs,
  type ManagedJobRecord,
  type ManagedJobStatus,
  openStore,
  type Store,
} from '../state/index.js';
import { InterruptedError, UserError } from '../util/errors.js';
import { shJoin } from '../util/shell.js';
import type { SdkEvents } from './clusters.js';
import {
  type Controller,
  controllerNode,
  controllerStopped,
  credentialsFor,
  ensureServing,
  existingController,
  JOBS_CONTROLLER,
  kindCluster,
  ownedClusters,
  requireController,
  rpc,
  rpcError,
  uploadTaskFiles,
} from './controller.js';

/** The controller's cluster name without a team server. */
export const CONTROLLER_CLUSTER = JOBS_CONTROLLER.cluster;

/**
 * The jobs controller's cluster name: `skyhop-jobs-controller`, or on a team server one per user
 * (`skyhop-jobs-controller-<user>`, as SkyPilot's per-user controllers), so a user's managed jobs, their
 * clusters and their records stay that user's.
 */
export function controllerCluster(user: string | undefined = process.env.SKYHOP_API_USER): string {
  return kindCluster(JOBS_CONTROLLER, user);
}

/** What the controller needs besides the task graph (stored with the job). */
export interface ManagedRequest {
  /** The clouds the job may use (resolved by the client from --cloud/--clouds and credentials). */
  clouds: string[];
  target?: 'cost' | 'time';
  /** Per task, the place the (chain) plan chose: tried first at the task's first launch. */
  preferred: Array<{ cloud: string; region: string } | null>;
  /** Names the file of the job's secrets on the controller (set by the controller at submission). */
  secretsKey?: string;
}

/** `jobs-controller submit`'s input. */
export interface ManagedSubmission {
  name: string;
  user: string;
  /** Every task's secrets emptied (their names kept); the values travel in `secrets`. */
  dag: Dag;
  secrets: Array<Record<string, string>>;
  request: ManagedRequest;
}

export { isManagedTerminal, MANAGED_TERMINAL_STATUSES } from '../state/index.js';

/** A managed job as `jobs queue` shows it: the record plus what is computed from it now. */
export interface ManagedJob extends ManagedJobRecord {
  /** USD so far, over every cluster it ran on (the current one up to now). */
  cost: number;
  /** ms from submission to the end (or now). */
  totalDurationMs: number;
  /** ms spent running, over every cluster. */
  jobDurationMs: number;
  recoveryCount: number;
}

/** A queue row with its derived figures at `now`. */
export function withFigures(r: ManagedJobRecord, now: number): ManagedJob {
  let cost = 0;
  let run = 0;
  let rec = 0;
  for (const t of r.tasks) {
    cost += taskCostSoFar(t, now);
    run += taskRunMs(t, now);
    rec += t.recoveryCount;
  }
  return {
    ...r,
    cost,
    totalDurationMs: (r.endedAt ?? now) - r.submittedAt,
    jobDurationMs: run,
    recoveryCount: rec,
  };
}

// ---- the controller ----

/** `jobs-controller submit`'s answer: the job's id, and whether (and with which build) a controller serves. */
interface Submitted {
  id: number;
  serving: boolean;
  serveBuild: string | null;
}

export type { CarriedCredentials } from './controller.js';

// ---- the SDK functions ----

export interface ManagedLaunchOptions extends SdkEvents {
  dag: Dag;
  /** The job's name (default: the DAG's, else its first task's, else 'job'). */
  name?: string;
  /** Enabled clouds the job may use (the CLI resolves --cloud/--clouds). */
  clouds: Cloud[];
  target?: 'cost' | 'time';
  /** Return once submitted (default: stream its output until it ends). */
  detach?: boolean;
  signal?: AbortSignal;
  store?: Store;
  /** Called once the job has its id. */
  onSubmitted?(id: number): void;
}

export interface ManagedLaunchResult {
  id: number;
  /** Unless detached: how it ended. */
  status: ManagedJobStatus | null;
  reason: string | null;
}

/** `jobs launch`: plan, submit to the controller (started when needed), and follow unless detached. */
export async function managedLaunch(o: ManagedLaunchOptions): Promise<ManagedLaunchResult> {
  const store = o.store ?? openStore();
  const { canProvision } = await import('../core/features.js');
  // Planning-only clouds (credentials present, no provisioning) cannot run a job.
  o = { ...o, clouds: o.clouds.filter(canProvision) };
  const { planLaunch } = await import('./plan.js');
  // The chain plan: where each task goes first (the controller re-plans on failure and recovery).
  const plan = await planLaunch({ dag: o.dag, clouds: o.clouds, target: o.target });
  const preferred = plan.tasks.map((t) => ({ cloud: t.choice.cloud, region: t.choice.region }));
  const name = o.name ?? o.dag.name ?? o.dag.tasks[0]?.name ?? 'job';
  const c = await controllerNode(store, JOBS_CONTROLLER, o);
  try {
    o.onStep?.('Uploading the job to the controller.');
    const key = randomUUID();
    const secrets = o.dag.tasks.map((t) => t.secrets);
    const tasks = await Promise.all(
      o.dag.tasks.map((t, i) => uploadTaskFiles(c, t, 'managed/uploads', `${key}/t${i}`)),
    );
    const submission: ManagedSubmission = {
      name,
      // Through a team server, the job is its user's (the server sets SKYHOP_API_USER for their requests).
      user: process.env.SKYHOP_API_USER || userInfo().username,
      dag: { ...o.dag, tasks: tasks.map((t) => ({ ...t, secrets: blank(t.secrets) })) },
      secrets,
      request: { clouds: o.clouds.map((x) => x.name), target: o.target, preferred },
    };
    const { id, serving, serveBuild } = await rpc<Submitted>(c, ['submit'], {
      submission,
      credentials: await credentialsFor(o.clouds),
    });
    await ensureServing(store, c, { serving, serveBuild }, o);
    o.onSubmitted?.(id);
    if (o.detach) return { id, status: null, reason: null };
    const end = await followManaged(c, id, { onOutput: o.onOutput, signal: o.signal });
    return { id, ...end };
  } finally {
    await c.runner.close();
  }
}

function blank(secrets: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.keys(secrets).map((k) => [k, '']));
}

/** Streams a managed job's output (across its recoveries) until it ends. */
async function followManaged(
  c: Pick<Controller, 'runner' | 'cli' | 'kind'>,
  id: number,
  o: { onOutput?: (chunk: string) => void; signal?: AbortSignal; controller?: boolean; follow?: boolean },
): Promise<{ status: ManagedJobStatus | null; reason: string | null }> {
  let tail = '';
  const args = [
    'logs',
    String(id),
    ...(o.controller ? ['--controller'] : []),
    ...(o.follow === false ? ['--no-follow'] : []),
  ];
  const r = await c.runner.run(`${c.cli} jobs-controller ${shJoin(args)}`, {
    signal: o.signal,
    onStdout: (chunk) => o.onOutput?.(chunk),
    // The last line on stderr is the job's end, as JSON.
    onStderr: (chunk) => {
      tail = (tail + chunk).slice(-4096);
    },
  });
  if (o.signal?.aborted) throw new InterruptedError();
  if (r.code !== 0) throw rpcError(c.kind, 'logs', r.code, tail);
  const last = tail.trim().split('\n').pop() ?? '';
  try {
    const end = JSON.parse(last) as { status: ManagedJobStatus | null; reason: string | null };
    return end;
  } catch {
    return { status: null, reason: null };
  }
}

/**
 * The clusters the jobs controller owns (its managed jobs' clusters): empty when there is no
 * controller (or it is stopped: it stops only with no job unfinished); null when it is UP but does not
 * answer.
 */
export function controllerClusters(store: Store, name = controllerCluster()): Promise<Set<string> | null> {
  return ownedClusters(store, JOBS_CONTROLLER, name);
}

/**
 * Whether the jobs controller's cluster exists but is not UP (it stops itself once idle, or was
 * stopped): its jobs, finished or not, are then out of sight until it is started.
 */
export function managedControllerStopped(store: Store = openStore()): boolean {
  return controllerStopped(store, JOBS_CONTROLLER);
}

/** `jobs-controller queue`'s answer. */
interface QueueAnswer {
  now: number;
  jobs: ManagedJobRecord[];
  serving: boolean;
  serveBuild: string | null;
}

/**
 * The controller's jobs; and when one is unfinished while no process serves (its loop was killed,
 * which ends the process too) or the process runs another build, the process is started (or
 * restarted) as a submission would: any client command that reads the jobs brings it back.
 */
async function readJobs(store: Store, c: Controller): Promise<QueueAnswer> {
  const r = await rpc<QueueAnswer>(c, ['queue']);
  if (r.jobs.some(isManagedUnfinished)) await ensureServing(store, c, r, {});
  return r;
}

/**
 * `jobs queue`: every managed job (newest first), or only unfinished ones. `refresh` (SkyPilot's
 * `sky jobs queue --refresh`) first starts a controller that is not UP; without it, a stopped
 * controller's jobs are not listed (`managedControllerStopped` says so).
 */
export async function managedQueue(
  o: {
    all?: boolean;
    refresh?: boolean;
    store?: Store;
    /** Whose controller on a team server (default: this process's user, `controllerCluster()`). */
    user?: string;
  } & SdkEvents = {},
): Promise<ManagedJob[]> {
  const store = o.store ?? openStore();
  const name = controllerCluster(o.user);
  if (o.refresh && managedControllerStopped(store)) {
    const { start } = await import('./lifecycle.js');
    await start(store, name, { onStep: o.onStep });
  }
  const c = await existingController(store, JOBS_CONTROLLER, name);
  if (!c) return [];
  try {
    const r = await readJobs(store, c);
    const jobs = r.jobs.map((j) => withFigures(j, r.now));
    return o.all === false ? jobs.filter((j) => !isManagedTerminal(j.status)) : jobs;
  } finally {
    await c.runner.close();
  }
}

/** `jobs cancel`: by ids, by name, or every unfinished job; resolves with the ids asked to cancel. */
export async function managedCancel(o: {
  ids?: number[];
  name?: string;
  all?: boolean;
  store?: Store;
}): Promise<number[]> {
  const store = o.store ?? openStore();
  const c = await requireController(store, JOBS_CONTROLLER);
  try {
    const r = await rpc<{ cancelled: number[] }>(c, ['cancel'], {
      ids: o.ids ?? null,
      name: o.name ?? null,
      all: o.all ?? false,
    });
    // A cancel is carried out by the controller's process: it must be there.
    await readJobs(store, c);
    return r.cancelled;
  } finally {
    await c.runner.close();
  }
}

/** `jobs logs`: a managed job's output (or the controller's log of it), following until it ends. */
export async function managedLogs(o: {
  id?: number;
  controller?: boolean;
  follow?: boolean;
  onOutput?(chunk: string): void;
  signal?: AbortSignal;
  store?: Store;
}): Promise<{ id: number; status: ManagedJobStatus | null; reason: string | null }> {
  const store = o.store ?? openStore();
  const c = await requireController(store, JOBS_CONTROLLER);
  try {
    const r = await readJobs(store, c);
    let id = o.id;
    if (id === undefined) {
      if (r.jobs.length === 0) throw new UserError('there are no managed jobs yet');
      id = r.jobs[0]!.id;
    }
    const end = await followManaged(c, id, o);
    return { id, ...end };
  } finally {
    await c.runner.close();
  }
}
