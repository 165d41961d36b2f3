// network_tier: parsing, the task checks and planning on the real bundled catalogs.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hasEfa } from '../../../src/clouds/aws/efa.js';
import { allClouds, getCloud } from '../../../src/clouds/registry.js';
import type { Launchable } from '../../../src/core/cluster.js';
import type { Resources } from '../../../src/core/task.js';
import { knownNamesFromClouds } from '../../../src/task/known.js';
import { parseTaskText } from '../../../src/task/parse.js';
import { resourcesToString } from '../../../src/task/resources.js';
import { incompatibility } from '../../../src/sdk/clusters.js';
import { planLaunch } from '../../../src/sdk/plan.js';
import type { ClusterRecord } from '../../../src/state/index.js';
import { UserError } from '../../../src/util/errors.js';
import { type Sandbox, sandbox } from './helpers.js';

let sb: Sandbox;
before(() => {
  sb = sandbox();
});
after(() => sb.restore());

function plan(cloud: string, r: Partial<Resources>): Launchable[] {
  return getCloud(cloud).feasibleResources({ useSpot: false, ...r }, 0);
}

/** A launchable without the request it was made for. */
const places = (ls: Launchable[]) => ls.map(({ request: _r, ...rest }) => rest);

const parse = (text: string) =>
  parseTaskText(text, 'task.yaml', { known: knownNamesFromClouds(allClouds()), baseDir: sb.home });

describe('network_tier: parsing', () => {
  test('best and standard (any case) are read; the short form names it', () => {
    const best = parse('resources:\n  network_tier: best\n  accelerators: A100:8\n').tasks[0];
    assert.equal(best.resources[0].networkTier, 'best');
    assert.match(resourcesToString(best.resources[0]), /network tier best/);
    const std = parse('resources:\n  network_tier: Standard\n').tasks[0];
    assert.equal(std.resources[0].networkTier, 'standard');
    assert.equal(parse('run: echo\n').tasks[0].resources[0].networkTier, undefined);
  });

  test('an any_of entry may set it for itself', () => {
    const t = parse('resources:\n  any_of:\n    - network_tier: best\n      infra: aws\n    - infra: gcp\n')
      .tasks[0];
    assert.deepEqual(
      t.resources.map((r) => r.networkTier),
      ['best', undefined],
    );
  });

  test('bogus: file:line:col and the values it takes', () => {
    assert.throws(
      () => parse('resources:\n  cpus: 2\n  network_tier: fastest\n'),
      (e: unknown) =>
        e instanceof UserError &&
        e.message === 'task.yaml:3:17: resources.network_tier: expected one of standard, best, got "fastest"',
    );
  });

  test('best pinned to a cloud without a fast network tier is a task error naming both', () => {
    assert.throws(
      () => parse('resources:\n  infra: lambda\n  network_tier: best\n'),
      (e: unknown) =>
        e instanceof UserError &&
        /lambda.*has no high-performance network tier; drop network_tier/i.test(e.message),
    );
  });
});

describe('network_tier: planning', () => {
  test('best on AWS: only EFA types (accelerator asked: p4d.24xlarge has EFA)', () => {
    const ls = plan('aws', { networkTier: 'best', accelerators: { name: 'A100', count: 8 } });
    assert.ok(ls.length > 0);
    assert.ok(ls.every((l) => hasEfa(l.instanceType)));
    assert.ok(ls.some((l) => l.instanceType === 'p4d.24xlarge'));
  });

  test('best with an accelerator: its EFA types only; none at all when no type of it has EFA', () => {
    // T4:1 is g4dn.xlarge to g4dn.16xlarge; EFA starts at g4dn.8xlarge.
    const t4 = { name: 'T4', count: 1 };
    const std = plan('aws', { accelerators: t4 });
    const best = plan('aws', { networkTier: 'best', accelerators: t4 });
    assert.ok(std.some((l) => l.instanceType === 'g4dn.xlarge'));
    assert.deepEqual([...new Set(best.map((l) => l.instanceType))].sort(), ['g4dn.16xlarge', 'g4dn.8xlarge']);
    // V100:1 is p3.2xlarge only, without EFA.
    assert.ok(plan('aws', { accelerators: { name: 'V100', count: 1 } }).length > 0);
    assert.deepEqual(plan('aws', { networkTier: 'best', accelerators: { name: 'V100', count: 1 } }), []);
  });

  test('best with only cpus: every EFA type meeting them, cheapest first, instead of the default type', () => {
    const ls = plan('aws', { networkTier: 'best', cpus: { value: 64, orMore: true } });
    assert.ok(ls.length > 0);
    assert.ok(ls.every((l) => hasEfa(l.instanceType) && (l.vcpus ?? 0) >= 64));
    for (let i = 1; i < ls.length; i++) assert.ok(ls[i - 1].hourlyPrice <= ls[i].hourlyPrice);
    // Nothing asked at all: EFA types without accelerators (a CPU task does not land on a GPU box).
    const bare = plan('aws', { networkTier: 'best' });
    assert.ok(bare.length > 0 && bare.every((l) => hasEfa(l.instanceType) && l.accelerators === null));
  });

  test('best names an instance type: kept when it has EFA, dropped when not', () => {
    assert.ok(plan('aws', { networkTier: 'best', instanceType: 'c6i.32xlarge' }).length > 0);
    assert.deepEqual(plan('aws', { networkTier: 'best', instanceType: 'm6i.2xlarge' }), []);
  });

  test('clouds without a fast tier are no candidates for best and unchanged for standard', () => {
    for (const c of ['local', 'fluffycloud', 'lambda', 'gcp', 'runpod']) {
      assert.deepEqual(plan(c, { networkTier: 'best' }), [], c);
      assert.deepEqual(places(plan(c, { networkTier: 'standard' })), places(plan(c, {})), c);
    }
    assert.deepEqual(places(plan('aws', { networkTier: 'standard' })), places(plan('aws', {})));
  });
});

describe('network_tier: the plan', () => {
  test('best over every cloud lands on an EFA type of AWS; when nothing fits the error says why', async () => {
    const dag = parse('resources:\n  network_tier: best\n  accelerators: A100:8\nrun: echo\n');
    const p = await planLaunch({ dag, clouds: allClouds() });
    assert.equal(p.tasks[0].choice.cloud, 'aws');
    assert.ok(hasEfa(p.tasks[0].choice.instanceType));
    const none = parse('resources:\n  network_tier: best\n  accelerators: V100:1\nrun: echo\n');
    await assert.rejects(planLaunch({ dag: none, clouds: allClouds() }), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /nothing fits 1x V100 network tier best/);
      assert.ok(e.details.some((d) => /lambda \(no network-tier-best\)/.test(d)));
      assert.ok(
        e.details.some((d) =>
          /network_tier: best plans only instance types with a high-performance network/.test(d),
        ),
      );
      return true;
    });
  });
});

describe('network_tier: an existing cluster', () => {
  const record = (networkTier?: 'best'): ClusterRecord => ({
    name: 'c',
    cloud: 'aws',
    region: 'us-east-1',
    zone: null,
    status: 'UP',
    resources: {
      instanceType: 'p4d.24xlarge',
      accelerators: { name: 'A100', count: 8 },
      useSpot: false,
      vcpus: 96,
      memoryGiB: 1152,
      numNodes: 1,
    },
    nodes: [],
    launchedAt: 0,
    statusUpdatedAt: 0,
    hourlyPrice: 32.77,
    autostop: null,
    headIp: null,
    spec: {
      cluster: 'c',
      numNodes: 1,
      instanceType: 'p4d.24xlarge',
      region: 'us-east-1',
      zone: null,
      useSpot: false,
      accelerators: { name: 'A100', count: 8 },
      ...(networkTier ? { networkTier } : {}),
    },
  });

  test('a task asking for best fits only a cluster launched with it', () => {
    const best = parse('resources:\n  network_tier: best\nrun: echo\n').tasks[0];
    assert.equal(
      incompatibility(record(), best),
      'the task asks for network_tier: best (cluster: standard network)',
    );
    assert.equal(incompatibility(record('best'), best), null);
    const std = parse('resources:\n  network_tier: standard\nrun: echo\n').tasks[0];
    assert.equal(incompatibility(record(), std), null);
  });
});
