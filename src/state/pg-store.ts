/**
 * The PostgreSQL implementation of Store (SKYHOP_DB=postgresql://...), with SQLite's semantics:
 *
 * - Every change is one statement or one transaction; commits are durable (synchronous_commit on).
 * - Per-cluster locks are session advisory locks on this store's connection (pg-bridge.ts): they
 *   exclude processes on any machine that use the database, and a holder that dies (or loses its
 *   connection) releases them. The `locks` table only says who holds one (pid, command, since); a row
 *   whose advisory lock nobody holds is stale.
 * - "Is the process that wrote this row alive" (intents, buckets) is asked of the database, not of
 *   this machine's /proc (the writer may run on another machine): each process has a random key, its
 *   open stores hold a shared advisory lock on it, and its rows carry `pg:<key>` as their process
 *   start; the row's process is alive while that lock is held.
 * - `claim` and `releaseStorageUses` are transactions that take the same locks any concurrent writer
 *   of those names must wait for (an advisory lock on the name; the storage tables).
 *
 * Row mapping is shared with SQLite (rows.ts).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { NodeInfo } from '../core/cluster.js';
import { sleep } from '../util/sleep.js';
import { UserError } from '../util/errors.js';
import { type CostEvent, computeCostRows } from './cost.js';
import { PgBridge } from './pg-bridge.js';
import { migratePg } from './pg-migrations.js';
import { describeSelf, isProcessAlive } from './process.js';
import {
  type AliveCheck,
  type ClusterRow,
  clusterParams,
  describeResources,
  headIpOf,
  type IntentRow,
  JOB_PATCH_COLUMNS,
  type JobRow,
  type LockRow,
  MANAGED_PATCH_COLUMNS,
  MANAGED_TERMINAL_SQL,
  type ManagedRow,
  type StorageDbRow,
  toCluster,
  toIntent,
  toJob,
  toManaged,
  toStorage,
} from './rows.js';
import type {
  Autostop,
  ClusterRecord,
  ClusterStatus,
  CostEventKind,
  CostEventMeta,
  CostRow,
  Intent,
  IntentInput,
  IntentOutcome,
  JobInput,
  JobPatch,
  JobRecord,
  LockHolder,
  LockOptions,
  ManagedJobInput,
  ManagedJobPatch,
  ManagedJobRecord,
  OwnedKind,
  StorageInput,
  StorageRow,
  StorageStatus,
  StorageUse,
  Store,
} from './types.js';

const LOCK_POLL_MIN_MS = 25;
const LOCK_POLL_MAX_MS = 250;

/** The 64-bit advisory lock key of a text (SQL; `$n` is the text). */
const keyOf = (param: string) => `('x' || substr(md5(${param}), 1, 16))::bit(64)::bigint`;
/** A cluster lock's key. */
const CLUSTER_KEY = (param: string) => keyOf(`'skyhop-cluster:' || ${param}`);
/** Whether some session holds the advisory lock of `key` (an SQL bigint expression). */
const HELD = (key: string) =>
  `EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
     AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
     AND classid::bigint = ((${key}) >> 32) & 4294967295 AND objid::bigint = (${key}) & 4294967295)`;

/** Locks held by this process (any store): released on exit where the process exits normally. */
const heldLocks = new Set<() => void>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const release of [...heldLocks]) {
      try {
        release();
      } catch {
        // the connection ends with the process, and the lock with it
      }
    }
  });
}

function seconds(ms: number): string {
  return ms < 10_000 ? (ms / 1000).toFixed(1) : String(Math.round(ms / 1000));
}

/**
 * This process's identity in the database: a random 64-bit key on which every open store of the
 * process holds a shared advisory lock. Rows written by the process carry `pg:<key>` as their process
 * start; the process counts as alive while some session holds that lock.
 */
let processKey: string | undefined;
function selfKey(): string {
  processKey ??= randomBytes(8).readBigInt64BE().toString();
  return processKey;
}

export class PgStore implements Store {
  readonly home: string;
  /** The database's URL without its password. */
  readonly path: string;
  private db: PgBridge | null;
  private readonly onClose: () => void;
  /** close() was called; the connection stays while locks taken before are still held. */
  private closing = false;
  /** Clusters this store's connection holds the lock of, and the token of each. */
  private readonly held = new Map<string, string>();
  /** `pg:<key>`: this process's identity, written as the process start of its rows. */
  private readonly session: string;
  /** Open transactions (nested calls join the outer one). */
  private depth = 0;

  constructor(url: string, home: string, onClose: () => void = () => {}) {
    // The home holds everything else (keys, logs, caches), as with SQLite.
    try {
      mkdirSync(home, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new UserError(
        `cannot create ${home}: ${(e as Error).message}; check that SKYHOP_HOME is a writable directory`,
        { cause: e },
      );
    }
    const db = new PgBridge(url);
    try {
      db.query("SET synchronous_commit = 'on'");
      db.query("SET lock_timeout = '30s'");
      migratePg(db);
      const key = selfKey();
      db.query('SELECT pg_advisory_lock_shared($1::bigint)', [key]);
      this.session = `pg:${key}`;
    } catch (e) {
      db.close();
      throw e;
    }
    this.db = db;
    this.home = home;
    this.path = db.where;
    this.onClose = onClose;
  }

  // ---- plumbing ----

  private conn(): PgBridge {
    if (!this.db || this.closing) throw new Error(`the state store ${this.path} is closed`);
    return this.db;
  }

  private all<T>(sql: string, params: unknown[] = []): T[] {
    return this.conn().query<T>(sql, params).rows;
  }

  private one<T>(sql: string, params: unknown[] = []): T | undefined {
    return this.conn().query<T>(sql, params).rows[0];
  }

  private run(sql: string, params: unknown[] = []): number {
    return this.conn().query(sql, params).rowCount;
  }

  /** Runs `fn` in one transaction (rolled back when it throws); a nested call joins the outer one. */
  private tx<T>(fn: () => T): T {
    const db = this.conn();
    if (this.depth > 0) return fn();
    db.query('BEGIN');
    this.depth++;
    try {
      const r = fn();
      db.query('COMMIT');
      return r;
    } catch (e) {
      try {
        db.query('ROLLBACK');
      } catch {
        // a lost connection rolled it back
      }
      throw e;
    } finally {
      this.depth--;
    }
  }

  /**
   * Whether the process that wrote a row is alive: rows this kind of store wrote carry `pg:<key>`
   * (alive while a session holds that lock: see selfKey); the locks are read once per check.
   */
  private aliveCheck(): AliveCheck {
    let live: Set<string> | null = null;
    return (pid, pidStart) => {
      if (!pidStart?.startsWith('pg:')) return isProcessAlive(pid, pidStart);
      if (pidStart === this.session) return true;
      live ??= new Set(
        this.all<{ k: string }>(
          `SELECT ((classid::bigint << 32) | objid::bigint)::text AS k FROM pg_locks
           WHERE locktype = 'advisory' AND granted AND objsubid = 1
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        ).map((r) => `pg:${BigInt.asIntN(64, BigInt(r.k))}`),
      );
      return live.has(pidStart);
    };
  }

  // ---- clusters ----

  getCluster(name: string): ClusterRecord | null {
    const r = this.one<ClusterRow>('SELECT * FROM clusters WHERE name = $1', [name]);
    return r ? toCluster(this.path, r) : null;
  }

  listClusters(): ClusterRecord[] {
    return this.all<ClusterRow>('SELECT * FROM clusters ORDER BY name').map((r) => toCluster(this.path, r));
  }

  upsertCluster(rec: ClusterRecord): void {
    const p = clusterParams(rec);
    this.run(
      `INSERT INTO clusters (name, cloud, region, zone, status, resources, nodes, launched_at,
         status_updated_at, hourly_price, autostop, head_ip, cluster_hash, last_use, spec)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
       ON CONFLICT (name) DO UPDATE SET cloud = excluded.cloud, region = excluded.region,
         zone = excluded.zone, status = excluded.status, resources = excluded.resources,
         nodes = excluded.nodes, launched_at = excluded.launched_at,
         status_updated_at = excluded.status_updated_at, hourly_price = excluded.hourly_price,
         autostop = excluded.autostop, head_ip = excluded.head_ip, cluster_hash = excluded.cluster_hash,
         last_use = excluded.last_use, spec = excluded.spec`,
      [
        p.name,
        p.cloud,
        p.region,
        p.zone,
        p.status,
        p.resources,
        p.nodes,
        p.launchedAt,
        p.statusUpdatedAt,
        p.hourlyPrice,
        p.autostop,
        p.headIp,
        p.clusterHash,
        p.lastUse,
        p.spec,
      ],
    );
  }

  setClusterStatus(name: string, status: ClusterStatus, at: number = Date.now()): boolean {
    return (
      this.run(
        `UPDATE clusters SET status_updated_at = CASE WHEN status = $2 THEN status_updated_at ELSE $3 END,
           status = $2 WHERE name = $1`,
        [name, status, at],
      ) > 0
    );
  }

  setClusterNodes(name: string, nodes: NodeInfo[]): boolean {
    return (
      this.run('UPDATE clusters SET nodes = $2, head_ip = $3 WHERE name = $1', [
        name,
        JSON.stringify(nodes),
        headIpOf(nodes),
      ]) > 0
    );
  }

  setAutostop(name: string, autostop: Autostop | null): boolean {
    return (
      this.run('UPDATE clusters SET autostop = $2 WHERE name = $1', [
        name,
        autostop ? JSON.stringify(autostop) : null,
      ]) > 0
    );
  }

  setLastUse(name: string, command: string): boolean {
    return this.run('UPDATE clusters SET last_use = $2 WHERE name = $1', [name, command]) > 0;
  }

  removeCluster(name: string): boolean {
    // One statement; the cluster's jobs go with it (ON DELETE CASCADE).
    return this.run('DELETE FROM clusters WHERE name = $1', [name]) > 0;
  }

  // ---- provisioning journal ----

  journalIntent(input: IntentInput): number {
    const r = this.one<{ id: number }>(
      `INSERT INTO intents (cluster, cloud, region, zone, num_nodes, spec, pid, pid_start, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
      [
        input.cluster,
        input.cloud,
        input.region,
        input.zone ?? null,
        input.numNodes,
        JSON.stringify(input.spec),
        process.pid,
        this.session,
        Date.now(),
      ],
    );
    return Number(r!.id);
  }

  journalResolve(id: number, outcome: IntentOutcome): boolean {
    return (
      this.run('UPDATE intents SET outcome = $2, resolved_at = $3 WHERE id = $1', [id, outcome, Date.now()]) >
      0
    );
  }

  openIntents(cluster?: string): Intent[] {
    const rows =
      cluster === undefined
        ? this.all<IntentRow>('SELECT * FROM intents WHERE outcome IS NULL ORDER BY id')
        : this.all<IntentRow>('SELECT * FROM intents WHERE outcome IS NULL AND cluster = $1 ORDER BY id', [
            cluster,
          ]);
    const alive = this.aliveCheck();
    return rows.map((r) => toIntent(this.path, r, alive));
  }

  // ---- jobs ----

  recordJob(job: JobInput): void {
    try {
      this.run(
        `INSERT INTO jobs (cluster, job_id, name, submitted_at, status, command, started_at, ended_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (cluster, job_id) DO UPDATE SET name = excluded.name,
           submitted_at = excluded.submitted_at, status = excluded.status, command = excluded.command,
           started_at = excluded.started_at, ended_at = excluded.ended_at`,
        [
          job.cluster,
          job.jobId,
          job.name ?? null,
          job.submittedAt,
          job.status,
          job.command ?? null,
          job.startedAt ?? null,
          job.endedAt ?? null,
        ],
      );
    } catch (e) {
      if ((e as { code?: string }).code === '23503') {
        throw new UserError(
          `cannot record job ${job.jobId}: cluster '${job.cluster}' is not in the state (${this.path}); ` +
            "run 'skyhop status --refresh' or launch it first",
          { cause: e },
        );
      }
      throw e;
    }
  }

  updateJob(cluster: string, jobId: number, patch: JobPatch): boolean {
    const keys = (Object.keys(JOB_PATCH_COLUMNS) as Array<keyof JobPatch>).filter(
      (k) => patch[k] !== undefined,
    );
    if (keys.length === 0) {
      return (
        this.one('SELECT 1 FROM jobs WHERE cluster = $1 AND job_id = $2', [cluster, jobId]) !== undefined
      );
    }
    const sets = keys.map((k, i) => `${JOB_PATCH_COLUMNS[k]} = $${i + 3}`).join(', ');
    return (
      this.run(`UPDATE jobs SET ${sets} WHERE cluster = $1 AND job_id = $2`, [
        cluster,
        jobId,
        ...keys.map((k) => patch[k] ?? null),
      ]) > 0
    );
  }

  listJobs(cluster?: string): JobRecord[] {
    const rows =
      cluster === undefined
        ? this.all<JobRow>('SELECT * FROM jobs ORDER BY cluster, job_id DESC')
        : this.all<JobRow>('SELECT * FROM jobs WHERE cluster = $1 ORDER BY job_id DESC', [cluster]);
    return rows.map(toJob);
  }

  // ---- costs ----

  recordEvent(
    cluster: string,
    kind: CostEventKind,
    at: number,
    hourlyPrice: number,
    numNodes: number,
    meta?: CostEventMeta,
  ): void {
    if (!Number.isFinite(at) || !Number.isFinite(hourlyPrice) || !Number.isFinite(numNodes)) {
      throw new Error(
        `recordEvent(${cluster}, ${kind}): at, hourlyPrice and numNodes must be finite numbers`,
      );
    }
    let m: { cloud: string | null; region: string | null; resources: string | null } = {
      cloud: null,
      region: null,
      resources: null,
    };
    if (meta) {
      m = meta;
    } else {
      const rec = this.getCluster(cluster);
      if (rec) m = { cloud: rec.cloud, region: rec.region, resources: describeResources(rec.resources) };
    }
    this.run(
      `INSERT INTO cost_events (cluster, kind, at, hourly_price, num_nodes, cloud, region, resources)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [cluster, kind, at, hourlyPrice, numNodes, m.cloud, m.region, m.resources],
    );
  }

  costReport(now: number = Date.now()): CostRow[] {
    const rows = this.all<CostEvent>(
      `SELECT cluster, kind, at, hourly_price AS "hourlyPrice", num_nodes AS "numNodes", cloud, region, resources
       FROM cost_events ORDER BY cluster, at, id`,
    );
    return computeCostRows(rows, now);
  }

  // ---- storage ----

  getStorage(name: string): StorageRow | null {
    const r = this.one<StorageDbRow>('SELECT * FROM storage WHERE name = $1', [name]);
    return r ? toStorage(r, this.aliveCheck()) : null;
  }

  listStorage(): StorageRow[] {
    const alive = this.aliveCheck();
    return this.all<StorageDbRow>('SELECT * FROM storage ORDER BY name').map((r) => toStorage(r, alive));
  }

  putStorage(rec: StorageInput): void {
    const now = Date.now();
    this.run(
      `INSERT INTO storage (name, store, region, endpoint, source, created_by_skyhop, persistent, status,
         created_at, status_updated_at, pid, pid_start)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11)
       ON CONFLICT (name) DO UPDATE SET store = excluded.store, region = excluded.region,
         endpoint = excluded.endpoint, source = excluded.source,
         created_by_skyhop = excluded.created_by_skyhop, persistent = excluded.persistent,
         status = excluded.status, status_updated_at = excluded.status_updated_at,
         pid = excluded.pid, pid_start = excluded.pid_start`,
      [
        rec.name,
        rec.store,
        rec.region,
        rec.endpoint,
        rec.source,
        rec.createdBySkyhop ? 1 : 0,
        rec.persistent ? 1 : 0,
        rec.status,
        now,
        process.pid,
        this.session,
      ],
    );
  }

  setStorageStatus(name: string, status: StorageStatus): boolean {
    return (
      this.run(
        'UPDATE storage SET status = $2, status_updated_at = $3, pid = $4, pid_start = $5 WHERE name = $1',
        [name, status, Date.now(), process.pid, this.session],
      ) > 0
    );
  }

  removeStorage(name: string): boolean {
    // Its uses go with it (ON DELETE CASCADE).
    return this.run('DELETE FROM storage WHERE name = $1', [name]) > 0;
  }

  addStorageUse(use: StorageUse): void {
    this.run(
      `INSERT INTO storage_uses (name, cluster, path, mode, prefix) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (name, cluster, path) DO UPDATE SET mode = excluded.mode, prefix = excluded.prefix`,
      [use.name, use.cluster, use.path, use.mode, use.prefix ?? ''],
    );
  }

  removeStorageUse(use: Pick<StorageUse, 'name' | 'cluster' | 'path'>): boolean {
    return (
      this.run('DELETE FROM storage_uses WHERE name = $1 AND cluster = $2 AND path = $3', [
        use.name,
        use.cluster,
        use.path,
      ]) > 0
    );
  }

  storageUses(name?: string): StorageUse[] {
    return name === undefined
      ? this.all<StorageUse>(
          'SELECT name, cluster, path, mode, prefix FROM storage_uses ORDER BY name, cluster, path',
        )
      : this.all<StorageUse>(
          'SELECT name, cluster, path, mode, prefix FROM storage_uses WHERE name = $1 ORDER BY cluster, path',
          [name],
        );
  }

  releaseStorageUses(cluster: string, inUse: (cluster: string) => boolean): string[] {
    return this.tx((): string[] => {
      // As SQLite's write transaction does: no other writer of buckets or their uses meanwhile.
      this.run('LOCK TABLE storage, storage_uses IN SHARE ROW EXCLUSIVE MODE');
      const affected = this.all<{ name: string }>(
        'SELECT DISTINCT name FROM storage_uses WHERE cluster = $1 ORDER BY name',
        [cluster],
      ).map((r) => r.name);
      this.run('DELETE FROM storage_uses WHERE cluster = $1', [cluster]);
      const marked: string[] = [];
      for (const name of affected) {
        const r = this.one<StorageDbRow>('SELECT * FROM storage WHERE name = $1', [name]);
        if (r?.created_by_skyhop !== 1 || r.persistent !== 0 || r.status !== 'READY') continue;
        const users = this.all<{ cluster: string }>(
          'SELECT DISTINCT cluster FROM storage_uses WHERE name = $1',
          [name],
        ).map((u) => u.cluster);
        if (users.some((c) => inUse(c))) continue;
        this.run(
          "UPDATE storage SET status = 'DELETING', status_updated_at = $2, pid = $3, pid_start = $4 WHERE name = $1",
          [name, Date.now(), process.pid, this.session],
        );
        marked.push(name);
      }
      return marked;
    });
  }

  // ---- managed jobs ----

  insertManagedJob(input: ManagedJobInput): number {
    const now = Date.now();
    const r = this.one<{ id: number }>(
      `INSERT INTO managed_jobs (name, "user", status, submitted_at, tasks, dag, request, updated_at)
       VALUES ($1, $2, 'PENDING', $3, $4, $5, $6, $3) RETURNING id`,
      [input.name, input.user, now, JSON.stringify(input.tasks), input.dag, input.request],
    );
    return Number(r!.id);
  }

  getManagedJob(id: number): ManagedJobRecord | null {
    const r = this.one<ManagedRow>('SELECT * FROM managed_jobs WHERE id = $1', [id]);
    return r ? toManaged(this.path, r) : null;
  }

  managedJobInput(id: number): { dag: string; request: string } | null {
    return (
      this.one<{ dag: string; request: string }>('SELECT dag, request FROM managed_jobs WHERE id = $1', [
        id,
      ]) ?? null
    );
  }

  listManagedJobs(): ManagedJobRecord[] {
    return this.all<ManagedRow>('SELECT * FROM managed_jobs ORDER BY id DESC').map((r) =>
      toManaged(this.path, r),
    );
  }

  unfinishedManagedJobs(): ManagedJobRecord[] {
    return this.all<ManagedRow>(
      `SELECT * FROM managed_jobs WHERE status NOT IN (${MANAGED_TERMINAL_SQL}) OR phase != 'idle' ORDER BY id`,
    ).map((r) => toManaged(this.path, r));
  }

  updateManagedJob(id: number, patch: ManagedJobPatch): boolean {
    const keys = (Object.keys(MANAGED_PATCH_COLUMNS) as Array<keyof ManagedJobPatch>).filter(
      (k) => patch[k] !== undefined,
    );
    const values = keys.map((k) => (k === 'tasks' ? JSON.stringify(patch.tasks) : (patch[k] ?? null)));
    const sets = [...keys.map((k, i) => `${MANAGED_PATCH_COLUMNS[k]} = $${i + 3}`), 'updated_at = $2'];
    return (
      this.run(`UPDATE managed_jobs SET ${sets.join(', ')} WHERE id = $1`, [id, Date.now(), ...values]) > 0
    );
  }

  requestManagedCancel(ids: number[] | 'all'): number[] {
    // One statement: the jobs not ended (of `ids`) are marked, and their ids returned.
    const rows = this.all<{ id: number }>(
      `UPDATE managed_jobs SET cancel_requested = 1, updated_at = $1
       WHERE status NOT IN (${MANAGED_TERMINAL_SQL}) AND ($2::bigint[] IS NULL OR id = ANY($2::bigint[]))
       RETURNING id`,
      [Date.now(), ids === 'all' ? null : ids],
    );
    return rows.map((r) => r.id).sort((a, b) => a - b);
  }

  // ---- locks ----

  private holderRow(name: string): LockHolder | null {
    const row = this.one<LockRow>(
      'SELECT token, pid, pid_start, command, since FROM locks WHERE cluster = $1',
      [name],
    );
    return row ? { pid: row.pid, command: row.command, since: row.since } : null;
  }

  /** Takes the lock (returns null) or returns its holder: one statement takes it and records who. */
  private tryLock(name: string, token: string, command: string): LockHolder | null {
    if (this.held.has(name)) {
      // This connection holds it already (advisory locks are re-entrant per session; these are not).
      return this.holderRow(name) ?? { pid: process.pid, command, since: Date.now() };
    }
    const took = this.all(
      `WITH l AS (SELECT pg_try_advisory_lock(${CLUSTER_KEY('$1::text')}) AS ok)
       INSERT INTO locks (cluster, token, pid, pid_start, command, since)
       SELECT $1, $2, $3, $4, $5, $6 FROM l WHERE l.ok
       ON CONFLICT (cluster) DO UPDATE SET token = excluded.token, pid = excluded.pid,
         pid_start = excluded.pid_start, command = excluded.command, since = excluded.since
       RETURNING token`,
      [name, token, process.pid, this.session, command, Date.now()],
    );
    if (took.length > 0) {
      this.held.set(name, token);
      return null;
    }
    // Held by another session; its row is written in the statement that took it (or, in the instant
    // between, still the previous holder's).
    return this.holderRow(name) ?? { pid: 0, command: 'another skyhop process', since: Date.now() };
  }

  lockHolder(name: string): LockHolder | null {
    if (this.held.has(name)) return this.holderRow(name);
    const row = this.one<LockRow>(
      `SELECT token, pid, pid_start, command, since FROM locks WHERE cluster = $1 AND ${HELD(CLUSTER_KEY('$1::text'))}`,
      [name],
    );
    return row ? { pid: row.pid, command: row.command, since: row.since } : null;
  }

  clearStaleLocks(): number {
    const mine = [...this.held.keys()];
    return this.run(
      `DELETE FROM locks WHERE NOT (cluster = ANY($1::text[])) AND NOT ${HELD(CLUSTER_KEY('cluster'))}`,
      [mine],
    );
  }

  async acquireClusterLock(name: string, opts: LockOptions): Promise<() => void> {
    const token = randomUUID();
    const command = opts.command ?? describeSelf();
    const deadline = opts.timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + opts.timeoutMs;
    let delay = LOCK_POLL_MIN_MS;
    let told = false;
    for (;;) {
      const holder = this.tryLock(name, token, command);
      if (holder === null) break;
      const who = `pid ${holder.pid} (${holder.command}) since ${new Date(holder.since).toISOString()}`;
      if (!opts.wait) {
        throw new UserError(
          `cluster '${name}' is in use by ${who}; wait for it to finish and retry, or stop that process`,
        );
      }
      if (!told) {
        told = true;
        opts.onWait?.(holder);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new UserError(
          `timed out after ${seconds(opts.timeoutMs ?? 0)} s waiting for cluster '${name}', ` +
            `in use by ${who}; retry when it has finished`,
        );
      }
      await sleep(Math.min(delay, Math.max(left, LOCK_POLL_MIN_MS)));
      delay = Math.min(Math.round(delay * 1.5), LOCK_POLL_MAX_MS);
    }

    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      heldLocks.delete(release);
      if (this.held.get(name) !== token) return;
      this.held.delete(name);
      const db = this.db;
      if (!db || db.closed) return; // the connection ended: so did the lock
      try {
        db.query('DELETE FROM locks WHERE cluster = $1 AND token = $2', [name, token]);
        db.query(`SELECT pg_advisory_unlock(${CLUSTER_KEY('$1::text')})`, [name]);
      } finally {
        if (this.closing && this.held.size === 0) this.endConnection();
      }
    };
    heldLocks.add(release);
    installExitHook();
    return release;
  }

  // ---- owners (a team server's users) ----

  ownerOf(kind: OwnedKind, name: string): string | null {
    return (
      this.one<{ owner: string }>('SELECT owner FROM owners WHERE kind = $1 AND name = $2', [kind, name])
        ?.owner ?? null
    );
  }

  claim(kind: OwnedKind, name: string, owner: string, busy: () => boolean): string {
    return this.tx((): string => {
      // Claims of one name wait for each other (as SQLite's write transaction makes them).
      this.run(`SELECT pg_advisory_xact_lock(${keyOf("'skyhop-owner:' || $1::text || ':' || $2::text")})`, [
        kind,
        name,
      ]);
      const cur = this.ownerOf(kind, name);
      if (cur === owner) return owner;
      if (cur !== null && busy()) return cur;
      this.run(
        `INSERT INTO owners (kind, name, owner, since) VALUES ($1, $2, $3, $4)
         ON CONFLICT (kind, name) DO UPDATE SET owner = excluded.owner, since = excluded.since`,
        [kind, name, owner, Date.now()],
      );
      return owner;
    });
  }

  owners(kind: OwnedKind): Map<string, string> {
    const rows = this.all<{ name: string; owner: string }>('SELECT name, owner FROM owners WHERE kind = $1', [
      kind,
    ]);
    return new Map(rows.map((r) => [r.name, r.owner]));
  }

  /**
   * Closes the store. Cluster locks taken through it stay held (as SQLite's lock rows do) until
   * released or until the process exits; the connection ends with the last of them.
   */
  close(): void {
    if (!this.db || this.closing) return;
    this.closing = true;
    this.onClose();
    if (this.held.size === 0) this.endConnection();
  }

  private endConnection(): void {
    const db = this.db;
    this.db = null;
    db?.close();
  }
}
