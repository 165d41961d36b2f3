/**
 * Submission throughput through the real client, LocalRunner and daemon. The numbers are printed
 * (as test diagnostics), never asserted; what is asserted is that every job got a distinct id and ran.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { getQueue, submitJob } from '../../../src/agent/client.js';
import { inParallel } from '../../../src/runtime/parallel.js';
import { baseSpec, makeCluster, waitFor } from './cluster.js';

describe('agent: submission throughput', () => {
  test('200 jobs submitted one after another, then 100 from 8 concurrent submitters', async (t) => {
    const c = await makeCluster({ cpus: 2 });
    t.after(() => c.cleanup());
    const spec = { ...baseSpec, name: 'tiny', run: 'true' };

    const t0 = performance.now();
    const serial: number[] = [];
    for (let i = 0; i < 200; i++) serial.push(await submitJob(c.head, spec));
    const t1 = performance.now();
    await waitFor(
      '200 jobs to finish',
      async () => {
        const q = await getQueue(c.head);
        return q.length === 200 && q.every((j) => j.status === 'SUCCEEDED');
      },
      300_000,
    );
    const t2 = performance.now();
    assert.deepEqual(
      serial,
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
    const rate = 200 / ((t1 - t0) / 1000);
    t.diagnostic(`serial: 200 submissions in ${(t1 - t0).toFixed(0)} ms = ${rate.toFixed(0)}/s`);
    t.diagnostic(`serial: all 200 finished ${(t2 - t0).toFixed(0)} ms after the first submission`);

    const t3 = performance.now();
    const res = await inParallel(Array.from({ length: 100 }), () => submitJob(c.head, spec), {
      concurrency: 8,
    });
    const t4 = performance.now();
    const ids = res.map((r) => {
      assert.ok(r.ok, r.ok ? '' : String(r.error));
      return r.value;
    });
    assert.deepEqual(
      [...ids].sort((a, b) => a - b),
      Array.from({ length: 100 }, (_, i) => 201 + i),
      'concurrent submitters never share an id',
    );
    await waitFor(
      '300 jobs to finish',
      async () => {
        const q = await getQueue(c.head);
        return q.length === 300 && q.every((j) => j.status === 'SUCCEEDED');
      },
      300_000,
    );
    const t5 = performance.now();
    t.diagnostic(
      `8 concurrent submitters: 100 submissions in ${(t4 - t3).toFixed(0)} ms = ${(100 / ((t4 - t3) / 1000)).toFixed(0)}/s`,
    );
    t.diagnostic(`concurrent: all 100 finished ${(t5 - t3).toFixed(0)} ms after the first submission`);
  });
});
