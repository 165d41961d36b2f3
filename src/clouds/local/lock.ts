/**
 * A cross-process lock held as a file: `link(2)` of a file that already holds the owner's token
 * is atomic and fails with EEXIST when someone holds the lock, so a lock file is never seen empty.
 * A lock whose owner process is gone (crashed at any line) is broken by the next comer. On a full
 * disk (ENOSPC writing the token) `fn` runs without the lock.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { CloudError, InterruptedError } from '../../util/errors.js';
import { sleep } from '../../util/sleep.js';

interface Owner {
  pid: number;
  /** /proc/<pid>/stat start time, to tell a reused pid from the owner; null where unknown. */
  start: string | null;
  token: string;
}

function procStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is field 3, starttime field 22.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function isAlive(o: Owner): boolean {
  try {
    process.kill(o.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = procStart(o.pid);
  return o.start === null || now === null || now === o.start;
}

function readOwner(path: string): { text: string; owner: Owner | null } | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  try {
    return { text, owner: JSON.parse(text) as Owner };
  } catch {
    return { text, owner: null };
  }
}

/**
 * Run `fn` holding the lock at `path`. Waits (polling) while a live process holds it, up to
 * `timeoutMs`; then throws a CloudError naming the holder.
 */
export async function withFileLock<T>(
  path: string,
  fn: () => Promise<T>,
  opts: { timeoutMs?: number; what?: string; signal?: AbortSignal } = {},
): Promise<T> {
  const token = randomBytes(8).toString('hex');
  const me: Owner = { pid: process.pid, start: procStart(process.pid), token };
  const text = JSON.stringify(me);
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${token}.tmp`;
  try {
    writeFileSync(tmp, text);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
    // A full disk has no room for the owner's token, and no other process can write one either:
    // run unlocked rather than block what frees the space (tearing a local cluster down).
    try {
      unlinkSync(tmp);
    } catch {
      // not created
    }
    return fn();
  }
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  let wait = 5;
  try {
    for (;;) {
      if (opts.signal?.aborted) throw new InterruptedError();
      try {
        linkSync(tmp, path);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const held = readOwner(path);
      if (held && (held.owner === null || !isAlive(held.owner))) {
        // Stale: move it aside under a unique name and make sure it is the stale one we judged.
        const aside = `${path}.${token}.stale`;
        try {
          renameSync(path, aside);
          const moved = readFileSync(aside, 'utf8');
          if (moved !== held.text) {
            // A live owner took the lock in between: give it back.
            try {
              linkSync(aside, path);
            } catch {
              // a third process holds it now; the moved owner will notice nothing (rare, documented)
            }
          }
          unlinkSync(aside);
        } catch {
          // someone else broke it first
        }
        continue;
      }
      if (Date.now() > deadline) {
        const who = held?.owner ? `process ${held.owner.pid}` : 'another process';
        throw new CloudError(
          `${opts.what ?? 'a lock'} is held by ${who} (lock file ${path}); wait for it to finish, ` +
            `or remove that file if the process is gone`,
        );
      }
      await sleep(wait);
      wait = Math.min(wait * 2, 100);
    }
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
  }
  try {
    return await fn();
  } finally {
    const held = readOwner(path);
    if (held?.owner?.token === token) {
      try {
        unlinkSync(path);
      } catch {
        // broken by someone who judged us dead (cannot happen while we live)
      }
    }
  }
}
