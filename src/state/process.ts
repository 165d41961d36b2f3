/**
 * Process identity for locks and intents: a pid plus, on Linux, the process start time (field 22 of
 * /proc/PID/stat), so that a pid reused by an unrelated process is not mistaken for the holder.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

/** The start time of a process in clock ticks since boot, as text; null where /proc is not available. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) is in parentheses and may hold spaces or ')': split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state), so field 22 is rest[19].
    return rest[19] ?? null;
  } catch {
    return null;
  }
}

let selfStart: string | null | undefined;

/** This process's start time (read once). */
export function selfStartTime(): string | null {
  if (selfStart === undefined) selfStart = processStartTime(process.pid);
  return selfStart;
}

/** Whether the process that recorded (pid, startTime) is still running. */
export function isProcessAlive(pid: number, startTime: string | null): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return startTime === null || startTime === selfStartTime();
  try {
    process.kill(pid, 0);
  } catch (e) {
    // EPERM: it exists but belongs to another user.
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // A zombie (killed, not yet reaped by its parent) runs nothing any more.
  if (processState(pid) === 'Z') return false;
  if (startTime === null) return true;
  const now = processStartTime(pid);
  return now === null || now === startTime;
}

/** The state letter of a process (field 3 of /proc/PID/stat: R, S, D, Z...); null where unknown. */
function processState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) || null;
  } catch {
    return null;
  }
}

/**
 * What this process is doing, for "waiting for pid N (...)": its argv with the script shown by name,
 * the values of `--secret` and `--env` flags replaced by `***` (`hideFlagValues`), and at most 200
 * characters.
 */
export function describeSelf(argv: readonly string[] = process.argv): string {
  const words: string[] = [];
  const script = argv[1] ? basename(argv[1]).replace(/\.(c|m)?(j|t)s$/, '') : 'node';
  words.push(script === 'cli' || script === 'main' ? 'skyhop' : script);
  words.push(...hideFlagValues(argv.slice(2)));
  const s = words.join(' ');
  return s.length > 200 ? `${s.slice(0, 197)}...` : s;
}

/**
 * `argv` with the values of `--secret` and `--env` (`KEY=VAL`, `--secret=KEY=VAL`) shown as `KEY=***`
 * (a value without a key as `***`): the one redaction of a command line, for a lock holder's
 * description, a team server's record of a request and the command line its worker runs (what `ps`
 * shows). Env values may hold tokens as secrets do.
 */
export function hideFlagValues(argv: readonly string[]): string[] {
  const hide = (kv: string) => {
    const eq = kv.indexOf('=');
    return eq < 0 ? '***' : `${kv.slice(0, eq)}=***`;
  };
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const m = /^(--secret|--env)=(.*)$/s.exec(a);
    if (m) out.push(`${m[1]}=${hide(m[2])}`);
    else if ((a === '--secret' || a === '--env') && i + 1 < argv.length) out.push(a, hide(argv[++i]));
    else out.push(a);
  }
  return out;
}
