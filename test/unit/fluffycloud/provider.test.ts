// The FluffyCloud NodeProvider against the real emulator, whose instances are real sshd hosts: nodes by
// tag, head first, running with IPs and then reachable over SSH through the shared waitReachable (the
// real SSH runner), idempotent, crash-safe, abortable.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FluffyCloudApi } from '../../../src/clouds/fluffycloud/api.js';
import { createCloud } from '../../../src/clouds/fluffycloud/index.js';
import { FluffyCloudProvider } from '../../../src/clouds/fluffycloud/provider.js';
import { isClusterKeyName } from '../../../src/clouds/fluffycloud/setup.js';
import type { ClusterSpec, NodeInfo } from '../../../src/core/cluster.js';
import { ProvisionError } from '../../../src/clouds/errors.js';
import { launchReachable, waitReachable } from '../../../src/runtime/bootstrap.js';
import { makeRunner } from '../../../src/runtime/index.js';
import { baseScenario, emulatorUnavailable, type FluffyEnv, startFluffy } from './env.js';

const skip = emulatorUnavailable();
const REGION = 'fluffy-east';

function spec(cluster: string, numNodes: number, region = REGION): ClusterSpec {
  return {
    cluster,
    numNodes,
    instanceType: 'ff.small',
    region,
    zone: null,
    useSpot: false,
    accelerators: null,
  };
}

async function hostname(n: NodeInfo): Promise<string> {
  const r = makeRunner(n.connection);
  try {
    const res = await r.run('hostname');
    assert.equal(res.code, 0, res.stderr);
    return res.stdout.trim();
  } finally {
    await r.close();
  }
}

describe('FluffyCloud provider', { skip: skip ?? false }, () => {
  let env: FluffyEnv;
  let api: FluffyCloudApi;
  const provider = (region = REGION) =>
    new FluffyCloudProvider(region, { api: env.api({ retries: 6 }), pollMs: 100 });
  /** The cluster's instances as the cloud lists them (terminated ones too, for 10 minutes). */
  const listed = async (cluster: string) =>
    (await api.listInstances()).filter((i) => i.tags['skyhop-cluster'] === cluster);
  const live = async (cluster: string) => (await listed(cluster)).filter((i) => i.status !== 'terminated');

  before(async () => {
    env = await startFluffy(baseScenario());
    api = env.api();
  });
  after(async () => {
    await env?.stop();
  });

  test('one node: head, tags, running, SSH works; re-run reuses it', async () => {
    const p = provider();
    const [head, ...rest] = await p.runInstances(spec('one', 1));
    assert.equal(rest.length, 0);
    assert.equal(head.role, 'head');
    assert.equal(head.rank, 0);
    assert.equal(head.status, 'running');
    assert.deepEqual(
      { c: head.tags['skyhop-cluster'], r: head.tags['skyhop-role'], k: head.tags['skyhop-rank'] },
      { c: 'one', r: 'head', k: '0' },
    );
    assert.equal(head.connection.kind, 'ssh');
    const instance = (await live('one'))[0];
    assert.equal(await hostname(head), instance.name);
    const again = await p.runInstances(spec('one', 1));
    assert.deepEqual(
      again.map((n) => n.id),
      [head.id],
    );
    assert.equal((await live('one')).length, 1, 'nothing new created');
    await p.terminateInstances('one');
  });

  test('two nodes: head first, ranks, distinct hosts over SSH; a new provider finds them ("crash")', async () => {
    const nodes = await provider().runInstances(spec('two', 2));
    assert.deepEqual(
      nodes.map((n) => [n.role, n.rank, n.tags['skyhop-rank']]),
      [
        ['head', 0, '0'],
        ['worker', 1, '1'],
      ],
    );
    const names = await Promise.all(nodes.map(hostname));
    assert.notEqual(names[0], names[1]);
    // The head was created first.
    const byId = new Map((await live('two')).map((i) => [i.id, i]));
    assert.ok(byId.get(nodes[0].id)!.created_at <= byId.get(nodes[1].id)!.created_at);

    // A fresh provider (a new process after a crash, local state lost) finds the same nodes by tag.
    const found = await new FluffyCloudProvider(REGION, { api: env.api() }).queryInstances('two');
    assert.deepEqual(
      found.map((n) => [n.id, n.role, n.status]),
      nodes.map((n) => [n.id, n.role, 'running']),
    );
    // Through the Cloud too (credentials from ~/.fluffycloud/credentials, lazily loaded provider).
    const viaCloud = await createCloud().provider(REGION).queryInstances('two');
    assert.deepEqual(
      viaCloud.map((n) => n.id),
      nodes.map((n) => n.id),
    );
    // Growing the cluster reuses both and adds rank 2.
    const three = await provider().runInstances(spec('two', 3));
    assert.deepEqual(
      three.slice(0, 2).map((n) => n.id),
      nodes.map((n) => n.id),
    );
    assert.equal(three[2].rank, 2);
    // Asking for fewer than there are is refused, nothing removed.
    await assert.rejects(provider().runInstances(spec('two', 1)), { name: 'UserError' });
    assert.equal((await live('two')).length, 3);
    await provider().terminateInstances('two');
  });

  test('runInstances returns nodes running with IPs; launchReachable/waitReachable (shared, every cloud) see them answer', async () => {
    const seen: string[] = [];
    const nodes = await provider().runInstances(spec('reach', 2), undefined, (n) => seen.push(n.id));
    assert.ok(nodes.every((n) => n.status === 'running' && n.internalIp !== ''));
    assert.deepEqual(seen.sort(), nodes.map((n) => n.id).sort(), 'each node is reported running once');
    assert.deepEqual(await waitReachable(nodes, { timeoutMs: 60_000 }), nodes);
    // As the failover attempt does it: each node's check starts when it is reported running.
    const again = await launchReachable((onRunning) =>
      provider().runInstances(spec('reach', 2), undefined, onRunning),
    );
    assert.deepEqual(
      again.map((n) => n.id),
      nodes.map((n) => n.id),
    );
    // A node that refuses the key: the wait fails with the shared layer's typed error, at once (an
    // authentication failure is not retried), naming the node.
    const wrongKey = join(mkdtempSync(join(tmpdir(), 'skyhop-wrong-key-')), 'id');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', wrongKey]);
    const bad = nodes.map((n, i) =>
      i === 1 && n.connection.kind === 'ssh'
        ? { ...n, connection: { ...n.connection, keyPath: wrongKey } }
        : n,
    );
    await assert.rejects(waitReachable(bad, { timeoutMs: 60_000 }), (e: unknown) => {
      assert.ok(e instanceof ProvisionError);
      assert.equal(e.scope, 'fatal');
      assert.equal(e.reason, 'ssh_unreachable');
      assert.match(e.message, new RegExp(`^node ${nodes[1].id} \\(reach rank 1\\) does not answer over SSH`));
      return true;
    });
    await provider().terminateInstances('reach');
  });

  test('terminate twice: nodes and the cluster key registration go; the second call is a no-op', async () => {
    const p = provider();
    await p.runInstances(spec('term', 2));
    assert.ok((await api.listSshKeys()).some((k) => isClusterKeyName('term', k.name)));
    await p.terminateInstances('term');
    assert.deepEqual(await live('term'), []);
    assert.deepEqual(await p.queryInstances('term'), []);
    assert.ok(!(await api.listSshKeys()).some((k) => isClusterKeyName('term', k.name)));
    await p.terminateInstances('term');
    await provider().terminateInstances('never-existed');
  });

  test('partial launch: capacity for 1 of 2 nodes -> capacity error, the node it made is removed', async () => {
    await env.scenario(baseScenario({ regions: { [REGION]: { capacity: { 'ff.small': 1 } } } }));
    try {
      const e = await provider()
        .runInstances(spec('partial', 2))
        .then(
          () => null,
          (err: unknown) => err,
        );
      assert.equal((e as { code?: string }).code, 'capacity');
      assert.equal(createCloud().classifyError(e), 'region');
      assert.deepEqual(await live('partial'), [], 'nothing left running');
      const made = await listed('partial');
      assert.equal(made.length, 1, 'the head had been created (and is now terminated)');
      assert.equal(made[0].status, 'terminated');
    } finally {
      await env.scenario(baseScenario());
    }
  });

  test('partial launch keeps the nodes it found: only what this call created is removed', async () => {
    const [head] = await provider().runInstances(spec('keep', 1));
    await env.scenario(baseScenario({ regions: { [REGION]: { capacity: { 'ff.small': 1 } } } }));
    try {
      await assert.rejects(provider().runInstances(spec('keep', 2)), { code: 'capacity' });
      assert.deepEqual(
        (await live('keep')).map((i) => i.id),
        [head.id],
      );
    } finally {
      await env.scenario(baseScenario());
    }
    await provider().terminateInstances('keep');
  });

  test('abort mid-wait (boot delay 5 s, abort after 0.5 s): InterruptedError, nothing left', async () => {
    await env.scenario(baseScenario({ regions: { [REGION]: { boot_delay_s: 5 } } }));
    try {
      const ac = new AbortController();
      const run = provider().runInstances(spec('abort', 2), ac.signal);
      setTimeout(() => ac.abort(), 500);
      await assert.rejects(run, { name: 'InterruptedError', message: /removed/ });
      assert.deepEqual(await live('abort'), []);
      assert.ok((await listed('abort')).length >= 1, 'it had launched before the abort');
    } finally {
      await env.scenario(baseScenario());
    }
  });

  test('nodes not running in time (boot delay 5 s, boot timeout 0.3 s): boot_timeout blocks the region, nothing left', async () => {
    await env.scenario(baseScenario({ regions: { [REGION]: { boot_delay_s: 5 } } }));
    try {
      const p = new FluffyCloudProvider(REGION, {
        api: env.api({ retries: 6 }),
        pollMs: 100,
        bootTimeoutMs: 300,
      });
      await assert.rejects(p.runInstances(spec('slow', 2)), (e: unknown) => {
        assert.ok(e instanceof ProvisionError);
        assert.deepEqual([e.scope, e.reason], ['region', 'boot_timeout']);
        assert.match(e.message, /^2 FluffyCloud node\(s\) of slow were not running after 0 s in fluffy-east/);
        return true;
      });
      assert.deepEqual(await live('slow'), [], 'what the launch created was removed');
    } finally {
      await env.scenario(baseScenario());
    }
  });

  test('a cluster with nodes in another region is refused, and those nodes are left alone', async () => {
    const [head] = await provider().runInstances(spec('elsewhere', 1));
    await assert.rejects(provider('fluffy-west').runInstances(spec('elsewhere', 1, 'fluffy-west')), {
      name: 'ProvisionError',
      reason: 'cluster_conflict',
      scope: 'fatal',
    });
    assert.deepEqual(
      (await live('elsewhere')).map((i) => i.id),
      [head.id],
    );
    // query and terminate see the cluster in every region.
    assert.equal((await provider('fluffy-west').queryInstances('elsewhere')).length, 1);
    await provider('fluffy-west').terminateInstances('elsewhere');
    assert.deepEqual(await live('elsewhere'), []);
  });

  test('strays are removed: a duplicate of a rank (say, from a launch whose answer was lost)', async () => {
    const [head] = await provider().runInstances(spec('stray', 1));
    const keyName = (await api.listSshKeys()).find((k) => isClusterKeyName('stray', k.name))!.name;
    const { id: dup } = await api.launch('stray-head-dup', 'ff.small', REGION, keyName, {
      tags: { 'skyhop-cluster': 'stray', 'skyhop-role': 'head', 'skyhop-rank': '0' },
    });
    const nodes = await provider().runInstances(spec('stray', 1));
    assert.deepEqual(
      nodes.map((n) => n.id),
      [head.id],
      'the older node keeps the rank',
    );
    assert.ok(!(await live('stray')).some((i) => i.id === dup));
    await provider().terminateInstances('stray');
  });

  test('with 20% of API calls failing (500/429), a two-node launch still succeeds, once', async () => {
    await env.scenario(baseScenario({ failures: { rate: 0.15, rate_limited_rate: 0.05, seed: 11 } }));
    try {
      const nodes = await provider().runInstances(spec('flaky', 2));
      assert.equal(nodes.length, 2);
      assert.equal((await live('flaky')).length, 2, 'no double creation');
      await provider().terminateInstances('flaky');
    } finally {
      await env.scenario(baseScenario());
    }
    assert.deepEqual(await live('flaky'), []);
  });

  test('bad requests are UserErrors before any call: images, another region, 0 nodes', async () => {
    const p = provider();
    await assert.rejects(p.runInstances({ ...spec('bad', 1), imageId: 'img' }), { name: 'UserError' });
    await assert.rejects(p.runInstances(spec('bad', 1, 'fluffy-west')), { name: 'UserError' });
    await assert.rejects(p.runInstances(spec('bad', 0)), { name: 'UserError' });
    assert.deepEqual(await listed('bad'), []);
  });
});
