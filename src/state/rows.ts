/**
 * The rows of the state tables as both databases return them, and their mapping to the records of
 * types.ts: one mapping for SQLite (store.ts) and PostgreSQL (pg-store.ts). Integers arrive as
 * numbers from both (the PostgreSQL bridge parses int8), flags as 0/1, JSON columns as text.
 */
import type { ClusterSpec, NodeInfo } from '../core/cluster.js';
import { UserError } from '../util/errors.js';
import { isProcessAlive } from './process.js';
import { MANAGED_TERMINAL_STATUSES } from './managed.js';
import type {
  Autostop,
  ClusterRecord,
  ClusterStatus,
  Intent,
  IntentOutcome,
  JobRecord,
  LaunchedResources,
  ManagedJobRecord,
  ManagedJobStatus,
  ManagedPhase,
  ManagedTaskState,
  StorageRow,
  StorageStatus,
} from './types.js';

export interface ClusterRow {
  name: string;
  cloud: string;
  region: string;
  zone: string | null;
  status: ClusterStatus;
  resources: string;
  nodes: string;
  launched_at: number;
  status_updated_at: number;
  hourly_price: number;
  autostop: string | null;
  head_ip: string | null;
  cluster_hash: string | null;
  last_use: string | null;
  spec: string | null;
}

export interface IntentRow {
  id: number;
  cluster: string;
  cloud: string;
  region: string;
  zone: string | null;
  num_nodes: number;
  spec: string;
  pid: number;
  pid_start: string | null;
  created_at: number;
  outcome: IntentOutcome | null;
  resolved_at: number | null;
}

export interface JobRow {
  cluster: string;
  job_id: number;
  name: string | null;
  submitted_at: number;
  status: string;
  command: string | null;
  started_at: number | null;
  ended_at: number | null;
}

export interface StorageDbRow {
  name: string;
  store: string;
  region: string;
  endpoint: string | null;
  source: string | null;
  created_by_skyhop: number;
  persistent: number;
  status: StorageStatus;
  created_at: number;
  status_updated_at: number;
  pid: number | null;
  pid_start: string | null;
}

export interface ManagedRow {
  id: number;
  name: string;
  user: string;
  status: ManagedJobStatus;
  reason: string | null;
  submitted_at: number;
  started_at: number | null;
  ended_at: number | null;
  current_task: number;
  phase: ManagedPhase;
  cancel_requested: number;
  tasks: string;
  updated_at: number;
}

export interface LockRow {
  token: string;
  pid: number;
  pid_start: string | null;
  command: string;
  since: number;
}

/** The managed-job states that are ends (SQL list). */
export const MANAGED_TERMINAL_SQL = MANAGED_TERMINAL_STATUSES.map((s) => `'${s}'`).join(', ');

/** The columns of a JobPatch. */
export const JOB_PATCH_COLUMNS = {
  name: 'name',
  status: 'status',
  command: 'command',
  startedAt: 'started_at',
  endedAt: 'ended_at',
} as const;

/** The columns of a ManagedJobPatch. */
export const MANAGED_PATCH_COLUMNS = {
  status: 'status',
  reason: 'reason',
  startedAt: 'started_at',
  endedAt: 'ended_at',
  currentTask: 'current_task',
  phase: 'phase',
  tasks: 'tasks',
} as const;

/**
 * A JSON column of a row; unreadable text is a UserError naming the row (`where` is the database:
 * a file path or a PostgreSQL URL without its password).
 */
export function parseJson<T>(where: string, table: string, key: string, column: string, text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new UserError(
      `${where}: ${table} '${key}' has an unreadable ${column}; remove it with ` +
        `'skyhop down --purge ${key}' (the cloud's tags still find its instances)`,
    );
  }
}

export function headIpOf(nodes: readonly NodeInfo[]): string | null {
  const head = nodes.find((n) => n.role === 'head') ?? nodes[0];
  if (!head) return null;
  return head.externalIp || head.internalIp || null;
}

/**
 * The spec a cluster was launched with: its recorded one, or (a record built without one) the spec its
 * place and resources describe. The cluster name and place always come from the record itself.
 */
export function launchSpecOf(rec: ClusterRecord): ClusterSpec {
  const r = rec.resources;
  const derived: ClusterSpec = {
    cluster: rec.name,
    numNodes: r.numNodes,
    instanceType: r.instanceType,
    region: rec.region,
    zone: rec.zone,
    useSpot: r.useSpot,
    accelerators: r.accelerators,
    ...(r.diskSize !== undefined ? { diskSize: r.diskSize } : {}),
    ...(r.ports !== undefined ? { ports: r.ports } : {}),
    ...(r.imageId !== undefined ? { imageId: r.imageId } : {}),
  };
  return rec.spec ? { ...rec.spec, cluster: rec.name, region: rec.region, zone: rec.zone } : derived;
}

/** A short description of launched resources: '2x m5.large', '1x p4d.24xlarge[A100:8][spot]'. */
export function describeResources(r: LaunchedResources): string {
  let s = `${r.numNodes}x ${r.instanceType}`;
  if (r.accelerators) s += `[${r.accelerators.name}:${r.accelerators.count}]`;
  if (r.useSpot) s += '[spot]';
  return s;
}

/** The named parameters of a cluster record's upsert (JSON columns as text). */
export function clusterParams(rec: ClusterRecord): Record<string, string | number | null> {
  return {
    name: rec.name,
    cloud: rec.cloud,
    region: rec.region,
    zone: rec.zone ?? null,
    status: rec.status,
    resources: JSON.stringify(rec.resources),
    nodes: JSON.stringify(rec.nodes ?? []),
    launchedAt: rec.launchedAt,
    statusUpdatedAt: rec.statusUpdatedAt,
    hourlyPrice: rec.hourlyPrice,
    autostop: rec.autostop ? JSON.stringify(rec.autostop) : null,
    headIp: rec.headIp ?? null,
    clusterHash: rec.clusterHash ?? null,
    lastUse: rec.lastUse ?? null,
    spec: JSON.stringify(launchSpecOf(rec)),
  };
}

export function toCluster(where: string, r: ClusterRow): ClusterRecord {
  return {
    name: r.name,
    cloud: r.cloud,
    region: r.region,
    zone: r.zone,
    status: r.status,
    resources: parseJson<LaunchedResources>(where, 'cluster', r.name, 'resources', r.resources),
    nodes: parseJson<NodeInfo[]>(where, 'cluster', r.name, 'nodes', r.nodes),
    launchedAt: r.launched_at,
    statusUpdatedAt: r.status_updated_at,
    hourlyPrice: r.hourly_price,
    autostop:
      r.autostop === null ? null : parseJson<Autostop>(where, 'cluster', r.name, 'autostop', r.autostop),
    headIp: r.head_ip,
    clusterHash: r.cluster_hash,
    lastUse: r.last_use,
    ...(r.spec === null ? {} : { spec: parseJson<ClusterSpec>(where, 'cluster', r.name, 'spec', r.spec) }),
  };
}

/** Whether the process that wrote a row (its pid and `pid_start`) still runs. */
export type AliveCheck = (pid: number, pidStart: string | null) => boolean;

export function toIntent(where: string, r: IntentRow, alive: AliveCheck = isProcessAlive): Intent {
  return {
    id: r.id,
    cluster: r.cluster,
    cloud: r.cloud,
    region: r.region,
    zone: r.zone,
    numNodes: r.num_nodes,
    spec: parseJson<ClusterSpec>(where, 'intent', String(r.id), 'spec', r.spec),
    pid: r.pid,
    createdAt: r.created_at,
    outcome: r.outcome,
    resolvedAt: r.resolved_at,
    processAlive: alive(r.pid, r.pid_start),
  };
}

export function toJob(r: JobRow): JobRecord {
  return {
    cluster: r.cluster,
    jobId: r.job_id,
    name: r.name,
    submittedAt: r.submitted_at,
    status: r.status,
    command: r.command,
    startedAt: r.started_at,
    endedAt: r.ended_at,
  };
}

export function toStorage(r: StorageDbRow, alive: AliveCheck = isProcessAlive): StorageRow {
  return {
    name: r.name,
    store: r.store as StorageRow['store'],
    region: r.region,
    endpoint: r.endpoint,
    source: r.source,
    createdBySkyhop: r.created_by_skyhop === 1,
    persistent: r.persistent === 1,
    status: r.status,
    createdAt: r.created_at,
    statusUpdatedAt: r.status_updated_at,
    pid: r.pid,
    processAlive: r.pid !== null && alive(r.pid, r.pid_start),
  };
}

export function toManaged(where: string, r: ManagedRow): ManagedJobRecord {
  return {
    id: r.id,
    name: r.name,
    user: r.user,
    status: r.status,
    reason: r.reason,
    submittedAt: r.submitted_at,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    currentTask: r.current_task,
    phase: r.phase,
    cancelRequested: r.cancel_requested === 1,
    tasks: parseJson<ManagedTaskState[]>(where, 'managed job', String(r.id), 'tasks', r.tasks),
    updatedAt: r.updated_at,
  };
}
