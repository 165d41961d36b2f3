import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { submitJob } from '../../../src/agent/client.js';
import {
  baseSpec,
  jobState,
  makeCluster,
  runLog,
  waitAccepted,
  waitStatus,
  waitTerminal,
} from './cluster.js';

/** A job that logs its start and end to ~/order and, in between, waits for ~/go-<tag>. */
const gated = (tag: string) =>
  `echo "start $TAG" >> ~/order; while [ ! -f ~/go-${tag} ]; do sleep 0.02; done; echo "end $TAG" >> ~/order`;

describe('agent: scheduling on a real daemon', () => {
  test('capacity 2 CPUs, three 2-CPU jobs: they run one at a time, in order', async (t) => {
    const c = await makeCluster({ cpus: 2 });
    t.after(() => c.cleanup());
    const ids: number[] = [];
    for (const tag of ['a', 'b', 'c']) {
      ids.push(
        await submitJob(c.head, {
          ...baseSpec,
          name: tag,
          envs: { TAG: tag },
          demand: { cpus: 2, accelerators: null },
          run: `echo "start $TAG" >> ~/order; sleep 0.2; echo "end $TAG" >> ~/order`,
        }),
      );
    }
    const recs = [];
    for (const id of ids) recs.push(await waitTerminal(c, id));
    assert.deepEqual(
      recs.map((r) => r.status),
      ['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED'],
    );
    assert.equal(
      readFileSync(join(c.homes[0], 'order'), 'utf8'),
      'start a\nend a\nstart b\nend b\nstart c\nend c\n',
    );
    for (let i = 1; i < recs.length; i++) {
      assert.ok(
        recs[i].startedAt! >= recs[i - 1].endedAt!,
        `job ${recs[i].id} started after job ${recs[i - 1].id} ended`,
      );
    }
  });

  test('two jobs that fit together run at once while a third waits', async (t) => {
    const c = await makeCluster({ cpus: 2 });
    t.after(() => c.cleanup());
    const ids: number[] = [];
    for (const tag of ['a', 'b', 'c']) {
      ids.push(
        await submitJob(c.head, {
          ...baseSpec,
          name: tag,
          envs: { TAG: tag },
          demand: { cpus: 1, accelerators: null },
          run: gated('all'),
        }),
      );
    }
    await waitStatus(c, ids[0], 'RUNNING');
    await waitStatus(c, ids[1], 'RUNNING');
    assert.equal((await waitAccepted(c, ids[2])).status, 'PENDING');
    writeFileSync(join(c.homes[0], 'go-all'), '');
    for (const id of ids) assert.equal((await waitTerminal(c, id)).status, 'SUCCEEDED');
    const order = readFileSync(join(c.homes[0], 'order'), 'utf8').trim().split('\n');
    assert.ok(order.indexOf('start c') > Math.min(order.indexOf('end a'), order.indexOf('end b')));
    const [a, b, third] = ids.map((id) => jobState(c, id)!);
    assert.ok(b.startedAt! < a.endedAt!, 'a and b overlapped');
    assert.ok(third.startedAt! >= Math.min(a.endedAt!, b.endedAt!));
  });

  test('no starvation: a small job does not overtake a blocked big one', async (t) => {
    const c = await makeCluster({ cpus: 4 });
    t.after(() => c.cleanup());
    const spec = (tag: string, cpus: number) => ({
      ...baseSpec,
      name: tag,
      envs: { TAG: tag },
      demand: { cpus, accelerators: null },
      run: gated(tag),
    });
    const a = await submitJob(c.head, spec('a', 3)); // running: 1 CPU left
    await waitStatus(c, a, 'RUNNING');
    const big = await submitJob(c.head, spec('big', 2)); // blocked: reserves the free CPU
    const small = await submitJob(c.head, spec('small', 1)); // would fit in the free CPU
    await waitStatus(c, big, 'PENDING');
    await waitStatus(c, small, 'PENDING');
    // Let a few more scheduling rounds pass (the agent rescans every second): still waiting.
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(jobState(c, small)?.status, 'PENDING');
    writeFileSync(join(c.homes[0], 'go-a'), '');
    await waitStatus(c, big, 'RUNNING');
    const smallStart = await waitStatus(c, small, 'RUNNING'); // 2 + 1 <= 4: now both fit
    assert.ok(smallStart.startedAt! >= jobState(c, big)!.startedAt!);
    writeFileSync(join(c.homes[0], 'go-big'), '');
    writeFileSync(join(c.homes[0], 'go-small'), '');
    for (const id of [a, big, small]) assert.equal((await waitTerminal(c, id)).status, 'SUCCEEDED');
    const order = readFileSync(join(c.homes[0], 'order'), 'utf8').trim().split('\n');
    assert.ok(order.indexOf('start big') < order.indexOf('start small'), order.join(','));
  });

  test('CUDA_VISIBLE_DEVICES: two 1-GPU jobs get 0 and 1; a no-GPU job gets ""; a 2-GPU job waits for both', async (t) => {
    const c = await makeCluster({ cpus: 8, accelerators: { name: 'A100', count: 2 } });
    t.after(() => c.cleanup());
    const spec = (tag: string, gpus: number) => ({
      ...baseSpec,
      name: tag,
      envs: { TAG: tag },
      demand: { cpus: 1, accelerators: gpus ? { name: 'A100', count: gpus } : null },
      run: `echo "cvd=[\${CUDA_VISIBLE_DEVICES-unset}] n=$SKYPILOT_NUM_GPUS_PER_NODE"; ${gated(tag)}`,
    });
    const g1 = await submitJob(c.head, spec('g1', 1));
    const g2 = await submitJob(c.head, spec('g2', 1));
    const none = await submitJob(c.head, spec('none', 0));
    const both = await submitJob(c.head, spec('both', 2));
    await waitStatus(c, g1, 'RUNNING');
    await waitStatus(c, g2, 'RUNNING');
    await waitStatus(c, none, 'RUNNING');
    assert.equal((await waitAccepted(c, both)).status, 'PENDING');
    writeFileSync(join(c.homes[0], 'go-none'), '');
    writeFileSync(join(c.homes[0], 'go-g1'), '');
    writeFileSync(join(c.homes[0], 'go-g2'), '');
    await waitStatus(c, both, 'RUNNING');
    writeFileSync(join(c.homes[0], 'go-both'), '');
    for (const id of [g1, g2, none, both]) assert.equal((await waitTerminal(c, id)).status, 'SUCCEEDED');
    assert.equal(runLog(c, g1), 'cvd=[0] n=1\n');
    assert.equal(runLog(c, g2), 'cvd=[1] n=1\n');
    assert.equal(runLog(c, none), 'cvd=[] n=0\n');
    assert.equal(runLog(c, both), 'cvd=[0,1] n=2\n');
    assert.deepEqual(jobState(c, both)?.gpus, ['0,1']);
  });
});
