/**
 * The schema of state.db, as an ordered list of migrations. `PRAGMA user_version` is the number of
 * migrations applied. Append only: never edit or reorder a migration that has shipped; add a new one.
 * Each runs in its own `BEGIN IMMEDIATE` transaction together with the user_version bump, so a process
 * that dies mid-migration leaves the database at the previous version, and two processes opening an old
 * database at once apply each migration exactly once.
 */
import type Database from 'better-sqlite3';
import { UserError } from '../util/errors.js';

type Db = Database.Database;

export interface Migration {
  /** What it does (for errors and reviewers). */
  name: string;
  up(db: Db): void;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    name: 'v1: clusters, provisioning journal, jobs',
    up(db) {
      db.exec(`
        CREATE TABLE clusters (
          name TEXT PRIMARY KEY,
          cloud TEXT NOT NULL,
          region TEXT NOT NULL,
          zone TEXT,
          status TEXT NOT NULL CHECK (status IN ('INIT', 'UP', 'STOPPED')),
          resources TEXT NOT NULL,
          nodes TEXT NOT NULL DEFAULT '[]',
          launched_at INTEGER NOT NULL,
          status_updated_at INTEGER NOT NULL,
          hourly_price REAL NOT NULL,
          autostop TEXT,
          head_ip TEXT
        );
        CREATE TABLE intents (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          cluster TEXT NOT NULL,
          cloud TEXT NOT NULL,
          region TEXT NOT NULL,
          zone TEXT,
          num_nodes INTEGER NOT NULL,
          spec TEXT NOT NULL,
          pid INTEGER NOT NULL,
          created_at INTEGER NOT NULL,
          outcome TEXT CHECK (outcome IN ('created', 'failed', 'cleaned')),
          resolved_at INTEGER
        );
        CREATE INDEX intents_open ON intents (cluster) WHERE outcome IS NULL;
        CREATE TABLE jobs (
          cluster TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
          job_id INTEGER NOT NULL,
          name TEXT,
          submitted_at INTEGER NOT NULL,
          status TEXT NOT NULL,
          command TEXT,
          PRIMARY KEY (cluster, job_id)
        );
      `);
    },
  },
  {
    name: 'v2: cluster hash and last use, job times, intent process start, cost events, locks',
    up(db) {
      db.exec(`
        ALTER TABLE clusters ADD COLUMN cluster_hash TEXT;
        ALTER TABLE clusters ADD COLUMN last_use TEXT;
        ALTER TABLE jobs ADD COLUMN started_at INTEGER;
        ALTER TABLE jobs ADD COLUMN ended_at INTEGER;
        ALTER TABLE intents ADD COLUMN pid_start TEXT;
        CREATE TABLE cost_events (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          cluster TEXT NOT NULL,
          kind TEXT NOT NULL CHECK (kind IN ('launch', 'stop', 'start', 'down')),
          at INTEGER NOT NULL,
          hourly_price REAL NOT NULL,
          num_nodes INTEGER NOT NULL,
          cloud TEXT,
          region TEXT,
          resources TEXT
        );
        CREATE INDEX cost_events_cluster ON cost_events (cluster, at, id);
        CREATE TABLE locks (
          cluster TEXT PRIMARY KEY,
          token TEXT NOT NULL,
          pid INTEGER NOT NULL,
          pid_start TEXT,
          command TEXT NOT NULL,
          since INTEGER NOT NULL
        );
      `);
      // Clusters recorded before cost events existed: bill them from their launch (and, if stopped,
      // until their last status change), so the cost report does not lose them.
      const rows = db
        .prepare(
          'SELECT name, cloud, region, status, resources, launched_at, status_updated_at, hourly_price FROM clusters',
        )
        .all() as Array<{
        name: string;
        cloud: string;
        region: string;
        status: string;
        resources: string;
        launched_at: number;
        status_updated_at: number;
        hourly_price: number;
      }>;
      const ins = db.prepare(
        'INSERT INTO cost_events (cluster, kind, at, hourly_price, num_nodes, cloud, region, resources) ' +
          'VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      );
      for (const r of rows) {
        let numNodes = 1;
        let desc: string | null = null;
        try {
          const res = JSON.parse(r.resources) as { numNodes?: number; instanceType?: string };
          if (typeof res.numNodes === 'number') numNodes = res.numNodes;
          if (res.instanceType) desc = `${numNodes}x ${res.instanceType}`;
        } catch {
          // unreadable resources: keep the defaults
        }
        ins.run(r.name, 'launch', r.launched_at, r.hourly_price, numNodes, r.cloud, r.region, desc);
        if (r.status === 'STOPPED') {
          const at = Math.max(r.launched_at, r.status_updated_at);
          ins.run(r.name, 'stop', at, r.hourly_price, numNodes, r.cloud, r.region, desc);
        }
      }
    },
  },
  {
    name: 'v3: the whole launch spec of each cluster (labels included)',
    up(db) {
      db.exec('ALTER TABLE clusters ADD COLUMN spec TEXT');
      // Clusters recorded before: their spec is rebuilt from what they did record (labels were never
      // recorded, so a relaunch of such a cluster has none, as before).
      const rows = db.prepare('SELECT name, region, zone, resources FROM clusters').all() as Array<{
        name: string;
        region: string;
        zone: string | null;
        resources: string;
      }>;
      const set = db.prepare('UPDATE clusters SET spec = ? WHERE name = ?');
      for (const r of rows) {
        let res: Record<string, unknown>;
        try {
          res = JSON.parse(r.resources) as Record<string, unknown>;
        } catch {
          continue; // unreadable resources: the row keeps no spec (launchSpecOf reports it when needed)
        }
        set.run(JSON.stringify(specFromResources(r.name, r.region, r.zone, res)), r.name);
      }
    },
  },
  {
    name: 'v4: storage (buckets skyhop created or uses) and which clusters use them',
    up(db) {
      db.exec(`
        CREATE TABLE storage (
          name TEXT PRIMARY KEY,
          store TEXT NOT NULL,
          region TEXT NOT NULL,
          endpoint TEXT,
          source TEXT,
          created_by_skyhop INTEGER NOT NULL CHECK (created_by_skyhop IN (0, 1)),
          persistent INTEGER NOT NULL CHECK (persistent IN (0, 1)),
          status TEXT NOT NULL CHECK (status IN ('CREATING', 'READY', 'DELETING')),
          created_at INTEGER NOT NULL,
          status_updated_at INTEGER NOT NULL,
          pid INTEGER,
          pid_start TEXT
        );
        CREATE TABLE storage_uses (
          name TEXT NOT NULL REFERENCES storage (name) ON DELETE CASCADE,
          cluster TEXT NOT NULL,
          path TEXT NOT NULL,
          mode TEXT NOT NULL,
          prefix TEXT NOT NULL DEFAULT '',
          PRIMARY KEY (name, cluster, path)
        );
        CREATE INDEX storage_uses_cluster ON storage_uses (cluster);
      `);
    },
  },
  {
    name: 'v5: managed jobs (skyhop jobs launch), owned by the jobs controller',
    up(db) {
      db.exec(`
        CREATE TABLE managed_jobs (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          name TEXT NOT NULL,
          user TEXT NOT NULL,
          status TEXT NOT NULL,
          reason TEXT,
          submitted_at INTEGER NOT NULL,
          started_at INTEGER,
          ended_at INTEGER,
          current_task INTEGER NOT NULL DEFAULT 0,
          phase TEXT NOT NULL DEFAULT 'idle',
          cancel_requested INTEGER NOT NULL DEFAULT 0,
          tasks TEXT NOT NULL,
          dag TEXT NOT NULL,
          request TEXT NOT NULL,
          updated_at INTEGER NOT NULL
        );
        CREATE INDEX managed_jobs_status ON managed_jobs (status);
      `);
    },
  },
  {
    name: 'v6: owners (which user of a team server a cluster or bucket belongs to)',
    up(db) {
      db.exec(`
        CREATE TABLE owners (
          kind TEXT NOT NULL,
          name TEXT NOT NULL,
          owner TEXT NOT NULL,
          since INTEGER NOT NULL,
          PRIMARY KEY (kind, name)
        );
        CREATE INDEX owners_owner ON owners (owner);
      `);
    },
  },
  {
    name: 'v7: a team server: users, tokens, requests and their logs, audit',
    up(db) {
      db.exec(`
        CREATE TABLE api_users (
          name TEXT PRIMARY KEY,
          role TEXT NOT NULL,
          created_at INTEGER NOT NULL
        );
        CREATE TABLE api_tokens (
          hash TEXT PRIMARY KEY,
          user TEXT NOT NULL REFERENCES api_users (name) ON DELETE CASCADE,
          created_at INTEGER NOT NULL,
          revoked_at INTEGER
        );
        CREATE TABLE api_requests (
          id TEXT PRIMARY KEY,
          user TEXT NOT NULL,
          command TEXT NOT NULL,
          argv TEXT NOT NULL,
          status TEXT NOT NULL,
          server TEXT,
          host TEXT,
          pid INTEGER,
          pid_start INTEGER,
          exit_code INTEGER,
          error TEXT,
          created_at INTEGER NOT NULL,
          started_at INTEGER,
          ended_at INTEGER
        );
        CREATE INDEX api_requests_user ON api_requests (user, created_at);
        CREATE INDEX api_requests_status ON api_requests (status);
        CREATE TABLE api_request_log (
          seq INTEGER PRIMARY KEY AUTOINCREMENT,
          request TEXT NOT NULL REFERENCES api_requests (id) ON DELETE CASCADE,
          stream TEXT NOT NULL,
          data TEXT NOT NULL
        );
        CREATE INDEX api_request_log_request ON api_request_log (request, seq);
        CREATE TABLE api_audit (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          at INTEGER NOT NULL,
          user TEXT NOT NULL,
          action TEXT NOT NULL,
          target TEXT,
          outcome TEXT
        );
      `);
    },
  },
];

/** A v2 row's spec, from its `resources` JSON (the fields a v2 relaunch used). */
function specFromResources(
  cluster: string,
  region: string,
  zone: string | null,
  res: Record<string, unknown>,
): Record<string, unknown> {
  const spec: Record<string, unknown> = {
    cluster,
    numNodes: typeof res.numNodes === 'number' ? res.numNodes : 1,
    instanceType: res.instanceType,
    region,
    zone,
    useSpot: res.useSpot === true,
    accelerators: res.accelerators ?? null,
  };
  for (const k of ['diskSize', 'ports', 'imageId']) if (res[k] !== undefined) spec[k] = res[k];
  return spec;
}

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the database to SCHEMA_VERSION. The common case (already current) costs one pragma read.
 * Throws UserError when the file was written by a newer skyhop.
 */
export function migrate(db: Db, path: string): void {
  let version = db.pragma('user_version', { simple: true }) as number;
  if (version === SCHEMA_VERSION) return;
  if (version > SCHEMA_VERSION) throw newerSchema(path, version);
  while (version < SCHEMA_VERSION) {
    db.transaction(() => {
      // Re-read under the write lock: another process may have migrated meanwhile.
      version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) throw newerSchema(path, version);
      if (version === SCHEMA_VERSION) return;
      try {
        MIGRATIONS[version].up(db);
      } catch (e) {
        throw new UserError(
          `${path}: migration to schema version ${version + 1} (${MIGRATIONS[version].name}) failed: ` +
            `${(e as Error).message}; the file is unchanged at version ${version}. Move it away to start afresh`,
          { cause: e },
        );
      }
      version += 1;
      db.pragma(`user_version = ${version}`);
    }).immediate();
  }
}

/** Throws UserError when the file was written by a newer skyhop (checked before anything is changed). */
export function refuseNewer(db: Db, path: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) throw newerSchema(path, version);
}

function newerSchema(path: string, version: number): UserError {
  return new UserError(
    `${path} has schema version ${version}, newer than this skyhop knows (${SCHEMA_VERSION}); ` +
      'upgrade skyhop, or set SKYHOP_HOME to another directory',
  );
}
