import assert from 'node:assert/strict';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import Database from 'better-sqlite3';
import { openStore, SCHEMA_VERSION } from '../../../src/state/index.js';
import { UserError } from '../../../src/util/errors.js';
import { cluster, tempHome } from './helpers.js';

let t: ReturnType<typeof tempHome>;
beforeEach(() => {
  t = tempHome();
});
afterEach(() => t.cleanup());

/** The v1 schema exactly as migration 1 shipped it, written by hand. */
const V1_SQL = `
  CREATE TABLE clusters (
    name TEXT PRIMARY KEY, cloud TEXT NOT NULL, region TEXT NOT NULL, zone TEXT,
    status TEXT NOT NULL CHECK (status IN ('INIT', 'UP', 'STOPPED')), resources TEXT NOT NULL,
    nodes TEXT NOT NULL DEFAULT '[]', launched_at INTEGER NOT NULL, status_updated_at INTEGER NOT NULL,
    hourly_price REAL NOT NULL, autostop TEXT, head_ip TEXT);
  CREATE TABLE intents (
    id INTEGER PRIMARY KEY AUTOINCREMENT, cluster TEXT NOT NULL, cloud TEXT NOT NULL, region TEXT NOT NULL,
    zone TEXT, num_nodes INTEGER NOT NULL, spec TEXT NOT NULL, pid INTEGER NOT NULL, created_at INTEGER NOT NULL,
    outcome TEXT CHECK (outcome IN ('created', 'failed', 'cleaned')), resolved_at INTEGER);
  CREATE INDEX intents_open ON intents (cluster) WHERE outcome IS NULL;
  CREATE TABLE jobs (
    cluster TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE, job_id INTEGER NOT NULL, name TEXT,
    submitted_at INTEGER NOT NULL, status TEXT NOT NULL, command TEXT, PRIMARY KEY (cluster, job_id));
  PRAGMA user_version = 1;
`;

const H = 3_600_000;
const T0 = 1_700_000_000_000;

function writeV1(home: string, extraSql = ''): string {
  mkdirSync(home, { recursive: true });
  const path = join(home, 'state.db');
  const db = new Database(path);
  db.exec(V1_SQL);
  const res = JSON.stringify({
    instanceType: 'm5.large',
    accelerators: null,
    useSpot: false,
    vcpus: 2,
    memoryGiB: 8,
    numNodes: 2,
  });
  db.prepare(
    `INSERT INTO clusters (name, cloud, region, zone, status, resources, nodes, launched_at, status_updated_at,
       hourly_price, autostop, head_ip) VALUES (?, 'aws', 'us-east-1', NULL, ?, ?, '[]', ?, ?, 0.5, ?, '1.2.3.4')`,
  ).run('old-up', 'UP', res, T0, T0, JSON.stringify({ idleMinutes: 10, down: true }));
  db.prepare(
    `INSERT INTO clusters (name, cloud, region, zone, status, resources, nodes, launched_at, status_updated_at,
       hourly_price, autostop, head_ip) VALUES (?, 'aws', 'us-east-1', NULL, ?, ?, '[]', ?, ?, 0.5, NULL, NULL)`,
  ).run('old-stopped', 'STOPPED', res, T0, T0 + 2 * H);
  db.prepare("INSERT INTO jobs VALUES ('old-up', 1, 'train', ?, 'RUNNING', 'python train.py')").run(T0);
  db.prepare(
    "INSERT INTO intents (cluster, cloud, region, zone, num_nodes, spec, pid, created_at) VALUES ('old-up', 'aws', 'us-east-1', NULL, 2, '{}', 999999999, ?)",
  ).run(T0);
  if (extraSql) db.exec(extraSql);
  db.close();
  return path;
}

test('opening an empty dir creates it (0700) and the database at the current schema, in WAL mode', () => {
  const s = openStore();
  assert.equal(s.home, t.home);
  assert.equal(s.path, join(t.home, 'state.db'));
  assert.equal(statSync(t.home).mode & 0o777, 0o700);
  assert.deepEqual(s.listClusters(), []);
  s.close();
  const db = new Database(join(t.home, 'state.db'), { readonly: true });
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  const tables = (
    db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{
      name: string;
    }>
  )
    .map((r) => r.name)
    .filter((n) => !n.startsWith('sqlite_'));
  assert.deepEqual(tables, [
    'api_audit',
    'api_request_log',
    'api_requests',
    'api_tokens',
    'api_users',
    'clusters',
    'cost_events',
    'intents',
    'jobs',
    'locks',
    'managed_jobs',
    'owners',
    'storage',
    'storage_uses',
  ]);
  db.close();
});

test('re-opening is idempotent and keeps the data; openStore is memoised until close', () => {
  const a = openStore();
  assert.equal(openStore(), a);
  assert.equal(openStore(t.home), a);
  a.upsertCluster(cluster('keep'));
  a.close();
  a.close(); // closing twice is harmless
  const b = openStore();
  assert.notEqual(b, a);
  assert.equal(b.getCluster('keep')?.name, 'keep');
  b.close();
  const c = openStore();
  assert.deepEqual(
    c.listClusters().map((r) => r.name),
    ['keep'],
  );
  c.close();
  assert.throws(() => a.listClusters(), /closed/);
});

test('a database at v1 (written by hand) is migrated, keeping clusters, jobs and intents', () => {
  const path = writeV1(t.home);
  const s = openStore();
  const up = s.getCluster('old-up')!;
  assert.equal(up.status, 'UP');
  assert.equal(up.headIp, '1.2.3.4');
  assert.deepEqual(up.autostop, { idleMinutes: 10, down: true });
  assert.equal(up.clusterHash, null);
  assert.equal(up.lastUse, null);
  assert.deepEqual(s.listJobs('old-up'), [
    {
      cluster: 'old-up',
      jobId: 1,
      name: 'train',
      submittedAt: T0,
      status: 'RUNNING',
      command: 'python train.py',
      startedAt: null,
      endedAt: null,
    },
  ]);
  const intents = s.openIntents('old-up');
  assert.equal(intents.length, 1);
  assert.equal(intents[0].processAlive, false);
  // v2 backfills billing from the v1 records: the stopped one ran launch -> last status change.
  const rows = s.costReport(T0 + 3 * H);
  const byName = Object.fromEntries(rows.map((r) => [r.cluster, r]));
  assert.equal(byName['old-stopped'].status, 'stopped');
  assert.equal(byName['old-stopped'].durationMs, 2 * H);
  assert.equal(byName['old-stopped'].cost, 2 * 0.5 * 2);
  assert.equal(byName['old-stopped'].resources, '2x m5.large');
  assert.equal(byName['old-up'].status, 'live');
  assert.equal(byName['old-up'].cost, 3 * 0.5 * 2);
  // v3 rebuilds each old row's launch spec from what it recorded (no labels: it never recorded any).
  assert.deepEqual(up.spec, {
    cluster: 'old-up',
    numNodes: 2,
    instanceType: 'm5.large',
    region: 'us-east-1',
    zone: null,
    useSpot: false,
    accelerators: null,
  });
  // New columns work.
  assert.equal(s.setLastUse('old-up', 'skyhop exec old-up ls'), true);
  assert.equal(s.getCluster('old-up')!.lastUse, 'skyhop exec old-up ls');
  s.close();
  const db = new Database(path, { readonly: true });
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  db.close();
});

test('a cluster record keeps its whole launch spec, labels included, across a re-open', () => {
  const s = openStore();
  const spec = {
    cluster: 'tagged',
    numNodes: 2,
    instanceType: 'p3.2xlarge',
    region: 'us-east-1',
    zone: 'us-east-1a',
    useSpot: false,
    accelerators: { name: 'V100', count: 1 },
    diskSize: 256,
    ports: ['8080'],
    imageId: 'ami-123',
    labels: { team: 'ml', 'cost-center': '42' },
  };
  s.upsertCluster(cluster('tagged', { spec }));
  s.upsertCluster({ ...cluster('plain'), spec: undefined });
  s.close();
  const again = openStore();
  assert.deepEqual(again.getCluster('tagged')!.spec, spec);
  // A record written without a spec gets the one its resources describe.
  const plain = again.getCluster('plain')!.spec!;
  assert.equal(plain.instanceType, 'p3.2xlarge');
  assert.deepEqual(plain.ports, ['8080']);
  assert.equal(plain.labels, undefined);
  again.close();
});

test('a migration that fails is rolled back whole and the version stays', () => {
  // A table in the way of migration 2's CREATE TABLE cost_events makes it fail after its ALTERs ran.
  const path = writeV1(t.home, 'CREATE TABLE cost_events (x INTEGER);');
  assert.throws(
    () => openStore(),
    (e: unknown) =>
      e instanceof UserError &&
      e.message.includes('migration to schema version 2') &&
      e.message.includes('unchanged at version 1'),
  );
  const db = new Database(path, { readonly: true });
  assert.equal(db.pragma('user_version', { simple: true }), 1);
  const cols = (db.prepare('PRAGMA table_info(clusters)').all() as Array<{ name: string }>).map(
    (c) => c.name,
  );
  assert.equal(cols.includes('cluster_hash'), false, 'the ALTERs before the failure were rolled back');
  assert.deepEqual(db.prepare('SELECT name FROM clusters ORDER BY name').pluck().all(), [
    'old-stopped',
    'old-up',
  ]);
  db.close();
  // After the obstacle is removed, the next open migrates.
  const rw = new Database(path);
  rw.exec('DROP TABLE cost_events');
  rw.close();
  const s = openStore();
  assert.equal(s.getCluster('old-up')?.clusterHash, null);
  s.close();
});

test('a database from a newer skyhop is refused with a clear error', () => {
  mkdirSync(t.home, { recursive: true });
  const db = new Database(join(t.home, 'state.db'));
  db.pragma(`user_version = ${SCHEMA_VERSION + 5}`);
  db.close();
  const before = statSync(join(t.home, 'state.db')).size;
  assert.throws(
    () => openStore(),
    (e: unknown) =>
      e instanceof UserError &&
      e.message.includes(`schema version ${SCHEMA_VERSION + 5}`) &&
      e.message.includes('upgrade skyhop'),
  );
  const ro = new Database(join(t.home, 'state.db'), { readonly: true });
  assert.equal(ro.pragma('journal_mode', { simple: true }), 'delete', 'the newer file was left as it was');
  ro.close();
  assert.equal(statSync(join(t.home, 'state.db')).size, before);
});

test('a file that is not a database is refused with a clear error', () => {
  mkdirSync(t.home, { recursive: true });
  writeFileSync(
    join(t.home, 'state.db'),
    'this is not an SQLite database, just some text that is long enough',
  );
  assert.throws(
    () => openStore(),
    (e: unknown) => e instanceof UserError && e.message.includes('not a readable skyhop state database'),
  );
});

test('SKYHOP_HOME that is a file gives a clear error', () => {
  mkdirSync(join(t.home, '..'), { recursive: true });
  writeFileSync(t.home, 'x');
  assert.throws(
    () => openStore(),
    (e: unknown) =>
      e instanceof UserError && e.message.includes('SKYHOP_HOME') && !existsSync(join(t.home, 'state.db')),
  );
});
