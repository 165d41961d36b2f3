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
import { existsSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import type { Cloud } from '../clouds/types.js';
import type { Dag, Task } from '../core/task.js';
import type { CommandRunner } from '../runtime/types.js';
import {
  isManagedTerminal,
  isManagedUnfinished,
  taskCostSoFar,
  taskRunMs,
  type ClusterRecord,
  type ManagedJobRecord,
  type ManagedJobStatus,
  openStore,
  type Store,
} from '../state/index.js';
import { CloudError, InterruptedError, UserError } from '../util/errors.js';
import { buildId } from '../util/build-id.js';
import { packageRoot } from '../util/package-root.js';
import { shJoin, shPath } from '../util/shell.js';
import { headRunner, type SdkEvents } from './clusters.js';

/** The controller's cluster name without a team server. */
export const CONTROLLER_CLUSTER = 'skyhop-jobs-controller';

/**
 * The controller's cluster name: `skyhop-jobs-controller`, or on a team server one per user
 * (`skyhop-jobs-controller-<user>`, as SkyPilot's per-user controllers), so a user's managed jobs, their
 * clusters and their records stay that user's.
 */
export function controllerCluster(user: string | undefined = process.env.SKYHOP_API_USER): string {
  return user ? `${CONTROLLER_CLUSTER}-${user}` : CONTROLLER_CLUSTER;
}
/** Where a controller on another machine gets this skyhop (its package, shipped by the client). */
const REMOTE_PACKAGE = '~/.skyhop/controller/pkg';

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

/** `jobs-controller ping`'s answer. */
interface Ping {
  serving: boolean;
  home: string;
  build: string | null;
  serveBuild: string | null;
}

/** `jobs-controller submit`'s answer: the job's id, and whether (and with which build) a controller serves. */
interface Submitted {
  id: number;
  serving: boolean;
  serveBuild: string | null;
}

/** What `submit` writes on the controller before the job: credential files (base64) and variables. */
export interface CarriedCredentials {
  files: Array<{ remote: string; content: string }>;
  env: Record<string, string>;
  /** Variables naming a carried file: set to the file's path on the controller. */
  pathEnv: Record<string, string>;
}

interface Controller {
  rec: ClusterRecord;
  runner: CommandRunner;
  /** The controller node's HOME (absolute). */
  home: string;
  /** The CLI on the controller's node, as a shell word list. */
  cli: string;
  /** The build of skyhop on the controller's node. */
  build: string | null;
}

/** The CLI of this skyhop on the controller's node. */
function cliOn(rec: ClusterRecord): string {
  if (rec.cloud === 'local') return shJoin([process.execPath, join(packageRoot(), 'bin', 'skyhop.js')]);
  return `node ${shPath(`${REMOTE_PACKAGE}/bin/skyhop.js`)}`;
}

/** The controller's job: its process, started again after a crash (a clean exit means idle). */
function serveLine(cli: string): string {
  // 0: idle; 4: another one serves; 75: a job came as it was exiting (start again at once); else: it died.
  return `while :; do ${cli} jobs-controller serve; rc=$?; [ "$rc" -eq 0 ] && exit 0; [ "$rc" -eq 4 ] && exit 0; [ "$rc" -eq 75 ] || sleep 0.5; done`;
}

async function rpc<T>(c: Pick<Controller, 'runner' | 'cli'>, op: string[], input?: unknown): Promise<T> {
  const r = await c.runner.run(`${c.cli} jobs-controller ${shJoin(op)}`, {
    ...(input === undefined ? {} : { stdin: JSON.stringify(input) }),
    timeoutMs: 120_000,
  });
  if (r.code !== 0) throw rpcError(op[0]!, r.code, r.stderr);
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new CloudError(`the jobs controller answered '${op[0]}' with something that is not JSON`);
  }
}

/**
 * A failed `jobs-controller` op as an error here: a user error the controller reported (exit code 1:
 * an unknown job id, an ambiguous name) in its own words; anything else (SSH down, a crash) as the
 * controller not answering.
 */
function rpcError(op: string, code: number, stderr: string): Error {
  const lines = stderr.trim().split('\n').filter(Boolean);
  const refused = code === 1 ? lines.find((l) => l.startsWith('error: ')) : undefined;
  if (refused) return new UserError(refused.slice('error: '.length));
  return new CloudError(`the jobs controller did not answer '${op}': ${lines.pop() ?? `exit code ${code}`}`);
}

/**
 * The controller's node if its cluster is UP (nothing launched), or null when it is not (no cluster,
 * or stopped). A controller that is UP but does not answer is an error: its jobs and their clusters
 * are unknown then, and no caller may take that for "none".
 */
async function existingController(store: Store, name = controllerCluster()): Promise<Controller | null> {
  const rec = store.getCluster(name);
  if (rec?.status !== 'UP') return null;
  const runner = headRunner(rec);
  const cli = cliOn(rec);
  const conn = rec.nodes[0]?.connection;
  // A local controller's node is a folder of this machine: its home is known, and its skyhop is this one.
  if (conn?.kind === 'local') return { rec, runner, cli, home: conn.home, build: buildId() };
  try {
    const p = await rpc<Ping>({ runner, cli }, ['ping']);
    return { rec, runner, cli, home: p.home, build: p.build };
  } catch (e) {
    await runner.close();
    throw new CloudError(
      `the jobs controller (${controllerCluster()}, UP on ${rec.cloud}) does not answer: ${(e as Error).message}; \`skyhop status --refresh\` checks it`,
      { cause: e },
    );
  }
}

/**
 * The controller's node, UP with this build of skyhop: launched (or started) when it is not UP, and
 * on another cloud given this skyhop when its build differs. Its process is seen to by `ensureServing`.
 */
async function controllerNode(store: Store, ev: SdkEvents & { signal?: AbortSignal }): Promise<Controller> {
  // One that is UP but does not answer is brought up again by the launch path (its nodes relaunched).
  let c = await existingController(store).catch(() => null);
  if (!c) {
    ev.onStep?.(`Starting the jobs controller (${controllerCluster()}).`);
    const { launch } = await import('./launch.js');
    const task = await controllerTask();
    const { resolveClouds } = await import('./plan.js');
    const { clouds: all } = await resolveClouds({}, 'launch');
    await launch({
      dag: { tasks: [task], edges: [] },
      cluster: controllerCluster(),
      clouds: all,
      detach: true,
      store,
      signal: ev.signal,
      onStep: ev.onStep,
    });
    const rec = store.getCluster(controllerCluster());
    if (!rec) throw new CloudError('the jobs controller was launched but its record is missing');
    if (rec.cloud !== 'local') await shipPackage(headRunner(rec), ev);
    c = await existingController(store);
    if (!c) throw new CloudError('the jobs controller was launched but does not answer');
  }
  if (c.build !== buildId()) {
    // A controller on another machine with another build of skyhop: this one replaces it.
    await shipPackage(c.runner, ev);
    c.build = buildId();
  }
  return c;
}

/**
 * The controller's process serving with this build, after a submission said how it is: started (as
 * a job of the controller's agent) when none serves, restarted when it runs another build (safe at
 * any moment: it resumes every job from the state).
 */
async function ensureServing(
  store: Store,
  c: Controller,
  now: { serving: boolean; serveBuild: string | null },
  ev: SdkEvents,
): Promise<void> {
  // The process should run the build on its node (this one, once controllerNode shipped it).
  if (now.serving && now.serveBuild === c.build) return;
  if (now.serving) {
    ev.onStep?.("Restarting the jobs controller process with its node's build of skyhop.");
    // Its job's loop starts it again at once.
    await rpc(c, ['restart']);
    return;
  }
  ev.onStep?.('Starting the jobs controller process.');
  const { submitTask } = await import('./jobs.js');
  await submitTask(store, c.rec, serveTask(c.cli), {
    withSetup: false,
    demand: { cpus: 0.5, accelerators: null },
  });
}

/**
 * The controller cluster's task: the config's `jobs.controller.resources` (default: the local
 * cloud, free), stopping itself once idle (`jobs.controller.autostop`; its process exits after that
 * many idle minutes, and the cluster stops a minute later). Its job is empty: the controller's
 * process is submitted once its credentials are in place.
 */
async function controllerTask(): Promise<Task> {
  const { loadConfig } = await import('../config/config.js');
  const cfg = await loadConfig();
  const { controllerResources } = await import('../task/controller.js');
  const resources = controllerResources(cfg) ?? [{ cloud: 'local', useSpot: false }];
  let stop = cfg.jobs.controller.autostop;
  if (stop && !stop.down) {
    // A controller on a cloud that cannot stop instances stays up (tearing it down would lose its jobs' history).
    const { getCloud } = await import('../clouds/registry.js');
    const canStop = resources.some((r) => r.cloud === undefined || getCloud(r.cloud).features.has('stop'));
    if (!canStop) stop = null;
  }
  return controllerJob(
    '',
    resources.map((r) => ({ ...r, ...(stop ? { autostop: { idleMinutes: 1, down: stop.down } } : {}) })),
  );
}

/** The controller's process, as a job of its cluster's agent. */
function serveTask(cli: string): Task {
  return controllerJob(serveLine(cli), [{ useSpot: false }]);
}

function controllerJob(run: string, resources: Task['resources']): Task {
  return {
    name: 'jobs-controller',
    numNodes: 1,
    envs: {},
    secrets: {},
    fileMounts: {},
    run,
    resources,
    ordered: false,
  };
}

/**
 * What a controller on another machine needs of this skyhop: the built files (npm packages are
 * bundled into them), the catalogs, and the two packages kept out of the bundle (better-sqlite3's
 * native addon with its loader, and HiGHS for DAG plans). Synced, so a later start sends only changes.
 */
const SHIPPED: Array<{ path: string; dir: boolean; exclude?: string[] }> = [
  { path: 'package.json', dir: false },
  { path: 'bin', dir: true },
  { path: 'dist', dir: true, exclude: ['*.map', 'types'] },
  { path: 'catalogs', dir: true },
  { path: 'node_modules/better-sqlite3/package.json', dir: false },
  { path: 'node_modules/better-sqlite3/lib', dir: true },
  { path: 'node_modules/better-sqlite3/build/Release/better_sqlite3.node', dir: false },
  { path: 'node_modules/bindings', dir: true },
  { path: 'node_modules/file-uri-to-path', dir: true },
  { path: 'node_modules/highs', dir: true },
  // Loaded with require() when a catalog CSV is parsed (src/catalog/parse.ts), so not in the bundle.
  { path: 'node_modules/csv-parse', dir: true },
];

async function shipPackage(runner: CommandRunner, ev: SdkEvents): Promise<void> {
  ev.onStep?.('Copying skyhop to the jobs controller.');
  const root = packageRoot();
  for (const part of SHIPPED) {
    const src = join(root, part.path);
    if (!existsSync(src)) continue;
    const dest = `${REMOTE_PACKAGE}/${part.path}`;
    if (part.dir) await runner.syncDir(src, dest, { exclude: part.exclude });
    else await runner.upload(src, dest);
  }
}

/** The clouds' credentials (files and environment) and the config file, for the controller (0600 there). */
async function credentialsFor(clouds: Cloud[]): Promise<CarriedCredentials> {
  const { credentialBundle } = await import('../clouds/credentials.js');
  const bundle = await credentialBundle(clouds);
  const { configPath } = await import('../config/config.js');
  const cfg = configPath();
  const files = bundle.files.map((f) => ({ remote: f.remote, content: f.content.toString('base64') }));
  if (existsSync(cfg.path)) {
    const { readFileSync } = await import('node:fs');
    files.push({ remote: '~/.skyhop/config.yaml', content: readFileSync(cfg.path).toString('base64') });
  }
  return { files, env: bundle.env, pathEnv: bundle.pathEnv };
}

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
  const c = await controllerNode(store, o);
  try {
    o.onStep?.('Uploading the job to the controller.');
    const key = randomUUID();
    const secrets = o.dag.tasks.map((t) => t.secrets);
    const tasks = await Promise.all(o.dag.tasks.map((t, i) => uploadTaskFiles(c, t, `${key}/t${i}`)));
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

/** Uploads a task's local files to the controller; the task with its paths there. */
async function uploadTaskFiles(c: Controller, t: Task, key: string): Promise<Task> {
  const base = `.skyhop/managed/uploads/${key}`;
  const abs = (p: string) => `${c.home}/${base}/${p}`;
  const put = async (local: string, rel: string): Promise<string> => {
    if (!existsSync(local)) throw new UserError(`${local} does not exist`);
    if (statSync(local).isDirectory()) await c.runner.syncDir(local, `~/${base}/${rel}`);
    else await c.runner.upload(local, `~/${base}/${rel}`);
    return abs(rel);
  };
  const out: Task = { ...t, fileMounts: {}, envs: { ...t.envs } };
  if (t.workdir) out.workdir = await put(t.workdir, 'workdir');
  let k = 0;
  for (const [remote, local] of Object.entries(t.fileMounts))
    out.fileMounts[remote] = await put(local, `fm${k++}`);
  if (t.storageMounts) {
    out.storageMounts = {};
    for (const [remote, m] of Object.entries(t.storageMounts)) {
      out.storageMounts[remote] = m.localSource
        ? { ...m, localSource: await put(m.localSource, `src${k++}`) }
        : m;
    }
  }
  return out;
}

/** Streams a managed job's output (across its recoveries) until it ends. */
async function followManaged(
  c: Pick<Controller, 'runner' | 'cli'>,
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
  if (r.code !== 0) throw rpcError('logs', r.code, tail);
  const last = tail.trim().split('\n').pop() ?? '';
  try {
    const end = JSON.parse(last) as { status: ManagedJobStatus | null; reason: string | null };
    return end;
  } catch {
    return { status: null, reason: null };
  }
}

async function requireController(store: Store): Promise<Controller> {
  const c = await existingController(store);
  if (!c) {
    throw new UserError(
      `the jobs controller is not running (no managed jobs yet, or it stopped when idle); \`skyhop jobs launch\` starts it`,
    );
  }
  return c;
}

/**
 * The clusters the jobs controller owns (its managed jobs' clusters): they carry skyhop's tags like
 * the client's own, and the client must leave them to the controller. Empty when there is no
 * controller (or it is stopped: it stops only with no job unfinished); null when it is UP but does
 * not answer (which clusters are its is unknown then).
 */
export async function controllerClusters(
  store: Store,
  name = controllerCluster(),
): Promise<Set<string> | null> {
  let c: Controller | null;
  try {
    c = await existingController(store, name);
  } catch {
    return null;
  }
  if (!c) return new Set();
  try {
    return new Set((await rpc<{ clusters: string[] }>(c, ['clusters'])).clusters);
  } catch {
    return null;
  } finally {
    await c.runner.close();
  }
}

/**
 * Whether the jobs controller's cluster exists but is not UP (it stops itself once idle, or was
 * stopped): its jobs, finished or not, are then out of sight until it is started.
 */
export function managedControllerStopped(store: Store = openStore()): boolean {
  const rec = store.getCluster(controllerCluster());
  return !!rec && rec.status !== 'UP';
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
  const c = await existingController(store, name);
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
  const c = await requireController(store);
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
  const c = await requireController(store);
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
