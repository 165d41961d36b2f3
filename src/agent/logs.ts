/** `agent.cjs logs <id> [--follow]` and `agent.cjs queue`: read-only views for clients and humans. */
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { liveAgentPid, readJson } from './files.js';
import { AGENT_FILES, isTerminal, JOB_FILES, type JobRecord, specFileName } from './types.js';

const POLL_MS = 100;
/** How long a follower tolerates a dead agent before giving up. */
const DEAD_AGENT_MS = 3000;

export const EXIT_NO_JOB = 2;
export const EXIT_AGENT_DEAD = 3;

function readState(dir: string, id: number): JobRecord | null {
  try {
    return readJson<JobRecord>(join(dir, AGENT_FILES.jobs, String(id), JOB_FILES.state));
  } catch {
    return null;
  }
}

async function write(chunk: Buffer): Promise<void> {
  if (process.stdout.write(chunk)) return;
  await new Promise<void>((r) => process.stdout.once('drain', () => r()));
}

/**
 * Prints job `id`'s log from the start; with `follow`, keeps printing until the job has ended (and
 * its log is complete). Returns the process exit code: 0, EXIT_NO_JOB, or EXIT_AGENT_DEAD.
 */
export async function logsCommand(dir: string, id: number, follow: boolean): Promise<number> {
  const jobDir = join(dir, AGENT_FILES.jobs, String(id));
  if (!Number.isInteger(id) || id < 1 || !existsSync(join(dir, AGENT_FILES.jobs, specFileName(id)))) {
    process.stderr.write(`job ${id} does not exist on this cluster\n`);
    return EXIT_NO_JOB;
  }
  process.stdout.on('error', () => process.exit(0)); // the reader went away
  const logPath = join(jobDir, JOB_FILES.log);
  const buf = Buffer.alloc(64 * 1024);
  let offset = 0;
  let fd: number | null = null;
  let deadSince: number | null = null;
  const drain = async () => {
    if (fd === null) {
      try {
        fd = openSync(logPath, 'r');
      } catch {
        return;
      }
    }
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, offset);
      if (n <= 0) return;
      offset += n;
      await write(Buffer.from(buf.subarray(0, n)));
    }
  };
  try {
    for (;;) {
      // Read the state before the log: once the state is terminal, the log is complete.
      const state = readState(dir, id);
      await drain();
      if (!follow || (state && isTerminal(state.status))) return 0;
      if (liveAgentPid(dir) === null) {
        deadSince ??= Date.now();
        if (Date.now() - deadSince > DEAD_AGENT_MS) {
          process.stderr.write(`the skyhop agent is not running; job ${id} is ${state?.status ?? 'INIT'}\n`);
          return EXIT_AGENT_DEAD;
        }
      } else {
        deadSince = null;
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** A plain table of the queue, for humans on the node. */
export function queueCommand(dir: string): number {
  let jobs: JobRecord[] = [];
  try {
    jobs = readJson<JobRecord[]>(join(dir, AGENT_FILES.queue));
  } catch {
    // no queue yet
  }
  const rows = [['ID', 'NAME', 'USER', 'SUBMITTED', 'STATUS', 'EXIT', 'REASON']];
  for (const j of jobs) {
    rows.push([
      String(j.id),
      j.name || '-',
      j.user || '-',
      new Date(j.submittedAt).toISOString(),
      j.status,
      j.exitCode === null ? '-' : String(j.exitCode),
      j.reason ?? '',
    ]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows)
    process.stdout.write(
      `${r
        .map((x, c) => x.padEnd(widths[c]))
        .join('  ')
        .trimEnd()}\n`,
    );
  process.stdout.write(`agent: ${liveAgentPid(dir) === null ? 'not running' : 'running'}\n`);
  return 0;
}
