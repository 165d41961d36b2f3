/** Small file helpers the agent's processes share (atomic writes, liveness of the daemon). */
import { readFileSync, realpathSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_FILES, AGENT_PROCESS_TITLE } from './types.js';

/** Write a file so that readers see the old or the new content, never a part (tmp + rename). */
export function writeAtomic(path: string, data: string, mode = 0o644): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, data, { mode });
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp); // a part written on a full disk would hold on to its space
    } catch {
      // not created
    }
    throw e;
  }
}

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/**
 * The pid of the live agent daemon of `dir`, or null. Live means: the pid in agent.pid is a process
 * titled `skyhop-agent` whose working directory is `dir` (so a reused pid is never mistaken for it).
 */
export function liveAgentPid(dir: string): number | null {
  try {
    const pid = Number(readFileSync(join(dir, AGENT_FILES.pid), 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return null;
    if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== AGENT_PROCESS_TITLE) return null;
    if (realpathSync(`/proc/${pid}/cwd`) !== realpathSync(dir)) return null;
    return pid;
  } catch {
    return null;
  }
}
