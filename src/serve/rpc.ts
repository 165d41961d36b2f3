/**
 * `skyhop serve-controller <op>`: what the client runs on the serve controller's node (through the
 * controller cluster's runner), JSON on stdin and stdout, as `jobs-controller` (jobs/rpc.ts). Ops:
 *
 *   ping                 {serving, home, build, serveBuild}
 *   restart              ends the serving process (its job's loop starts it again, with this build)
 *   up       (stdin)     writes the carried credentials (0600), records a new service (version 1) and
 *                        its secrets (0600), wakes the controller; {name, serving, serveBuild}
 *   update   (stdin)     records the service's next version; {version, serving, serveBuild}
 *   status   (stdin)     {services: ServiceInfo[], serving, serveBuild}
 *   down     (stdin)     asks the controller to remove services; {names}
 *   clusters             {clusters}: the clusters the controller owns (its replicas')
 *   logs NAME [--replica ID | --controller | --load-balancer] [--no-follow]
 *                        a replica's output (or the controller's or load balancer's log of the service)
 *   serve                the controller's process (controller.ts)
 *   lb NAME              a service's load balancer process (lb.ts)
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { checkServiceName, type ServiceInfo, type UpdateMode } from '../core/serve.js';
import type { Task } from '../core/task.js';
import { readJson, writePrivate } from '../jobs/files.js';
import {
  answer,
  drainer,
  ownedClusterNames,
  readInput,
  restartServe,
  servingNow as servingState,
  writeCredentials,
} from '../jobs/rpc.js';
import type { CarriedCredentials } from '../sdk/controller.js';
import { openStore } from '../state/index.js';
import { buildId } from '../util/build-id.js';
import { UserError } from '../util/errors.js';
import { skyhopHome } from '../util/paths.js';
import { sleep } from '../util/sleep.js';
import {
  readService,
  readVersion,
  secretsPath,
  type ServeRequest,
  type ServiceRecord,
  serveRecordPath,
  serviceFiles,
  serviceNames,
  type VersionRecord,
  versionsOf,
  writeService,
} from './files.js';

/** What `serve up` and `serve update` send. */
export interface ServeSubmission {
  name: string;
  user: string;
  /** The task, its secrets emptied (names kept) and its local paths on the controller. */
  task: Task;
  secrets: Record<string, string>;
  request: Omit<ServeRequest, 'secretsKey'>;
  mode?: UpdateMode;
}

/** Whether the serve controller's process serves this home (`wake`: and tell it to look now), and its build. */
function servingNow(o: { wake?: boolean } = {}): Promise<{ serving: boolean; serveBuild: string | null }> {
  return servingState(o, 'serve', serveRecordPath(skyhopHome()));
}

/** Writes a version's secrets (0600) under a fresh key, then its file; the version's number. */
function writeVersion(
  home: string,
  name: string,
  version: number,
  s: ServeSubmission,
  mode: UpdateMode,
): void {
  const secretsKey = randomUUID();
  writePrivate(secretsPath(home, secretsKey), JSON.stringify(s.secrets ?? {}));
  const tls = s.task.service?.tls;
  if (tls) {
    // The client uploaded them under serve/uploads/: the key is for the load balancer only.
    for (const f of [tls.keyfile, tls.certfile]) if (existsSync(f)) chmodSync(f, 0o600);
  }
  const v: VersionRecord = {
    version,
    mode,
    task: s.task,
    request: { ...s.request, secretsKey },
    at: Date.now(),
  };
  const f = serviceFiles(home, name).version(version);
  mkdirSync(serviceFiles(home, name).versionsDir, { recursive: true, mode: 0o700 });
  // Written whole beside it, then linked into place: the controller (which lists versions/ every
  // tick) never reads half a file, and the link fails when the version exists, so two updates at
  // once never write the same version.
  const tmp = `${f}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(v), { mode: 0o600 });
  try {
    linkSync(tmp, f);
  } finally {
    rmSync(tmp, { force: true });
  }
}

function up(s: ServeSubmission): void {
  if (!s?.task?.service) throw new UserError('serve-controller up: the task has no service section');
  checkServiceName(s.name);
  const home = skyhopHome();
  const files = serviceFiles(home, s.name);
  mkdirSync(`${home}/serve/services`, { recursive: true, mode: 0o700 });
  try {
    // The folder's creation is the name's claim: exactly one `up` of a name wins.
    mkdirSync(files.dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new UserError(
        `a service named '${s.name}' exists; \`skyhop serve update ${s.name} FILE\` changes it, \`skyhop serve down ${s.name}\` removes it`,
      );
    }
    throw e;
  }
  writeVersion(home, s.name, 1, s, 'rolling');
  const rec: ServiceRecord = {
    name: s.name,
    user: s.user,
    status: 'CONTROLLER_INIT',
    version: 1,
    mode: 'rolling',
    createdAt: Date.now(),
    lbHost: null,
    lbPort: null,
    tls: s.task.service.tls !== undefined,
    nextReplicaId: 1,
    reason: null,
    replicas: [],
    target: 0,
    qps: 0,
  };
  writeService(home, rec);
}

function update(s: ServeSubmission): number {
  if (!s?.task?.service) throw new UserError('serve-controller update: the task has no service section');
  // A name is a folder under serve/services/: one that is not a service name ('../x') names none.
  checkServiceName(s.name);
  const home = skyhopHome();
  const rec = readService(home, s.name);
  if (!rec) throw new UserError(`there is no service named '${s.name}'`);
  if (rec.status === 'SHUTTING_DOWN' || existsSync(serviceFiles(home, s.name).down)) {
    throw new UserError(`service '${s.name}' is going down; it cannot be updated`);
  }
  const version = Math.max(rec.version, ...versionsOf(home, s.name)) + 1;
  writeVersion(home, s.name, version, s, s.mode ?? 'rolling');
  return version;
}

/** A service as `serve status` shows it (the endpoint with this node's address; the client may map it). */
export function serviceInfo(home: string, rec: ServiceRecord): ServiceInfo {
  const v = readVersion(home, rec.name, rec.version);
  const spec = v?.task.service;
  const routable = readJson<{ replicas?: Array<{ id: number }> }>(serviceFiles(home, rec.name).replicas, {});
  const routed = new Set((routable.replicas ?? []).map((r) => r.id));
  const active = [...new Set(rec.replicas.filter((r) => routed.has(r.id)).map((r) => r.version))].sort();
  return {
    name: rec.name,
    status: rec.status,
    version: rec.version,
    activeVersions: active,
    updateMode: rec.mode,
    endpoint:
      rec.lbPort !== null && rec.lbHost !== null
        ? `${rec.tls ? 'https' : 'http'}://${rec.lbHost}:${rec.lbPort}`
        : null,
    createdAt: rec.createdAt,
    policy: spec?.replicaPolicy ?? {
      minReplicas: 0,
      maxReplicas: 0,
      upscaleDelaySeconds: 0,
      downscaleDelaySeconds: 0,
      baseOndemandFallbackReplicas: 0,
      dynamicOndemandFallback: false,
    },
    loadBalancingPolicy: spec?.loadBalancingPolicy ?? 'least_load',
    qps: rec.qps,
    targetReplicas: rec.target,
    reason: rec.reason,
    replicas: rec.replicas.map((r) => ({
      service: rec.name,
      id: r.id,
      version: r.version,
      status: r.status,
      spot: r.spot,
      cluster: r.cluster,
      url: r.url,
      cloud: r.cloud,
      region: r.region,
      zone: r.zone,
      instanceType: r.instanceType,
      launchedAt: r.launchedAt,
      reason: r.reason,
    })),
  };
}

function down(d: { names: string[] | null; all: boolean; purge: boolean }): string[] {
  for (const n of d.names ?? []) checkServiceName(n);
  const home = skyhopHome();
  const all = serviceNames(home);
  const names = d.all ? all : (d.names ?? []);
  for (const n of names) if (!all.includes(n)) throw new UserError(`there is no service named '${n}'`);
  for (const n of names)
    writePrivate(serviceFiles(home, n).down, JSON.stringify({ purge: d.purge, at: Date.now() }));
  return names;
}

/** Streams a file from its start; follows it while `more()` says so. */
async function streamFile(path: string, follow: boolean, more: () => boolean): Promise<void> {
  const drain = drainer(path);
  for (;;) {
    const going = follow && more();
    drain();
    if (!going) return;
    await sleep(200);
  }
}

async function logs(
  name: string,
  flags: { replica?: number; controller?: boolean; loadBalancer?: boolean; follow?: boolean },
): Promise<number> {
  checkServiceName(name);
  const home = skyhopHome();
  const rec = readService(home, name);
  if (!rec) throw new UserError(`there is no service named '${name}'`);
  const files = serviceFiles(home, name);
  const follow = flags.follow !== false;
  if (flags.controller || flags.loadBalancer) {
    await streamFile(flags.controller ? files.controllerLog : files.lbLog, follow, () =>
      existsSync(files.record),
    );
    return 0;
  }
  const r = rec.replicas.find((x) => x.id === flags.replica);
  if (!r) {
    const ids = rec.replicas.map((x) => x.id).join(', ') || 'none';
    throw new UserError(`service '${name}' has no replica ${flags.replica} (its replicas: ${ids})`);
  }
  const store = openStore();
  const c = store.getCluster(r.cluster);
  if (!c || r.jobId === null) {
    // A replica that failed: its output as saved before its teardown.
    if (existsSync(files.replicaLog(r.id))) {
      await streamFile(files.replicaLog(r.id), false, () => false);
      return 0;
    }
    throw new UserError(
      `replica ${r.id} of '${name}' has no running cluster and no saved output (${r.status}${r.reason ? `: ${r.reason}` : ''})`,
    );
  }
  const { followJob } = await import('../sdk/jobs.js');
  await followJob(store, c, r.jobId, { follow, onOutput: (chunk) => process.stdout.write(chunk) });
  return 0;
}

/** A service's load balancer: listens where the controller chose, until SIGTERM. */
async function loadBalancer(name: string): Promise<number> {
  checkServiceName(name);
  const home = skyhopHome();
  const rec = readService(home, name);
  if (!rec || rec.lbPort === null || rec.lbHost === null)
    throw new UserError(`service '${name}' has no load balancer address yet`);
  const spec = readVersion(home, name, rec.version)?.task.service;
  if (!spec) throw new UserError(`service '${name}' has no service section`);
  const files = serviceFiles(home, name);
  const { startLoadBalancer } = await import('./lb.js');
  const ac = new AbortController();
  const lb = await startLoadBalancer({
    host: rec.lbHost,
    port: rec.lbPort,
    dir: files.dir,
    policy: spec.loadBalancingPolicy,
    ...(spec.tls
      ? { tls: { key: readFileSync(spec.tls.keyfile), cert: readFileSync(spec.tls.certfile) } }
      : {}),
    signal: ac.signal,
    log: (line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`),
  });
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve());
  });
  await lb.close();
  return 0;
}

/** Runs one op; resolves with the process's exit code. */
export async function serveControllerOp(
  op: string,
  args: string[],
  flags: { replica?: number; controller?: boolean; loadBalancer?: boolean; follow?: boolean },
): Promise<number> {
  switch (op) {
    case 'ping': {
      const now = await servingNow();
      answer({ serving: now.serving, home: homedir(), build: buildId(), serveBuild: now.serveBuild });
      return 0;
    }
    case 'restart':
      answer({ restarted: await restartServe('serve', serveRecordPath(skyhopHome())) });
      return 0;
    case 'up': {
      const s = await readInput<{ submission: ServeSubmission; credentials?: CarriedCredentials }>();
      if (s.credentials) writeCredentials(s.credentials);
      up(s.submission);
      answer({ name: s.submission.name, ...(await servingNow({ wake: true })) });
      return 0;
    }
    case 'update': {
      const s = await readInput<{ submission: ServeSubmission; credentials?: CarriedCredentials }>();
      if (s.credentials) writeCredentials(s.credentials);
      const version = update(s.submission);
      answer({ version, ...(await servingNow({ wake: true })) });
      return 0;
    }
    case 'status': {
      const q = await readInput<{ names: string[] | null }>();
      const home = skyhopHome();
      for (const n of q.names ?? []) checkServiceName(n);
      const names = q.names ?? serviceNames(home);
      const services: ServiceInfo[] = [];
      for (const n of names) {
        const rec = readService(home, n);
        if (rec) services.push(serviceInfo(home, rec));
        else if (q.names) throw new UserError(`there is no service named '${n}'`);
      }
      answer({ now: Date.now(), services, ...(await servingNow()) });
      return 0;
    }
    case 'down': {
      const d = await readInput<{ names: string[] | null; all: boolean; purge: boolean }>();
      answer({ names: down(d), ...(await servingNow({ wake: true })) });
      return 0;
    }
    case 'clusters': {
      answer({ clusters: ownedClusterNames() });
      return 0;
    }
    case 'logs':
      return logs(args[0] ?? '', flags);
    case 'serve': {
      const { loadConfig } = await import('../config/config.js');
      const cfg = (await loadConfig()).serve.controller;
      const { serveServices } = await import('./controller.js');
      return serveServices({
        idleMs: (cfg.autostop?.idleMinutes ?? 10) * 60_000,
        timings: {
          probeMs: cfg.probeIntervalSeconds * 1000,
          decisionMs: cfg.decisionIntervalSeconds * 1000,
          qpsWindowSeconds: cfg.qpsWindowSeconds,
        },
      });
    }
    case 'lb':
      return loadBalancer(args[0] ?? '');
    default:
      throw new UserError(`serve-controller: no op '${op}'`);
  }
}
