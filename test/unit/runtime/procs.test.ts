import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { allOrThrow, inParallel, makeRunner } from '../../../src/runtime/index.js';
import { killByMarker, killByMarkerShell, listByMarker } from '../../../src/runtime/procs.js';
import { CloudError } from '../../../src/util/errors.js';
import { alive, tempRoot, uniqueNodeId, waitFor } from './helpers.js';

describe('kill by marker', () => {
  const t = tempRoot('procs');
  after(() => t.cleanup());

  function node(tag: string) {
    const home = join(t.root, tag);
    mkdirSync(home);
    const nodeId = uniqueNodeId(tag);
    t.nodeIds.push(nodeId);
    return { home, nodeId, runner: makeRunner({ kind: 'local', home, nodeId }) };
  }

  /** Starts a tree on the node: a plain child, a setsid+nohup daemon, and a grandchild; returns their pids. */
  let trees = 0;
  async function startTree(n: ReturnType<typeof node>, marker: Record<string, string> = {}) {
    const k = ++trees;
    const r = await n.runner.run(
      [
        `setsid nohup sleep 1000 >/dev/null 2>&1 < /dev/null & echo $! > ~/p1-${k}`,
        `setsid sh -c 'sleep 1000 & echo $! > ~/p2-${k}; wait' >/dev/null 2>&1 < /dev/null &`,
        `nohup sleep 1000 >/dev/null 2>&1 & echo $! > ~/p3-${k}`,
        `while [ ! -s ~/p2-${k} ]; do sleep 0.01; done`,
      ].join('\n'),
      { env: marker },
    );
    assert.equal(r.code, 0);
    return ['p1', 'p2', 'p3'].map((f) => Number(readFileSync(join(n.home, `${f}-${k}`), 'utf8')));
  }

  test('listByMarker and killByMarker find and kill escaped processes, and only those', async () => {
    const a = node('a');
    const b = node('b');
    const pidsA = await startTree(a);
    const pidsB = await startTree(b);
    const listed = listByMarker('SKYHOP_NODE_ID', a.nodeId);
    for (const p of pidsA) assert.ok(listed.includes(p), `pid ${p} is listed`);
    for (const p of pidsB) assert.ok(!listed.includes(p));
    const n = await killByMarker('SKYHOP_NODE_ID', a.nodeId);
    assert.ok(n >= 3, `killed ${n}`);
    await waitFor('node a to be empty', () => listByMarker('SKYHOP_NODE_ID', a.nodeId).length === 0);
    for (const p of pidsA) await waitFor(`pid ${p} to die`, () => !alive(p));
    for (const p of pidsB) assert.ok(alive(p), 'the other node is untouched');
    assert.equal(await killByMarker('SKYHOP_NODE_ID', a.nodeId), 0);
  });

  test('killByMarkerShell over a runner kills a job marker, even from the same node, and spares its own shell', async () => {
    const n = node('c');
    const pids = await startTree(n, { SKYHOP_JOB_ID: 'job-42' });
    const bystander = await startTree(n, { SKYHOP_JOB_ID: 'job-43' });
    const r = await n.runner.run(killByMarkerShell('SKYHOP_JOB_ID', 'job-42'));
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Number(r.stdout.trim()) >= 3, `printed ${r.stdout}`);
    for (const p of pids) await waitFor(`pid ${p} to die`, () => !alive(p));
    for (const p of bystander) assert.ok(alive(p));
    // Killing by the node marker from a shell that itself carries it: the shell survives to report.
    const self = await n.runner.run(killByMarkerShell('SKYHOP_NODE_ID', n.nodeId));
    assert.equal(self.code, 0, self.stderr);
    assert.ok(Number(self.stdout.trim()) >= 3);
    for (const p of bystander) await waitFor(`pid ${p} to die`, () => !alive(p));
  });

  test('bad marker names and values are refused', () => {
    assert.throws(() => killByMarkerShell('A B', 'x'));
    assert.throws(() => killByMarkerShell('A', 'x\ny'));
    assert.throws(() => listByMarker('A', ''));
  });
});

describe('inParallel / allOrThrow', () => {
  test('collects every outcome in order, honours the concurrency limit', async () => {
    let running = 0;
    let peak = 0;
    const res = await inParallel(
      [1, 2, 3, 4, 5, 6],
      async (x) => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        if (x % 3 === 0) throw new Error(`bad ${x}`);
        return x * 10;
      },
      { concurrency: 2 },
    );
    assert.equal(peak, 2);
    assert.deepEqual(
      res.map((r) => (r.ok ? r.value : (r.error as Error).message)),
      [10, 20, 'bad 3', 40, 50, 'bad 6'],
    );
    assert.throws(
      () => allOrThrow(res, 'setup', (i) => `node ${i}`),
      (e: unknown) =>
        e instanceof CloudError &&
        /failed on 2 of 6 nodes/.test(e.message) &&
        e.details.join('|') === 'node 2: bad 3|node 5: bad 6',
    );
    assert.deepEqual(
      allOrThrow(
        res.filter((r) => r.ok),
        'x',
        String,
      ),
      [10, 20, 40, 50],
    );
  });
});
