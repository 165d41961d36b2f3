/**
 * The SQLite implementation of Store. One connection per store; statements are prepared on first use
 * and cached. Every change is a single statement or one transaction, so a process that dies at any
 * line leaves the database as it was before or after the change, never between.
 */
import { sleep } from '../util/sleep.js';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import type { NodeInfo } from '../core/cluster.js';
import { UserError } from '../util/errors.js';
import { shq } from '../util/shell.js';
import {
  closeSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  statfsSync,
} from 'node:fs';
import { type CostEvent, computeCostRows } from './cost.js';
import { migrate, refuseNewer } from './migrations.js';
import {
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
import { describeSelf, isProcessAlive, selfStartTime } from './process.js';
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
  StorageInput,
  OwnedKind,
  StorageRow,
  StorageStatus,
  StorageUse,
  Store,
} from './types.js';

type Db = Database.Database;
type Statement = Database.Statement;

/** How long a statement waits for another process's write transaction before SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 10_000;
/** Lock polling: first retry after 25 ms, growing to at most 250 ms. */
const LOCK_POLL_MIN_MS = 25;
const LOCK_POLL_MAX_MS = 250;

const require = createRequire(import.meta.url);
let sqlite: typeof Database | undefined;

/** better-sqlite3 is loaded on the first open, not when this module is imported. */
function loadSqlite(): typeof Database {
  if (!sqlite) sqlite = require('better-sqlite3') as typeof Database;
  return sqlite;
}

/** Free space under this counts as a full disk when the database cannot be opened. */
const FULL_DISK_BYTES = 1024 * 1024;
/** Set once this process had to open the database read-only because its disk is full. */
let openedReadOnlyOnFullDisk = false;

function diskIsFull(dir: string): boolean {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize < FULL_DISK_BYTES;
  } catch {
    return false;
  }
}

/**
 * The database read from a snapshot in memory, read-only: what a command gets when the disk is too
 * full for SQLite to open the file (its shared-memory and WAL files need space). Reads work (`down`
 * finds what to tear down, `status` shows it); writes fail as on a full disk (`isDiskFullError`).
 */
function openSnapshot(path: string): Db {
  const bytes = readFileSync(path);
  // Never an empty state from a file that is not a database (a zero-byte or foreign file).
  if (bytes.length < 100 || bytes.subarray(0, 16).toString('latin1') !== 'SQLite format 3\0') {
    throw new Error(`${path} is not a SQLite database`);
  }
  // The header's WAL mode (file format versions 2) would make SQLite look for a WAL; a snapshot has none.
  bytes[18] = 1;
  bytes[19] = 1;
  const db = new (loadSqlite())(bytes, { readonly: true });
  db.pragma('foreign_keys = ON');
  openedReadOnlyOnFullDisk = true;
  return db;
}

/** Opens (creating the directory, 0700, and the file) and migrates the database. */
export function openDatabase(home: string): { db: Db; path: string; readOnlyFullDisk?: boolean } {
  const path = join(home, 'state.db');
  let db: Db | undefined;
  try {
    mkdirSync(home, { recursive: true, mode: 0o700 });
    const Ctor = loadSqlite();
    createDatabase(path, Ctor);
    refuseUnreadable(path);
    db = new Ctor(path, { timeout: BUSY_TIMEOUT_MS });
    refuseNewer(db, path);
    if (db.pragma('journal_mode', { simple: true }) !== 'wal') db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    migrate(db, path);
    guardUnreadable(db, path);
    return { db, path };
  } catch (e) {
    db?.close();
    if (e instanceof UserError) throw e;
    const err = e as { code?: string; message?: string };
    if (/^SQLITE_(IOERR|FULL|CANTOPEN)/.test(err.code ?? '') && existsSync(path) && diskIsFull(home)) {
      try {
        return { db: openSnapshot(path), path, readOnlyFullDisk: true };
      } catch {
        // fall through to the error below
      }
    }
    if (err.code === 'SQLITE_NOTADB' || err.code === 'SQLITE_CORRUPT') {
      throw unreadableDatabaseError(path, err.message ?? String(e), e);
    }
    throw new UserError(
      `cannot open the state database ${path}: ${err.message ?? String(e)}; check that SKYHOP_HOME ` +
        'is a writable directory',
      { cause: e },
    );
  }
}

/**
 * Whether `e` says the disk is full: SQLite's SQLITE_FULL ("database or disk is full"), or a file
 * write's ENOSPC / EDQUOT.
 */
export function isDiskFullError(e: unknown): boolean {
  if (e instanceof DiskFullError) return true;
  let x: unknown = e;
  for (let depth = 0; x && depth < 5; depth++) {
    const err = x as { code?: string; message?: string; cause?: unknown };
    if (err.code === 'SQLITE_FULL' || err.code === 'ENOSPC' || err.code === 'EDQUOT') return true;
    if (err.code === 'SQLITE_READONLY' && openedReadOnlyOnFullDisk) return true;
    if (typeof err.message === 'string' && /database or disk is full/.test(err.message)) return true;
    x = err.cause;
  }
  return false;
}

/** A write to the state database (a cluster lock included) failed because its disk is full. */
export class DiskFullError extends UserError {}

export { describeResources, launchSpecOf } from './rows.js';

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
        // the process is ending; a lock left behind is stale (dead pid) and taken over by the next caller
      }
    }
  });
}

function seconds(ms: number): string {
  return ms < 10_000 ? (ms / 1000).toFixed(1) : String(Math.round(ms / 1000));
}

export class SqliteStore implements Store {
  readonly home: string;
  readonly path: string;
  private db: Db | null;
  private readonly stmts = new Map<string, Statement>();
  private readonly onClose: () => void;
  /** Opened read-only from a snapshot because the disk is full (see openDatabase). */
  private readOnlyFullDisk: boolean;

  constructor(home: string, onClose: () => void = () => {}) {
    const { db, path, readOnlyFullDisk } = openDatabase(home);
    this.home = home;
    this.path = path;
    this.db = db;
    this.onClose = onClose;
    this.readOnlyFullDisk = readOnlyFullDisk ?? false;
  }

  /** A store opened read-only on a full disk opens the file again, when space was freed since. */
  retryWrites(): boolean {
    if (!this.readOnlyFullDisk || !this.db) return !this.readOnlyFullDisk;
    let opened: ReturnType<typeof openDatabase>;
    try {
      opened = openDatabase(this.home);
    } catch {
      return false;
    }
    if (opened.readOnlyFullDisk) {
      opened.db.close();
      return false;
    }
    this.db.close();
    this.stmts.clear();
    this.db = opened.db;
    this.readOnlyFullDisk = false;
    return true;
  }

  private conn(): Db {
    if (!this.db) throw new Error(`the state store ${this.path} is closed`);
    return this.db;
  }

  private st(sql: string): Statement {
    let s = this.stmts.get(sql);
    if (!s) {
      s = this.conn().prepare(sql);
      if (!s.reader) this.guardWrite(s);
      this.stmts.set(sql, s);
    }
    return s;
  }

  /** A write that fails because the disk is full says so in one line (not "internal error"). */
  private guardWrite(s: Statement): void {
    const run = s.run.bind(s);
    const path = this.path;
    s.run = ((...args: unknown[]) => {
      try {
        return run(...args);
      } catch (e) {
        if (e instanceof DiskFullError || !isDiskFullError(e)) throw e;
        throw new DiskFullError(
          `the disk holding ${path} is full, so skyhop cannot record what it does; free some space and retry`,
          { cause: e },
        );
      }
    }) as typeof s.run;
  }

  // ---- clusters ----

  getCluster(name: string): ClusterRecord | null {
    const r = this.st('SELECT * FROM clusters WHERE name = ?').get(name) as ClusterRow | undefined;
    return r ? toCluster(this.path, r) : null;
  }

  listClusters(): ClusterRecord[] {
    const rows = this.st('SELECT * FROM clusters ORDER BY name').all() as ClusterRow[];
    return rows.map((r) => toCluster(this.path, r));
  }

  upsertCluster(rec: ClusterRecord): void {
    // ON CONFLICT DO UPDATE, not INSERT OR REPLACE: a REPLACE deletes the row and would cascade to jobs.
    this.st(
      `INSERT INTO clusters (name, cloud, region, zone, status, resources, nodes, launched_at,
         status_updated_at, hourly_price, autostop, head_ip, cluster_hash, last_use, spec)
       VALUES (@name, @cloud, @region, @zone, @status, @resources, @nodes, @launchedAt,
         @statusUpdatedAt, @hourlyPrice, @autostop, @headIp, @clusterHash, @lastUse, @spec)
       ON CONFLICT (name) DO UPDATE SET cloud = excluded.cloud, region = excluded.region,
         zone = excluded.zone, status = excluded.status, resources = excluded.resources,
         nodes = excluded.nodes, launched_at = excluded.launched_at,
         status_updated_at = excluded.status_updated_at, hourly_price = excluded.hourly_price,
         autostop = excluded.autostop, head_ip = excluded.head_ip, cluster_hash = excluded.cluster_hash,
         last_use = excluded.last_use, spec = excluded.spec`,
    ).run(clusterParams(rec));
  }

  setClusterStatus(name: string, status: ClusterStatus, at: number = Date.now()): boolean {
    const r = this.st(
      `UPDATE clusters SET status_updated_at = CASE WHEN status = @status THEN status_updated_at ELSE @at END,
         status = @status WHERE name = @name`,
    ).run({ name, status, at });
    return r.changes > 0;
  }

  setClusterNodes(name: string, nodes: NodeInfo[]): boolean {
    const r = this.st('UPDATE clusters SET nodes = ?, head_ip = ? WHERE name = ?').run(
      JSON.stringify(nodes),
      headIpOf(nodes),
      name,
    );
    return r.changes > 0;
  }

  setAutostop(name: string, autostop: Autostop | null): boolean {
    const r = this.st('UPDATE clusters SET autostop = ? WHERE name = ?').run(
      autostop ? JSON.stringify(autostop) : null,
      name,
    );
    return r.changes > 0;
  }

  setLastUse(name: string, command: string): boolean {
    return this.st('UPDATE clusters SET last_use = ? WHERE name = ?').run(command, name).changes > 0;
  }

  removeCluster(name: string): boolean {
    // One statement; the cluster's jobs go with it (ON DELETE CASCADE) in the same transaction.
    return this.st('DELETE FROM clusters WHERE name = ?').run(name).changes > 0;
  }

  // ---- provisioning journal ----

  journalIntent(input: IntentInput): number {
    const db = this.conn();
    const insert = this.st(
      `INSERT INTO intents (cluster, cloud, region, zone, num_nodes, spec, pid, pid_start, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    // In WAL mode synchronous=NORMAL survives a process crash but not a power cut; an intent must
    // survive both, so this one commit syncs the WAL to disk before instances are created.
    db.pragma('synchronous = FULL');
    try {
      const r = insert.run(
        input.cluster,
        input.cloud,
        input.region,
        input.zone ?? null,
        input.numNodes,
        JSON.stringify(input.spec),
        process.pid,
        selfStartTime(),
        Date.now(),
      );
      return Number(r.lastInsertRowid);
    } finally {
      db.pragma('synchronous = NORMAL');
    }
  }

  journalResolve(id: number, outcome: IntentOutcome): boolean {
    return (
      this.st('UPDATE intents SET outcome = ?, resolved_at = ? WHERE id = ?').run(outcome, Date.now(), id)
        .changes > 0
    );
  }

  openIntents(cluster?: string): Intent[] {
    const rows = (
      cluster === undefined
        ? this.st('SELECT * FROM intents WHERE outcome IS NULL ORDER BY id').all()
        : this.st('SELECT * FROM intents WHERE outcome IS NULL AND cluster = ? ORDER BY id').all(cluster)
    ) as IntentRow[];
    return rows.map((r) => toIntent(this.path, r));
  }

  // ---- jobs ----

  recordJob(job: JobInput): void {
    try {
      this.st(
        `INSERT INTO jobs (cluster, job_id, name, submitted_at, status, command, started_at, ended_at)
         VALUES (@cluster, @jobId, @name, @submittedAt, @status, @command, @startedAt, @endedAt)
         ON CONFLICT (cluster, job_id) DO UPDATE SET name = excluded.name,
           submitted_at = excluded.submitted_at, status = excluded.status, command = excluded.command,
           started_at = excluded.started_at, ended_at = excluded.ended_at`,
      ).run({
        cluster: job.cluster,
        jobId: job.jobId,
        name: job.name ?? null,
        submittedAt: job.submittedAt,
        status: job.status,
        command: job.command ?? null,
        startedAt: job.startedAt ?? null,
        endedAt: job.endedAt ?? null,
      });
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
        throw new UserError(
          `cannot record job ${job.jobId}: cluster '${job.cluster}' is not in the local state (${this.path}); ` +
            "run 'skyhop status --refresh' or launch it first",
          { cause: e },
        );
      }
      throw e;
    }
  }

  updateJob(cluster: string, jobId: number, patch: JobPatch): boolean {
    const columns: Record<keyof JobPatch, string> = JOB_PATCH_COLUMNS;
    const keys = (Object.keys(columns) as Array<keyof JobPatch>).filter((k) => patch[k] !== undefined);
    if (keys.length === 0) {
      return this.st('SELECT 1 FROM jobs WHERE cluster = ? AND job_id = ?').get(cluster, jobId) !== undefined;
    }
    const sql =
      `UPDATE jobs SET ${keys.map((k) => `${columns[k]} = @${k}`).join(', ')} ` +
      'WHERE cluster = @cluster AND job_id = @jobId';
    const params: Record<string, unknown> = { cluster, jobId };
    for (const k of keys) params[k] = patch[k] ?? null;
    return this.st(sql).run(params).changes > 0;
  }

  listJobs(cluster?: string): JobRecord[] {
    const rows = (
      cluster === undefined
        ? this.st('SELECT * FROM jobs ORDER BY cluster, job_id DESC').all()
        : this.st('SELECT * FROM jobs WHERE cluster = ? ORDER BY job_id DESC').all(cluster)
    ) as JobRow[];
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
    this.st(
      `INSERT INTO cost_events (cluster, kind, at, hourly_price, num_nodes, cloud, region, resources)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(cluster, kind, at, hourlyPrice, numNodes, m.cloud, m.region, m.resources);
  }

  costReport(now: number = Date.now()): CostRow[] {
    const rows = this.st(
      `SELECT cluster, kind, at, hourly_price AS hourlyPrice, num_nodes AS numNodes, cloud, region, resources
       FROM cost_events ORDER BY cluster, at, id`,
    ).all() as CostEvent[];
    return computeCostRows(rows, now);
  }

  // ---- storage ----

  /** Runs `fn` with this connection's commits synced to disk (synchronous=FULL), as the journal does. */
  private durably<T>(fn: () => T): T {
    const db = this.conn();
    db.pragma('synchronous = FULL');
    try {
      return fn();
    } finally {
      db.pragma('synchronous = NORMAL');
    }
  }

  getStorage(name: string): StorageRow | null {
    const r = this.st('SELECT * FROM storage WHERE name = ?').get(name) as StorageDbRow | undefined;
    return r ? toStorage(r) : null;
  }

  listStorage(): StorageRow[] {
    return (this.st('SELECT * FROM storage ORDER BY name').all() as StorageDbRow[]).map((r) => toStorage(r));
  }

  putStorage(rec: StorageInput): void {
    const now = Date.now();
    this.durably(() =>
      this.st(
        `INSERT INTO storage (name, store, region, endpoint, source, created_by_skyhop, persistent, status,
           created_at, status_updated_at, pid, pid_start)
         VALUES (@name, @store, @region, @endpoint, @source, @createdBySkyhop, @persistent, @status,
           @now, @now, @pid, @pidStart)
         ON CONFLICT (name) DO UPDATE SET store = excluded.store, region = excluded.region,
           endpoint = excluded.endpoint, source = excluded.source,
           created_by_skyhop = excluded.created_by_skyhop, persistent = excluded.persistent,
           status = excluded.status, status_updated_at = excluded.status_updated_at,
           pid = excluded.pid, pid_start = excluded.pid_start`,
      ).run({
        name: rec.name,
        store: rec.store,
        region: rec.region,
        endpoint: rec.endpoint,
        source: rec.source,
        createdBySkyhop: rec.createdBySkyhop ? 1 : 0,
        persistent: rec.persistent ? 1 : 0,
        status: rec.status,
        now,
        pid: process.pid,
        pidStart: selfStartTime(),
      }),
    );
  }

  setStorageStatus(name: string, status: StorageStatus): boolean {
    return this.durably(
      () =>
        this.st(
          'UPDATE storage SET status = ?, status_updated_at = ?, pid = ?, pid_start = ? WHERE name = ?',
        ).run(status, Date.now(), process.pid, selfStartTime(), name).changes > 0,
    );
  }

  removeStorage(name: string): boolean {
    // Its uses go with it (ON DELETE CASCADE), in the same statement's transaction.
    return this.durably(() => this.st('DELETE FROM storage WHERE name = ?').run(name).changes > 0);
  }

  addStorageUse(use: StorageUse): void {
    this.st(
      `INSERT INTO storage_uses (name, cluster, path, mode, prefix) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (name, cluster, path) DO UPDATE SET mode = excluded.mode, prefix = excluded.prefix`,
    ).run(use.name, use.cluster, use.path, use.mode, use.prefix ?? '');
  }

  removeStorageUse(use: Pick<StorageUse, 'name' | 'cluster' | 'path'>): boolean {
    return (
      this.st('DELETE FROM storage_uses WHERE name = ? AND cluster = ? AND path = ?').run(
        use.name,
        use.cluster,
        use.path,
      ).changes > 0
    );
  }

  storageUses(name?: string): StorageUse[] {
    return (
      name === undefined
        ? this.st(
            'SELECT name, cluster, path, mode, prefix FROM storage_uses ORDER BY name, cluster, path',
          ).all()
        : this.st(
            'SELECT name, cluster, path, mode, prefix FROM storage_uses WHERE name = ? ORDER BY cluster, path',
          ).all(name)
    ) as StorageUse[];
  }

  releaseStorageUses(cluster: string, inUse: (cluster: string) => boolean): string[] {
    const db = this.conn();
    const names = this.st('SELECT DISTINCT name FROM storage_uses WHERE cluster = ?');
    const drop = this.st('DELETE FROM storage_uses WHERE cluster = ?');
    const row = this.st('SELECT * FROM storage WHERE name = ?');
    const others = this.st('SELECT DISTINCT cluster FROM storage_uses WHERE name = ?');
    const mark = this.st(
      "UPDATE storage SET status = 'DELETING', status_updated_at = ?, pid = ?, pid_start = ? WHERE name = ?",
    );
    return this.durably(() =>
      db
        .transaction((): string[] => {
          const affected = (names.all(cluster) as Array<{ name: string }>).map((r) => r.name);
          drop.run(cluster);
          const marked: string[] = [];
          for (const name of affected) {
            const r = row.get(name) as StorageDbRow | undefined;
            if (r?.created_by_skyhop !== 1 || r.persistent !== 0 || r.status !== 'READY') continue;
            const users = (others.all(name) as Array<{ cluster: string }>).map((u) => u.cluster);
            if (users.some((c) => inUse(c))) continue;
            mark.run(Date.now(), process.pid, selfStartTime(), name);
            marked.push(name);
          }
          return marked;
        })
        .immediate(),
    );
  }

  // ---- managed jobs ----

  insertManagedJob(input: ManagedJobInput): number {
    const now = Date.now();
    return this.durably(() =>
      Number(
        this.st(
          `INSERT INTO managed_jobs (name, user, status, submitted_at, tasks, dag, request, updated_at)
           VALUES (?, ?, 'PENDING', ?, ?, ?, ?, ?)`,
        ).run(input.name, input.user, now, JSON.stringify(input.tasks), input.dag, input.request, now)
          .lastInsertRowid,
      ),
    );
  }

  getManagedJob(id: number): ManagedJobRecord | null {
    const r = this.st('SELECT * FROM managed_jobs WHERE id = ?').get(id) as ManagedRow | undefined;
    return r ? toManaged(this.path, r) : null;
  }

  managedJobInput(id: number): { dag: string; request: string } | null {
    const r = this.st('SELECT dag, request FROM managed_jobs WHERE id = ?').get(id) as
      | { dag: string; request: string }
      | undefined;
    return r ?? null;
  }

  listManagedJobs(): ManagedJobRecord[] {
    return (this.st('SELECT * FROM managed_jobs ORDER BY id DESC').all() as ManagedRow[]).map((r) =>
      toManaged(this.path, r),
    );
  }

  unfinishedManagedJobs(): ManagedJobRecord[] {
    return (
      this.st(
        `SELECT * FROM managed_jobs WHERE status NOT IN (${MANAGED_TERMINAL_SQL}) OR phase != 'idle' ORDER BY id`,
      ).all() as ManagedRow[]
    ).map((r) => toManaged(this.path, r));
  }

  updateManagedJob(id: number, patch: ManagedJobPatch): boolean {
    const columns: Record<keyof ManagedJobPatch, string> = MANAGED_PATCH_COLUMNS;
    const keys = (Object.keys(columns) as Array<keyof ManagedJobPatch>).filter((k) => patch[k] !== undefined);
    const params: Record<string, unknown> = { id, updatedAt: Date.now() };
    for (const k of keys) params[k] = k === 'tasks' ? JSON.stringify(patch.tasks) : (patch[k] ?? null);
    const sets = [...keys.map((k) => `${columns[k]} = @${k}`), 'updated_at = @updatedAt'];
    return this.durably(
      () => this.st(`UPDATE managed_jobs SET ${sets.join(', ')} WHERE id = @id`).run(params).changes > 0,
    );
  }

  requestManagedCancel(ids: number[] | 'all'): number[] {
    const live = this.st(
      `SELECT id FROM managed_jobs WHERE status NOT IN (${MANAGED_TERMINAL_SQL}) ORDER BY id`,
    ).all() as Array<{ id: number }>;
    const want = ids === 'all' ? null : new Set(ids);
    const marked = live.map((r) => r.id).filter((id) => want === null || want.has(id));
    const mark = this.st('UPDATE managed_jobs SET cancel_requested = 1, updated_at = ? WHERE id = ?');
    this.durably(() => {
      const now = Date.now();
      for (const id of marked) mark.run(now, id);
    });
    return marked;
  }

  // ---- locks ----

  /** One atomic check-and-set: takes the lock (returns null) or returns the live holder. */
  private tryLock(name: string, token: string, command: string): LockHolder | null {
    const db = this.conn();
    const select = this.st('SELECT token, pid, pid_start, command, since FROM locks WHERE cluster = ?');
    const upsert = this.st(
      `INSERT INTO locks (cluster, token, pid, pid_start, command, since) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (cluster) DO UPDATE SET token = excluded.token, pid = excluded.pid,
         pid_start = excluded.pid_start, command = excluded.command, since = excluded.since`,
    );
    return db
      .transaction((): LockHolder | null => {
        const row = select.get(name) as LockRow | undefined;
        if (row && isProcessAlive(row.pid, row.pid_start)) {
          return { pid: row.pid, command: row.command, since: row.since };
        }
        // Free, or its holder died without releasing it (stale): take it.
        upsert.run(name, token, process.pid, selfStartTime(), command, Date.now());
        return null;
      })
      .immediate();
  }

  lockHolder(name: string): LockHolder | null {
    const row = this.st('SELECT token, pid, pid_start, command, since FROM locks WHERE cluster = ?').get(
      name,
    ) as LockRow | undefined;
    if (!row || !isProcessAlive(row.pid, row.pid_start)) return null;
    return { pid: row.pid, command: row.command, since: row.since };
  }

  clearStaleLocks(): number {
    const rows = this.st('SELECT cluster, token, pid, pid_start FROM locks').all() as Array<
      Pick<LockRow, 'token' | 'pid' | 'pid_start'> & { cluster: string }
    >;
    const del = this.st('DELETE FROM locks WHERE cluster = ? AND token = ?');
    let n = 0;
    for (const r of rows) {
      // By token: a live process that takes the lock meanwhile is never removed.
      if (!isProcessAlive(r.pid, r.pid_start)) n += del.run(r.cluster, r.token).changes;
    }
    return n;
  }

  async acquireClusterLock(name: string, opts: LockOptions): Promise<() => void> {
    const token = randomUUID();
    const command = opts.command ?? describeSelf();
    const deadline = opts.timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + opts.timeoutMs;
    let delay = LOCK_POLL_MIN_MS;
    let told = false;
    for (;;) {
      let holder: LockHolder | null;
      try {
        holder = this.tryLock(name, token, command);
      } catch (e) {
        if (!isDiskFullError(e)) throw e;
        throw new DiskFullError(
          `the disk holding ${this.path} is full, so cluster '${name}' cannot be locked; free some space and retry`,
          { cause: e },
        );
      }
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

    const path = this.path;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      heldLocks.delete(release);
      const sql = 'DELETE FROM locks WHERE cluster = ? AND token = ?';
      try {
        if (this.db) {
          this.st(sql).run(name, token);
        } else {
          // The store was closed while the lock was held: a short connection to the same file.
          const db = new (loadSqlite())(path, { timeout: BUSY_TIMEOUT_MS, fileMustExist: true });
          try {
            db.prepare(sql).run(name, token);
          } finally {
            db.close();
          }
        }
      } catch (e) {
        // A full disk: the row stays, and is stale (taken over) once this process has exited.
        if (!isDiskFullError(e)) throw e;
      }
    };
    heldLocks.add(release);
    installExitHook();
    return release;
  }

  // ---- owners (a team server's users) ----

  ownerOf(kind: OwnedKind, name: string): string | null {
    const r = this.st('SELECT owner FROM owners WHERE kind = ? AND name = ?').get(kind, name) as
      | { owner: string }
      | undefined;
    return r?.owner ?? null;
  }

  claim(kind: OwnedKind, name: string, owner: string, busy: () => boolean): string {
    return this.conn()
      .transaction((): string => {
        const cur = this.ownerOf(kind, name);
        if (cur === owner) return owner;
        if (cur !== null && busy()) return cur;
        this.st(
          `INSERT INTO owners (kind, name, owner, since) VALUES (?, ?, ?, ?)
           ON CONFLICT (kind, name) DO UPDATE SET owner = excluded.owner, since = excluded.since`,
        ).run(kind, name, owner, Date.now());
        return owner;
      })
      .immediate();
  }

  owners(kind: OwnedKind): Map<string, string> {
    const rows = this.st('SELECT name, owner FROM owners WHERE kind = ?').all(kind) as Array<{
      name: string;
      owner: string;
    }>;
    return new Map(rows.map((r) => [r.name, r.owner]));
  }

  close(): void {
    if (!this.db) return;
    const db = this.db;
    this.db = null;
    this.stmts.clear();
    this.onClose();
    db.close();
  }
}

// ---- a state database that cannot be read: refused at open, one clear error mid-command ----

/** SQLite's error codes for a file that is not (or no longer) a readable database. */
const UNREADABLE_CODES = new Set(['SQLITE_NOTADB', 'SQLITE_CORRUPT']);

/** Whether `e` is SQLite saying the database file is damaged or not a database. */
export function isUnreadableDatabase(e: unknown): boolean {
  return UNREADABLE_CODES.has((e as { code?: string } | null)?.code ?? '');
}

/** The state database cannot be read (damaged, emptied, or not a database). */
export class UnreadableStateError extends UserError {}

/**
 * The one message for a state database skyhop cannot read, found at open or in the middle of a
 * command. Never advice to delete it: the clouds' tags still find every cluster, and the file may be
 * worth keeping.
 */
export function unreadableDatabaseError(path: string, why: string, cause?: unknown): UnreadableStateError {
  return new UnreadableStateError(
    `${path} is not a readable skyhop state database (${why}); move it aside ` +
      `(\`mv ${shq(path)} ${shq(`${path}.broken`)}\`) and run \`skyhop status --refresh\`, which adopts ` +
      'the clusters the clouds still have (found by their skyhop-cluster tags)',
    cause === undefined ? {} : { cause },
  );
}

/** The 16 bytes every SQLite database file starts with. */
const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * A state.db that exists must be an SQLite database: an empty (0-byte) or foreign file would open as
 * an empty state ("no clusters") and hide clusters that still run. Fresh databases are created
 * complete under a temporary name and linked into place (see createDatabase), so a 0-byte state.db
 * is never one being created.
 */
function refuseUnreadable(path: string): void {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    return; // not there: created below
  }
  if (size === 0) throw unreadableDatabaseError(path, 'the file is empty (0 bytes)');
  const head = Buffer.alloc(SQLITE_HEADER.length);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  if (!head.equals(SQLITE_HEADER)) throw unreadableDatabaseError(path, 'the file is not an SQLite database');
}

/**
 * Creates `path` as a migrated database when it does not exist: built under a temporary name, then
 * linked into place (atomic; a concurrent creator's file wins and this one is dropped).
 */
function createDatabase(path: string, Ctor: typeof Database): void {
  if (existsSync(path)) return;
  const tmp = `${path}.${process.pid}.${randomUUID().slice(0, 8)}.new`;
  try {
    const db = new Ctor(tmp, { timeout: BUSY_TIMEOUT_MS });
    try {
      db.pragma('journal_mode = WAL');
      migrate(db, path);
    } finally {
      db.close(); // checkpoints: the file is complete and its -wal is gone
    }
    try {
      linkSync(tmp, path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  } finally {
    for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`]) rmSync(f, { force: true });
  }
}

/** Runs `fn`; SQLite saying the file is damaged becomes the one clear error. */
function guardCall<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (isUnreadableDatabase(e)) throw unreadableDatabaseError(path, (e as Error).message, e);
    throw e;
  }
}

/**
 * Every statement prepared on `db` from now on: damage SQLite finds in the middle of a command (a page
 * read later than the open) gives the same clear error as at open, not an internal error.
 */
function guardUnreadable(db: Db, path: string): void {
  const prepare = db.prepare.bind(db);
  db.prepare = ((sql: string) => {
    const s = guardCall(path, () => prepare(sql));
    const run = s.run.bind(s);
    const get = s.get.bind(s);
    const all = s.all.bind(s);
    s.run = ((...a: unknown[]) => guardCall(path, () => run(...a))) as typeof s.run;
    s.get = ((...a: unknown[]) => guardCall(path, () => get(...a))) as typeof s.get;
    s.all = ((...a: unknown[]) => guardCall(path, () => all(...a))) as typeof s.all;
    return s;
  }) as typeof db.prepare;
}

/** Another connection to an existing state database (WAL, the store's busy timeout). */
export function openSqliteConnection(path: string): Db {
  const db = new (loadSqlite())(path, { timeout: BUSY_TIMEOUT_MS, fileMustExist: true });
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  return db;
}
