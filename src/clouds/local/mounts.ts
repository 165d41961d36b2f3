/**
 * Bucket mounts of local nodes. A local node's processes run on this machine, so the FUSE mounts its
 * rclone daemons make (src/storage/node.ts) are this machine's mounts: killing the daemons would
 * leave dead mounts ("Transport endpoint is not connected") behind, and removing a node's folder
 * with a live mount inside would delete objects from the bucket. So stop and terminate unmount them
 * first (and again after the node's processes are killed, for one made in between).
 *
 * Which mounts are a node's: the records `~/.skyhop/storage/mounts/<id>` (line 1: the path) that
 * src/storage/node.ts writes before mounting, and any FUSE mount inside the node's HOME.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Mount points of this machine (from /proc/self/mountinfo, unescaped) with their fs type. */
export function mountPoints(): Array<{ path: string; type: string }> {
  let text = '';
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const out: Array<{ path: string; type: string }> = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (sep < 0 || f.length < 5) continue;
    const path = f[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
    out.push({ path, type: f[sep + 1] ?? '' });
  }
  return out;
}

/** The paths of the mounts recorded in a node's HOME. */
export function recordedMounts(home: string): string[] {
  const dir = join(home, '.skyhop', 'storage', 'mounts');
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const n of names) {
    try {
      const p = readFileSync(join(dir, n), 'utf8').split('\n')[0];
      if (p) out.push(p.startsWith('~/') ? join(home, p.slice(2)) : p);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function isFuse(type: string): boolean {
  return type === 'fuse' || type.startsWith('fuse.');
}

function tryUnmount(path: string): boolean {
  for (const argv of [
    ['fusermount3', '-u', path],
    ['fusermount', '-u', path],
    ['fusermount3', '-uz', path],
    ['fusermount', '-uz', path],
    ['umount', '-l', path],
  ]) {
    const r = spawnSync(argv[0], argv.slice(1), { stdio: 'ignore', timeout: 30_000 });
    if (r.status === 0) return true;
  }
  return false;
}

/**
 * Unmounts the FUSE mounts of the node whose HOME is `home` (its recorded ones, and any inside its
 * HOME), innermost first. Returns the paths it unmounted.
 */
export function unmountNode(home: string): string[] {
  const mounted = mountPoints();
  const wanted = new Set(recordedMounts(home));
  const prefix = home.endsWith('/') ? home : `${home}/`;
  for (const m of mounted) if (isFuse(m.type) && m.path.startsWith(prefix)) wanted.add(m.path);
  const paths = [...wanted]
    .filter((p) => mounted.some((m) => m.path === p && isFuse(m.type)))
    .sort((a, b) => b.length - a.length);
  const done: string[] = [];
  for (const p of paths) {
    // A path mounted twice (a dead mount under a live one) needs one unmount per layer.
    for (let i = 0; i < 4 && mountPoints().some((m) => m.path === p && isFuse(m.type)); i++) {
      if (!tryUnmount(p)) break;
      done.push(p);
    }
  }
  return done;
}
