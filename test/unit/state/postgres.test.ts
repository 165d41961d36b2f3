/**
 * What only the PostgreSQL store has: its bridge, its schema table, its connection errors. (Its
 * semantics are the SQLite store's and are tested on both: records, locks, concurrency...)
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { openApiStore, openStore, SCHEMA_VERSION } from '../../../src/state/index.js';
import { PgBridge, redactUrl } from '../../../src/state/pg-bridge.js';
import { PG_SCHEMA_VERSION } from '../../../src/state/pg-migrations.js';
import { UserError } from '../../../src/util/errors.js';
import { backendSuite, type StateEnv, sharedPostgres, tempState } from './backends.js';
import { spawnFixture } from './helpers.js';

describe('postgres', backendSuite('postgres'), () => {
  let t: StateEnv;
  const children: Array<ReturnType<typeof spawnFixture>> = [];
  beforeEach(async () => {
    t = await tempState('postgres');
  });
  afterEach(async () => {
    for (const c of children.splice(0)) {
      if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
      await c.exited;
    }
    t.cleanup();
  });

  test('its schema has the version of SQLite', () => {
    assert.equal(PG_SCHEMA_VERSION, SCHEMA_VERSION);
  });

  test('four processes opening a fresh database at once migrate it once', async () => {
    const kids = [0, 1, 2, 3].map(() => spawnFixture('open.ts', [t.home]));
    children.push(...kids);
    await Promise.all(kids.map((k) => k.waitFor('READY')));
    for (const k of kids) k.child.stdin!.write('go\n');
    assert.deepEqual(
      await Promise.all(kids.map((k) => k.waitFor('OPENED'))),
      kids.map(() => 'OPENED'),
    );
    assert.deepEqual(await Promise.all(kids.map((k) => k.exited)), [0, 0, 0, 0]);
    assert.deepEqual(await t.exec('SELECT version FROM skyhop_schema'), [{ version: SCHEMA_VERSION }]);
  });

  test('a database from a newer skyhop is refused with a clear error', async () => {
    openStore().close();
    await t.exec('UPDATE skyhop_schema SET version = 99');
    assert.throws(
      () => openStore(),
      (e: unknown) =>
        e instanceof UserError &&
        /has schema version 99, newer than this skyhop knows \(\d+\); upgrade skyhop/.test(e.message) &&
        !e.message.includes((t.url ?? '').split(':')[2]?.split('@')[0] ?? 'x'),
    );
  });

  test('a wrong password, an unreachable server, a bad URL: one clear UserError without the password', async () => {
    const server = await sharedPostgres();
    const cases: Array<[string, RegExp]> = [
      [
        t.url!.replace(server.password, 'Wr0ngPassw0rd'),
        /password authentication failed for user "skyhop"; check the user and password/,
      ],
      [
        t.url!.replace(`:${server.port}/`, ':1/'),
        /ECONNREFUSED .*is PostgreSQL running and listening there\?/,
      ],
      [
        t.url!.replace(/\/(\w+)$/, '/no_such_db'),
        /database "no_such_db" does not exist; create the database/,
      ],
      ['postgresql://skyhop:Wr0ngPassw0rd@', /SKYHOP_DB is not a PostgreSQL URL: postgresql:\/\/skyhop@/],
      [
        'mysql://skyhop:Wr0ngPassw0rd@127.0.0.1/db',
        /SKYHOP_DB must be a PostgreSQL URL .*got mysql:\/\/skyhop@127\.0\.0\.1\/db/,
      ],
    ];
    for (const [url, want] of cases) {
      process.env.SKYHOP_DB = url;
      assert.throws(
        () => openStore(),
        (e: unknown) => {
          assert.ok(e instanceof UserError, String(e));
          assert.match(e.message, want);
          assert.ok(!e.message.includes('Wr0ngPassw0rd') && !e.message.includes(server.password), e.message);
          assert.equal(e.message.split('\n').length, 1);
          return true;
        },
      );
    }
    process.env.SKYHOP_DB = t.url!;
  });

  test('redactUrl drops the password, also from an unparsable URL', () => {
    assert.equal(
      redactUrl('postgresql://u:p%40ss@h:5432/db?sslmode=require'),
      'postgresql://u@h:5432/db?sslmode=require',
    );
    assert.equal(redactUrl('postgresql://u:pw@h/db?password=pw2'), 'postgresql://u@h/db?password=***');
    assert.equal(redactUrl('postgres://u:se cret@'), 'postgres://u@');
  });

  test('the bridge: int8 as numbers, errors with their SQLSTATE, a closed bridge refuses', () => {
    const b = new PgBridge(t.url!);
    try {
      assert.deepEqual(
        b.query('SELECT 1700000000000::bigint AS n, 1.5::float8 AS f, $1::text AS s', ['x']).rows,
        [{ n: 1_700_000_000_000, f: 1.5, s: 'x' }],
      );
      assert.throws(
        () => b.query('SELECT * FROM nope'),
        (e: unknown) => (e as { code?: string }).code === '42P01',
      );
      // A statement error leaves the connection usable.
      assert.equal(b.query('SELECT 1 AS one').rows[0].one, 1);
    } finally {
      b.close();
    }
    assert.throws(() => b.query('SELECT 1'), /closed/);
  });

  test('the API store opens on PostgreSQL when SKYHOP_DB says so', async () => {
    const api = await openApiStore();
    try {
      assert.equal(api.constructor.name, 'PgApiStore');
    } finally {
      api.close();
    }
  });
});
