/**
 * The agent's entry point, bundled into dist/agent.cjs and shipped to each cluster's head node:
 *   node agent.cjs daemon               serve the job queue of ~/.skyhop/agent (one per directory)
 *   node agent.cjs logs <id> [--follow] print a job's log (following it until the job ends)
 *   node agent.cjs queue                print the queue
 */
import { AgentDaemon, agentDir } from './daemon.js';
import { logsCommand, queueCommand } from './logs.js';

async function main(argv: string[]): Promise<number | null> {
  const [cmd, ...rest] = argv;
  const dir = agentDir();
  switch (cmd) {
    case 'daemon': {
      const daemon = new AgentDaemon(dir);
      if (!(await daemon.start())) {
        process.stdout.write(`${new Date().toISOString()} another agent already serves ${dir}; exiting\n`);
        return 0;
      }
      const bye = (sig: string) => {
        process.stdout.write(`${new Date().toISOString()} agent ${process.pid} stopping on ${sig}\n`);
        daemon.stop();
        process.exit(0);
      };
      process.on('SIGTERM', () => bye('SIGTERM'));
      process.on('SIGINT', () => bye('SIGINT'));
      process.on('uncaughtException', (e) => {
        process.stdout.write(`${new Date().toISOString()} agent crashed: ${e.stack ?? e}\n`);
        process.exit(1);
      });
      return null; // keep serving
    }
    case 'logs': {
      const id = Number(rest.find((a) => !a.startsWith('-')));
      return logsCommand(dir, id, rest.includes('--follow') || rest.includes('-f'));
    }
    case 'queue':
      return queueCommand(dir);
    default:
      process.stderr.write('usage: agent.cjs daemon | logs <job id> [--follow] | queue\n');
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
