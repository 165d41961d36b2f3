/**
 * Test helper: a throwaway PostgreSQL 15 (Debian's `postgresql` package, installed by
 * scripts/install-deps.sh) in a temp dir, listening only on 127.0.0.1 on a free port, with a
 * password-authenticated role and database. It runs as the `postgres` OS user when the tests run as
 * root (initdb refuses root); the temp dir is that user's.
 *
 *   const reason = postgresMissing();     // a string when PostgreSQL 15 is not installed: skip with it
 *                                         // (never under CI=true: startPostgres then fails instead)
 *   const pg = await startPostgres();
 *   process.env.SKYHOP_DB = pg.url;       // postgresql://skyhop:PASSWORD@127.0.0.1:PORT/skyhop
 *   const other = await pg.createDatabase();   // a fresh database of the same role (its URL)
 *   await pg.stop();                      // stops the server and removes the dir
 *
 * A process that exits without stop() still kills its servers and removes their dirs (an 'exit' hook).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export const PG_BIN = '/usr/lib/postgresql/15/bin';

export interface PgServer {
  /** The role's URL (with its password) to the database `skyhop`. */
  url: string;
  /** The superuser's URL (role `postgres`). */
  adminUrl: string;
  port: number;
  /** The role's password (tests check that it never appears in messages). */
  password: string;
  /** A new database owned by the role; its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Runs one statement as the superuser on `database` (default: the role's). */
  admin(sql: string, database?: string): Promise<pg.QueryResult>;
  stop(): Promise<void>;
}

/** Why PostgreSQL 15 cannot run here, or null. */
function postgresUnavailable(): string | null {
  if (!existsSync(join(PG_BIN, 'postgres')) || !existsSync(join(PG_BIN, 'initdb'))) {
    return `PostgreSQL 15 is not installed (${PG_BIN}/postgres; scripts/install-deps.sh installs Debian's postgresql)`;
  }
  if (process.getuid?.() === 0 && spawnSync('id', ['-u', 'postgres']).status !== 0) {
    return 'there is no `postgres` OS user to run PostgreSQL as (initdb refuses root)';
  }
  return null;
}

/**
 * A reason to skip the PostgreSQL tests, or null. Under CI=true there is no such reason: the tests run
 * and fail in `startPostgres`, so a green CI always means PostgreSQL ran.
 */
export function postgresMissing(): string | null {
  return process.env.CI === 'true' ? null : postgresUnavailable();
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const live = new Set<{ child: ChildProcess; dir: string }>();
let hooked = false;
function exitHook(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const s of live) {
      try {
        s.child.kill('SIGKILL');
      } catch {
        // gone
      }
      rmSync(s.dir, { recursive: true, force: true });
    }
  });
}

/** argv that runs `cmd` as the postgres user when this process is root. */
function asPostgres(cmd: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [cmd, args];
  return ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', cmd, ...args]];
}

export async function startPostgres(): Promise<PgServer> {
  const unavailable = postgresUnavailable();
  if (unavailable) {
    throw new Error(
      `${unavailable}${process.env.CI === 'true' ? '; under CI=true the PostgreSQL tests must run, not skip' : ''}`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'skyhop-pg-'));
  const data = join(dir, 'data');
  const adminPassword = randomBytes(12).toString('hex');
  const password = `pw-${randomBytes(12).toString('hex')}`;
  writeFileSync(join(dir, 'pw'), `${adminPassword}\n`);
  if (process.getuid?.() === 0) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    chownSync(dir, uid, gid);
    chownSync(join(dir, 'pw'), uid, gid);
  }
  chmodSync(dir, 0o700);
  const [initCmd, initArgs] = asPostgres(join(PG_BIN, 'initdb'), [
    '-D',
    data,
    '-U',
    'postgres',
    `--pwfile=${join(dir, 'pw')}`,
    '--auth=scram-sha-256',
    '-E',
    'UTF8',
    '--locale=C.UTF-8',
    '--no-sync',
    '--no-instructions',
  ]);
  const init = spawnSync(initCmd, initArgs, { encoding: 'utf8', cwd: '/' });
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (exit ${init.status}): ${init.stderr || init.stdout}`);
  }
  const port = await freePort();
  const [cmd, args] = asPostgres(join(PG_BIN, 'postgres'), [
    '-D',
    data,
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    `port=${port}`,
    '-c',
    `unix_socket_directories=${dir}`,
    '-c',
    'max_connections=200',
  ]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: '/' });
  const handle = { child, dir };
  live.add(handle);
  exitHook();
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    stderr = (stderr + d).slice(-16384);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const adminUrl = `postgresql://postgres:${adminPassword}@127.0.0.1:${port}/postgres`;
  const urlOf = (db: string) => `postgresql://skyhop:${password}@127.0.0.1:${port}/${db}`;
  const stop = async () => {
    if (!live.has(handle)) return;
    live.delete(handle);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT'); // fast shutdown: clients are disconnected
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const admin = async (sql: string, database = 'skyhop') => {
    const c = new pg.Client({ connectionString: adminUrl.replace(/\/postgres$/, `/${database}`) });
    await c.connect();
    try {
      return await c.query(sql);
    } finally {
      await c.end();
    }
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`postgres exited at start: ${stderr.trim()}`);
    }
    const c = new pg.Client({ connectionString: adminUrl });
    try {
      await c.connect();
      await c.query(`CREATE ROLE skyhop LOGIN PASSWORD '${password}'`);
      await c.query('CREATE DATABASE skyhop OWNER skyhop');
      await c.end();
      break;
    } catch (e) {
      await c.end().catch(() => {});
      if (Date.now() > deadline) {
        await stop();
        throw new Error(
          `postgres did not accept connections in 30 s: ${(e as Error).message}; ${stderr.trim()}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  let n = 0;
  return {
    url: urlOf('skyhop'),
    adminUrl,
    port,
    password,
    admin,
    async createDatabase(name?: string) {
      const db = name ?? `t${process.pid}_${++n}_${randomBytes(3).toString('hex')}`;
      await admin(`CREATE DATABASE ${db} OWNER skyhop`, 'postgres');
      return urlOf(db);
    },
    stop,
  };
}
