/**
 * Scans of this machine that tests use to prove what is NOT there: left-over FUSE mounts, a secret in
 * any process's command line, a secret in any file under a folder.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mountPoints } from '../../src/clouds/local/mounts.js';

/** FUSE mounts of this machine (mount namespace of this process) at or under `root`. */
export function fuseMountsUnder(root: string): string[] {
  return mountPoints()
    .filter((m) => m.type.startsWith('fuse') && (m.path === root || m.path.startsWith(`${root}/`)))
    .map((m) => m.path);
}

/** Pids whose command line contains `needle` (every process of this machine). */
export function cmdlinesWith(needle: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(needle)) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

/** Files under `dir` (recursively) whose content contains `needle`, skipping `except`. */
export function filesWith(
  dir: string,
  needle: string,
  except: (p: string) => boolean = () => false,
): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let names: import('node:fs').Dirent[];
    try {
      names = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of names) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && !except(p)) {
        try {
          if (readFileSync(p).includes(needle)) out.push(p);
        } catch {
          // unreadable
        }
      }
    }
  };
  walk(dir);
  return out;
}
