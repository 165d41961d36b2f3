import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { followLogs, getJob, getQueue, submitJob } from '../../../src/agent/client.js';
import { makeRunner } from '../../../src/runtime/index.js';
import { listByMarker } from '../../../src/runtime/procs.js';
import { CloudError, UserError } from '../../../src/util/errors.js';
import {
  alive,
  baseSpec,
  type FakeCluster,
  jobState,
  makeCluster,
  runLog,
  waitFor,
  waitStatus,
} from './cluster.js';

describe('agent: running jobs', () => {
  let c: FakeCluster;
  before(async () => {
    c = await makeCluster({ name: 'jobs-c', nodes: 2, cpus: 2 });
  });
  after(() => c.cleanup());

  test('a single-node job runs; its log streams unprefixed; the record says SUCCEEDED', async () => {
    const id = await submitJob(c.head, {
      ...baseSpec,
      name: 'hello',
      run: 'echo hello from $SKYPILOT_NODE_RANK of $SKYPILOT_NUM_NODES; echo to-stderr >&2; pwd',
    });
    let out = '';
    const rec = await followLogs(c.head, id, { follow: true, onData: (d) => (out += d) });
    assert.equal(rec.status, 'SUCCEEDED');
    assert.equal(rec.exitCode, 0);
    assert.equal(rec.name, 'hello');
    assert.ok(rec.startedAt && rec.endedAt && rec.endedAt >= rec.startedAt);
    assert.deepEqual(rec.nodes, [0]);
    assert.equal(out, `hello from 0 of 1\nto-stderr\n${c.homes[0]}/sky_workdir\n`);
    assert.equal(runLog(c, id), out);
    const q = await getQueue(c.head);
    assert.equal(q.find((j) => j.id === id)?.status, 'SUCCEEDED');
    let again = '';
    await followLogs(c.head, id, { follow: false, onData: (d) => (again += d) });
    assert.equal(again, out);
  });

  test('a 2-node gang job: each rank sees its rank, the node IPs, and its lines are prefixed', async () => {
    const id = await submitJob(c.head, {
      ...baseSpec,
      name: 'gang',
      numNodes: 2,
      demand: { cpus: 1, accelerators: null },
      run: 'echo "rank=$SKYPILOT_NODE_RANK home=$HOME"; echo "$SKYPILOT_NODE_IPS"',
    });
    let out = '';
    const rec = await followLogs(c.head, id, { follow: true, onData: (d) => (out += d) });
    assert.equal(rec.status, 'SUCCEEDED');
    assert.deepEqual(rec.nodes, [0, 1]);
    const lines = out.trim().split('\n').sort();
    assert.deepEqual(lines, [
      '(head, rank=0) 127.0.0.2',
      '(head, rank=0) 127.0.0.3',
      `(head, rank=0) rank=0 home=${c.homes[0]}`,
      '(worker1, rank=1) 127.0.0.2',
      '(worker1, rank=1) 127.0.0.3',
      `(worker1, rank=1) rank=1 home=${c.homes[1]}`,
    ]);
  });

  test('SkyPilot variables: task id, cluster info, GPUs per node; workdir jobs start in ~/sky_workdir', async () => {
    mkdirSync(join(c.homes[0], 'sky_workdir'), { recursive: true });
    const id = await submitJob(c.head, {
      ...baseSpec,
      name: 'env',
      workdir: true,
      envs: { MY_VAR: 'v 1' },
      run: [
        'pwd',
        'echo "$SKYPILOT_TASK_ID"',
        'echo "$SKYPILOT_CLUSTER_INFO"',
        'echo "gpus=$SKYPILOT_NUM_GPUS_PER_NODE"',
        'echo "$MY_VAR"',
        '[ -z "$CUDA_VISIBLE_DEVICES" ] && [ -z "$(env | grep ^CUDA_VISIBLE_DEVICES=)" ] && echo cvd=unset',
      ].join('\n'),
    });
    let out = '';
    const rec = await followLogs(c.head, id, { follow: true, onData: (d) => (out += d) });
    assert.equal(rec.status, 'SUCCEEDED', out);
    const [pwd, taskId, info, gpus, myVar, cvd] = out.trim().split('\n');
    assert.equal(pwd, join(c.homes[0], 'sky_workdir'));
    assert.match(
      taskId,
      new RegExp(`^skyhop-\\d{4}-\\d\\d-\\d\\d-\\d\\d-\\d\\d-\\d\\d-\\d{6}_jobs-c_${id}$`),
    );
    assert.deepEqual(JSON.parse(info), {
      cluster_name: 'jobs-c',
      cloud: 'local',
      region: 'local',
      zone: null,
      num_nodes: 2,
    });
    assert.equal(gpus, 'gpus=0');
    assert.equal(myVar, 'v 1');
    assert.equal(cvd, 'cvd=unset', 'nodes without GPUs leave CUDA_VISIBLE_DEVICES unset');
  });

  test('setup runs on all nodes first; a failing setup -> FAILED_SETUP naming the rank and exit code', async () => {
    const ok = await submitJob(c.head, {
      ...baseSpec,
      name: 'setup-ok',
      numNodes: 2,
      setup:
        'echo "setup $SKYPILOT_SETUP_NODE_RANK/$SKYPILOT_NUM_NODES"; echo "$SKYPILOT_SETUP_NODE_IPS" | wc -l',
      run: 'echo "run $SKYPILOT_NODE_RANK"',
    });
    let out = '';
    const rec = await followLogs(c.head, ok, { follow: true, onData: (d) => (out += d) });
    assert.equal(rec.status, 'SUCCEEDED');
    const lines = out.trim().split('\n');
    assert.deepEqual(lines.slice(0, 4).sort(), [
      '(head, rank=0) 2',
      '(head, rank=0) setup 0/2',
      '(worker1, rank=1) 2',
      '(worker1, rank=1) setup 1/2',
    ]);
    assert.deepEqual(lines.slice(4).sort(), ['(head, rank=0) run 0', '(worker1, rank=1) run 1']);

    const bad = await submitJob(c.head, {
      ...baseSpec,
      name: 'setup-bad',
      numNodes: 2,
      setup: 'if [ "$SKYPILOT_SETUP_NODE_RANK" = 1 ]; then echo broken >&2; exit 42; fi; echo fine',
      run: 'touch ~/should-not-run',
    });
    let badOut = '';
    const badRec = await followLogs(c.head, bad, { follow: true, onData: (d) => (badOut += d) });
    assert.equal(badRec.status, 'FAILED_SETUP');
    assert.equal(badRec.exitCode, 42);
    assert.match(badRec.reason!, /setup failed on node rank 1 \(exit code 42\)/);
    assert.match(badOut, /\(worker1, rank=1\) broken/);
    for (const h of c.homes) assert.throws(() => readFileSync(join(h, 'should-not-run')));
  });

  test('a failing rank ends the job: FAILED with its exit code, the other rank killed', async () => {
    const id = await submitJob(c.head, {
      ...baseSpec,
      name: 'rank-fails',
      numNodes: 2,
      run: [
        'echo "$SKYHOP_JOB_ID" > ~/marker',
        'if [ "$SKYPILOT_NODE_RANK" = 1 ]; then while [ ! -f ~/../n0/sleeping ]; do sleep 0.02; done; exit 7; fi',
        'sleep 1000 & echo $! > ~/sleeper; touch ~/sleeping; wait',
      ].join('\n'),
    });
    const rec = await waitFor('the job to end', () => {
      const s = jobState(c, id);
      return s && ['FAILED', 'SUCCEEDED'].includes(s.status) ? s : null;
    });
    assert.equal(rec.status, 'FAILED');
    assert.equal(rec.exitCode, 7);
    assert.match(rec.reason!, /node rank 1 exited with code 7/);
    const sleeper = Number(readFileSync(join(c.homes[0], 'sleeper'), 'utf8'));
    await waitFor('rank 0 to be killed', () => !alive(sleeper));
    const marker = readFileSync(join(c.homes[0], 'marker'), 'utf8').trim();
    assert.deepEqual(listByMarker('SKYHOP_JOB_ID', marker), []);
  });

  test('secrets reach the job but their values are redacted from the log', async () => {
    const id = await submitJob(c.head, {
      ...baseSpec,
      name: 'secret',
      secrets: { API_TOKEN: 's3cr3t-VALUE-xyz' },
      envs: { PLAIN: 'visible' },
      run: 'echo "token=$API_TOKEN plain=$PLAIN"; [ "$API_TOKEN" = s3cr3t-VALUE-xyz ] && echo match',
    });
    let out = '';
    const rec = await followLogs(c.head, id, { follow: true, onData: (d) => (out += d) });
    assert.equal(rec.status, 'SUCCEEDED');
    assert.equal(out, 'token=<redacted> plain=visible\nmatch\n');
    const stateFiles = readFileSync(join(c.agentDir, 'queue.json'), 'utf8') + JSON.stringify(jobState(c, id));
    assert.ok(!stateFiles.includes('s3cr3t-VALUE-xyz'));
    assert.ok(!readFileSync(join(c.agentDir, 'agent.log'), 'utf8').includes('s3cr3t-VALUE-xyz'));
  });

  test('a spec of any size arrives whole: read by the shell builtin, or by cat beyond 4 KiB', async () => {
    // Two values, each under Linux's limit on one environment string (128 KiB).
    for (const size of [10, 6 * 1024, 100 * 1024]) {
      const big = `v'"$(x)\n\\${'z'.repeat(size)}`;
      const id = await submitJob(c.head, {
        ...baseSpec,
        name: `size-${size}`,
        envs: { BIG: big, BIG2: big },
        run: '[ "$BIG" = "$BIG2" ] && printf %s "$BIG" | sha256sum | cut -c1-16',
      });
      let out = '';
      const rec = await followLogs(c.head, id, { follow: true, onData: (d) => (out += d) });
      assert.equal(rec.status, 'SUCCEEDED', `${size}: ${rec.reason} ${out}`);
      assert.equal(out, `${createHash('sha256').update(big).digest('hex').slice(0, 16)}\n`);
    }
  });

  test('a job that can never fit fails at once with a reason', async () => {
    const id = await submitJob(c.head, {
      ...baseSpec,
      name: 'too-big',
      demand: { cpus: 64, accelerators: null },
      run: 'true',
    });
    const rec = await waitStatus(c, id, 'FAILED');
    assert.match(
      rec.reason!,
      /cannot run on this cluster: it needs 64 CPUs per node but each node of cluster 'jobs-c' has 2/,
    );
    const gpu = await submitJob(c.head, {
      ...baseSpec,
      name: 'gpu',
      demand: { cpus: 1, accelerators: { name: 'A100', count: 1 } },
      run: 'true',
    });
    const g = await waitStatus(c, gpu, 'FAILED');
    assert.match(g.reason!, /no accelerators/);
  });

  test('aborting a follow detaches: the job keeps running and the record is returned', async () => {
    const id = await submitJob(c.head, {
      ...baseSpec,
      name: 'detach',
      run: 'echo started; while [ ! -f ~/finish-detach ]; do sleep 0.02; done; echo finished',
    });
    const ac = new AbortController();
    let out = '';
    const rec = await followLogs(c.head, id, {
      follow: true,
      signal: ac.signal,
      onData: (d) => {
        out += d;
        if (out.includes('started')) ac.abort();
      },
    });
    assert.equal(rec.status, 'RUNNING');
    writeFileSync(join(c.homes[0], 'finish-detach'), '');
    const done = await followLogs(c.head, id, { follow: true, onData: () => {} });
    assert.equal(done.status, 'SUCCEEDED');
    assert.equal(runLog(c, id), 'started\nfinished\n');
  });

  test('unknown jobs: getJob is null, logs is a UserError', async () => {
    assert.equal(await getJob(c.head, 9999), null);
    await assert.rejects(followLogs(c.head, 9999, { follow: true, onData: () => {} }), UserError);
    await assert.rejects(getJob(c.head, 0), UserError);
  });

  test('a node without the agent gives a clear CloudError', async () => {
    const bare = makeRunner(c.info.nodes[1].connection); // a worker: no agent there
    await assert.rejects(
      getQueue(bare),
      (e: unknown) => e instanceof CloudError && /not installed/.test(e.message),
    );
  });
});
