/**
 * The serve controller's files, under its own $SKYHOP_HOME (on the controller's node). One folder per
 * service; every JSON file is written whole and renamed into place, and each has one writer:
 *
 *   serve/services/<name>/service.json     the service and its replicas (the controller's process;
 *                                          `serve-controller up` writes the first one)
 *   serve/services/<name>/versions/<v>.json  version v: its task and request (`up` / `update`, once)
 *   serve/services/<name>/down.json        `serve down` asked ({purge}) (`serve-controller down`)
 *   serve/services/<name>/replicas.json    the replicas the load balancer may use (the controller)
 *   serve/services/<name>/lb-stats.json    requests per second at the load balancer (the load balancer)
 *   serve/services/<name>/lb-process.json  the load balancer's pid and start time (the controller)
 *   serve/services/<name>/controller.log   what the controller did for the service
 *   serve/services/<name>/load-balancer.log  the load balancer's output
 *   serve/services/<name>/replica-<id>.log  the output of a replica that failed, saved before its
 *                                          teardown (`serve logs NAME ID` once its cluster is gone)
 *   serve/secrets/<key>.json               a version's secrets (0600), named in its request
 *   serve/uploads/<key>/                   a version's workdir, file_mounts and TLS files
 *   serve/serve.json, serve/serve.log      the serving process: its pid and build; its log
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ReplicaStatus, ServiceStatus, UpdateMode } from '../core/serve.js';
import type { Task } from '../core/task.js';
import { readJson, sweepUnnamed, uploadKeysOf, writePrivate } from '../jobs/files.js';
import { REPLICAS_FILE } from './lb-files.js';

export function serveDir(home: string): string {
  return join(home, 'serve');
}

export function servicesDir(home: string): string {
  return join(home, 'serve', 'services');
}

export function serviceDir(home: string, name: string): string {
  return join(servicesDir(home), name);
}

export function serveRecordPath(home: string): string {
  return join(home, 'serve', 'serve.json');
}

export function serveLogPath(home: string): string {
  return join(home, 'serve', 'serve.log');
}

export function secretsPath(home: string, key: string): string {
  return join(home, 'serve', 'secrets', `${key}.json`);
}

export function uploadsDir(home: string): string {
  return join(home, 'serve', 'uploads');
}

export interface ServiceFiles {
  dir: string;
  record: string;
  versionsDir: string;
  version(v: number): string;
  down: string;
  replicas: string;
  lbProcess: string;
  controllerLog: string;
  lbLog: string;
  replicaLog(id: number): string;
}

export function serviceFiles(home: string, name: string): ServiceFiles {
  const dir = serviceDir(home, name);
  return {
    dir,
    record: join(dir, 'service.json'),
    versionsDir: join(dir, 'versions'),
    version: (v) => join(dir, 'versions', `${v}.json`),
    down: join(dir, 'down.json'),
    replicas: join(dir, REPLICAS_FILE),
    lbProcess: join(dir, 'lb-process.json'),
    controllerLog: join(dir, 'controller.log'),
    lbLog: join(dir, 'load-balancer.log'),
    replicaLog: (id) => join(dir, `replica-${id}.log`),
  };
}

/** What the client asked of a version, besides its task. */
export interface ServeRequest {
  /** Clouds the replicas may use (resolved by the client). */
  clouds: string[];
  target?: 'cost' | 'time';
  /** Names the file of the version's secrets on the controller. */
  secretsKey: string;
}

/** `versions/<v>.json`. */
export interface VersionRecord {
  version: number;
  mode: UpdateMode;
  /** The task with its secrets emptied (the values are in the secrets file) and its paths on the controller. */
  task: Task;
  request: ServeRequest;
  at: number;
}

/** A replica as the controller keeps it. */
export interface ReplicaRecord {
  id: number;
  version: number;
  status: ReplicaStatus;
  spot: boolean;
  cluster: string;
  /** The agent's job that runs the replica's `run`, once launched. */
  jobId: number | null;
  url: string | null;
  cloud: string | null;
  region: string | null;
  zone: string | null;
  instanceType: string | null;
  launchedAt: number | null;
  /** When its job started (the initial delay counts from here). */
  startedAt: number | null;
  /** When it last passed the probe. */
  readyAt: number | null;
  /** When it last failed the probe after being READY (NOT_READY since). */
  notReadySince: number | null;
  /** When SHUTTING_DOWN began (requests drain before the teardown). */
  shutdownAt: number | null;
  /** What to mark it once torn down (a terminal state), or null to forget it (scaled down). */
  endAs: ReplicaStatus | null;
  reason: string | null;
  endedAt: number | null;
}

/** `service.json`. */
export interface ServiceRecord {
  name: string;
  user: string;
  status: ServiceStatus;
  /** The newest version the controller took up (versions/<v>.json beyond it are updates to take). */
  version: number;
  mode: UpdateMode;
  createdAt: number;
  /** Where the load balancer listens (chosen by the controller when it takes the service up). */
  lbHost: string | null;
  lbPort: number | null;
  tls: boolean;
  nextReplicaId: number;
  reason: string | null;
  replicas: ReplicaRecord[];
  /** The autoscaler's last wanted count and the QPS it saw. */
  target: number;
  qps: number;
}

export function readService(home: string, name: string): ServiceRecord | null {
  return readJson<ServiceRecord | null>(serviceFiles(home, name).record, null);
}

export function writeService(home: string, rec: ServiceRecord): void {
  writePrivate(serviceFiles(home, rec.name).record, JSON.stringify(rec));
}

export function readVersion(home: string, name: string, v: number): VersionRecord | null {
  return readJson<VersionRecord | null>(serviceFiles(home, name).version(v), null);
}

/** The versions written for a service, ascending. */
export function versionsOf(home: string, name: string): number[] {
  const dir = serviceFiles(home, name).versionsDir;
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((n) => /^(\d+)\.json$/.exec(n)?.[1])
    .filter((x): x is string => x !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

/** Every service with a record, by name. */
export function serviceNames(home: string): string[] {
  const dir = servicesDir(home);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => existsSync(serviceFiles(home, n).record))
    .sort();
}

/** The upload folders (under serve/uploads/) a version reads: its workdir, file_mounts, TLS files. */
export function uploadKeysOfVersion(home: string, v: VersionRecord): Set<string> {
  const uploads = uploadsDir(home);
  const keys = uploadKeysOf({ tasks: [v.task], edges: [] }, uploads);
  const tls = v.task.service?.tls;
  for (const p of tls ? [tls.keyfile, tls.certfile] : []) {
    const key = p.startsWith(`${uploads}/`) ? p.slice(uploads.length + 1).split('/')[0] : undefined;
    if (key) keys.add(key);
  }
  return keys;
}

/** Every version written for a service (whatever its record says), read; unreadable ones left out. */
function versionRecords(home: string, name: string): VersionRecord[] {
  const out: VersionRecord[] = [];
  for (const n of versionsOf(home, name)) {
    try {
      const v = readVersion(home, name, n);
      if (v) out.push(v);
    } catch {
      // A torn file cannot exist (written whole); a hand-edited one names nothing we can trust.
    }
  }
  return out;
}

/**
 * A removed service's secrets files and upload folders (its TLS key among them), which nothing
 * else names: removed with it, so `serve down` leaves no secret on the controller.
 */
export function removeServiceData(home: string, name: string): void {
  for (const v of versionRecords(home, name)) {
    if (v.request?.secretsKey) rmSync(secretsPath(home, v.request.secretsKey), { force: true });
    for (const k of uploadKeysOfVersion(home, v))
      rmSync(join(uploadsDir(home), k), { recursive: true, force: true });
  }
}

/**
 * Secrets files and upload folders no service's version names (an `up` that died between its
 * uploads and its version, or a service removed by an older build): removed once older than a
 * submission could take (a submission may be uploading or writing its version right now).
 */
export function removeOrphans(
  home: string,
  o: { secretsAgeMs?: number; uploadsAgeMs?: number; now?: number } = {},
): void {
  const now = o.now ?? Date.now();
  const secrets = new Set<string>();
  const uploads = new Set<string>();
  let dirs: string[] = [];
  try {
    dirs = readdirSync(servicesDir(home));
  } catch {
    // No service yet.
  }
  // Every folder counts, with or without service.json: `up` writes its version before its record.
  for (const name of dirs) {
    for (const v of versionRecords(home, name)) {
      if (v.request?.secretsKey) secrets.add(`${v.request.secretsKey}.json`);
      for (const k of uploadKeysOfVersion(home, v)) uploads.add(k);
    }
  }
  sweepUnnamed(dirname(secretsPath(home, 'x')), secrets, o.secretsAgeMs ?? 60_000, now);
  sweepUnnamed(uploadsDir(home), uploads, o.uploadsAgeMs ?? 6 * 3_600_000, now);
}
