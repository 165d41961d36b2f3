/**
 * Requests: one CLI command run on the server for a user. The server records the request, then starts
 * a worker (`skyhop api-worker ID`, `worker.ts`) in its own session, so a server killed mid-launch
 * does not take the launch with it: the worker runs the command, writes its output and its ending to
 * the database, and any server (this one restarted, or another on the same PostgreSQL) streams it.
 *
 * What never reaches the database: the values of `--secret` and `--env` flags (the recorded argv has them
 * redacted; the worker gets the real argv on its stdin).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, rmSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { newRequestId, type RequestRow } from '../state/api.js';
import { hideFlagValues, isProcessAlive } from '../state/process.js';
import { REMOTE_COMMANDS } from '../sdk/remote-commands.js';
import { packageRoot } from '../util/package-root.js';
import type { ApiUser, ServerContext } from './context.js';

export class BadRequest extends Error {
  readonly statusCode: number;
  constructor(message: string, statusCode = 400) {
    super(message);
    this.statusCode = statusCode;
  }
}

/** The command's name as recorded: `launch`, `jobs launch`, `storage ls`. */
export function commandName(argv: string[]): string {
  const first = argv[0] ?? '';
  if (!REMOTE_COMMANDS.has(first)) {
    throw new BadRequest(
      `'${first.slice(0, 40)}' is not a command the server runs; one of: ${[...REMOTE_COMMANDS].join(', ')}`,
    );
  }
  const sub = ['jobs', 'storage', 'catalog'].includes(first)
    ? argv.find((a, i) => i > 0 && !a.startsWith('-'))
    : undefined;
  return sub ? `${first} ${sub}` : first;
}

export interface SubmitOptions {
  argv: string[];
  /** The client's files, mirrored under this directory (an upload), and the client's cwd and home. */
  clientRoot?: string;
  cwd?: string;
  clientHome?: string;
  stdinTty?: boolean;
}

/** What the worker reads on its stdin. */
export interface WorkerInput {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  server: string;
  dbUrl: string | null;
  /** The client's upload (removed when the command ends), if it sent its files. */
  upload?: string;
}

/** Records the request and starts its worker; returns its id. */
export function submitRequest(ctx: ServerContext, user: ApiUser, o: SubmitOptions): string {
  const command = commandName(o.argv);
  // The catalogs are the server's, shared by every user: only an admin replaces them.
  if (command === 'catalog update' && user.role !== 'admin') {
    throw new BadRequest("only an admin may update the server's catalogs", 403);
  }
  const id = newRequestId();
  ctx.api.createRequest({
    id,
    user: user.name,
    command,
    argv: hideFlagValues(o.argv),
    createdAt: Date.now(),
  });
  ctx.api.updateRequest(id, { server: ctx.serverId, host: ctx.host });
  const env: Record<string, string> = {
    SKYHOP_API_USER: user.name,
    SKYHOP_API_ROLE: user.role,
    SKYHOP_API_REQUEST: id,
  };
  // The client's files: its upload, or an empty folder. Either way every local path the command
  // names is read there (task/command.ts clientPath), never from the server's own files.
  const empty = join(ctx.home, 'api', 'empty');
  mkdirSync(empty, { recursive: true, mode: 0o700 });
  const root = o.clientRoot ?? empty;
  env.SKYHOP_CLIENT_ROOT = root;
  // A client's absolute path in the mirror (`..` stop at its `/`).
  const mirrored = (p: string) => resolve(join(root, resolve('/', p)));
  const clientCwd = o.cwd && isAbsolute(o.cwd) ? resolve('/', o.cwd) : '/';
  env.SKYHOP_CLIENT_CWD = clientCwd;
  if (o.clientHome && isAbsolute(o.clientHome)) env.SKYHOP_CLIENT_HOME = resolve('/', o.clientHome);
  if (o.stdinTty) env.SKYHOP_API_STDIN_TTY = '1';
  const cwd = existsSync(mirrored(clientCwd)) ? mirrored(clientCwd) : empty;
  // The client's absolute paths of uploaded files, read from the mirror.
  const argv = o.argv.map((a) => (isAbsolute(a) && existsSync(mirrored(a)) ? mirrored(a) : a));
  const input: WorkerInput = { argv, cwd, env, server: ctx.serverId, dbUrl: ctx.dbUrl, upload: o.clientRoot };
  poolOf(ctx, command).submit(id, input);
  return id;
}

/**
 * Commands that end soon (they read, or ask once) run in the short pool; those that may run for as
 * long as a job does (launch, exec and logs follow it) in the long pool, so a few followed jobs never
 * keep `queue` or `cancel` waiting. Each pool runs at most `size` workers (two processes each); the
 * rest wait, PENDING, in submission order. The queue is this server's memory (the real argv, with
 * secrets, is nowhere else): a request still waiting when its server stops is marked FAILED by the
 * next server's reaper.
 */
const SHORT_COMMANDS = new Set([
  'status',
  'queue',
  'cancel',
  'autostop',
  'cost-report',
  'check',
  'show-gpus',
  'optimize',
  'jobs queue',
  'jobs cancel',
  'storage ls',
]);

export class WorkerPool {
  private readonly waiting: Array<{ id: string; input: WorkerInput }> = [];
  private running = 0;
  constructor(
    private readonly ctx: ServerContext,
    readonly size: number,
  ) {}

  submit(id: string, input: WorkerInput): void {
    this.waiting.push({ id, input });
    this.pump();
  }

  private pump(): void {
    while (this.running < this.size && this.waiting.length > 0) {
      const next = this.waiting.shift();
      if (!next) break;
      this.running++;
      startWorker(this.ctx, next.id, next.input, () => {
        this.running--;
        this.pump();
      });
    }
  }
}

const pools = new WeakMap<ServerContext, { short: WorkerPool; long: WorkerPool }>();

/** The pool a command runs in (SKYHOP_API_WORKERS sets each pool's size; default 16). */
export function poolOf(ctx: ServerContext, command: string): WorkerPool {
  let p = pools.get(ctx);
  if (!p) {
    const n = Number(process.env.SKYHOP_API_WORKERS);
    const size = Number.isInteger(n) && n > 0 ? n : 16;
    p = { short: new WorkerPool(ctx, size), long: new WorkerPool(ctx, size) };
    pools.set(ctx, p);
  }
  return SHORT_COMMANDS.has(command) ? p.short : p.long;
}

function startWorker(ctx: ServerContext, id: string, input: WorkerInput, onExit: () => void): void {
  const dir = join(ctx.home, 'api', 'workers');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // The worker's own diagnostics (not the command's output, which goes to the database).
  const log = openSync(join(dir, `${id}.log`), 'a', 0o600);
  try {
    const child = spawn(process.execPath, [join(packageRoot(), 'dist', 'cli.js'), 'api-worker', id], {
      cwd: ctx.home,
      detached: true,
      stdio: ['pipe', log, log],
      env: workerEnv(ctx),
    });
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      onExit();
    };
    child.on('error', (e) => {
      ctx.api.finishRequest(id, {
        status: 'FAILED',
        error: `cannot start the worker: ${e.message}`,
        endedAt: Date.now(),
      });
      end();
    });
    child.on('exit', end);
    child.stdin?.end(JSON.stringify(input));
    child.unref();
  } finally {
    closeSync(log);
  }
}

/** The server's environment for its workers: its home and database, nothing of a client's. */
function workerEnv(ctx: ServerContext): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, SKYHOP_HOME: ctx.home };
  delete env.SKYHOP_API_SERVER_ENDPOINT;
  delete env.SKYHOP_API_TOKEN;
  if (ctx.dbUrl) env.SKYHOP_DB = ctx.dbUrl;
  else delete env.SKYHOP_DB;
  return env;
}

/**
 * Requests a dead worker left unfinished (its machine is this one and its process is gone, or it never
 * started and its server is gone): failed, with the reason. Run at start and now and then.
 */
export function reapRequests(ctx: ServerContext, now = Date.now()): number {
  let n = 0;
  for (const r of ctx.api.unfinishedRequests()) {
    if (!workerGone(ctx, r, now)) continue;
    const done = ctx.api.finishRequest(r.id, {
      status: 'FAILED',
      error: 'the worker running this request died (the server or its machine restarted?)',
      endedAt: now,
    });
    if (done) n++;
  }
  return n;
}

function workerGone(ctx: ServerContext, r: RequestRow, now: number): boolean {
  if (r.pid !== null) {
    if (r.host !== ctx.host) return false;
    return !isProcessAlive(r.pid, r.pidStart === null ? null : String(r.pidStart));
  }
  // Not started: waiting in the pool of its server (this one: it is known to wait; another: given
  // ten minutes), or left by a server that stopped.
  if (r.server === ctx.serverId) return false;
  const [host, pid] = (r.server ?? '').split(':');
  if (host === ctx.host && Number(pid) > 0) return !isProcessAlive(Number(pid), null);
  return now - r.createdAt > 600_000;
}

/**
 * What dead workers leave on disk: an argv file (0600, with secrets) the command never read, after ten
 * minutes; an upload whose request never ended it, after a day (a worker removes its upload when its
 * command ends). Run by the server's housekeeping; returns how many were removed.
 */
export function sweepLeftovers(ctx: ServerContext, now = Date.now()): number {
  let n = 0;
  const old = (p: string, ms: number) => {
    try {
      return now - statSync(p).mtimeMs > ms;
    } catch {
      return false;
    }
  };
  const workers = join(ctx.home, 'api', 'workers');
  for (const f of existsSync(workers) ? readdirSync(workers) : []) {
    const p = join(workers, f);
    if (f.endsWith('.argv') && old(p, 600_000)) {
      rmSync(p, { force: true });
      n++;
    }
  }
  const uploads = join(ctx.home, 'api', 'uploads');
  for (const user of existsSync(uploads) ? readdirSync(uploads) : []) {
    for (const id of readdirSync(join(uploads, user))) {
      const p = join(uploads, user, id);
      if (old(p, 86_400_000)) {
        rmSync(p, { recursive: true, force: true });
        n++;
      }
    }
  }
  return n;
}
