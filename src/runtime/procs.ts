/**
 * "Kill everything that carries a marker": the one mechanism skyhop uses to end a node's or a job's
 * processes, however deep they hide (`setsid nohup x &` escapes process groups and sessions, but it
 * keeps its environment). A marker is an environment variable set on the first process of a tree
 * (`SKYHOP_NODE_ID` on every command of a local node, `SKYHOP_JOB_ID` on every process of a job);
 * every descendant inherits it unless it deliberately clears its environment (`env -i`), which is
 * the one way out of this net.
 *
 * The kill is done in rounds: every matching process is first stopped (SIGSTOP, so none can fork
 * new children between the scan and the kill), then killed (SIGKILL); rounds repeat until a scan
 * finds nothing. A killed process shows an empty environment as soon as it has exited (zombies
 * included), so it is not matched again.
 *
 * - `killByMarker` / `listByMarker`: this machine, in process (reads /proc/<pid>/environ).
 * - `killByMarkerShell`: the same as a shell snippet for a node reached through a runner; it needs
 *   /proc and a grep with `-z` (GNU grep or busybox, as on every Linux image skyhop targets), prints
 *   the number of processes killed, and never kills the shell that runs it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { shq } from '../util/shell.js';

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_ROUNDS = 100;

function checkMarker(name: string, value: string): void {
  if (!NAME_RE.test(name)) throw new Error(`invalid marker name: ${JSON.stringify(name)}`);
  if (value === '' || /[\0\n]/.test(value)) throw new Error(`invalid marker value for ${name}`);
}

/** Pids of this machine's processes whose environment holds exactly `name=value` (this process excluded). */
export function listByMarker(name: string, value: string): number[] {
  checkMarker(name, value);
  const wanted = `${name}=${value}`;
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (e.charCodeAt(0) < 48 || e.charCodeAt(0) > 57) continue;
    const pid = Number(e);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let env: string;
    try {
      env = readFileSync(`/proc/${pid}/environ`, 'latin1');
    } catch {
      continue; // gone, or not ours to read
    }
    if (env.length < wanted.length) continue;
    for (const kv of env.split('\0')) {
      if (kv === wanted) {
        out.push(pid);
        break;
      }
    }
  }
  return out;
}

/**
 * Stop, then kill, every process on this machine carrying `name=value`, until none remain.
 * Returns how many distinct processes were signalled. Never signals the calling process.
 */
export async function killByMarker(name: string, value: string): Promise<number> {
  const killed = new Set<number>();
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const pids = listByMarker(name, value);
    if (pids.length === 0) break;
    for (const pid of pids) signal(pid, 'SIGSTOP');
    for (const pid of pids) if (signal(pid, 'SIGKILL')) killed.add(pid);
    // Give the kernel a moment to tear the killed processes down before the next scan.
    await new Promise((r) => setTimeout(r, round < 2 ? 1 : 10));
  }
  return killed.size;
}

function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/**
 * A POSIX sh snippet that does what `killByMarker` does on the node that runs it and prints the
 * number of processes killed. The scan runs in a child `sh` started with a cleared environment
 * (`env -i`), so neither it nor its helpers carry the marker; the shell that runs the snippet (which
 * may carry it, e.g. a node marker) is passed in and spared.
 */
export function killByMarkerShell(name: string, value: string): string {
  checkMarker(name, value);
  const inner = [
    'm=$1; spare=$2; all=; r=0',
    'while [ "$r" -lt 100 ]; do',
    '  p=$(grep -lzxF -e "$m" /proc/[0-9]*/environ 2>/dev/null | sed -e "s#^/proc/##" -e "s#/environ\\$##"' +
      ' | grep -vxF -e "$$" -e "$spare")',
    '  [ -z "$p" ] && break',
    '  kill -STOP $p 2>/dev/null',
    '  kill -KILL $p 2>/dev/null',
    '  all="$all $p"',
    '  r=$((r + 1))',
    'done',
    'if [ -z "$all" ]; then echo 0; else printf "%s\\n" $all | sort -u | wc -l; fi',
  ].join('\n');
  return `env -i PATH="$PATH" sh -c ${shq(inner)} sh ${shq(`${name}=${value}`)} "$$"`;
}
