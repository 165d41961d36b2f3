/**
 * The jobs controller's process (`skyhop jobs-controller serve`, run as a job of the controller
 * cluster's agent): one long-lived process that owns every managed job in this $SKYHOP_HOME's state
 * database and drives each with a `ManagedJobRun` (job.ts), concurrently.
 *
 * One per $SKYHOP_HOME: it holds an abstract unix socket named after the home, which the kernel frees
 * when the process dies, so `ping` can tell whether a controller serves and a second `serve` exits at
 * once (code 4). Killed at any point (kill -9), it is started again by its job's loop, and every
 * unfinished job resumes from its row (job.ts says how). With no unfinished job for the idle time,
 * it exits 0, and the cluster's autostop stops the cluster.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { createConnection, createServer, type Server } from 'node:net';
import type { Cloud } from '../clouds/types.js';
import type { Dag } from '../core/task.js';
import type { ManagedRequest } from '../sdk/managed.js';
import { isManagedTerminal, openStore, type Store } from '../state/index.js';
import { skyhopHome } from '../util/paths.js';
import { buildId } from '../util/build-id.js';
import {
  appendLine,
  controllerEnvPath,
  jobFiles,
  readJson,
  secretsPath,
  serveRecordPath,
  sweepUnnamed,
  uploadKeysOf,
  uploadsDir,
  writePrivate,
} from './files.js';
import { ManagedJobRun } from './job.js';

/** `serve` found another controller serving this home. */
export const EXIT_ALREADY_SERVED = 4;
/** `serve` exited idle, but a job arrived meanwhile: its loop starts it again. */
export const EXIT_SERVE_AGAIN = 75;
/** A job whose run failed (a bug) is tried again after this long, not at every tick. */
const FAILED_RUN_RETRY_MS = 30_000;
/** How often the state is read for new jobs and cancel requests (ms); a submission wakes it at once. */
const TICK_MS = 200;

/** Which controller's process: the jobs controller's or the serve controller's (one of each per home). */
export type ControllerProcess = 'jobs' | 'serve';

function socketName(home: string, kind: ControllerProcess): string {
  const id = createHash('sha256').update(home).digest('hex').slice(0, 16);
  return `\0skyhop-${kind}-controller-${id}`;
}

/**
 * Whether a controller serves `home` (its socket accepts a connection); with `wake`, it is also told
 * to look at the state now (a job was submitted) instead of at its next tick.
 */
export function controllerServing(
  home: string = skyhopHome(),
  o: { wake?: boolean } = {},
  kind: ControllerProcess = 'jobs',
): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(socketName(home, kind));
    s.once('connect', () => {
      if (o.wake) s.end('w');
      else s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Holds the controller's socket (its lock); null when another process holds it. */
export function holdSocket(
  home: string,
  onWake: () => void,
  kind: ControllerProcess = 'jobs',
): Promise<Server | null> {
  return new Promise((resolve) => {
    const server = createServer((c) => {
      c.once('data', onWake);
      c.on('error', () => {});
      c.on('end', () => c.destroy());
    });
    server.once('error', () => resolve(null));
    server.listen(socketName(home, kind), () => resolve(server));
  });
}

/** The environment the client carried (credentials, endpoints), applied to this process. */
function applyCarriedEnv(home: string, applied: Map<string, string>): void {
  const env = readJson<Record<string, string>>(controllerEnvPath(home), {});
  for (const [k, v] of Object.entries(env)) {
    if (typeof v === 'string' && applied.get(k) !== v) {
      process.env[k] = v;
      applied.set(k, v);
    }
  }
}

/**
 * Waits `ms`, or less when woken: `setWake` gets the function that wakes it (and null once it has
 * returned), for the socket's wake-up.
 */
export function tickOrWake(ms: number, setWake: (wake: (() => void) | null) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      setWake(null);
      resolve();
    }
    setWake(done);
  });
}

/**
 * The enabled clouds, with the credentials the client carried applied first: read again whenever a
 * later submission carried new ones.
 */
export function carriedClouds(home: string): () => Promise<Map<string, Cloud>> {
  const carried = new Map<string, string>();
  let envMtime = -1;
  let clouds: Map<string, Cloud> | null = null;
  return async () => {
    const m = mtimeOf(controllerEnvPath(home));
    if (clouds === null || m !== envMtime) {
      envMtime = m;
      applyCarriedEnv(home, carried);
      const { enabledClouds } = await import('../clouds/registry.js');
      clouds = new Map((await enabledClouds()).map((c) => [c.name, c]));
    }
    return clouds;
  };
}

function mtimeOf(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

export interface ServeOptions {
  /** Exit after this long without an unfinished job (ms). */
  idleMs: number;
  /** How often a running job's cluster is checked (ms). */
  pollMs: number;
  backoffMs?: { initial: number; max: number };
  store?: Store;
  /** Stops serving (tests). */
  signal?: AbortSignal;
}

/** Serves until idle; resolves with the exit code. */
export async function serve(o: ServeOptions): Promise<number> {
  const home = skyhopHome();
  let wake: (() => void) | null = null;
  const server = await holdSocket(home, () => wake?.());
  if (!server) return EXIT_ALREADY_SERVED;
  const store = o.store ?? openStore();
  const log = (line: string) =>
    appendLine(`${home}/controller/serve.log`, `${new Date().toISOString()} ${line}`);
  const runs = new Map<number, ManagedJobRun>();
  const retryAt = new Map<number, number>();
  removeOrphans(home, store);
  const cloudsNow = carriedClouds(home);
  // Which build serves: a client with another build restarts this process (rpc `restart`).
  writePrivate(serveRecordPath(home), JSON.stringify({ pid: process.pid, build: buildId() }));
  log(`serving ${home} (pid ${process.pid}, build ${buildId() ?? 'none'})`);
  let idleSince = Date.now();
  try {
    while (!o.signal?.aborted) {
      for (const j of store.unfinishedManagedJobs()) {
        const running = runs.get(j.id);
        if (running) {
          if (j.cancelRequested) running.requestCancel();
          continue;
        }
        if ((retryAt.get(j.id) ?? 0) > Date.now()) continue;
        const input = store.managedJobInput(j.id);
        if (!input) continue;
        const request = JSON.parse(input.request) as ManagedRequest;
        const run = new ManagedJobRun({
          store,
          id: j.id,
          dag: JSON.parse(input.dag) as Dag,
          request,
          secretsFile: secretsPath(home, request.secretsKey ?? `job-${j.id}`),
          files: jobFiles(home, j.id),
          uploadsDir: uploadsDir(home),
          pollMs: o.pollMs,
          backoffMs: o.backoffMs ?? { initial: 1000, max: 20_000 },
          cloudsByName: await cloudsNow(),
        });
        if (j.cancelRequested) run.requestCancel();
        runs.set(j.id, run);
        log(`job ${j.id}: ${j.status === 'PENDING' ? 'starting' : `resuming (${j.status})`}`);
        run
          .run()
          .catch((e: Error) => {
            // A bug (or the state unwritable): the job ends FAILED_CONTROLLER unless it had ended,
            // and stays in cleanup, so its clusters are torn down on a later try (spaced out).
            log(`job ${j.id}: the controller failed: ${e.stack ?? e.message}`);
            retryAt.set(j.id, Date.now() + FAILED_RUN_RETRY_MS);
            const now = store.getManagedJob(j.id);
            if (!now) return;
            const reason = `the controller failed: ${e.message}`;
            const ended = isManagedTerminal(now.status);
            store.updateManagedJob(j.id, {
              ...(ended ? {} : { status: 'FAILED_CONTROLLER' as const, reason, endedAt: Date.now() }),
              phase: 'cleanup',
              tasks: now.tasks.map((t) =>
                isManagedTerminal(t.status) ? t : { ...t, status: 'FAILED_CONTROLLER' as const, reason },
              ),
            });
          })
          .finally(() => runs.delete(j.id));
      }
      if (runs.size > 0) idleSince = Date.now();
      else if (Date.now() - idleSince >= o.idleMs) {
        log('idle: exiting');
        break;
      }
      await tickOrWake(TICK_MS, (w) => {
        wake = w;
      });
    }
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  // A job submitted while this process was deciding to exit (the submit saw it serving): the loop
  // that runs it starts it again at once instead of leaving the job PENDING.
  if (!o.signal?.aborted && store.unfinishedManagedJobs().length > 0) {
    log('a job arrived while exiting: serving again');
    return EXIT_SERVE_AGAIN;
  }
  return 0;
}

/**
 * What no unfinished job needs any more: secrets files no job names (a submission that died between
 * writing them and recording its job), and upload folders no job reads (a submission that failed
 * after its uploads), also those of ended jobs whose run was killed before it removed them. Recent
 * ones are left: a submission may be uploading or recording its job right now.
 */
function removeOrphans(home: string, store: Store): void {
  const secrets = new Set<string>();
  const uploads = new Set<string>();
  for (const j of store.unfinishedManagedJobs()) {
    const input = store.managedJobInput(j.id);
    if (!input) continue;
    const key = (JSON.parse(input.request) as ManagedRequest).secretsKey;
    if (key) secrets.add(`${key}.json`);
    for (const k of uploadKeysOf(JSON.parse(input.dag) as Dag, uploadsDir(home))) uploads.add(k);
  }
  sweepUnnamed(dirname(secretsPath(home, 'x')), secrets, 60_000);
  sweepUnnamed(uploadsDir(home), uploads, 6 * 3_600_000);
}
