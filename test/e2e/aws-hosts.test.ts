/**
 * AWS end to end through the SDK on moto with "moto hosts" (test/helpers/moto-hosts.ts): the real AWS
 * provider launches instances in moto, each of which is a real SSH host on a loopback address, so the
 * agent starts on the head node and jobs really run there. A spot instance terminated behind skyhop's back
 * (TerminateInstances on moto itself) is noticed by `status --refresh`. Every test leaves no instance and
 * no host running.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  autostop,
  down,
  exec,
  getCloud,
  launch,
  loadTask,
  refresh,
  start,
  status,
} from '../../src/sdk/index.js';
import type { Cloud } from '../../src/clouds/types.js';
import { openStore, type Store } from '../../src/state/index.js';
import { packageRoot } from '../../src/util/package-root.js';
import { type MotoEnv, type MotoHosts, motoEnv, motoHostsMissing, motoMissing } from '../helpers/moto.js';
import { buildAgent } from '../unit/agent/cluster.js';

const missing = motoMissing() ?? motoHostsMissing();
if (missing) console.log(`# AWS moto-hosts tests skipped: ${missing}`);

describe('AWS end to end on moto hosts', { skip: missing ?? false }, () => {
  let env: MotoEnv;
  let hosts: MotoHosts;
  let aws: Cloud;
  let store: Store;
  const clusters: string[] = [];

  before(async () => {
    const dist = join(packageRoot(), 'dist');
    if (!existsSync(join(dist, 'agent.cjs'))) await buildAgent(dist);
    env = await motoEnv('skyhop-aws-hosts-', { hosts: true });
    hosts = env.moto.hosts!;
    aws = getCloud('aws');
    store = openStore();
  });
  after(async () => {
    for (const c of clusters) await down(c, { store }).catch(() => {});
    store?.close();
    const errors = hosts ? [...hosts.errors] : [];
    await env?.close();
    assert.equal(hosts?.running() ?? 0, 0, 'no host left running');
    assert.deepEqual(errors, [], 'the moto hosts had no trouble');
  });

  const task = (run: string, o: { numNodes?: string; useSpot?: boolean } = {}) =>
    loadTask(run, { cloud: 'aws', region: 'us-east-1', instanceType: 't3.micro', ...o }, { clouds: [aws] });

  const liveHosts = () => hosts.list().filter((h) => h.state !== 'terminated');

  /** Waits (polling, bounded) until `ok()`; the bound only keeps a broken run from hanging. */
  const until = async (what: string, ok: () => boolean) => {
    for (let i = 0; !ok(); i++) {
      if (i > 1200) assert.fail(`gave up waiting until ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  test('a 1-node job prints on an AWS (moto) instance; down leaves 0 instances and 0 hosts', async () => {
    clusters.push('awsh');
    let out = '';
    const r = await launch({
      dag: await task('echo "hello from aws"; echo "host=$(hostname) user=$USER home=$HOME"'),
      cluster: 'awsh',
      clouds: [aws],
      store,
      onOutput: (c) => (out += c),
    });
    assert.equal(r.outcome?.status, 'SUCCEEDED', out);
    assert.match(out, /hello from aws/);
    const [h] = liveHosts();
    assert.equal(liveHosts().length, 1);
    assert.match(h.ip, /^127\.2\.\d+\.\d+$/);
    assert.match(out, new RegExp(`host=${h.hostname} user=ubuntu home=/root`));
    const rec = store.getCluster('awsh');
    assert.equal(rec?.cloud, 'aws');
    assert.deepEqual(
      rec?.nodes.map((n) => [n.id, n.internalIp, n.externalIp]),
      [[h.instanceId, h.ip, h.ip]],
      "the record has the host's loopback address as both IPs",
    );

    await down('awsh', { store });
    assert.equal(store.getCluster('awsh'), null);
    assert.deepEqual(await aws.provider('us-east-1').queryInstances('awsh'), [], '0 instances');
    assert.equal(hosts.running(), 0, '0 hosts');
    assert.deepEqual(liveHosts(), []);
  });

  test('a 2-node job runs on both hosts (the head reaches the worker at its private IP)', async () => {
    clusters.push('awsh2');
    let out = '';
    const r = await launch({
      dag: await task('echo "rank=$SKYPILOT_NODE_RANK host=$(hostname) ips=$(echo $SKYPILOT_NODE_IPS)"', {
        numNodes: '2',
      }),
      cluster: 'awsh2',
      clouds: [aws],
      store,
      onOutput: (c) => (out += c),
    });
    assert.equal(r.outcome?.status, 'SUCCEEDED', out);
    const lines = out.split('\n').filter((l) => l.includes('rank='));
    assert.equal(lines.length, 2, out);
    const names = liveHosts()
      .map((h) => h.hostname)
      .sort();
    assert.deepEqual(lines.map((l) => /host=(\S+)/.exec(l)?.[1]).sort(), names, 'each rank on its own host');
    await down('awsh2', { store });
    assert.equal(hosts.running(), 0);
  });

  test("a spot instance terminated behind skyhop's back: its job dies with it, refresh notices", async () => {
    clusters.push('awsspot');
    const r = await launch({
      dag: await task('echo started; sleep 600', { useSpot: true }),
      cluster: 'awsspot',
      clouds: [aws],
      store,
      detach: true,
    });
    assert.ok(r.jobId !== null);
    const [h] = liveHosts();
    assert.ok(h, 'a host for the spot instance');
    assert.equal(store.getCluster('awsspot')?.status, 'UP');
    assert.equal(store.getCluster('awsspot')?.nodes[0]?.spot, true, 'launched as spot');

    await hosts.terminateBehindBack(h.instanceId);
    assert.equal(hosts.get(h.instanceId)?.state, 'terminated');
    assert.equal(hosts.running(), 0, 'the host (and the job on it) is gone at once');

    const changes = await refresh(['awsspot'], { store });
    assert.deepEqual(
      changes.map((c) => [c.cluster, c.from, c.to]),
      [['awsspot', 'UP', null]],
    );
    assert.match(changes[0].note, /no instances left in the cloud/);
    const st = await status({ store });
    assert.ok(!st.clusters.some((c) => c.name === 'awsspot'), 'the cluster is gone from status');
    assert.deepEqual(await aws.provider('us-east-1').queryInstances('awsspot'), []);
  });

  test('autostop: the node halts itself (sudo shutdown); stop keeps the disk and address, down terminates', async () => {
    clusters.push('awsauto');
    const r = await launch({
      dag: await task('echo kept > ~/marker'),
      cluster: 'awsauto',
      clouds: [aws],
      store,
    });
    assert.equal(r.outcome?.status, 'SUCCEEDED');
    const [h] = liveHosts();

    await autostop('awsauto', { idleMinutes: 0, down: false }, { store });
    await until('the node stopped itself', () => hosts.get(h.instanceId)?.state === 'stopped');
    const stopped = await refresh(['awsauto'], { store });
    assert.deepEqual(
      stopped.map((c) => [c.from, c.to]),
      [['UP', 'STOPPED']],
    );
    assert.equal(hosts.running(), 0);

    await start('awsauto', { store });
    assert.equal(hosts.get(h.instanceId)?.state, 'running');
    assert.equal(hosts.get(h.instanceId)?.ip, h.ip, 'started again on the same address');
    let out = '';
    const e = await exec({ cluster: 'awsauto', task: 'cat ~/marker', store, onOutput: (c) => (out += c) });
    assert.equal(e.outcome?.status, 'SUCCEEDED', out);
    assert.match(out, /kept/, 'the home survived the stop');

    await autostop('awsauto', { idleMinutes: 0, down: true }, { store });
    await until('the node terminated itself', () => hosts.get(h.instanceId)?.state === 'terminated');
    const gone = await refresh(['awsauto'], { store });
    assert.deepEqual(
      gone.map((c) => [c.from, c.to]),
      [['UP', null]],
    );
    assert.deepEqual(await aws.provider('us-east-1').queryInstances('awsauto'), []);
  });
});
