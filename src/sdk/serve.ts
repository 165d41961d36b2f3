/**
 * Services, the client's side (`skyhop serve ...`, SkyPilot's `sky serve`): a task with a `service:`
 * section run as replicas (clusters placed by the optimizer, anywhere the client may launch) behind
 * one endpoint, a load balancer on the serve controller.
 *
 * The serve controller is a skyhop cluster (`skyhop-serve-controller`; on the local cloud unless the
 * config's `serve.controller.resources` places it elsewhere), launched on first use by the machinery
 * it shares with the jobs controller (sdk/controller.ts); its process (`skyhop serve-controller
 * serve`, src/serve/) runs every service. The client talks to it only through the controller's runner.
 */
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import type { Cloud } from '../clouds/types.js';
import { checkServiceName, type ServiceInfo, type UpdateMode } from '../core/serve.js';
import type { Dag, Task } from '../core/task.js';
import { openStore, type Store } from '../state/index.js';
import { InterruptedError, UserError } from '../util/errors.js';
import { shJoin, shPath } from '../util/shell.js';
import { sleep } from '../util/sleep.js';
import type { SdkEvents } from './clusters.js';
import {
  type Controller,
  controllerNode,
  controllerStopped,
  credentialsFor,
  ensureServing,
  existingController,
  kindCluster,
  ownedClusters,
  requireController,
  rpc,
  rpcError,
  SERVE_CONTROLLER,
  uploadTaskFiles,
} from './controller.js';

/** The serve controller's cluster name (one per user on a team server). */
export function serveControllerCluster(user: string | undefined = process.env.SKYHOP_API_USER): string {
  return kindCluster(SERVE_CONTROLLER, user);
}

/** The clusters the serve controller owns (its replicas'): see `ownedClusters`. */
export function serveControllerClusters(
  store: Store,
  name = serveControllerCluster(),
): Promise<Set<string> | null> {
  return ownedClusters(store, SERVE_CONTROLLER, name);
}

interface Serving {
  serving: boolean;
  serveBuild: string | null;
}

/** The one task of a service YAML, checked: a pipeline or a task without `service:` is refused. */
export async function serviceTask(dag: Dag): Promise<Task> {
  if (dag.tasks.length !== 1) {
    throw new UserError(
      `a service is one task; this YAML has ${dag.tasks.length} (a pipeline cannot be served)`,
    );
  }
  const { checkServiceTask } = await import('../task/service.js');
  const t = dag.tasks[0]!;
  // The checks SkyPilot makes only at `serve up` (the replicas' port, spot on every alternative or none).
  const spec = checkServiceTask(t);
  if (spec) t.service = spec;
  if (!t.service) {
    throw new UserError(
      'the task has no service: section; add one (service: {readiness_probe: /health, replicas: 2}) to serve it',
    );
  }
  if (t.numNodes !== 1) {
    throw new UserError(`a replica is one node; the task asks for num_nodes: ${t.numNodes}`);
  }
  return t;
}

/** A SkyPilot-style generated name: `service-<4 hex>`. */
function generatedName(): string {
  return `service-${randomUUID().slice(0, 4)}`;
}

/**
 * The task's local files (workdir, file_mounts, TLS key and certificate) uploaded to the controller,
 * then `submit` (the op that names them); when the upload fails or the controller refuses the op (a
 * name taken, a service going down), what was uploaded is removed again: nothing would ever name it,
 * and a TLS key must not stay behind.
 */
async function withUploadedService<T>(
  c: Controller,
  t: Task,
  submit: (task: Task) => Promise<T>,
): Promise<T> {
  const key = randomUUID();
  const base = `.skyhop/serve/uploads/${key}`;
  let asked = false;
  try {
    const out = await uploadTaskFiles(c, t, 'serve/uploads', key);
    const tls = t.service?.tls;
    if (tls && out.service) {
      // The private key is 0600 from its first byte on the controller, whatever its mode here.
      await c.runner.upload(tls.keyfile, `~/${base}/tls-key.pem`, { mode: 0o600 });
      await c.runner.upload(tls.certfile, `~/${base}/tls-cert.pem`);
      out.service = {
        ...out.service,
        tls: { keyfile: `${c.home}/${base}/tls-key.pem`, certfile: `${c.home}/${base}/tls-cert.pem` },
      };
    }
    asked = true;
    return await submit(out);
  } catch (e) {
    // An op that did not answer may have taken the submission: its files stay then.
    if (asked && !(e instanceof UserError)) throw e;
    await c.runner.run(`rm -rf ${shPath(`~/${base}`)}`, { timeoutMs: 30_000 }).catch(() => undefined);
    throw e;
  }
}

function submissionOf(
  name: string,
  t: Task,
  clouds: Cloud[],
  target: 'cost' | 'time' | undefined,
  mode?: UpdateMode,
) {
  return {
    name,
    user: process.env.SKYHOP_API_USER || userInfo().username,
    task: { ...t, secrets: Object.fromEntries(Object.keys(t.secrets).map((k) => [k, ''])) },
    secrets: t.secrets,
    request: { clouds: clouds.map((c) => c.name), ...(target ? { target } : {}) },
    ...(mode ? { mode } : {}),
  };
}

/** The endpoint as this machine reaches it: the controller's address as its cluster record has it. */
function endpointFor(c: Pick<Controller, 'rec'>, s: ServiceInfo): string | null {
  if (!s.endpoint) return null;
  const head = c.rec.nodes.find((n) => n.role === 'head') ?? c.rec.nodes[0];
  if (!head?.externalIp || head.externalIp === head.internalIp) return s.endpoint;
  const u = new URL(s.endpoint);
  if (u.hostname === head.internalIp) u.hostname = head.externalIp;
  return u.origin;
}

async function readServices(
  c: Controller,
  names: string[] | null,
): Promise<{ services: ServiceInfo[] } & Serving> {
  const r = await rpc<{ services: ServiceInfo[] } & Serving>(c, ['status'], { names });
  return { ...r, services: r.services.map((s) => ({ ...s, endpoint: endpointFor(c, s) })) };
}

export interface ServeUpOptions extends SdkEvents {
  dag: Dag;
  /** The service's name (default: `service-<4 hex>`). */
  name?: string;
  /** Enabled clouds the replicas may use (the CLI resolves --cloud/--clouds). */
  clouds: Cloud[];
  target?: 'cost' | 'time';
  signal?: AbortSignal;
  store?: Store;
}

/** `serve up`: the service submitted to the serve controller (started when needed); its name and endpoint. */
export async function serveUp(o: ServeUpOptions): Promise<{ name: string; endpoint: string | null }> {
  const store = o.store ?? openStore();
  const task = await serviceTask(o.dag);
  const { canProvision } = await import('../core/features.js');
  const clouds = o.clouds.filter(canProvision);
  // Refused here when nothing fits (the controller would only find it out replica by replica).
  const { planLaunch } = await import('./plan.js');
  await planLaunch({ dag: { tasks: [task], edges: [] }, clouds, target: o.target });
  const name = o.name ?? generatedName();
  checkServiceName(name);
  const c = await controllerNode(store, SERVE_CONTROLLER, o);
  try {
    o.onStep?.('Uploading the service to the controller.');
    const r = await withUploadedService(c, task, async (uploaded) =>
      rpc<{ name: string } & Serving>(c, ['up'], {
        submission: submissionOf(name, uploaded, clouds, o.target),
        credentials: await credentialsFor(clouds),
      }),
    );
    await ensureServing(store, c, r, o);
    o.onStep?.(`Service '${name}' submitted; waiting for its load balancer.`);
    // The controller takes it up within a tick or two: its endpoint is then known.
    for (let i = 0; i < 300; i++) {
      if (o.signal?.aborted) throw new InterruptedError();
      const [s] = (await readServices(c, [name])).services;
      if (s?.endpoint) return { name, endpoint: s.endpoint };
      await sleep(100, o.signal);
    }
    return { name, endpoint: null };
  } finally {
    await c.runner.close();
  }
}

export interface ServeUpdateOptions extends SdkEvents {
  name: string;
  dag: Dag;
  clouds: Cloud[];
  target?: 'cost' | 'time';
  mode?: UpdateMode;
  store?: Store;
}

/** `serve update`: the service's next version; new replicas get it, old ones go as the mode says. */
export async function serveUpdate(o: ServeUpdateOptions): Promise<{ version: number }> {
  checkServiceName(o.name);
  const store = o.store ?? openStore();
  const task = await serviceTask(o.dag);
  const { canProvision } = await import('../core/features.js');
  const clouds = o.clouds.filter(canProvision);
  const { planLaunch } = await import('./plan.js');
  await planLaunch({ dag: { tasks: [task], edges: [] }, clouds, target: o.target });
  const c = await requireController(store, SERVE_CONTROLLER);
  try {
    const r = await withUploadedService(c, task, async (uploaded) =>
      rpc<{ version: number } & Serving>(c, ['update'], {
        submission: submissionOf(o.name, uploaded, clouds, o.target, o.mode ?? 'rolling'),
        credentials: await credentialsFor(clouds),
      }),
    );
    await ensureServing(store, c, r, o);
    return { version: r.version };
  } finally {
    await c.runner.close();
  }
}

/**
 * `serve status`: every service (or the named ones) with its replicas. No controller (or a stopped
 * one, which stops only without services): none. A service on a controller whose process died is
 * brought back by starting the process, as `jobs queue` does.
 */
export async function serveStatus(
  o: { names?: string[]; store?: Store; user?: string } = {},
): Promise<ServiceInfo[]> {
  for (const n of o.names ?? []) checkServiceName(n);
  const store = o.store ?? openStore();
  const c = await existingController(store, SERVE_CONTROLLER, serveControllerCluster(o.user));
  if (!c) {
    if (o.names?.length) throw new UserError(`there is no service named '${o.names[0]}'`);
    return [];
  }
  try {
    const r = await readServices(c, o.names?.length ? o.names : null);
    if (r.services.length > 0) await ensureServing(store, c, r, {});
    return r.services;
  } finally {
    await c.runner.close();
  }
}

export interface ServeDownOptions extends SdkEvents {
  names?: string[];
  all?: boolean;
  purge?: boolean;
  /** Return once asked (default: wait until every replica is torn down). */
  noWait?: boolean;
  store?: Store;
  signal?: AbortSignal;
}

/** `serve down`: the services' replicas torn down and the services removed; their names. */
export async function serveDown(o: ServeDownOptions): Promise<{ names: string[]; failed: ServiceInfo[] }> {
  for (const n of o.names ?? []) checkServiceName(n);
  const store = o.store ?? openStore();
  const c = await existingController(store, SERVE_CONTROLLER);
  if (!c) {
    if (o.all) return { names: [], failed: [] };
    throw new UserError(`there is no service named '${o.names?.[0] ?? ''}' (no serve controller is running)`);
  }
  try {
    const r = await rpc<{ names: string[] } & Serving>(c, ['down'], {
      names: o.names ?? null,
      all: o.all ?? false,
      purge: o.purge ?? false,
    });
    await ensureServing(store, c, r, o);
    if (o.noWait || r.names.length === 0) return { names: r.names, failed: [] };
    o.onStep?.(`Tearing down the replicas of ${r.names.join(', ')}.`);
    for (;;) {
      if (o.signal?.aborted) throw new InterruptedError();
      const left = (await readServices(c, null)).services.filter((s) => r.names.includes(s.name));
      const failed = left.filter((s) => s.status === 'FAILED_CLEANUP');
      if (left.length === failed.length) return { names: r.names, failed };
      await sleep(250, o.signal);
    }
  } finally {
    await c.runner.close();
  }
}

export interface ServeLogsOptions {
  name: string;
  /** A replica's output (its run); else `controller` or `loadBalancer`. */
  replica?: number;
  controller?: boolean;
  loadBalancer?: boolean;
  follow?: boolean;
  onOutput?(chunk: string): void;
  signal?: AbortSignal;
  store?: Store;
}

/** `serve logs`: a replica's output, or the controller's or load balancer's log of the service. */
export async function serveLogs(o: ServeLogsOptions): Promise<void> {
  checkServiceName(o.name);
  const store = o.store ?? openStore();
  const c = await requireController(store, SERVE_CONTROLLER);
  const args = [
    'logs',
    o.name,
    ...(o.replica !== undefined ? ['--replica', String(o.replica)] : []),
    ...(o.controller ? ['--controller'] : []),
    ...(o.loadBalancer ? ['--load-balancer'] : []),
    ...(o.follow === false ? ['--no-follow'] : []),
  ];
  let err = '';
  try {
    const r = await c.runner.run(`${c.cli} ${c.kind.op} ${shJoin(args)}`, {
      signal: o.signal,
      onStdout: (chunk) => o.onOutput?.(chunk),
      onStderr: (chunk) => {
        err = (err + chunk).slice(-4096);
      },
    });
    if (o.signal?.aborted) throw new InterruptedError();
    if (r.code !== 0) throw rpcError(c.kind, 'logs', r.code, err);
  } finally {
    await c.runner.close();
  }
}

/** Whether the serve controller's cluster exists but is not UP (it stops itself when idle). */
export function serveControllerStopped(store: Store = openStore()): boolean {
  return controllerStopped(store, SERVE_CONTROLLER);
}
