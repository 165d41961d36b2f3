/**
 * The controller machinery shared by managed jobs (sdk/managed.ts) and services (sdk/serve.ts): a
 * controller is a skyhop cluster like any other (on the local cloud unless the config's
 * `<section>.controller.resources` places it elsewhere), launched on first use through the same launch
 * path, running one long-lived process (`skyhop <op> serve`) as a job of its agent. That process has
 * its own $SKYHOP_HOME on the controller's node: its own state and the clusters it launches. The client
 * talks to it only through the controller cluster's runner (`skyhop <op> <verb>` on the node, JSON on
 * stdin and stdout), so the same code works wherever the controller runs. The credentials it needs
 * travel as 0600 files (never in argv).
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Cloud } from '../clouds/types.js';
import type { Task } from '../core/task.js';
import type { CommandRunner } from '../runtime/types.js';
import type { ClusterRecord, Store } from '../state/index.js';
import { buildId } from '../util/build-id.js';
import { CloudError, UserError } from '../util/errors.js';
import { packageRoot } from '../util/package-root.js';
import { shJoin, shPath } from '../util/shell.js';
import { headRunner, type SdkEvents } from './clusters.js';

/** Which controller. */
export interface ControllerKind {
  /** The cluster's name without a team server: `skyhop-jobs-controller`, `skyhop-serve-controller`. */
  cluster: string;
  /** The CLI command on its node: `skyhop jobs-controller <verb>`. */
  op: 'jobs-controller' | 'serve-controller';
  /** In messages: "the jobs controller". */
  label: string;
  /** Its config section (`jobs.controller`, `serve.controller`). */
  section: 'jobs' | 'serve';
  /** What a user runs to start it. */
  startWith: string;
}

export const JOBS_CONTROLLER: ControllerKind = {
  cluster: 'skyhop-jobs-controller',
  op: 'jobs-controller',
  label: 'jobs controller',
  section: 'jobs',
  startWith: 'skyhop jobs launch',
};

export const SERVE_CONTROLLER: ControllerKind = {
  cluster: 'skyhop-serve-controller',
  op: 'serve-controller',
  label: 'serve controller',
  section: 'serve',
  startWith: 'skyhop serve up',
};

export const CONTROLLER_KINDS: readonly ControllerKind[] = [JOBS_CONTROLLER, SERVE_CONTROLLER];

/**
 * A controller's cluster name: its kind's, or on a team server one per user (`<name>-<user>`, as
 * SkyPilot's per-user controllers), so a user's jobs and services, their clusters and their records
 * stay that user's.
 */
export function kindCluster(
  kind: ControllerKind,
  user: string | undefined = process.env.SKYHOP_API_USER,
): string {
  return user ? `${kind.cluster}-${user}` : kind.cluster;
}

/** Whether `name` is some user's controller of any kind (the bare name, or `<name>-<user>`). */
export function isControllerName(name: string): boolean {
  return CONTROLLER_KINDS.some((k) => name === k.cluster || name.startsWith(`${k.cluster}-`));
}

/** Where a controller on another machine gets this skyhop (its package, shipped by the client). */
const REMOTE_PACKAGE = '~/.skyhop/controller/pkg';

/** `<op> ping`'s answer. */
interface Ping {
  serving: boolean;
  home: string;
  build: string | null;
  serveBuild: string | null;
}

/** What a submission writes on the controller before the job: credential files (base64) and variables. */
export interface CarriedCredentials {
  files: Array<{ remote: string; content: string }>;
  env: Record<string, string>;
  /** Variables naming a carried file: set to the file's path on the controller. */
  pathEnv: Record<string, string>;
}

export interface Controller {
  kind: ControllerKind;
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
function serveLine(kind: ControllerKind, cli: string): string {
  // 0: idle; 4: another one serves; 75: work came as it was exiting (start again at once); else: it died.
  return `while :; do ${cli} ${kind.op} serve; rc=$?; [ "$rc" -eq 0 ] && exit 0; [ "$rc" -eq 4 ] && exit 0; [ "$rc" -eq 75 ] || sleep 0.5; done`;
}

/** Runs `<op> <verb...>` on the controller's node; its JSON answer. */
export async function rpc<T>(
  c: Pick<Controller, 'runner' | 'cli' | 'kind'>,
  verb: string[],
  input?: unknown,
  o: { timeoutMs?: number } = {},
): Promise<T> {
  const r = await c.runner.run(`${c.cli} ${c.kind.op} ${shJoin(verb)}`, {
    ...(input === undefined ? {} : { stdin: JSON.stringify(input) }),
    timeoutMs: o.timeoutMs ?? 120_000,
  });
  if (r.code !== 0) throw rpcError(c.kind, verb[0]!, r.code, r.stderr);
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new CloudError(`the ${c.kind.label} answered '${verb[0]}' with something that is not JSON`);
  }
}

/**
 * A failed op as an error here: a user error the controller reported (exit code 1: an unknown id, an
 * ambiguous name) in its own words; anything else (SSH down, a crash) as the controller not answering.
 */
export function rpcError(kind: ControllerKind, verb: string, code: number, stderr: string): Error {
  const lines = stderr.trim().split('\n').filter(Boolean);
  const refused = code === 1 ? lines.find((l) => l.startsWith('error: ')) : undefined;
  if (refused) return new UserError(refused.slice('error: '.length));
  return new CloudError(`the ${kind.label} did not answer '${verb}': ${lines.pop() ?? `exit code ${code}`}`);
}

/**
 * The controller's node if its cluster is UP (nothing launched), or null when it is not (no cluster,
 * or stopped). A controller that is UP but does not answer is an error: what it owns is unknown then,
 * and no caller may take that for "none".
 */
export async function existingController(
  store: Store,
  kind: ControllerKind,
  name = kindCluster(kind),
): Promise<Controller | null> {
  const rec = store.getCluster(name);
  if (rec?.status !== 'UP') return null;
  const runner = headRunner(rec);
  const cli = cliOn(rec);
  const conn = rec.nodes[0]?.connection;
  // A local controller's node is a folder of this machine: its home is known, and its skyhop is this one.
  if (conn?.kind === 'local') return { kind, rec, runner, cli, home: conn.home, build: buildId() };
  try {
    const p = await rpc<Ping>({ runner, cli, kind }, ['ping']);
    return { kind, rec, runner, cli, home: p.home, build: p.build };
  } catch (e) {
    await runner.close();
    throw new CloudError(
      `the ${kind.label} (${name}, UP on ${rec.cloud}) does not answer: ${(e as Error).message}; \`skyhop status --refresh\` checks it`,
      { cause: e },
    );
  }
}

/** Whether a controller's cluster exists but is not UP (it stops itself when idle, or was stopped). */
export function controllerStopped(store: Store, kind: ControllerKind, name = kindCluster(kind)): boolean {
  const rec = store.getCluster(name);
  return !!rec && rec.status !== 'UP';
}

/** The controller, or a user error saying how to start it when it is not UP. */
export async function requireController(store: Store, kind: ControllerKind): Promise<Controller> {
  const c = await existingController(store, kind);
  if (!c) {
    throw new UserError(
      `the ${kind.label} is not running (nothing launched yet, or it stopped when idle); \`${kind.startWith}\` starts it`,
    );
  }
  return c;
}

/**
 * The controller's node, UP with this build of skyhop: launched (or started) when it is not UP, and
 * on another cloud given this skyhop when its build differs. Its process is seen to by `ensureServing`.
 */
export async function controllerNode(
  store: Store,
  kind: ControllerKind,
  ev: SdkEvents & { signal?: AbortSignal },
): Promise<Controller> {
  // One that is UP but does not answer is brought up again by the launch path (its nodes relaunched).
  let c = await existingController(store, kind).catch(() => null);
  const name = kindCluster(kind);
  if (!c) {
    ev.onStep?.(`Starting the ${kind.label} (${name}).`);
    const { launch } = await import('./launch.js');
    const task = await controllerTask(kind);
    const { resolveClouds } = await import('./plan.js');
    const { clouds: all } = await resolveClouds({}, 'launch');
    await launch({
      dag: { tasks: [task], edges: [] },
      cluster: name,
      clouds: all,
      detach: true,
      store,
      signal: ev.signal,
      onStep: ev.onStep,
    });
    const rec = store.getCluster(name);
    if (!rec) throw new CloudError(`the ${kind.label} was launched but its record is missing`);
    if (rec.cloud !== 'local') await shipPackage(kind, headRunner(rec), ev);
    c = await existingController(store, kind);
    if (!c) throw new CloudError(`the ${kind.label} was launched but does not answer`);
  }
  if (c.build !== buildId()) {
    // A controller on another machine with another build of skyhop: this one replaces it.
    await shipPackage(kind, c.runner, ev);
    c.build = buildId();
  }
  return c;
}

/**
 * The controller's process serving with this build, after an answer said how it is: started (as a
 * job of the controller's agent) when none serves, restarted when it runs another build (safe at any
 * moment: it resumes everything from its state).
 */
export async function ensureServing(
  store: Store,
  c: Controller,
  now: { serving: boolean; serveBuild: string | null },
  ev: SdkEvents,
): Promise<void> {
  // The process should run the build on its node (this one, once controllerNode shipped it).
  if (now.serving && now.serveBuild === c.build) return;
  if (now.serving) {
    ev.onStep?.(`Restarting the ${c.kind.label} process with its node's build of skyhop.`);
    // Its job's loop starts it again at once.
    await rpc(c, ['restart']);
    return;
  }
  ev.onStep?.(`Starting the ${c.kind.label} process.`);
  const { submitTask } = await import('./jobs.js');
  await submitTask(store, c.rec, controllerJob(c.kind, serveLine(c.kind, c.cli), [{ useSpot: false }]), {
    withSetup: false,
    demand: { cpus: 0.5, accelerators: null },
  });
}

/**
 * The controller cluster's task: the config's `<section>.controller.resources` (default: the local
 * cloud, free), stopping itself once idle (`<section>.controller.autostop`; its process exits after
 * that many idle minutes, and the cluster stops a minute later). Its job is empty: the process is
 * submitted once its credentials are in place.
 */
async function controllerTask(kind: ControllerKind): Promise<Task> {
  const { loadConfig } = await import('../config/config.js');
  const cfg = await loadConfig();
  const { controllerResources } = await import('../task/controller.js');
  const resources = controllerResources(cfg, undefined, [], kind.section) ?? [
    { cloud: 'local', useSpot: false },
  ];
  let stop = cfg[kind.section].controller.autostop;
  if (stop && !stop.down) {
    // A controller on a cloud that cannot stop instances stays up (tearing it down would lose its history).
    const { getCloud } = await import('../clouds/registry.js');
    const canStop = resources.some((r) => r.cloud === undefined || getCloud(r.cloud).features.has('stop'));
    if (!canStop) stop = null;
  }
  return controllerJob(
    kind,
    '',
    resources.map((r) => ({ ...r, ...(stop ? { autostop: { idleMinutes: 1, down: stop.down } } : {}) })),
  );
}

function controllerJob(kind: ControllerKind, run: string, resources: Task['resources']): Task {
  return {
    name: kind.op,
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
 * bundled into them), the catalogs, and the packages kept out of the bundle (better-sqlite3's native
 * addon with its loader, HiGHS for DAG plans, csv-parse). Synced, so a later start sends only changes.
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

async function shipPackage(kind: ControllerKind, runner: CommandRunner, ev: SdkEvents): Promise<void> {
  ev.onStep?.(`Copying skyhop to the ${kind.label}.`);
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
export async function credentialsFor(clouds: Cloud[]): Promise<CarriedCredentials> {
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

/**
 * Uploads a task's local files (workdir, file_mounts, bucket sources) to the controller under
 * `~/.skyhop/<dir>/<key>/`; the task with its paths there.
 */
export async function uploadTaskFiles(c: Controller, t: Task, dir: string, key: string): Promise<Task> {
  const base = `.skyhop/${dir}/${key}`;
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

/**
 * The clusters a controller owns: they carry skyhop's tags like the client's own, and the client must
 * leave them to the controller. Empty when there is no controller (or it is stopped); null when it is
 * UP but does not answer (which clusters are its is unknown then).
 */
export async function ownedClusters(
  store: Store,
  kind: ControllerKind,
  name = kindCluster(kind),
): Promise<Set<string> | null> {
  let c: Controller | null;
  try {
    c = await existingController(store, kind, name);
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
