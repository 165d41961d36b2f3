import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killByMarker } from '../../../src/runtime/procs.js';

/** A temp root with SKYHOP_HOME pointed inside it; `cleanup` kills the given node markers and removes it. */
export function tempRoot(prefix: string): { root: string; nodeIds: string[]; cleanup: () => Promise<void> } {
  const root = mkdtempSync(join(tmpdir(), `skyhop-${prefix}-`));
  const oldHome = process.env.SKYHOP_HOME;
  process.env.SKYHOP_HOME = join(root, 'skyhop-home');
  const nodeIds: string[] = [];
  return {
    root,
    nodeIds,
    cleanup: async () => {
      for (const id of nodeIds) await killByMarker('SKYHOP_NODE_ID', id);
      if (oldHome === undefined) delete process.env.SKYHOP_HOME;
      else process.env.SKYHOP_HOME = oldHome;
      rmSync(root, { recursive: true, force: true });
    },
  };
}

let seq = 0;
/** A node id unique to this test process. */
export function uniqueNodeId(tag: string): string {
  return `test-${tag}-${process.pid}-${++seq}-${Math.random().toString(36).slice(2, 8)}`;
}

/** True when `pid` is a live (non-zombie) process. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Poll `fn` until it returns a truthy value (or throw after `ms`). */
export async function waitFor<T>(
  what: string,
  fn: () => T | Promise<T>,
  ms = 20_000,
): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
