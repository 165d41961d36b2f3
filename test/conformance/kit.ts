/**
 * The conformance kit: the same scenarios against every cloud's NodeProvider. A cloud passes it
 * by providing a `CloudTestEnv` (its credentials and, for emulated clouds, its emulator) and
 * calling `conformance(env)` from a test file in this folder. Scenarios a cloud cannot support
 * are skipped with the reason printed, never silently.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { discoverClusters } from '../../src/clouds/discover.js';
import type { Cloud } from '../../src/clouds/types.js';
import type { BlockScope, ClusterSpec, NodeInfo } from '../../src/core/cluster.js';
import { waitReachable } from '../../src/runtime/bootstrap.js';
import { makeRunner } from '../../src/runtime/index.js';

export interface CloudTestEnv {
  name: string;
  /** Prepare credentials/emulators; return the configured cloud. */
  setup(): Promise<Cloud>;
  teardown(): Promise<void>;
  region: string;
  /** A cheap instance type the region offers. */
  instanceType: string;
  /** Nodes are real hosts a CommandRunner can reach (false for API-only emulators such as moto). */
  reachable: boolean | { skip: string };
  /**
   * Make the next launch fail the way the cloud reports lack of capacity; returns an undo.
   * Absent: the cloud has no capacity errors to inject (say why in `noCapacityReason`).
   */
  injectCapacityError?(): Promise<() => Promise<void>>;
  noCapacityReason?: string;
  expectedCapacityScope?: BlockScope;
  /** Make provisioning slow enough that an abort lands mid-launch; returns an undo. */
  slowDown?(): Promise<() => Promise<void>>;
}

let seq = 0;
function clusterName(env: CloudTestEnv): string {
  seq++;
  return `conf-${env.name.slice(0, 6)}-${process.pid % 10000}-${seq}`;
}

function spec(env: CloudTestEnv, cluster: string, numNodes: number): ClusterSpec {
  return {
    cluster,
    numNodes,
    instanceType: env.instanceType,
    region: env.region,
    zone: null,
    useSpot: false,
    accelerators: null,
  };
}

function checkTags(nodes: NodeInfo[], cluster: string, numNodes: number) {
  assert.equal(nodes.length, numNodes);
  assert.equal(nodes[0].role, 'head', 'head first');
  assert.equal(nodes.filter((n) => n.role === 'head').length, 1, 'exactly one head');
  for (const n of nodes) {
    assert.equal(n.cluster, cluster);
    assert.equal(n.tags['skyhop-cluster'], cluster);
    assert.equal(n.tags['skyhop-role'], n.role);
    assert.ok(n.internalIp, 'every node has an internal IP');
    assert.equal(n.status, 'running');
  }
  assert.equal(new Set(nodes.map((n) => n.id)).size, numNodes, 'distinct instance ids');
}

export function conformance(env: CloudTestEnv): void {
  describe(`conformance: ${env.name}`, () => {
    let cloud: Cloud;
    const made: string[] = [];
    before(async () => {
      cloud = await env.setup();
    });
    after(async () => {
      for (const c of made)
        await cloud
          ?.provider(env.region)
          .terminateInstances(c)
          .catch(() => {});
      await env.teardown();
    });
    const provider = () => cloud.provider(env.region);
    const fresh = () => {
      const c = clusterName(env);
      made.push(c);
      return c;
    };

    test('launch 1 node: tagged, queryable, reachable; runInstances again reuses it', async (t) => {
      const c = fresh();
      const nodes = await provider().runInstances(spec(env, c, 1));
      checkTags(nodes, c, 1);
      const again = await provider().runInstances(spec(env, c, 1));
      assert.deepEqual(
        again.map((n) => n.id),
        nodes.map((n) => n.id),
        'idempotent',
      );
      const q = await provider().queryInstances(c);
      assert.deepEqual(
        q.map((n) => n.id),
        nodes.map((n) => n.id),
      );
      if (env.reachable !== true) {
        t.diagnostic(
          `exec skipped: ${typeof env.reachable === 'object' ? env.reachable.skip : 'not reachable'}`,
        );
        return;
      }
      // runInstances returns nodes running with IPs; the shared layer waits until they answer.
      await waitReachable(nodes);
      const r = makeRunner(nodes[0].connection);
      try {
        const out = await r.run('echo conformance-ok');
        assert.equal(out.code, 0, out.stderr);
        assert.equal(out.stdout.trim(), 'conformance-ok');
      } finally {
        await r.close();
      }
    });

    test('launch 2 nodes: one head, one worker, each reachable', async (t) => {
      if (!cloud.features.has('multi-node')) {
        t.skip(`${env.name} has no multi-node feature`);
        return;
      }
      const c = fresh();
      const nodes = await provider().runInstances(spec(env, c, 2));
      checkTags(nodes, c, 2);
      assert.equal(nodes[1].role, 'worker');
      if (env.reachable === true) {
        await waitReachable(nodes);
        for (const n of nodes) {
          const r = makeRunner(n.connection);
          try {
            assert.equal((await r.run('true')).code, 0);
          } finally {
            await r.close();
          }
        }
      }
    });

    test('stop and start when supported', async (t) => {
      const p = provider();
      if (!cloud.features.has('stop') || !p.stopInstances || !p.startInstances) {
        t.skip(`${env.name} cannot stop instances`);
        return;
      }
      const c = fresh();
      const nodes = await p.runInstances(spec(env, c, 1));
      await p.stopInstances(c);
      const stopped = await p.queryInstances(c);
      assert.deepEqual(
        stopped.map((n) => n.status),
        ['stopped'],
      );
      const started = await p.startInstances(c);
      assert.deepEqual(
        started.map((n) => n.id),
        nodes.map((n) => n.id),
      );
      assert.equal(started[0].status, 'running');
      if (env.reachable === true) {
        // A started node answers again (its address may be new: the shared wait asks it).
        await waitReachable(started);
        const r = makeRunner(started[0].connection);
        try {
          assert.equal((await r.run('true')).code, 0);
        } finally {
          await r.close();
        }
      }
    });

    test('terminate, and terminate again: nothing left, no error', async () => {
      const c = fresh();
      await provider().runInstances(spec(env, c, 1));
      await provider().terminateInstances(c);
      assert.deepEqual(await provider().queryInstances(c), []);
      await provider().terminateInstances(c);
      assert.deepEqual(await provider().queryInstances(c), []);
    });

    test('listClusters finds a launched cluster by its tags, and not once it is terminated', async () => {
      // How `status --refresh` finds clusters a lost state database forgot (src/clouds/discover.ts).
      const c = fresh();
      const nodes = await provider().runInstances(spec(env, c, 1));
      assert.ok((await provider().listClusters()).includes(c), 'the launched cluster is listed');
      const { found, problems } = await discoverClusters([cloud], [c]);
      assert.deepEqual(
        problems.map((p) => p.message),
        [],
        'every region of the catalog answers',
      );
      assert.deepEqual(
        found.map((f) => [f.name, f.region, f.nodes.map((n) => n.id)]),
        [[c, env.region, nodes.map((n) => n.id)]],
        'found in its region only, with its nodes',
      );
      await provider().terminateInstances(c);
      assert.ok(!(await provider().listClusters()).includes(c), 'a terminated cluster is not listed');
      assert.deepEqual((await discoverClusters([cloud], [c])).found, []);
    });

    test('an injected capacity error is classified to the right block scope, and leaves nothing', async (t) => {
      if (!env.injectCapacityError) {
        t.skip(env.noCapacityReason ?? `${env.name} has no way to inject a capacity error`);
        return;
      }
      const undo = await env.injectCapacityError();
      const c = fresh();
      try {
        await assert.rejects(provider().runInstances(spec(env, c, 1)), (e: unknown) => {
          assert.equal(cloud.classifyError(e), env.expectedCapacityScope ?? 'zone');
          return true;
        });
      } finally {
        await undo();
      }
      assert.deepEqual(await provider().queryInstances(c), []);
    });

    test('an interrupted launch leaks nothing', async () => {
      const undo = env.slowDown ? await env.slowDown() : async () => {};
      const c = fresh();
      const ac = new AbortController();
      try {
        const launch = provider().runInstances(spec(env, c, 2), ac.signal);
        setTimeout(() => ac.abort(), 20);
        const outcome = await launch.then(
          () => 'finished',
          () => 'aborted',
        );
        if (outcome === 'aborted') {
          // An aborted runInstances removes what it created itself.
          assert.deepEqual(await provider().queryInstances(c), [], 'the aborted launch left nodes behind');
        }
        // Either way the caller's cleanup (terminate by tag, as the failover loop does) leaves nothing.
        await provider().terminateInstances(c);
        assert.deepEqual(await provider().queryInstances(c), []);
      } finally {
        await undo();
      }
    });
  });
}
