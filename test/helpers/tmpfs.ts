/**
 * A real small filesystem for full-disk tests: a tmpfs mounted on a folder (needs root), and a way to
 * fill it to the last byte. Outside CI a failed mount lets the test skip with the reason; under
 * CI=true it fails the test, so a green CI always means the full-disk paths ran.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';

export interface Tmpfs {
  /** Null when mounted; else why not (the test skips with it outside CI). */
  error: string | null;
  /** Unmounts (lazily, so open files do not block it); safe to repeat. */
  unmount(): void;
}

/** Mounts a tmpfs of `size` (e.g. '8m') on `dir` (created when missing). */
export function mountTmpfs(dir: string, size: string): Tmpfs {
  mkdirSync(dir, { recursive: true });
  let mounted = false;
  let error: string | null = null;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
    mounted = true;
  } catch (e) {
    error = `cannot mount a tmpfs (needs root): ${(e as Error).message.split('\n')[0]}`;
    if (process.env.CI === 'true') throw new Error(error);
  }
  return {
    error,
    unmount() {
      if (!mounted) return;
      mounted = false;
      execFileSync('umount', ['-l', dir]);
    },
  };
}

/** Writes zeros into `path` until the filesystem refuses even one more byte (ENOSPC). */
export function fillDisk(path: string): void {
  const fd = openSync(path, 'a');
  try {
    for (let size = 64 * 1024; size >= 1; size = Math.floor(size / 2)) {
      const chunk = Buffer.alloc(size);
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}
