/**
 * The agent's entry point, bundled into dist/agent.cjs and shipped to each cluster's head node:
 *   node agent.cjs daemon               what clients start: serve the job queue of ~/.skyhop/agent at
 *                                       once, with a supervisor started beside it (off the path to
 *                                       the first job) that starts it again whenever it dies
 *   node agent.cjs supervise            the supervisor alone (one per directory)
 *   node agent.cjs serve [--restarted]  the daemon alone (one per directory)
 *   node agent.cjs logs <id> [--follow] print a job's log (following it until the job ends)
 *   node agent.cjs queue                print the queue
 */
import { spawn } from 'node:child_process';
import { AgentDaemon, agentDir } from './daemon.js';
import { logsCommand, queueCommand } from './logs.js';
import { EXIT_ALREADY_SERVED, EXIT_CANNOT_START, supervise } from './supervisor.js';

function say(msg: string): void {
  try {
    process.stdout.write(`${new Date().toISOString()} ${msg}\n`);
  } catch {
    // agent.log cannot be written (a full disk)
  }
}

/** The daemon itself: null while it serves; an exit code when it cannot. */
async function serve(dir: string, rest: string[]): Promise<number | null> {
  const daemon = new AgentDaemon(dir, { restarted: rest.includes('--restarted') });
  let ok: boolean;
  try {
    ok = await daemon.start();
  } catch (e) {
    say(`agent cannot start: ${e instanceof Error ? e.message : String(e)}`);
    return EXIT_CANNOT_START;
  }
  if (!ok) {
    say(`another agent already serves ${dir}; exiting`);
    return EXIT_ALREADY_SERVED;
  }
  const bye = (sig: string) => {
    say(`agent ${process.pid} stopping on ${sig}`);
    daemon.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => bye('SIGTERM'));
  process.on('SIGINT', () => bye('SIGINT'));
  process.on('uncaughtException', (e) => {
    say(`agent crashed: ${e.stack ?? e}`);
    process.exit(1);
  });
  return null; // keep serving
}

async function main(argv: string[]): Promise<number | null> {
  const [cmd, ...rest] = argv;
  const dir = agentDir();
  // agent.log on a full disk: a failed write must not become an uncaught 'error' event.
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  switch (cmd) {
    case 'supervise':
      // --beside: launched by a daemon; finding none serving then means it died, and the jobs it ran
      // are ended as a restart's are.
      return supervise(dir, process.execPath, process.argv[1], say, { beside: rest.includes('--beside') });
    case 'daemon': {
      // The supervisor is launched first, so a daemon killed at once still has one, but it starts its
      // Node (~80 ms of CPU here) half a second later, after this daemon has taken the first job: on a
      // small machine a Node start beside the daemon slows the path to the first job. It then finds
      // this daemon serving and watches it (or, finding none, starts one).
      spawn(
        '/bin/sh',
        ['-c', 'sleep 0.5; exec "$0" "$1" supervise --beside', process.execPath, process.argv[1]],
        {
          detached: true,
          stdio: ['ignore', 'inherit', 'inherit'],
        },
      ).unref();
      return serve(dir, rest);
    }
    case 'serve':
      return serve(dir, rest);

    case 'logs': {
      const id = Number(rest.find((a) => !a.startsWith('-')));
      return logsCommand(dir, id, rest.includes('--follow') || rest.includes('-f'));
    }
    case 'queue':
      return queueCommand(dir);
    default:
      process.stderr.write('usage: agent.cjs daemon | serve | logs <job id> [--follow] | queue\n');
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== null) process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`skyhop agent: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
