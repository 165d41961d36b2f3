/**
 * The module floors of docs/architecture.md: a module imports only from its own floor or below, and
 * modules on one floor import each other without cycles. Read from the source itself (static and
 * dynamic imports), so a new upward import fails here before it lands.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, test } from 'node:test';

const SRC = resolve(import.meta.dirname, '../../../src');

/** Floor of each top-level module under src/ (files directly in src/ are floor 0). */
export const FLOORS: Record<string, number> = {
  util: 0,
  core: 1,
  catalog: 1,
  state: 2,
  runtime: 2,
  task: 2,
  config: 2,
  agent: 3,
  clouds: 3,
  emulators: 3,
  storage: 3,
  optimizer: 4,
  provision: 4,
  sdk: 5,
  jobs: 6,
  serve: 6,
  server: 7,
  cli: 8,
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function moduleOf(abs: string): string {
  const rel = relative(SRC, abs).split('/');
  return rel.length === 1 ? '(root)' : rel[0];
}

function floorOf(mod: string): number {
  if (mod === '(root)') return 0;
  const f = FLOORS[mod];
  assert.notEqual(
    f,
    undefined,
    `src/${mod}/ has no floor in this test's FLOORS: give it one (and in docs/architecture.md)`,
  );
  return f;
}

/** Relative import specifiers of a file: `from '...'`, `import('...')`, `export ... from '...'`. */
function importsOf(file: string): string[] {
  // Template files hold the source of other files as strings; their imports are not this file's.
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+'(\.[^']+)'/gm)) out.push(m[1]);
  for (const m of text.matchAll(/\bimport\(\s*'(\.[^']+)'\s*\)/g)) out.push(m[1]);
  return out;
}

const TEMPLATES = new Set([join(SRC, 'cli', 'templates', 'new-cloud.ts')]);

function edges(): Array<{ file: string; from: string; to: string }> {
  const out: Array<{ file: string; from: string; to: string }> = [];
  for (const file of files(SRC)) {
    if (TEMPLATES.has(file)) continue;
    for (const spec of importsOf(file)) {
      const target = resolve(dirname(file), spec);
      out.push({ file: relative(SRC, file), from: moduleOf(file), to: moduleOf(target) });
    }
  }
  return out;
}

describe('module floors', () => {
  test('the reader finds imports (static, dynamic, re-exports) in the real tree', () => {
    const all = edges();
    assert.ok(
      all.some((e) => e.from === 'cli' && e.to === 'sdk'),
      'cli imports sdk',
    );
    assert.ok(
      all.some((e) => e.from === 'optimizer' && e.to === 'clouds'),
      'optimizer imports clouds',
    );
    assert.ok(all.length > 300, `only ${all.length} imports found`);
  });

  test('every module is on a floor', () => {
    for (const name of readdirSync(SRC)) {
      if (statSync(join(SRC, name)).isDirectory()) floorOf(name);
    }
  });

  test('no import runs from a lower floor to a higher one', () => {
    const up = edges()
      .filter((e) => floorOf(e.to) > floorOf(e.from))
      .map(
        (e) => `src/${e.file} (${e.from}, floor ${floorOf(e.from)}) imports ${e.to} (floor ${floorOf(e.to)})`,
      );
    assert.deepEqual(up, []);
  });

  test('config/ imports only util, core and catalog (task/ reads it, not the other way)', () => {
    const allowed = new Set(['config', 'util', 'core', 'catalog']);
    const bad = edges()
      .filter((e) => e.from === 'config' && !allowed.has(e.to))
      .map((e) => `src/${e.file} imports ${e.to}`);
    assert.deepEqual(bad, []);
  });

  test('modules on one floor import each other without a cycle', () => {
    const graph = new Map<string, Set<string>>();
    for (const e of edges()) {
      if (e.from === e.to || floorOf(e.from) !== floorOf(e.to)) continue;
      if (!graph.has(e.from)) graph.set(e.from, new Set());
      graph.get(e.from)!.add(e.to);
    }
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (m: string, path: string[]): void => {
      if (state.get(m) === 'done') return;
      if (state.get(m) === 'open') {
        cycles.push([...path.slice(path.indexOf(m)), m].join(' -> '));
        return;
      }
      state.set(m, 'open');
      for (const n of graph.get(m) ?? []) visit(n, [...path, m]);
      state.set(m, 'done');
    };
    for (const m of graph.keys()) visit(m, []);
    assert.deepEqual(cycles, []);
  });
});
