/**
 * A team server on a real PostgreSQL 15, through the real CLI:
 * - a second user on "another machine" (their own HOME, SKYHOP_HOME and working folder; the server on
 *   its own loopback address, 127.0.0.7) does the README tour through the server;
 * - two servers on one PostgreSQL, asked at once to launch the same cluster name, make one cluster.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type PgServer, postgresMissing, startPostgres } from '../helpers/postgres.js';
import { ROOT, type Run, Sandbox } from './harness.js';

const missing = postgresMissing();
if (missing && process.env.CI === 'true')
  throw new Error(`PostgreSQL 15 is required under CI=true: ${missing}`);

/** A server of `sb` (its SKYHOP_HOME) on `host`, on PostgreSQL `db`; returns its endpoint. */
async function startServer(sb: Sandbox, host: string, db: string): Promise<string> {
  const before = new Set(serverFiles(sb));
  const r = await sb.run(['api', 'start', '--host', host, '--port', '0', '--db', db]);
  assert.equal(r.code, 0, r.stderr);
  const added = serverFiles(sb).filter((f) => !before.has(f));
  assert.equal(added.length, 1, `one new server record: ${added}`);
  const rec = JSON.parse(readFileSync(join(sb.skyhopHome, 'api', 'servers', added[0]), 'utf8')) as {
    endpoint: string;
  };
  assert.ok(rec.endpoint.startsWith(`http://${host}:`), rec.endpoint);
  assert.ok(
    !JSON.stringify(rec).includes(new URL(db).password),
    'the database password is not in the server record',
  );
  return rec.endpoint;
}

function serverFiles(sb: Sandbox): string[] {
  try {
    return readdirSync(join(sb.skyhopHome, 'api', 'servers')).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
}

function ok(r: Run, what: string): Run {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

describe('a team server on PostgreSQL', { skip: missing ?? false }, () => {
  let pg: PgServer;
  let server: Sandbox; // the server's machine
  before(async () => {
    pg = await startPostgres();
    server = new Sandbox();
  });
  after(async () => {
    await server?.run(['down', '-a', '-y', '--purge'], { env: { SKYHOP_DB: pg.url } });
    await server?.run(['api', 'stop']);
    await server?.cleanup();
    await pg?.stop();
  });

  test('a second user on another machine does the README tour through the server', async () => {
    const endpoint = await startServer(server, '127.0.0.7', pg.url);
    // `api start --db` bound the server's home to the database (0600: the URL has a password), so the
    // server machine's own commands need no SKYHOP_DB.
    const bound = join(server.skyhopHome, 'db.url');
    assert.equal(statSync(bound).mode & 0o777, 0o600);
    const db = {};
    const bobToken = ok(
      await server.run(['api', 'users', 'add', 'bob'], { env: db }),
      'users add bob',
    ).stdout.trim();
    const aliceToken = ok(
      await server.run(['api', 'users', 'add', 'alice'], { env: db }),
      'users add alice',
    ).stdout.trim();
    assert.match(bobToken, /^sky_/);
    // The database holds the hash only.
    const rows = await pg.admin('SELECT hash FROM api_tokens');
    assert.ok(rows.rows.every((r: { hash: string }) => r.hash !== bobToken && /^[0-9a-f]{64}$/.test(r.hash)));

    // Bob's machine: his own homes and a project folder with a task that has a workdir.
    const bob = new Sandbox();
    const alice = new Sandbox();
    try {
      const proj = join(bob.dir, 'project');
      mkdirSync(proj, { recursive: true });
      writeFileSync(join(proj, 'data.txt'), 'bob-data-42\n');
      writeFileSync(
        join(proj, 'task.yaml'),
        'name: tour\nworkdir: .\nsetup: echo setting up\nrun: |\n  echo "hello from $(cat data.txt)"\n',
      );
      ok(await bob.run(['api', 'login', '-e', endpoint, '--token', bobToken]), 'login');
      assert.match(
        readFileSync(join(bob.skyhopHome, 'config.yaml'), 'utf8'),
        /api_server:\s+endpoint: http:\/\/127\.0\.0\.7:/,
      );
      const b = (args: string[]) => bob.run(args, { cwd: proj, timeoutMs: 180_000 });

      const launch = ok(await b(['launch', '-y', '-c', 'dev', 'task.yaml']), 'launch');
      assert.match(launch.stdout, /hello from bob-data-42/);
      assert.match(launch.stderr, /Cluster dev is UP/);
      ok(await b(['launch', '--dryrun', '--all-clouds', join(ROOT, 'examples', 'gpu.yaml')]), 'dryrun');
      const pwd = ok(await b(['exec', 'dev', 'echo "running in $PWD"; ls']), 'exec');
      assert.match(pwd.stdout, /running in .*sky_workdir/);
      assert.match(pwd.stdout, /data\.txt/);
      const detached = ok(await b(['exec', 'dev', '-d', 'sleep 600']), 'exec -d');
      const jobId = /Job (\d+) submitted/.exec(detached.stderr)?.[1];
      assert.ok(jobId, detached.stderr);
      const st = ok(await b(['status']), 'status');
      assert.match(st.stdout, /^dev\s/m);
      assert.match(ok(await b(['queue', 'dev']), 'queue').stdout, /RUNNING/);
      assert.match(ok(await b(['logs', 'dev', '1', '--no-follow']), 'logs').stdout, /hello from bob-data-42/);
      ok(await b(['cancel', 'dev', jobId]), 'cancel');
      ok(await b(['autostop', 'dev', '-i', '30']), 'autostop');
      ok(await b(['stop', '-y', 'dev']), 'stop');
      ok(await b(['start', '-y', 'dev']), 'start');
      assert.match(ok(await b(['cost-report']), 'cost-report').stdout, /dev/);
      assert.match(ok(await b(['check']), 'check').stdout + (await b(['check'])).stderr, /local/);
      ok(await b(['show-gpus', 'A100']), 'show-gpus');
      ok(await b(['optimize', '--all-clouds', join(ROOT, 'examples', 'pipeline.yaml')]), 'optimize');
      ok(await b(['storage', 'ls']), 'storage ls');

      // Alice, another user of the same server, sees none of it and cannot touch it.
      ok(await alice.run(['api', 'login', '-e', endpoint, '--token', aliceToken]), 'alice login');
      const aliceStatus = ok(await alice.run(['status']), 'alice status');
      assert.doesNotMatch(aliceStatus.stdout, /^dev\s/m);
      const aliceDown = await alice.run(['down', '-y', 'dev']);
      assert.notEqual(aliceDown.code, 0);
      assert.match(aliceDown.stderr, /belongs to user 'bob'/);

      // The records are in PostgreSQL, owned by bob.
      const owner = await pg.admin("SELECT owner FROM owners WHERE kind = 'cluster' AND name = 'dev'");
      assert.equal(owner.rows[0]?.owner, 'bob');

      ok(await b(['down', '-y', 'dev']), 'down');
      assert.doesNotMatch(ok(await b(['status']), 'status after down').stdout, /^dev\s/m);
      // The request history survives: bob's requests are listed, each ended.
      const reqs = JSON.parse(ok(await b(['api', 'status', '--json']), 'api status').stdout) as {
        requests: Array<{ status: string; argv: string[] }>;
      };
      assert.ok(reqs.requests.length >= 10);
      assert.ok(reqs.requests.every((r) => r.status !== 'PENDING' && r.status !== 'RUNNING'));
    } finally {
      await alice.cleanup();
      await bob.cleanup();
    }
  });

  test('two servers on one PostgreSQL launching the same cluster name make one cluster', async () => {
    const db = { SKYHOP_DB: pg.url };
    const e1 = await startServer(server, '127.0.0.1', pg.url);
    const e2 = await startServer(server, '127.0.0.1', pg.url);
    assert.notEqual(e1, e2);
    const token = ok(
      await server.run(['api', 'users', 'add', 'carol'], { env: db }),
      'users add carol',
    ).stdout.trim();
    const c1 = new Sandbox({ SKYHOP_API_SERVER_ENDPOINT: e1, SKYHOP_API_TOKEN: token });
    const c2 = new Sandbox({ SKYHOP_API_SERVER_ENDPOINT: e2, SKYHOP_API_TOKEN: token });
    try {
      const [r1, r2] = await Promise.all([
        c1.run(['launch', '-y', '-c', 'shared', 'echo one'], { timeoutMs: 180_000 }),
        c2.run(['launch', '-y', '-c', 'shared', 'echo two'], { timeoutMs: 180_000 }),
      ]);
      ok(r1, 'launch via server 1');
      ok(r2, 'launch via server 2');
      // One launched the cluster, the other waited for its lock and ran on the same cluster.
      const launched = [r1, r2].filter((r) => /Launching shared on/.test(r.stderr));
      assert.equal(launched.length, 1, `${r1.stderr}\n---\n${r2.stderr}`);
      const st = ok(await c1.run(['status', '--json']), 'status');
      const clusters = (JSON.parse(st.stdout) as { clusters: Array<{ name: string }> }).clusters;
      assert.deepEqual(
        clusters.map((c) => c.name),
        ['shared'],
      );
      // One node folder on disk, one cluster row in PostgreSQL.
      assert.deepEqual(readdirSync(join(server.skyhopHome, 'local', 'clusters', 'shared')).length, 1);
      assert.equal(
        (await pg.admin("SELECT count(*)::int AS n FROM clusters WHERE name = 'shared'")).rows[0].n,
        1,
      );
      const q = ok(await c2.run(['queue', 'shared']), 'queue');
      assert.equal((q.stdout.match(/SUCCEEDED/g) ?? []).length, 2, q.stdout);
      ok(await c2.run(['down', '-y', 'shared']), 'down');
    } finally {
      await c1.cleanup();
      await c2.cleanup();
    }
  });
});
