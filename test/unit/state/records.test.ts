import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { ClusterSpec } from '../../../src/core/cluster.js';
import { openStore, type Store } from '../../../src/state/index.js';
import { BACKENDS, backendSuite, type StateEnv, tempState } from './backends.js';
import { UserError } from '../../../src/util/errors.js';
import { cluster, node } from './helpers.js';

let t: StateEnv;
let s: Store;

const spec: ClusterSpec = {
  cluster: 'dev',
  numNodes: 2,
  instanceType: 'p3.2xlarge',
  region: 'us-east-1',
  zone: 'us-east-1a',
  useSpot: false,
  accelerators: { name: 'V100', count: 1 },
};

/** A pid that is certainly not running: a child that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}

for (const backend of BACKENDS) {
  describe(backend, backendSuite(backend), () => {
    beforeEach(async () => {
      t = await tempState(backend);
      s = openStore();
    });
    afterEach(() => {
      s.close();
      t.cleanup();
    });

    test('clusters: upsert, get and list round-trip every field', () => {
      assert.equal(s.getCluster('dev'), null);
      const rec = cluster('dev', {
        clusterHash: 'abc123',
        lastUse: 'skyhop launch -c dev t.yaml',
        autostop: { idleMinutes: 2.5, down: false },
      });
      s.upsertCluster(rec);
      s.upsertCluster(cluster('a-first', { cloud: 'local', zone: null, headIp: null, nodes: [] }));
      assert.deepEqual(s.getCluster('dev'), rec);
      assert.deepEqual(
        s.listClusters().map((c) => c.name),
        ['a-first', 'dev'],
      );
      const a = s.getCluster('a-first')!;
      assert.equal(a.zone, null);
      assert.deepEqual(a.nodes, []);
      assert.equal(a.clusterHash, null);
      // A second upsert replaces every field.
      const changed = cluster('dev', {
        status: 'INIT',
        region: 'us-west-2',
        hourlyPrice: 1.25,
        resources: { ...rec.resources, numNodes: 4 },
      });
      s.upsertCluster(changed);
      const got = s.getCluster('dev')!;
      assert.equal(got.status, 'INIT');
      assert.equal(got.region, 'us-west-2');
      assert.equal(got.hourlyPrice, 1.25);
      assert.equal(got.resources.numNodes, 4);
      assert.equal(got.clusterHash, null);
      assert.equal(got.autostop, null);
    });

    test('clusters: status, nodes, autostop and last use setters', () => {
      s.upsertCluster(cluster('dev', { status: 'INIT', statusUpdatedAt: 100 }));
      assert.equal(s.setClusterStatus('dev', 'UP', 200), true);
      assert.equal(s.getCluster('dev')!.statusUpdatedAt, 200);
      assert.equal(s.setClusterStatus('dev', 'UP', 300), true);
      assert.equal(s.getCluster('dev')!.statusUpdatedAt, 200, 'unchanged status keeps its time');
      assert.equal(s.setClusterStatus('dev', 'STOPPED', 400), true);
      assert.equal(s.getCluster('dev')!.status, 'STOPPED');
      assert.equal(s.setClusterStatus('nope', 'UP'), false);

      const nodes = [node('dev', 'worker', '10.0.0.9', '5.5.5.5'), node('dev', 'head', '10.0.0.8', null)];
      assert.equal(s.setClusterNodes('dev', nodes), true);
      assert.deepEqual(s.getCluster('dev')!.nodes, nodes);
      assert.equal(s.getCluster('dev')!.headIp, '10.0.0.8', 'head without external IP: its internal IP');
      s.setClusterNodes('dev', [node('dev', 'head', '10.0.0.8', '7.7.7.7')]);
      assert.equal(s.getCluster('dev')!.headIp, '7.7.7.7');
      s.setClusterNodes('dev', []);
      assert.equal(s.getCluster('dev')!.headIp, null);
      assert.equal(s.setClusterNodes('nope', []), false);

      assert.equal(s.setAutostop('dev', { idleMinutes: 30, down: true }), true);
      assert.deepEqual(s.getCluster('dev')!.autostop, { idleMinutes: 30, down: true });
      s.setAutostop('dev', null);
      assert.equal(s.getCluster('dev')!.autostop, null);
      assert.equal(s.setAutostop('nope', null), false);
      assert.equal(s.setLastUse('dev', 'skyhop exec dev ls'), true);
      assert.equal(s.getCluster('dev')!.lastUse, 'skyhop exec dev ls');
    });

    test('clusters: remove forgets the cluster and its jobs, not its cost history', () => {
      s.upsertCluster(cluster('dev'));
      s.upsertCluster(cluster('other'));
      s.recordJob({ cluster: 'dev', jobId: 1, submittedAt: 1, status: 'RUNNING' });
      s.recordJob({ cluster: 'other', jobId: 1, submittedAt: 1, status: 'RUNNING' });
      s.recordEvent('dev', 'launch', 0, 1, 1);
      s.recordEvent('dev', 'down', 3_600_000, 1, 1);
      assert.equal(s.removeCluster('dev'), true);
      assert.equal(s.removeCluster('dev'), false);
      assert.equal(s.getCluster('dev'), null);
      assert.deepEqual(s.listJobs('dev'), []);
      assert.equal(s.listJobs('other').length, 1);
      assert.equal(s.costReport(0)[0].cluster, 'dev');
    });

    test('jobs: record, update, list; re-upserting the cluster keeps its jobs', () => {
      s.upsertCluster(cluster('dev'));
      s.upsertCluster(cluster('b'));
      s.recordJob({
        cluster: 'dev',
        jobId: 1,
        name: 'train',
        submittedAt: 10,
        status: 'PENDING',
        command: 'python t.py',
      });
      s.recordJob({ cluster: 'dev', jobId: 2, submittedAt: 20, status: 'PENDING' });
      s.recordJob({ cluster: 'b', jobId: 7, submittedAt: 5, status: 'SUCCEEDED' });
      assert.equal(s.updateJob('dev', 1, { status: 'RUNNING', startedAt: 11 }), true);
      assert.equal(s.updateJob('dev', 1, { status: 'SUCCEEDED', endedAt: 19 }), true);
      assert.equal(s.updateJob('dev', 2, { name: null }), true);
      assert.equal(s.updateJob('dev', 9, { status: 'FAILED' }), false);
      assert.equal(s.updateJob('dev', 2, {}), true);
      assert.equal(s.updateJob('dev', 9, {}), false);
      s.upsertCluster(cluster('dev', { status: 'STOPPED' }));
      assert.deepEqual(s.listJobs('dev'), [
        {
          cluster: 'dev',
          jobId: 2,
          name: null,
          submittedAt: 20,
          status: 'PENDING',
          command: null,
          startedAt: null,
          endedAt: null,
        },
        {
          cluster: 'dev',
          jobId: 1,
          name: 'train',
          submittedAt: 10,
          status: 'SUCCEEDED',
          command: 'python t.py',
          startedAt: 11,
          endedAt: 19,
        },
      ]);
      assert.deepEqual(
        s.listJobs().map((j) => `${j.cluster}/${j.jobId}`),
        ['b/7', 'dev/2', 'dev/1'],
      );
      // Recording the same id again overwrites it.
      s.recordJob({ cluster: 'dev', jobId: 2, submittedAt: 21, status: 'CANCELLED' });
      assert.equal(s.listJobs('dev')[0].status, 'CANCELLED');
      assert.throws(
        () => s.recordJob({ cluster: 'ghost', jobId: 1, submittedAt: 1, status: 'PENDING' }),
        (e: unknown) =>
          e instanceof UserError && /cluster 'ghost' is not in the (local )?state/.test(e.message),
      );
    });

    test('journal: an intent is open until resolved, and survives a close', () => {
      const before = Date.now();
      const id = s.journalIntent({
        cluster: 'dev',
        cloud: 'aws',
        region: 'us-east-1',
        zone: 'us-east-1a',
        numNodes: 2,
        spec,
      });
      const id2 = s.journalIntent({
        cluster: 'other',
        cloud: 'gcp',
        region: 'us-central1',
        zone: null,
        numNodes: 1,
        spec: { ...spec, cluster: 'other' },
      });
      assert.ok(id2 > id);
      s.close();
      s = openStore();
      const open = s.openIntents('dev');
      assert.equal(open.length, 1);
      const i = open[0];
      assert.equal(i.id, id);
      assert.deepEqual(
        {
          cluster: i.cluster,
          cloud: i.cloud,
          region: i.region,
          zone: i.zone,
          numNodes: i.numNodes,
          pid: i.pid,
        },
        {
          cluster: 'dev',
          cloud: 'aws',
          region: 'us-east-1',
          zone: 'us-east-1a',
          numNodes: 2,
          pid: process.pid,
        },
      );
      assert.deepEqual(i.spec, spec);
      assert.ok(i.createdAt >= before);
      assert.equal(i.outcome, null);
      assert.equal(i.processAlive, true);
      assert.deepEqual(
        s.openIntents().map((x) => x.id),
        [id, id2],
      );
      assert.equal(s.journalResolve(id, 'created'), true);
      assert.deepEqual(s.openIntents('dev'), []);
      assert.equal(s.journalResolve(id2, 'failed'), true);
      assert.deepEqual(s.openIntents(), []);
      assert.equal(s.journalResolve(12345, 'cleaned'), false);
    });

    test('journal: an intent left by a dead process is reported as such', async () => {
      const id = s.journalIntent({
        cluster: 'dev',
        cloud: 'aws',
        region: 'us-east-1',
        zone: null,
        numNodes: 1,
        spec,
      });
      if (backend === 'sqlite') {
        await t.exec(`UPDATE intents SET pid = ${deadPid()} WHERE id = ${id}`);
      } else {
        // PostgreSQL: a process is known by the key its stores hold a lock on (pid alone means nothing
        // to another machine); a key nobody holds is a dead process.
        await t.exec(`UPDATE intents SET pid = ${deadPid()}, pid_start = 'pg:12345' WHERE id = ${id}`);
      }
      const id2 = s.journalIntent({
        cluster: 'dev',
        cloud: 'aws',
        region: 'us-east-1',
        zone: null,
        numNodes: 1,
        spec,
      });
      // Our own pid but another process start time: a reused pid, not us.
      await t.exec(
        `UPDATE intents SET pid_start = '${backend === 'sqlite' ? '1' : 'pg:1'}' WHERE id = ${id2}`,
      );
      assert.deepEqual(
        s.openIntents('dev').map((i) => [i.id, i.processAlive]),
        [
          [id, false],
          [id2, false],
        ],
      );
    });
  });
}
