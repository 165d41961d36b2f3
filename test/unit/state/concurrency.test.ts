import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { openStore } from '../../../src/state/index.js';
import { BACKENDS, backendSuite, type StateEnv, tempState } from './backends.js';
import { spawnFixture } from './helpers.js';

let t: StateEnv;
const children: Array<ReturnType<typeof spawnFixture>> = [];

for (const backend of BACKENDS) {
  describe(backend, backendSuite(backend), () => {
    beforeEach(async () => {
      t = await tempState(backend);
    });
    afterEach(async () => {
      for (const c of children.splice(0)) {
        if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
        await c.exited;
      }
      t.cleanup();
    });

    test('two processes writing at once (2 x 200 clusters, jobs, events) into a fresh home lose nothing', async () => {
      // Both start against a home that does not exist yet, open the store, then write at the same moment.
      const a = spawnFixture('writer.ts', [t.home, 'a', '200', '0']);
      const b = spawnFixture('writer.ts', [t.home, 'b', '200', '1000']);
      children.push(a, b);
      await Promise.all([a.waitFor('READY'), b.waitFor('READY')]);
      a.child.stdin!.write('go\n');
      b.child.stdin!.write('go\n');
      const [da, db] = await Promise.all([a.waitFor('DONE'), b.waitFor('DONE')]);
      assert.equal(da, 'DONE');
      assert.equal(db, 'DONE');
      assert.deepEqual(await Promise.all([a.exited, b.exited]), [0, 0]);
      const s = openStore();
      try {
        const names = s.listClusters().map((c) => c.name);
        assert.equal(names.length, 401);
        for (const p of ['a', 'b'])
          for (let i = 0; i < 200; i++) assert.ok(names.includes(`${p}-${i}`), `${p}-${i}`);
        // 'shared' was re-upserted by each writer while the other recorded jobs on it: no job lost.
        const jobs = s.listJobs('shared').map((j) => j.jobId);
        assert.equal(jobs.length, 400);
        assert.equal(new Set(jobs).size, 400);
        assert.equal(s.costReport().length, 400);
      } finally {
        s.close();
      }
    });
  });
}
