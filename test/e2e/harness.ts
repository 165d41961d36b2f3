/**
 * End-to-end harness: runs the real `bin/skyhop.js` (built dist/) as a child process with its own
 * SKYHOP_HOME and HOME, and cleans up every cluster a test made.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { mountPoints } from '../../src/clouds/local/mounts.js';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const BIN = join(ROOT, 'bin', 'skyhop.js');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `SKYHOP_TEST_VIA_SERVER=sqlite|postgres`: every CLI call of a sandbox goes through a team server of
 * its own (`skyhop api start`, its SKYHOP_HOME the sandbox's `skyhopHome`, so what a test reads there is
 * the server's state; on a fresh PostgreSQL database for `postgres`), as an admin user. Unset: the CLI
 * runs locally, as it always did.
 */
export const viaServer: 'sqlite' | 'postgres' | null = (() => {
  const v = process.env.SKYHOP_TEST_VIA_SERVER;
  if (!v) return null;
  if (v !== 'sqlite' && v !== 'postgres')
    throw new Error(`SKYHOP_TEST_VIA_SERVER='${v}': give sqlite or postgres (or leave it unset)`);
  return v;
})();

/** A team server of a sandbox. */
export interface SandboxServer {
  endpoint: string;
  /** The admin's token. */
  token: string;
  /** The PostgreSQL URL (postgres mode). */
  db: string | null;
}

export class Sandbox {
  readonly dir: string;
  readonly home: string;
  readonly skyhopHome: string;
  /** What the server (or, locally, the CLI) runs with. */
  readonly serverEnv: Record<string, string>;
  #server: SandboxServer | null = null;
  /** The PostgreSQL database of a stopped server (a restart uses it again). */
  #db: string | null = null;
  #local: Record<string, string>;

  /** Whether (and on what) this sandbox's CLI calls go through a team server. */
  readonly via: 'sqlite' | 'postgres' | null;

  constructor(extraEnv: Record<string, string> = {}, o: { via?: 'sqlite' | 'postgres' | null } = {}) {
    this.via = o.via === undefined ? viaServer : o.via;
    this.dir = mkdtempSync(join(tmpdir(), 'skyhop-e2e-'));
    this.home = join(this.dir, 'home');
    this.skyhopHome = join(this.dir, 'skyhop');
    const keep = ['PATH', 'LANG', 'TERM', 'TMPDIR', 'SYSTEMROOT'];
    const base: Record<string, string> = {};
    for (const k of keep) if (process.env[k]) base[k] = process.env[k]!;
    this.#local = { ...base, HOME: this.home, SKYHOP_HOME: this.skyhopHome, CI: 'true', ...extraEnv };
    this.serverEnv = this.#local;
  }

  /**
   * The CLI's environment. Through a server: the server's endpoint and an admin's token, and a
   * SKYHOP_HOME of the client's own (the client never touches the server's state files; the server's
   * is `skyhopHome`). The first use starts the server.
   */
  get env(): Record<string, string> {
    if (!this.via) return this.#local;
    const s = this.server();
    return {
      ...this.#local,
      SKYHOP_HOME: join(this.dir, 'client'),
      SKYHOP_API_SERVER_ENDPOINT: s.endpoint,
      SKYHOP_API_TOKEN: s.token,
    };
  }

  /** The sandbox's team server (started on first use; only with SKYHOP_TEST_VIA_SERVER). */
  server(): SandboxServer {
    if (!this.via) throw new Error('this sandbox runs the CLI locally (SKYHOP_TEST_VIA_SERVER is unset)');
    this.#server ??= startServer(this, this.via, this.#db);
    return this.#server;
  }

  /**
   * Stops the sandbox's server (a no-op when the CLI runs locally); the next use starts it again, with
   * a new admin token (a database lost while it was down has lost its users too), on a new PostgreSQL
   * database with `freshDatabase` (the state lost).
   */
  stopServer(o: { freshDatabase?: boolean } = {}): void {
    if (!this.#server) return;
    const r = this.runOnServer(['api', 'stop']);
    if (r.status !== 0) throw new Error(`api stop failed: ${r.stderr}`);
    this.#db = o.freshDatabase ? null : this.#server.db;
    this.#server = null;
  }

  /** Runs `skyhop ARGS` on the server's machine itself (no login: `api users`, `api start`...). */
  runOnServer(args: string[], env: Record<string, string> = {}) {
    const db = this.#server?.db ?? this.#db;
    return spawnSync(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: { ...this.serverEnv, ...(db ? { SKYHOP_DB: db } : {}), ...env },
      encoding: 'utf8',
      timeout: 60_000,
    });
  }

  /** Run the CLI to completion. */
  run(
    args: string[],
    opts: { input?: string; env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
  ): Promise<Run> {
    return new Promise((resolvePromise, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], {
        cwd: opts.cwd ?? ROOT,
        env: { ...this.env, ...opts.env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
      child.on('error', reject);
      child.on('close', (code, sig) => {
        clearTimeout(timer);
        resolvePromise({ code: code ?? (sig ? 128 : 1), stdout, stderr });
      });
      child.stdin.end(opts.input ?? '');
    });
  }

  /** Start the CLI without waiting (for kill -9 / Ctrl-C tests). */
  spawn(args: string[], opts: { env?: Record<string, string> } = {}) {
    return spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: { ...this.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  }

  /** Tear down every cluster left behind, stop the sandbox's server, then remove the sandbox. */
  async cleanup(): Promise<void> {
    if (!this.via || this.#server) {
      await this.run(['down', '-a', '-y', '--purge'], { timeoutMs: 60_000 }).catch(() => {});
    }
    if (this.#server) {
      this.runOnServer(['api', 'stop']);
      this.#server = null;
    }
    // Through a server, the client keeps no state of its own (its commands all ran on the server).
    const clientState = join(this.dir, 'client', 'state.db');
    const leaked = this.via !== null && existsSync(clientState);
    killUnder(this.dir);
    // A FUSE mount left inside the sandbox (a failed storage test) must go before the files do:
    // removing files through a live mount would delete a bucket's objects, a dead one fails rm.
    unmountUnder(this.dir);
    rmSync(this.dir, { recursive: true, force: true });
    if (leaked)
      throw new Error(`a CLI call through the server opened a state database of its own (${clientState})`);
  }
}

/** Starts a sandbox's team server (`api start` in the background) and makes its admin. */
function startServer(sb: Sandbox, kind: 'sqlite' | 'postgres', db0: string | null): SandboxServer {
  const db = kind === 'postgres' ? (db0 ?? sharedPostgresDatabase()) : null;
  mkdirSync(sb.home, { recursive: true });
  const env = db ? { SKYHOP_DB: db } : {};
  const fail = (what: string, r: { status: number | null; stdout: string; stderr: string }) =>
    new Error(`the sandbox's API server: ${what} failed (exit ${r.status}):\n${r.stdout}${r.stderr}`);
  const start = spawnSync(process.execPath, [BIN, 'api', 'start', '--host', '127.0.0.1', '--port', '0'], {
    cwd: ROOT,
    env: { ...sb.serverEnv, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (start.status !== 0) throw fail('api start', start);
  const dir = join(sb.skyhopHome, 'api', 'servers');
  const recs = readdirSync(dir).filter((f) => f.endsWith('.json'));
  if (recs.length !== 1) throw new Error(`expected one server record in ${dir}, found ${recs.join(', ')}`);
  const endpoint = (JSON.parse(readFileSync(join(dir, recs[0]), 'utf8')) as { endpoint: string }).endpoint;
  const add = spawnSync(process.execPath, [BIN, 'api', 'users', 'add', 'admin', '--role', 'admin'], {
    cwd: ROOT,
    env: { ...sb.serverEnv, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (add.status !== 0) throw fail('api users add admin', add);
  return { endpoint, token: add.stdout.trim(), db };
}

/**
 * postgres mode: one PostgreSQL per test process (`test/helpers/postgres.ts`, started by a small
 * daemon that stops it when this process is gone) and a fresh database per sandbox.
 */
let pgDaemon: { api: string } | null = null;
function sharedPostgresDatabase(): string {
  const script = join(ROOT, 'test', 'e2e', 'pg-daemon.ts');
  if (!pgDaemon) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', script, 'launch', String(process.pid)], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    });
    if (r.status !== 0) {
      throw new Error(
        `SKYHOP_TEST_VIA_SERVER=postgres: cannot start PostgreSQL: ${(r.stderr || r.stdout).trim()}`,
      );
    }
    pgDaemon = JSON.parse(r.stdout) as { api: string };
  }
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, 'createdb', pgDaemon.api], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.status !== 0)
    throw new Error(`SKYHOP_TEST_VIA_SERVER=postgres: cannot create a database: ${r.stderr}`);
  return r.stdout.trim();
}

/** PIDs whose environment has NAME=VALUE (or NAME=…VALUE… when `contains`). */
export function pidsWithEnv(name: string, value: string, contains = false): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    let env: string;
    try {
      env = readFileSync(`/proc/${p}/environ`, 'latin1');
    } catch {
      continue;
    }
    for (const kv of env.split('\0')) {
      if (!kv.startsWith(`${name}=`)) continue;
      const v = kv.slice(name.length + 1);
      if (contains ? v.includes(value) : v === value) out.push(Number(p));
    }
  }
  return out;
}

/** Processes whose HOME lies inside the sandbox (every local node's process has its HOME there). */
export function pidsUnder(dir: string): number[] {
  return pidsWithEnv('HOME', dir, true).filter((p) => p !== process.pid);
}

/** Last resort after a failed test: kill whatever still runs with its HOME in the sandbox. */
function killUnder(dir: string) {
  for (const p of pidsUnder(dir)) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {}
  }
}

/** Lazily unmounts every mount point inside `dir` (deepest first). */
function unmountUnder(dir: string) {
  const points = mountPoints()
    .map((m) => m.path)
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const p of points) {
    const r = spawnSync('fusermount3', ['-uz', p], { stdio: 'ignore' });
    if (r.status !== 0) spawnSync('umount', ['-l', p], { stdio: 'ignore' });
  }
}

/** Files named `name` anywhere under `dir` (unreadable folders skipped). */
export function findFiles(dir: string, name: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name === name) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** Polls `fn` every `everyMs` until it gives a truthy value (returned), or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false | null> | T | undefined | false | null,
  timeoutMs = 60_000,
  everyMs = 100,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as T;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
