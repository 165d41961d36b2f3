/**
 * The built CLI with its state in PostgreSQL (SKYHOP_DB): launch, status and down on the local cloud
 * against a throwaway PostgreSQL 15 (test/helpers/postgres.ts), the rows checked in the database
 * itself; no state.db is made; the nodes never see SKYHOP_DB; a wrong password is one clear line
 * without the password.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { type PgServer, postgresMissing, startPostgres } from '../helpers/postgres.js';
import { Sandbox } from './harness.js';

const missing = postgresMissing();

describe('the CLI on a PostgreSQL store', { skip: missing ?? false }, () => {
  let server: PgServer;
  let sb: Sandbox;
  let url: string;

  before(async () => {
    server = await startPostgres();
    url = await server.createDatabase();
    sb = new Sandbox({ SKYHOP_DB: url });
  });
  after(async () => {
    await sb?.cleanup();
    await server?.stop();
  });

  const rows = async (sql: string) => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return (await c.query(sql)).rows;
    } finally {
      await c.end();
    }
  };
  const noPassword = (text: string) => assert.ok(!text.includes(server.password), 'the password leaked');

  test('launch, status and down keep their records in PostgreSQL', async () => {
    const launch = await sb.run(['launch', '-y', '-c', 't1', 'echo hi; echo "DB=$' + '{SKYHOP_DB:-none}"']);
    assert.equal(launch.code, 0, launch.stderr);
    assert.match(launch.stdout, /^hi$/m);
    assert.match(launch.stdout, /^DB=none$/m, 'the node must not inherit SKYHOP_DB');
    noPassword(launch.stdout + launch.stderr);
    assert.equal(existsSync(join(sb.skyhopHome, 'state.db')), false, 'no SQLite state beside PostgreSQL');

    const [c] = await rows("SELECT name, cloud, status FROM clusters WHERE name = 't1'");
    assert.deepEqual(c, { name: 't1', cloud: 'local', status: 'UP' });
    assert.equal((await rows("SELECT job_id FROM jobs WHERE cluster = 't1'")).length, 1);
    assert.deepEqual(
      (await rows("SELECT outcome FROM intents WHERE cluster = 't1' ORDER BY id")).map((r) => r.outcome),
      ['created'],
    );
    assert.deepEqual(await rows('SELECT cluster FROM locks'), [], 'the launch released its lock');

    const status = await sb.run(['status']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^t1\s.*UP/m);
    noPassword(status.stdout + status.stderr);

    const down = await sb.run(['down', '-y', 't1']);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(await rows("SELECT name FROM clusters WHERE name = 't1'"), []);
    assert.deepEqual(
      (await rows("SELECT kind FROM cost_events WHERE cluster = 't1' ORDER BY id")).map((r) => r.kind),
      ['launch', 'down'],
    );
    const after = await sb.run(['status']);
    assert.equal(after.code, 0, after.stderr);
    assert.doesNotMatch(after.stdout, /^t1\s/m);
  });

  test('a wrong password or an unreachable database is one clear line, without the password', async () => {
    const wrong = url.replace(server.password, `${server.password}x`);
    const r = await sb.run(['status'], { env: { SKYHOP_DB: wrong } });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /cannot connect to the state database postgresql:\/\/skyhop@127\.0\.0\.1:\d+\/\w+: password authentication failed/,
    );
    noPassword(r.stdout + r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    const gone = await sb.run(['status'], { env: { SKYHOP_DB: url.replace(`:${server.port}/`, ':1/') } });
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /ECONNREFUSED.*is PostgreSQL running/);
    noPassword(gone.stdout + gone.stderr);
  });
});
