/**
 * The daemon's supervisor (`node agent.cjs supervise`, which `node agent.cjs daemon` — what clients
 * start — launches beside itself once it serves): a small process that watches the daemon and starts it
 * again whenever it dies (kill -9, a crash, the OOM killer), within a watch interval, so jobs are never
 * left without an agent and no client command is needed to bring it back. A daemon it started itself
 * (`node agent.cjs serve`) is its child, and its death is seen at once. The restarted daemon is told it was restarted (`--restarted`): the jobs its predecessor
 * left running are ended with a reason saying so (see `AgentDaemon.recover`).
 *
 * One supervisor per agent directory, by the same means as the daemon: an abstract unix socket named
 * after the directory, freed by the kernel when the process dies. A supervisor that finds a daemon
 * already serving (one started without it) watches that daemon and takes over when it dies.
 * Repeated deaths are spaced out (no restart storm); a daemon that cannot start at all (invalid
 * cluster.json) is not retried. The supervisor carries the node's marker like the daemon, so
 * stopping or tearing down the node ends both.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { liveAgentPid } from './files.js';
import { SUPERVISOR_PROCESS_TITLE } from './types.js';

/** `serve` could not start at all (invalid cluster.json...): the supervisor does not retry. */
export const EXIT_CANNOT_START = 3;
/** `serve` found another daemon serving the directory. */
export const EXIT_ALREADY_SERVED = 4;
/** Deaths within this window count towards the back-off. */
const DEATH_WINDOW_MS = 60_000;
/** Restarts this many times in the window at once; later ones wait 0.25 s, 0.5 s, ... up to 30 s. */
const FREE_RESTARTS = 3;
const MAX_DELAY_MS = 30_000;
const WATCH_INTERVAL_MS = 250;

/** A short id of the agent directory (its device and inode): names its locks and job markers. */
export function dirUid(dir: string): string {
  const st = statSync(dir);
  return createHash('sha256').update(`${st.dev}:${st.ino}`).digest('hex').slice(0, 12);
}

export async function supervise(
  dir: string,
  node: string,
  bundle: string,
  say: (msg: string) => void,
  opts: { beside?: boolean } = {},
): Promise<number | null> {
  mkdirSync(dir, { recursive: true });
  process.chdir(dir);
  process.title = SUPERVISOR_PROCESS_TITLE;
  const lock = createServer();
  const ok = await new Promise<boolean>((resolve, reject) => {
    lock.once('error', (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' ? resolve(false) : reject(e)));
    lock.listen(`\0skyhop-agent-sup-${dirUid(dir)}`, () => resolve(true));
  });
  if (!ok) return 0; // another supervisor keeps the daemon running

  let child: ChildProcess | null = null;
  let stopping = false;
  const deaths: number[] = [];

  const start = (restarted: boolean): void => {
    if (stopping) return;
    const c = spawn(node, [bundle, 'serve', ...(restarted ? ['--restarted'] : [])], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child = c;
    c.on('error', (e) => say(`supervisor: cannot start the agent: ${e.message}`));
    c.on('exit', (code, sig) => {
      child = null;
      if (stopping) process.exit(0);
      if (code === 0) process.exit(0); // stopped on purpose (SIGTERM)
      if (code === EXIT_CANNOT_START) process.exit(1);
      if (code === EXIT_ALREADY_SERVED) {
        watch(liveAgentPid(dir)); // a daemon started without this supervisor: take over when it dies
        return;
      }
      const now = Date.now();
      deaths.push(now);
      while (deaths.length && deaths[0] < now - DEATH_WINDOW_MS) deaths.shift();
      const delay =
        deaths.length <= FREE_RESTARTS
          ? 0
          : Math.min(MAX_DELAY_MS, 250 * 2 ** (deaths.length - FREE_RESTARTS - 1));
      say(
        `supervisor: agent ${c.pid} died (${sig ?? `exit code ${code}`}); restarting it${delay ? ` in ${delay / 1000} s` : ''}`,
      );
      setTimeout(() => start(true), delay);
    });
  };

  /** A daemon this supervisor did not start (not its child): polled, and restarted when it is gone. */
  const watch = (pid: number | null): void => {
    const timer = setInterval(() => {
      if (liveAgentPid(dir) !== null) return;
      clearInterval(timer);
      say(`supervisor: agent ${pid ?? '(unknown pid)'} died; restarting it`);
      start(true);
    }, WATCH_INTERVAL_MS);
  };

  const stop = (): void => {
    stopping = true;
    if (child) child.kill('SIGTERM');
    else process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // `agent.cjs daemon` serves first and starts this supervisor beside it: watch that daemon.
  const serving = liveAgentPid(dir);
  if (serving !== null) watch(serving);
  else if (opts.beside) {
    say('supervisor: the agent it was started beside has died; restarting it');
    start(true);
  } else start(false);
  return null;
}
