/**
 * The local state store's records. The cloud's tags are the truth about what runs; this store is the
 * client's record of what it launched, what it submitted and what it cost, kept in
 * `$SKYHOP_HOME/state.db` (SQLite, WAL).
 *
 * Secrets never reach this store. Callers must pass only the fields listed here: never a task's
 * `secrets`, never its `envs` (they may hold tokens), never credentials. `lastUse` and a job's
 * `command` are the command text the user typed (secret flags are the caller's to redact; the lock
 * table redacts `--secret` values from the argv it records by itself).
 */
import type { ClusterSpec, NodeInfo } from '../core/cluster.js';
import type { StorageMode, StoreKind } from '../core/storage.js';
import type { AcceleratorDemand } from '../core/task.js';

export type ClusterStatus = 'INIT' | 'UP' | 'STOPPED';

/** What a cluster was launched with (stored as JSON). */
export interface LaunchedResources {
  instanceType: string;
  accelerators: AcceleratorDemand | null;
  useSpot: boolean;
  vcpus: number | null;
  memoryGiB: number | null;
  numNodes: number;
  diskSize?: number;
  ports?: string[];
  imageId?: string;
}

export interface Autostop {
  idleMinutes: number;
  /** Tear down instead of stopping. */
  down: boolean;
}

export interface ClusterRecord {
  name: string;
  cloud: string;
  region: string;
  zone: string | null;
  status: ClusterStatus;
  resources: LaunchedResources;
  nodes: NodeInfo[];
  /** ms since the epoch. */
  launchedAt: number;
  /** When `status` last changed (ms since the epoch). */
  statusUpdatedAt: number;
  /** USD per node-hour. */
  hourlyPrice: number;
  autostop: Autostop | null;
  headIp: string | null;
  clusterHash?: string | null;
  /** The last command that used the cluster (e.g. `skyhop exec dev ...`). */
  lastUse?: string | null;
  /**
   * The whole spec the cluster was launched with (instance type, place, disk, ports, image, labels):
   * what a relaunch or start of this cluster asks the cloud for again. Every record written since
   * schema v3 has it (older rows are filled in from `resources` by the migration, without labels,
   * which they never recorded); read it through `launchSpecOf`, which also covers hand-built records.
   */
  spec?: ClusterSpec;
}

export type IntentOutcome = 'created' | 'failed' | 'cleaned';

/** A provisioning intent: written before any instance is created, resolved when the attempt ends. */
export interface Intent {
  id: number;
  cluster: string;
  cloud: string;
  region: string;
  zone: string | null;
  numNodes: number;
  spec: ClusterSpec;
  /** The process that wrote it. */
  pid: number;
  /** ms since the epoch. */
  createdAt: number;
  /** null while open. */
  outcome: IntentOutcome | null;
  resolvedAt: number | null;
  /**
   * Whether the writing process is still running (checked when read: pid alive and, on Linux, the same
   * process start time). An open intent whose process is gone was left by a crashed launch.
   */
  processAlive: boolean;
}

export interface IntentInput {
  cluster: string;
  cloud: string;
  region: string;
  zone: string | null;
  numNodes: number;
  spec: ClusterSpec;
}

/** The client's record of a job it submitted (the cluster's agent keeps the live queue). */
export interface JobRecord {
  cluster: string;
  jobId: number;
  name: string | null;
  /** ms since the epoch. */
  submittedAt: number;
  /** The agent's status name, e.g. 'PENDING', 'RUNNING', 'SUCCEEDED'. */
  status: string;
  /** The run command as the user gave it (never secrets). */
  command: string | null;
  startedAt: number | null;
  endedAt: number | null;
}

export interface JobInput {
  cluster: string;
  jobId: number;
  name?: string | null;
  submittedAt: number;
  status: string;
  command?: string | null;
  startedAt?: number | null;
  endedAt?: number | null;
}

export type JobPatch = Partial<Pick<JobRecord, 'name' | 'status' | 'command' | 'startedAt' | 'endedAt'>>;

export type CostEventKind = 'launch' | 'stop' | 'start' | 'down';

export interface CostEventMeta {
  cloud: string;
  region: string;
  /** A short human description, e.g. '2x m5.large' or '1x p4d.24xlarge[A100:8]'. */
  resources: string;
}

/** One billed life of a cluster name: from a launch to its `down` (or now). */
export interface CostRow {
  cluster: string;
  cloud: string | null;
  region: string | null;
  resources: string | null;
  status: 'live' | 'stopped' | 'terminated';
  /** When this life began (the launch). */
  launchedAt: number;
  /** When it was torn down; null while live or stopped. */
  endedAt: number | null;
  /** Billed (running) time in ms: the sum of launch/start -> stop/down (or `now`) intervals. */
  durationMs: number;
  /** USD: sum over running intervals of hours x hourlyPrice x numNodes (of the event that began it). */
  cost: number;
  /** Of the latest running interval. */
  hourlyPrice: number;
  numNodes: number;
}

export interface LockHolder {
  pid: number;
  /** What the holder is doing, e.g. 'skyhop launch -c dev task.yaml' (secret flag values redacted). */
  command: string;
  /** ms since the epoch. */
  since: number;
}

export interface LockOptions {
  /** Wait for the holder to release (true) or throw a UserError naming the holder (false). */
  wait: boolean;
  /** With wait: give up with a UserError after this long (default: wait forever). */
  timeoutMs?: number;
  /** Called once, the first time the lock is found held by another live holder. */
  onWait?: (holder: LockHolder) => void;
  /** Recorded as the holder's command (default: this process's argv, `--secret` values redacted). */
  command?: string;
}

/**
 * A bucket's journal state: `CREATING` is committed before CreateBucket and `DELETING` before its
 * objects are deleted; a row in either state whose process is gone was left by a crash, and
 * `skyhop storage delete` finishes it.
 */
export type StorageStatus = 'CREATING' | 'READY' | 'DELETING';

/** A bucket skyhop created or uses (never credentials). */
export interface StorageRow {
  name: string;
  store: StoreKind;
  region: string;
  /** The S3 endpoint it lives at (null: AWS itself). */
  endpoint: string | null;
  /** What it holds: a local directory uploaded into it, or its own URL (`s3://name`). */
  source: string | null;
  /** skyhop created it (and deletes it with its objects); false: it only uses it. */
  createdBySkyhop: boolean;
  /** false: deleted when the last cluster using it is torn down (only if skyhop created it). */
  persistent: boolean;
  status: StorageStatus;
  /** ms since the epoch. */
  createdAt: number;
  statusUpdatedAt: number;
  /** The process that wrote the status. */
  pid: number | null;
  /** Whether that process still runs (checked when read). */
  processAlive: boolean;
}

/** What a caller writes; the times and the process are the store's. */
export type StorageInput = Omit<StorageRow, 'createdAt' | 'statusUpdatedAt' | 'pid' | 'processAlive'>;

/** A cluster's use of a bucket at one remote path. */
export interface StorageUse {
  name: string;
  cluster: string;
  path: string;
  mode: StorageMode;
  /** The folder of the bucket at `path` ('' for the whole bucket): what `start` mounts again. */
  prefix?: string;
}

/**
 * A managed job's state (SkyPilot's names). PENDING: waiting for the controller; STARTING: its
 * first cluster is being launched; RUNNING; RECOVERING: its cluster was preempted (or its code failed
 * and may restart) and a new one is being launched; CANCELLING; and the ends: SUCCEEDED, CANCELLED,
 * FAILED (the code's exit), FAILED_SETUP, FAILED_PRECHECKS (the task cannot be launched as given),
 * FAILED_NO_RESOURCE (no place had capacity), FAILED_CONTROLLER (the controller itself failed).
 */
export type ManagedJobStatus =
  | 'PENDING'
  | 'STARTING'
  | 'RUNNING'
  | 'RECOVERING'
  | 'SUCCEEDED'
  | 'CANCELLING'
  | 'CANCELLED'
  | 'FAILED'
  | 'FAILED_SETUP'
  | 'FAILED_PRECHECKS'
  | 'FAILED_NO_RESOURCE'
  | 'FAILED_CONTROLLER';

/**
 * Where the controller is in a job's current task, written before each step so a restarted
 * controller resumes it: `launching` (a cluster named `cluster` may be partly made), `running` (its
 * agent job `clusterJobId` runs), `cleanup` (the task ended; its cluster is being torn down).
 */
export type ManagedPhase = 'idle' | 'launching' | 'running' | 'cleanup';

/** One task of a managed job (a pipeline has several, run in order). */
export interface ManagedTaskState {
  name: string;
  status: ManagedJobStatus;
  /** The resources asked for, as `launch` prints them. */
  resources: string;
  /** When it first ran; when it ended. */
  startedAt: number | null;
  endedAt: number | null;
  /** Relaunches after preemption or a failure (both count here, as SkyPilot's #RECOVERIES). */
  recoveryCount: number;
  /** Relaunches after the code failed (bounded by max_restarts_on_errors). */
  restartsOnErrors: number;
  /** Time spent RUNNING, over every cluster (ms), and since when it runs now. */
  runMs: number;
  runningSince: number | null;
  /** USD of the clusters it has finished with; the current cluster's is added when read. */
  cost: number;
  /** Its current (or last) cluster, the agent job there, and that cluster's launch time and USD/h. */
  cluster: string | null;
  clusterJobId: number | null;
  clusterSince: number | null;
  clusterHourly: number | null;
  /** cloud/region/zone of the current or last cluster. */
  infra: string | null;
  exitCode: number | null;
  reason: string | null;
  /**
   * The current cluster's job (`<cluster>#<agent job id>`) whose output is being copied into the
   * managed job's log, and the log's size in bytes when that copy began: a restarted controller
   * skips what is already there. Reset at each launch.
   */
  logStream?: { of: string; from: number } | null;
}

export interface ManagedJobRecord {
  id: number;
  name: string;
  user: string;
  status: ManagedJobStatus;
  reason: string | null;
  submittedAt: number;
  startedAt: number | null;
  endedAt: number | null;
  currentTask: number;
  phase: ManagedPhase;
  cancelRequested: boolean;
  tasks: ManagedTaskState[];
  updatedAt: number;
}

/** What `insertManagedJob` records: the graph and request as JSON, never secrets. */
export interface ManagedJobInput {
  name: string;
  user: string;
  tasks: ManagedTaskState[];
  dag: string;
  request: string;
}

export type ManagedJobPatch = Partial<
  Pick<ManagedJobRecord, 'status' | 'reason' | 'startedAt' | 'endedAt' | 'currentTask' | 'phase' | 'tasks'>
>;

export interface Store {
  /** `$SKYHOP_HOME` this store lives in, and the database file. */
  readonly home: string;
  readonly path: string;

  getCluster(name: string): ClusterRecord | null;
  /** Sorted by name. */
  listClusters(): ClusterRecord[];
  /** Insert or replace every field of the record (the cluster's jobs are kept). */
  upsertCluster(rec: ClusterRecord): void;
  /** Sets the status (statusUpdatedAt moves only when it changes). False when no such cluster. */
  setClusterStatus(name: string, status: ClusterStatus, at?: number): boolean;
  /** Sets the nodes and derives headIp (the head node's external IP, else its internal IP). */
  setClusterNodes(name: string, nodes: NodeInfo[]): boolean;
  setAutostop(name: string, autostop: Autostop | null): boolean;
  setLastUse(name: string, command: string): boolean;
  /** Forgets the cluster and its job records (its cost history stays). False when no such cluster. */
  removeCluster(name: string): boolean;

  /** Durably records (synchronous=FULL commit) that this process is about to create instances. */
  journalIntent(input: IntentInput): number;
  /** Ends an intent. False when there is no such intent. */
  journalResolve(id: number, outcome: IntentOutcome): boolean;
  /** Unresolved intents (of one cluster, or all), oldest first. */
  openIntents(cluster?: string): Intent[];

  /** Records a submitted job (recording the same cluster/jobId again overwrites it). */
  recordJob(job: JobInput): void;
  updateJob(cluster: string, jobId: number, patch: JobPatch): boolean;
  /** Newest first within a cluster; clusters by name. */
  listJobs(cluster?: string): JobRecord[];

  /**
   * Records a billing event. `meta` defaults to the cluster record's cloud, region and resources.
   * hourlyPrice is per node.
   */
  recordEvent(
    cluster: string,
    kind: CostEventKind,
    at: number,
    hourlyPrice: number,
    numNodes: number,
    meta?: CostEventMeta,
  ): void;
  /** One row per life of each cluster name, newest launch first. */
  costReport(now?: number): CostRow[];

  /**
   * A store opened read-only because its disk was full (see openDatabase) opens the file again;
   * true when writes work now.
   */
  retryWrites?(): boolean;
  /** Per-cluster mutual exclusion across processes. The returned release is idempotent. */
  acquireClusterLock(name: string, opts: LockOptions): Promise<() => void>;
  /** The current holder, if any and alive. */
  lockHolder(name: string): LockHolder | null;
  /** Removes the lock rows of processes that died holding them (a `down` killed mid-way); how many. */
  clearStaleLocks(): number;

  /** A bucket's record, or null. */
  getStorage(name: string): StorageRow | null;
  /** Sorted by name. */
  listStorage(): StorageRow[];
  /**
   * Inserts the record, or sets every field but createdAt of an existing one. Durable
   * (synchronous=FULL): a `CREATING` row is on disk before the bucket is created.
   */
  putStorage(rec: StorageInput): void;
  /** Sets the status (durable, as putStorage), recording this process. False when no such row. */
  setStorageStatus(name: string, status: StorageStatus): boolean;
  /** Forgets the bucket and its uses. False when no such row. */
  removeStorage(name: string): boolean;
  /** Records a use (the same name/cluster/path again overwrites its mode). */
  addStorageUse(use: StorageUse): void;
  /** Removes one use. */
  removeStorageUse(use: Pick<StorageUse, 'name' | 'cluster' | 'path'>): boolean;
  /** Uses of one bucket, or of every bucket (by name, cluster, path). */
  storageUses(name?: string): StorageUse[];
  /**
   * One transaction (durable): drops every use of `cluster`, and marks `DELETING` (for this process)
   * each bucket skyhop created, not persistent, READY, that no use left keeps, where `inUse(cluster)`
   * says whether another cluster counts as using it. Returns the names marked.
   */
  releaseStorageUses(cluster: string, inUse: (cluster: string) => boolean): string[];

  /**
   * Records a managed job (PENDING) with its task graph and request as JSON (never its secrets) and
   * returns its id. Durable (synchronous=FULL).
   */
  insertManagedJob(input: ManagedJobInput): number;
  getManagedJob(id: number): ManagedJobRecord | null;
  /** The job's task graph and request, as inserted. */
  managedJobInput(id: number): { dag: string; request: string } | null;
  /** Newest first. */
  listManagedJobs(): ManagedJobRecord[];
  /** The jobs not ended yet, or ended with their clusters still being torn down; oldest first. */
  unfinishedManagedJobs(): ManagedJobRecord[];
  /** Durable. False when no such job. */
  updateManagedJob(id: number, patch: ManagedJobPatch): boolean;
  /** Marks unfinished jobs for cancelling; returns the ids marked. */
  requestManagedCancel(ids: number[] | 'all'): number[];

  /**
   * Which user of a team server a cluster or bucket belongs to (null: nobody claimed it, as on a
   * laptop without a server). Rows outlive the cluster so cost reports keep their owner.
   */
  ownerOf(kind: OwnedKind, name: string): string | null;
  /**
   * Makes `owner` the owner of `name` unless another user holds it while `busy(currentOwner)` says the
   * name is still in use; returns the owner after the call (one transaction).
   */
  claim(kind: OwnedKind, name: string, owner: string, busy: () => boolean): string;
  /** Every name of `kind` with its owner. */
  owners(kind: OwnedKind): Map<string, string>;

  close(): void;
}

/** What a team server's user can own. */
export type OwnedKind = 'cluster' | 'storage';
