/**
 * Adoption (issue 9 item 2): `refresh(store, names, { adopt: true })` (what `status --refresh` runs)
 * asks the enabled clouds for clusters by tag and records those the state does not know, rebuilt from
 * the nodes; `down NAME` of a name not on record finds it the same way. On the real local cloud, and
 * on AWS (the real SDK against moto_server): the listing, the record (type, count, zone, catalog price)
 * and the teardown.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { createCloud as createAws } from '../../../src/clouds/aws/index.js';
import { AwsProvider } from '../../../src/clouds/aws/provider.js';
import { LocalProvider } from '../../../src/clouds/local/index.js';
import type { ClusterSpec } from '../../../src/core/cluster.js';
import { down, refresh } from '../../../src/sdk/lifecycle.js';
import { openStore, type Store } from '../../../src/state/index.js';
import { type MotoEnv, motoEnv, motoMissing } from '../../helpers/moto.js';

const localSpec = (cluster: string, numNodes: number): ClusterSpec => ({
  cluster,
  numNodes,
  instanceType: 'local',
  region: 'local',
  zone: null,
  useSpot: false,
  accelerators: null,
});

describe('adoption on the local cloud', () => {
  let root: string;
  let store: Store;
  const saved = { SKYHOP_HOME: process.env.SKYHOP_HOME, HOME: process.env.HOME };
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'skyhop-adopt-'));
    process.env.SKYHOP_HOME = join(root, 'home');
    process.env.HOME = root;
    store = openStore();
  });
  afterEach(async () => {
    const p = new LocalProvider(process.env.SKYHOP_HOME as string);
    for (const c of await p.listClusters()) await p.terminateInstances(c);
    store.close();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    rmSync(root, { recursive: true, force: true });
  });

  test('a cluster the state does not know is adopted once, rebuilt from its nodes', async () => {
    const p = new LocalProvider(process.env.SKYHOP_HOME as string);
    const nodes = await p.runInstances(localSpec('orphan', 2));
    // Without adopt (the refresh `status` does for autostopping clusters), nothing is scanned.
    assert.deepEqual(await refresh(store), []);
    assert.equal(store.getCluster('orphan'), null);
    // Another name asked for: not adopted.
    assert.deepEqual(await refresh(store, ['other'], { adopt: true }), []);
    const changes = await refresh(store, undefined, { adopt: true });
    assert.equal(changes.length, 1);
    assert.equal(changes[0].cluster, 'orphan');
    assert.equal(changes[0].from, null);
    assert.equal(changes[0].to, 'UP');
    assert.match(changes[0].note, /^adopted: 2 instances tagged skyhop-cluster=orphan on local\/local/);
    const rec = store.getCluster('orphan');
    assert.ok(rec);
    assert.equal(rec.cloud, 'local');
    assert.equal(rec.region, 'local');
    assert.equal(rec.status, 'UP');
    assert.equal(rec.resources.instanceType, 'local');
    assert.equal(rec.resources.numNodes, 2);
    assert.equal(rec.hourlyPrice, 0);
    assert.deepEqual(
      rec.nodes.map((n) => n.id),
      nodes.map((n) => n.id),
    );
    assert.deepEqual(await refresh(store, undefined, { adopt: true }), [], 'adopted once');
    await down(store, 'orphan');
    assert.deepEqual(await p.listClusters(), []);
    assert.equal(store.getCluster('orphan'), null);
  });

  test('a cluster with an open launch intent is left to the journal, not adopted', async () => {
    const p = new LocalProvider(process.env.SKYHOP_HOME as string);
    await p.runInstances(localSpec('inflight', 1));
    store.journalIntent({
      cluster: 'inflight',
      cloud: 'local',
      region: 'local',
      zone: null,
      numNodes: 1,
      spec: localSpec('inflight', 1),
    });
    const changes = await refresh(store, undefined, { adopt: true });
    assert.ok(!changes.some((c) => /adopted/.test(c.note)), JSON.stringify(changes));
    assert.equal(store.getCluster('inflight'), null);
  });
});

const missing = motoMissing();
describe('adoption on AWS (moto)', { skip: missing ?? false }, () => {
  let env: MotoEnv;
  let store: Store;
  before(async () => {
    env = await motoEnv('skyhop-adopt-aws-');
    store = openStore();
  });
  after(async () => {
    store?.close();
    await env?.close();
  });

  test('status --refresh adopts an AWS cluster found by tag; down removes its instances', async () => {
    const p = new AwsProvider('us-east-1', { pollMs: 50 });
    const nodes = await p.runInstances({
      ...localSpec('awslost', 2),
      instanceType: 't3.micro',
      region: 'us-east-1',
    });
    assert.deepEqual(await p.listClusters(), ['awslost']);
    assert.deepEqual(await new AwsProvider('eu-west-1', { pollMs: 50 }).listClusters(), [], 'regional');
    const changes = await refresh(store, undefined, { adopt: true });
    const adopted = changes.find((c) => c.cluster === 'awslost');
    assert.ok(adopted, JSON.stringify(changes));
    assert.match(adopted.note, /adopted: 2 instances tagged skyhop-cluster=awslost on aws\/us-east-1/);
    const rec = store.getCluster('awslost');
    assert.ok(rec);
    assert.equal(rec.resources.instanceType, 't3.micro');
    assert.equal(rec.resources.numNodes, 2);
    assert.equal(rec.resources.vcpus, 2);
    assert.equal(rec.zone, nodes[0].zone);
    const catalog = createAws().catalog();
    assert.equal(rec.hourlyPrice, catalog.hourlyCost('t3.micro', { useSpot: false, region: 'us-east-1' }));
    assert.ok(rec.hourlyPrice > 0);
    await down(store, 'awslost');
    assert.deepEqual(await p.queryInstances('awslost'), []);
    assert.deepEqual(await p.listClusters(), []);
  });
});
