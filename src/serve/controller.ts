/**
 * The serve controller's process (`skyhop serve-controller serve`, run as a job of the controller
 * cluster's agent): one long-lived process that runs every service of this $SKYHOP_HOME (a
 * `ServiceRun` each, service.ts), and starts each service's load balancer as a process of its own.
 *
 * One per $SKYHOP_HOME: it holds an abstract unix socket named after the home (jobs/controller.ts
 * `holdSocket`), so a second `serve` exits at once (code 4). Killed at any point (kill -9), it is
 * started again by its job's loop and resumes every service from its files; the load balancers keep
 * serving meanwhile. With no service for the idle time, it exits 0 and the cluster's autostop stops
 * the cluster.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { appendLine, writePrivate } from '../jobs/files.js';
import { carriedClouds, holdSocket, tickOrWake } from '../jobs/controller.js';
import { openStore, type Store } from '../state/index.js';
import { buildId } from '../util/build-id.js';
import { packageRoot } from '../util/package-root.js';
import { skyhopHome } from '../util/paths.js';
import { removeOrphans, serveLogPath, serveRecordPath, serviceNames } from './files.js';
import { ServiceRun, type ServeTimings } from './service.js';

/** `serve` found another controller serving this home. */
export const EXIT_ALREADY_SERVED = 4;
/** `serve` exited idle, but a service arrived meanwhile: its loop starts it again. */
export const EXIT_SERVE_AGAIN = 75;
/** How often every service is looked at (ms); a submission wakes it at once. */
const TICK_MS = 200;
/** How often secrets and uploads no service names are swept (also at start). */
const SWEEP_MS = 10 * 60_000;

export interface ServeOptions {
  /** Exit after this long without a service (ms). */
  idleMs: number;
  timings: ServeTimings;
  store?: Store;
  signal?: AbortSignal;
}

/** This node's address (the agent gives its jobs SKYPILOT_NODE_IPS; the head's is first). */
function nodeAddress(): string {
  const first = process.env.SKYPILOT_NODE_IPS?.split('\n')[0]?.trim();
  return first || '127.0.0.1';
}

/** Serves until idle; resolves with the exit code. */
export async function serveServices(o: ServeOptions): Promise<number> {
  const home = skyhopHome();
  let wake: (() => void) | null = null;
  const server = await holdSocket(home, () => wake?.(), 'serve');
  if (!server) return EXIT_ALREADY_SERVED;
  const store = o.store ?? openStore();
  const log = (line: string) => appendLine(serveLogPath(home), `${new Date().toISOString()} ${line}`);
  const cloudsNow = carriedClouds(home);
  const runs = new Map<string, ServiceRun>();
  const failedAt = new Map<string, number>();
  /** Runs retired after a failed tick, until their work in flight settles (then opened afresh). */
  const closing = new Map<string, Promise<void>>();
  const host = nodeAddress();
  const cli = [process.execPath, join(packageRoot(), 'bin', 'skyhop.js')];
  const portsInUse = () =>
    new Set([...runs.values()].map((r) => r.lbPort).filter((p): p is number => p !== null));
  writePrivate(serveRecordPath(home), JSON.stringify({ pid: process.pid, build: buildId() }));
  log(
    `serving ${home} (pid ${process.pid}, build ${buildId() ?? 'none'}, address ${host}, node home ${homedir()})`,
  );
  let idleSince = Date.now();
  let sweptAt = 0;
  try {
    while (!o.signal?.aborted) {
      if (Date.now() - sweptAt >= SWEEP_MS) {
        sweptAt = Date.now();
        try {
          removeOrphans(home);
        } catch (e) {
          log(`sweeping secrets and uploads no service names failed: ${(e as Error).message}`);
        }
      }
      const names = serviceNames(home);
      for (const name of names) {
        let run = runs.get(name);
        if (!run) {
          if (closing.has(name) || (failedAt.get(name) ?? 0) > Date.now() - 30_000) continue;
          const opened = ServiceRun.open({
            home,
            name,
            store,
            cloudsNow,
            timings: o.timings,
            host,
            portsInUse,
            cli,
            log,
          });
          if (!opened) continue;
          log(`service ${name}: running`);
          run = opened;
          runs.set(name, run);
        }
        try {
          if ((await run.tick()) === 'gone') {
            runs.delete(name);
            log(`service ${name}: removed`);
          }
        } catch (e) {
          // A bug, or its files unreadable: logged, and the service is opened afresh a little later.
          log(`service ${name}: the controller failed: ${(e as Error).stack ?? (e as Error).message}`);
          runs.delete(name);
          failedAt.set(name, Date.now());
          // Its launches and teardowns in flight must not race the run that replaces it.
          closing.set(
            name,
            run.close().finally(() => closing.delete(name)),
          );
        }
      }
      for (const name of runs.keys()) if (!names.includes(name)) runs.delete(name);
      if (names.length > 0) idleSince = Date.now();
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
  if (!o.signal?.aborted && serviceNames(home).length > 0) {
    log('a service arrived while exiting: serving again');
    return EXIT_SERVE_AGAIN;
  }
  return 0;
}
