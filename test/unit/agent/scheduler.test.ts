import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  give,
  infeasibility,
  initialFree,
  plan,
  type SchedJob,
  take,
  tryPlace,
  visibleDevices,
} from '../../../src/agent/scheduler.js';

const job = (id: number, cpus: number, gpus = 0, numNodes = 1): SchedJob => ({ id, cpus, gpus, numNodes });

describe('scheduler', () => {
  test('FIFO: jobs start in id order while they fit', () => {
    const free = initialFree(1, { cpus: 2, accelerators: null });
    const starts = plan(free, [job(3, 1), job(1, 1), job(2, 1)]);
    assert.deepEqual(
      starts.map((s) => s.id),
      [1, 2],
    );
  });

  test('no starvation: a small job cannot take what the blocked oldest job reserved', () => {
    const free = initialFree(1, { cpus: 4, accelerators: null });
    // job 1 (3 CPUs) is running: 1 CPU free.
    take(free, tryPlace(free, job(1, 3))!);
    // job 2 needs 2 CPUs (blocked, reserves the 1 free CPU); job 3 needs 1 CPU and would fit if it could jump.
    assert.deepEqual(plan(free, [job(2, 2), job(3, 1)]), []);
    // Without job 2 in the way, job 3 would start.
    assert.deepEqual(
      plan(free, [job(3, 1)]).map((s) => s.id),
      [3],
    );
  });

  test('backfill: a later job may use what the blocked job does not need', () => {
    const free = initialFree(2, { cpus: 2, accelerators: { name: 'A100', count: 2 } });
    take(free, tryPlace(free, job(1, 2, 0, 2))!); // all CPUs of both nodes busy, GPUs idle
    // job 2 needs CPUs (blocked; reserves nothing since none are free); job 3 needs only GPUs.
    const starts = plan(free, [job(2, 1), job(3, 0, 1)]);
    assert.deepEqual(
      starts.map((s) => s.id),
      [3],
    );
  });

  test('the reservation is capped at what is free; later jobs fit in the rest', () => {
    const free = initialFree(1, { cpus: 8, accelerators: null });
    take(free, tryPlace(free, job(1, 4))!); // 4 free
    // job 2 wants 6 (reserves 4 -> 0 left): job 3 (1 CPU) waits.
    assert.deepEqual(plan(free, [job(2, 6), job(3, 1)]), []);
    // Only the oldest blocked job reserves: job 2 (small) starts, job 3 (6, blocked) reserves the
    // remaining 3, so job 4 (1 CPU) waits.
    assert.deepEqual(
      plan(free, [job(2, 1), job(3, 6), job(4, 1)]).map((s) => s.id),
      [2],
    );
  });

  test('gang jobs take distinct nodes, head first', () => {
    const free = initialFree(3, { cpus: 2, accelerators: null });
    take(free, tryPlace(free, job(1, 2))!); // node 0 full
    const pl = tryPlace(free, job(2, 1, 0, 2))!;
    assert.deepEqual(pl.nodes, [1, 2]);
    assert.equal(tryPlace(free, job(3, 1, 0, 3)), null);
  });

  test('GPUs by index: two 1-GPU jobs get 0 and 1; release makes them free again', () => {
    const free = initialFree(1, { cpus: 8, accelerators: { name: 'A100', count: 2 } });
    const starts = plan(free, [job(1, 1, 1), job(2, 1, 1), job(3, 1, 1)]);
    assert.deepEqual(
      starts.map((s) => [s.id, visibleDevices(s.placement.gpus[0])]),
      [
        [1, '0'],
        [2, '1'],
      ],
    );
    for (const s of starts) take(free, s.placement);
    give(free, starts[0].placement);
    const next = plan(free, [job(3, 1, 1)]);
    assert.equal(visibleDevices(next[0].placement.gpus[0]), '0');
  });

  test('fractional GPUs share one device; a 2-GPU job needs two whole ones', () => {
    const free = initialFree(1, { cpus: 8, accelerators: { name: 'T4', count: 2 } });
    const a = tryPlace(free, job(1, 0.5, 0.5))!;
    take(free, a);
    const b = tryPlace(free, job(2, 0.5, 0.5))!;
    assert.equal(visibleDevices(b.gpus[0]), visibleDevices(a.gpus[0]), 'best fit packs halves together');
    take(free, b);
    const c = tryPlace(free, job(3, 0.5, 2));
    assert.equal(c, null, 'only one whole GPU left');
    assert.equal(visibleDevices(tryPlace(free, job(4, 0.5, 1))!.gpus[0]), '1');
  });

  test('infeasible jobs are rejected with a reason', () => {
    const cluster = {
      name: 'c1',
      nodeCount: 2,
      perNode: { cpus: 4, accelerators: { name: 'A100', count: 2 } },
    };
    assert.equal(
      infeasibility({ cpus: 4, accelerators: { name: 'a100', count: 2 }, numNodes: 2 }, cluster),
      null,
    );
    assert.match(
      infeasibility({ cpus: 8, accelerators: null, numNodes: 1 }, cluster)!,
      /8 CPUs per node.*has 4/,
    );
    assert.match(infeasibility({ cpus: 1, accelerators: null, numNodes: 3 }, cluster)!, /3 nodes.*has 2/);
    assert.match(
      infeasibility({ cpus: 1, accelerators: { name: 'H100', count: 1 }, numNodes: 1 }, cluster)!,
      /H100:1.*A100:2/,
    );
    assert.match(
      infeasibility({ cpus: 1, accelerators: { name: 'A100', count: 4 }, numNodes: 1 }, cluster)!,
      /A100:4/,
    );
    const noGpu = { name: 'c2', nodeCount: 1, perNode: { cpus: 4, accelerators: null } };
    assert.match(
      infeasibility({ cpus: 1, accelerators: { name: 'A100', count: 1 }, numNodes: 1 }, noGpu)!,
      /no accelerators/,
    );
  });
});
