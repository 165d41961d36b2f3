/** Small helpers for the benchmark scripts: fresh homes, timing, medians, a markdown table. */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..');
export const BIN = join(ROOT, 'bin', 'skyhop.js');

export function freshHome(): { dir: string; env: Record<string, string>; dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'skyhop-bench-'));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: join(dir, 'home'),
    SKYHOP_HOME: join(dir, 'skyhop'),
    CI: 'true',
  };
  return { dir, env, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Wall time of a whole `skyhop ...` process, in ms. Fails loudly if the command fails. */
export function timeCli(args: string[], env: Record<string, string>): number {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [BIN, ...args], { env, cwd: ROOT, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`skyhop ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return ms;
}

export interface Row {
  what: string;
  median: number;
  min: number;
  max: number;
  runs: number;
  unit: string;
  target?: string;
}

export function summarize(what: string, xs: number[], unit = 'ms', target?: string): Row {
  return {
    what,
    median: median(xs),
    min: Math.min(...xs),
    max: Math.max(...xs),
    runs: xs.length,
    unit,
    target,
  };
}

export function printRows(title: string, rows: Row[]): void {
  const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));
  console.log(`\n### ${title}\n`);
  console.log('| what | median | min | max | runs | target |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(
      `| ${r.what} | ${fmt(r.median)} ${r.unit} | ${fmt(r.min)} | ${fmt(r.max)} | ${r.runs} | ${r.target ?? ''} |`,
    );
  }
}

/** Wall time from spawning `skyhop ...` to its first byte on stdout, in ms. */
export function firstLine(args: string[], env: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    const child = spawn(process.execPath, [BIN, ...args], {
      env,
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let seen = false;
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.stdout.on('data', () => {
      if (!seen) {
        seen = true;
        resolve(Number(process.hrtime.bigint() - t) / 1e6);
      }
    });
    child.on('close', (code) => {
      if (!seen) reject(new Error(`no output (exit ${code}): ${err}`));
    });
  });
}
