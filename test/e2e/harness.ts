/**
 * End-to-end harness: runs the real `bin/skyhop.js` (built dist/) as a child process with its own
 * SKYHOP_HOME and HOME, and cleans up every cluster a test made.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { mountPoints } from '../../src/clouds/local/mounts.js';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const BIN = join(ROOT, 'bin', 'skyhop.js');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export class Sandbox {
  readonly dir: string;
  readonly home: string;
  readonly skyhopHome: string;
  readonly env: Record<string, string>;

  constructor(extraEnv: Record<string, string> = {}) {
    this.dir = mkdtempSync(join(tmpdir(), 'skyhop-e2e-'));
    this.home = join(this.dir, 'home');
    this.skyhopHome = join(this.dir, 'skyhop');
    const keep = ['PATH', 'LANG', 'TERM', 'TMPDIR', 'SYSTEMROOT'];
    const base: Record<string, string> = {};
    for (const k of keep) if (process.env[k]) base[k] = process.env[k]!;
    this.env = { ...base, HOME: this.home, SKYHOP_HOME: this.skyhopHome, CI: 'true', ...extraEnv };
  }

  /** Run the CLI to completion. */
  run(
    args: string[],
    opts: { input?: string; env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
  ): Promise<Run> {
    return new Promise((resolvePromise, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], {
        cwd: opts.cwd ?? ROOT,
        env: { ...this.env, ...opts.env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
      child.on('error', reject);
      child.on('close', (code, sig) => {
        clearTimeout(timer);
        resolvePromise({ code: code ?? (sig ? 128 : 1), stdout, stderr });
      });
      child.stdin.end(opts.input ?? '');
    });
  }

  /** Start the CLI without waiting (for kill -9 / Ctrl-C tests). */
  spawn(args: string[], opts: { env?: Record<string, string> } = {}) {
    return spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: { ...this.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  }

  /** Tear down every cluster left behind, then remove the sandbox. */
  async cleanup(): Promise<void> {
    await this.run(['down', '-a', '-y', '--purge'], { timeoutMs: 60_000 }).catch(() => {});
    killUnder(this.dir);
    // A FUSE mount left inside the sandbox (a failed storage test) must go before the files do:
    // removing files through a live mount would delete a bucket's objects, a dead one fails rm.
    unmountUnder(this.dir);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** PIDs whose environment has NAME=VALUE (or NAME=…VALUE… when `contains`). */
export function pidsWithEnv(name: string, value: string, contains = false): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    let env: string;
    try {
      env = readFileSync(`/proc/${p}/environ`, 'latin1');
    } catch {
      continue;
    }
    for (const kv of env.split('\0')) {
      if (!kv.startsWith(`${name}=`)) continue;
      const v = kv.slice(name.length + 1);
      if (contains ? v.includes(value) : v === value) out.push(Number(p));
    }
  }
  return out;
}

/** Processes whose HOME lies inside the sandbox (every local node's process has its HOME there). */
export function pidsUnder(dir: string): number[] {
  return pidsWithEnv('HOME', dir, true).filter((p) => p !== process.pid);
}

/** Last resort after a failed test: kill whatever still runs with its HOME in the sandbox. */
function killUnder(dir: string) {
  for (const p of pidsUnder(dir)) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {}
  }
}

/** Lazily unmounts every mount point inside `dir` (deepest first). */
function unmountUnder(dir: string) {
  const points = mountPoints()
    .map((m) => m.path)
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const p of points) {
    const r = spawnSync('fusermount3', ['-uz', p], { stdio: 'ignore' });
    if (r.status !== 0) spawnSync('umount', ['-l', p], { stdio: 'ignore' });
  }
}

/** Files named `name` anywhere under `dir` (unreadable folders skipped). */
export function findFiles(dir: string, name: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name === name) out.push(p);
    }
  };
  walk(dir);
  return out;
}
