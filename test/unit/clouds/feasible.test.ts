// feasibleResources on the real bundled catalogs; expected values read from catalogs/<cloud>/vms.csv.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GCP_BOUND_ACCELERATORS } from '../../../src/clouds/gcp/index.js';
import { getCloud } from '../../../src/clouds/registry.js';
import type { Feature, Launchable } from '../../../src/core/cluster.js';
import {
  featureAsked,
  featureField,
  featureMessage,
  featureProblem,
  missingFeatures,
  requiredFeatures,
} from '../../../src/core/features.js';
import type { Resources } from '../../../src/core/task.js';
import { UserError } from '../../../src/util/errors.js';
import { type Sandbox, sandbox } from './helpers.js';

let sb: Sandbox;
before(() => {
  sb = sandbox();
});
after(() => sb.restore());

function plan(cloud: string, r: Partial<Resources>, alternative = 0): Launchable[] {
  return getCloud(cloud).feasibleResources({ useSpot: false, ...r }, alternative);
}

function inRegion(ls: Launchable[], region: string, instanceType?: string): Launchable {
  const l = ls.find(
    (x) => x.region === region && (instanceType === undefined || x.instanceType === instanceType),
  );
  assert.ok(l, `a launchable in ${region}`);
  return l;
}

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-9, `${a} != ${b}`);

describe('aws', () => {
  test('A100:8 -> p4d.24xlarge, us-east-1 at the catalog price, every zone of the region', () => {
    const r: Partial<Resources> = { accelerators: { name: 'A100', count: 8 } };
    const ls = plan('aws', r, 2);
    assert.equal(ls.length, 9, 'one per region offering it');
    assert.ok(ls.every((l) => l.instanceType === 'p4d.24xlarge' && l.cloud === 'aws'));
    const use1 = inRegion(ls, 'us-east-1');
    assert.equal(use1.hourlyPrice, 32.7726);
    assert.deepEqual(use1.zones, ['use1-az1', 'use1-az2', 'use1-az6']);
    assert.equal(use1.zone, null);
    assert.deepEqual(use1.accelerators, { name: 'A100', count: 8 });
    assert.equal(use1.vcpus, 96);
    assert.equal(use1.memoryGiB, 1152);
    assert.equal(use1.useSpot, false);
    assert.equal(use1.alternative, 2);
    assert.equal(use1.request.accelerators?.count, 8);
    assert.equal(ls[0].hourlyPrice, 32.7726, 'cheapest first');
    assert.deepEqual(
      ls.slice(0, 3).map((l) => l.region),
      ['us-east-1', 'us-east-2', 'us-west-2'],
      'ties broken by region',
    );
  });

  test('spot: spot prices, zones cheapest first, the cheapest zone chosen; rows without a spot price skipped', () => {
    const ls = plan('aws', { accelerators: { name: 'A100', count: 8 }, useSpot: true });
    assert.equal(ls.length, 8, 'ap-south-1 has no spot price for p4d.24xlarge');
    assert.ok(!ls.some((l) => l.region === 'ap-south-1'));
    assert.equal(ls[0].region, 'ap-southeast-2');
    assert.equal(ls[0].hourlyPrice, 4.2604);
    const use1 = inRegion(ls, 'us-east-1');
    assert.equal(use1.hourlyPrice, 5.0933);
    assert.deepEqual(use1.zones, ['use1-az6', 'use1-az1', 'use1-az2']);
    assert.equal(use1.zone, 'use1-az6');
    assert.equal(use1.useSpot, true);

    const g6 = inRegion(
      plan('aws', { accelerators: { name: 'L4', count: 1 }, useSpot: true }),
      'us-west-2',
      'g6.xlarge',
    );
    assert.deepEqual(g6.zones, ['usw2-az1', 'usw2-az4', 'usw2-az3'], 'usw2-az2 has no spot price');
  });

  test('region and zone pinning (names match case-insensitively)', () => {
    const r = plan('aws', { accelerators: { name: 'A100', count: 8 }, region: 'US-WEST-2' });
    assert.equal(r.length, 1);
    assert.equal(r[0].region, 'us-west-2');
    assert.deepEqual(r[0].zones, ['usw2-az1', 'usw2-az2', 'usw2-az3']);
    const z = plan('aws', { accelerators: { name: 'A100', count: 8 }, zone: 'use1-az2', useSpot: true });
    assert.equal(z.length, 1);
    assert.equal(z[0].region, 'us-east-1');
    assert.deepEqual(z[0].zones, ['use1-az2']);
    assert.equal(z[0].zone, 'use1-az2');
    assert.equal(z[0].hourlyPrice, 9.6107);
  });

  test('unknown region: [] when the request is not pinned to aws, the catalog UserError when it is', () => {
    assert.deepEqual(plan('aws', { region: 'us-central1' }), []);
    assert.throws(
      () => plan('aws', { cloud: 'aws', region: 'us-eats-1' }),
      (e: unknown) => e instanceof UserError && /us-east-1/.test((e as Error).message),
    );
  });

  test("nothing asked -> SkyPilot's default m6i.2xlarge (8+ vCPUs, 4 GiB per vCPU)", () => {
    const ls = plan('aws', {});
    assert.ok(ls.every((l) => l.instanceType === 'm6i.2xlarge'));
    assert.equal(inRegion(ls, 'us-east-1').hourlyPrice, 0.384);
    assert.equal(ls[0].accelerators, null);
  });

  test("cpus '4+' -> m6i.xlarge (default families, 4 GiB per vCPU); cpus 4 with memory 8 -> c6i.xlarge", () => {
    const ls = plan('aws', { cpus: { value: 4, orMore: true } });
    assert.ok(ls.length > 0 && ls.every((l) => l.instanceType === 'm6i.xlarge'));
    const use1 = inRegion(ls, 'us-east-1');
    assert.equal(use1.hourlyPrice, 0.192);
    assert.equal(use1.vcpus, 4);
    assert.equal(use1.memoryGiB, 16);
    const c = plan('aws', { cpus: { value: 4, orMore: false }, memory: { value: 8, orMore: false } });
    assert.ok(c.length > 0 && c.every((l) => l.instanceType === 'c6i.xlarge'));
    assert.equal(inRegion(c, 'us-east-1').hourlyPrice, 0.17);
  });

  test('instance type named: its own accelerators; a mismatching accelerator or cpus -> []', () => {
    const g5 = plan('aws', { instanceType: 'g5.xlarge', region: 'us-east-1' });
    assert.equal(g5.length, 1);
    assert.deepEqual(g5[0].accelerators, { name: 'A10G', count: 1 });
    assert.deepEqual(
      plan('aws', { instanceType: 'g5.xlarge', accelerators: { name: 'A100', count: 1 } }),
      [],
    );
    assert.equal(
      plan('aws', { instanceType: 'g5.xlarge', accelerators: { name: 'a10g', count: 1 } }).length > 0,
      true,
    );
    assert.deepEqual(plan('aws', { instanceType: 'g5.xlarge', cpus: { value: 8, orMore: true } }), []);
  });

  test('unknown instance type: [] unless pinned to aws, then a UserError with the nearest name', () => {
    assert.deepEqual(plan('aws', { instanceType: 'n2-standard-8' }), []);
    assert.throws(
      () => plan('aws', { cloud: 'aws', instanceType: 'p4d.24xlarg' }),
      (e: unknown) =>
        e instanceof UserError &&
        /instance type 'p4d\.24xlarg' is not in the AWS catalog \(did you mean 'p4d\.24xlarge'\?\)/.test(
          (e as Error).message,
        ),
    );
  });

  test('a request pinned to another cloud gives []', () => {
    assert.deepEqual(plan('aws', { cloud: 'gcp', accelerators: { name: 'A100', count: 8 } }), []);
  });
});

describe('gcp', () => {
  test('A100:8 -> a2-highgpu-8g priced VM row + accelerator row', () => {
    const ls = plan('gcp', { accelerators: { name: 'A100', count: 8 } });
    assert.ok(ls.length > 0 && ls.every((l) => l.instanceType === 'a2-highgpu-8g'));
    const usc1 = inRegion(ls, 'us-central1');
    close(usc1.hourlyPrice, 5.91582 + 23.47126);
    assert.deepEqual(usc1.zones, ['us-central1-a', 'us-central1-b', 'us-central1-c', 'us-central1-f']);
    assert.deepEqual(usc1.accelerators, { name: 'A100', count: 8 });
    assert.equal(usc1.vcpus, 96);
    assert.equal(ls[0].region, 'europe-west4');
    close(ls[0].hourlyPrice, 6.51251 + 12.90919);
  });

  test('spot H100:8 -> a3-highgpu-8g at VM spot + accelerator spot, cheapest zone', () => {
    const ls = plan('gcp', {
      accelerators: { name: 'H100', count: 8 },
      useSpot: true,
      region: 'us-central1',
    });
    assert.equal(ls.length, 1);
    assert.equal(ls[0].instanceType, 'a3-highgpu-8g');
    close(ls[0].hourlyPrice, 2.17547 + 18.024);
    assert.equal(ls[0].zone, 'us-central1-a');
  });

  test('only zones offering both the VM and the GPU count (no H100:1 row in europe-west8)', () => {
    const ls = plan('gcp', { accelerators: { name: 'H100', count: 1 } });
    assert.ok(ls.length > 0 && ls.every((l) => l.instanceType === 'a3-highgpu-1g'));
    assert.ok(!ls.some((l) => l.region === 'europe-west8'));
    assert.deepEqual(plan('gcp', { instanceType: 'a3-highgpu-1g', region: 'europe-west8' }), []);
  });

  test('L4 counts pair with the right g2 types', () => {
    const one = new Set(plan('gcp', { accelerators: { name: 'L4', count: 1 } }).map((l) => l.instanceType));
    assert.deepEqual([...one].sort(), [
      'g2-standard-12',
      'g2-standard-16',
      'g2-standard-32',
      'g2-standard-4',
      'g2-standard-8',
    ]);
    const two = plan('gcp', { accelerators: { name: 'L4', count: 2 } });
    assert.ok(two.length > 0 && two.every((l) => l.instanceType === 'g2-standard-24'));
    const usc1 = inRegion(two, 'us-central1');
    close(usc1.hourlyPrice, 0.88075 + 1.12008);
    const big = new Set(
      plan('gcp', { accelerators: { name: 'L4', count: 1 }, cpus: { value: 16, orMore: true } }).map(
        (l) => l.instanceType,
      ),
    );
    assert.deepEqual([...big].sort(), ['g2-standard-16', 'g2-standard-32']);
  });

  test('T4 and V100 need n1 hosts, which the bundled catalog lacks: infeasible on GCP', () => {
    assert.deepEqual(plan('gcp', { accelerators: { name: 'T4', count: 1 } }), []);
    assert.deepEqual(plan('gcp', { accelerators: { name: 'V100', count: 8 } }), []);
  });

  test('a GPU machine type named alone carries its GPUs and their price', () => {
    const ls = plan('gcp', { instanceType: 'a2-highgpu-8g', region: 'us-central1' });
    assert.equal(ls.length, 1);
    assert.deepEqual(ls[0].accelerators, { name: 'A100', count: 8 });
    close(ls[0].hourlyPrice, 5.91582 + 23.47126);
  });

  test("the pairing agrees with the catalog's acceleratorsOf", () => {
    const catalog = getCloud('gcp').catalog();
    let checked = 0;
    for (const [name, byCount] of Object.entries(GCP_BOUND_ACCELERATORS)) {
      for (const [count, types] of Object.entries(byCount)) {
        for (const t of types) {
          if (!catalog.instanceTypeExists(t)) continue;
          assert.deepEqual(catalog.acceleratorsOf(t), { name, count: Number(count) }, t);
          checked++;
        }
      }
    }
    assert.equal(checked, 16, 'a2-highgpu x4, a3-highgpu x4, g2-standard x8');
    assert.deepEqual(catalog.acceleratorsOf('a2-highgpu-8g'), { name: 'A100', count: 8 });
    assert.equal(catalog.acceleratorsOf('n2-standard-8'), null);
  });

  test("nothing asked -> n2-standard-8 (SkyPilot's GCP default)", () => {
    const ls = plan('gcp', {});
    assert.ok(ls.length > 0 && ls.every((l) => l.instanceType === 'n2-standard-8'));
    assert.equal(inRegion(ls, 'us-central1').hourlyPrice, 0.38847);
  });
});

describe('lambda, runpod, fluffycloud', () => {
  test('lambda: default gpu_1x_a10 (30+ vCPUs), no zones', () => {
    const ls = plan('lambda', {});
    assert.ok(ls.length === 17 && ls.every((l) => l.instanceType === 'gpu_1x_a10'));
    assert.equal(ls[0].hourlyPrice, 0.75);
    assert.deepEqual(ls[0].zones, []);
    assert.equal(ls[0].zone, null);
  });

  test('features a cloud lacks make it infeasible', () => {
    const a100 = { accelerators: { name: 'A100', count: 1 } };
    assert.ok(plan('lambda', a100).length > 0);
    assert.deepEqual(plan('lambda', { ...a100, useSpot: true }), [], 'lambda has no spot');
    assert.deepEqual(plan('lambda', { ...a100, imageId: 'img' }), [], 'lambda has no custom images');
    assert.deepEqual(plan('lambda', { ...a100, diskSize: 100 }), [], 'lambda has no disk sizes');
    assert.deepEqual(plan('lambda', { ...a100, zone: 'us-east-1a' }), [], 'lambda has no zones');
    assert.ok(plan('lambda', { ...a100, ports: ['8080'] }).length > 0, 'lambda opens ports');
    const l4 = { accelerators: { name: 'L4', count: 1 } };
    assert.deepEqual(plan('runpod', { ...l4, labels: { team: 'x' } }), [], 'runpod has no labels');
    assert.ok(plan('runpod', { ...l4, diskSize: 100, imageId: 'docker:x', ports: ['22'] }).length > 0);
    assert.ok(
      plan('aws', { ...l4, labels: { team: 'x' }, ports: ['80'], diskSize: 500, imageId: 'ami-1' }).length >
        0,
    );
  });

  test('runpod: data centers are zones; spot prices where given', () => {
    const ls = plan('runpod', { accelerators: { name: 'L4', count: 1 } });
    const ca = inRegion(ls, 'CA');
    assert.equal(ca.instanceType, '1x_L4_SECURE');
    assert.equal(ca.hourlyPrice, 0.44);
    assert.deepEqual(ca.zones, ['CA-MTL-1', 'CA-MTL-2', 'CA-MTL-3']);
    assert.deepEqual(
      plan('runpod', { accelerators: { name: 'L4', count: 1 }, useSpot: true }),
      [],
      'no L4 spot price',
    );
  });

  test('fluffycloud plans from its bundled catalog', () => {
    const ls = plan('fluffycloud', { accelerators: { name: 'A100', count: 1 } });
    assert.ok(ls.length > 0 && ls.every((l) => l.cloud === 'fluffycloud' && l.accelerators?.name === 'A100'));
  });
});

describe('the one table of features (src/core/features.ts)', () => {
  const has = (...fs: Feature[]) => ({ features: new Set<Feature>(fs) });

  test('what a request needs, in the order the checks report it', () => {
    assert.deepEqual(requiredFeatures({ useSpot: false }), []);
    assert.deepEqual(
      requiredFeatures({
        useSpot: true,
        zone: 'z',
        ports: ['80'],
        imageId: 'i',
        diskSize: 10,
        labels: { a: 'b' },
        autostop: { idleMinutes: 5, down: false },
        numNodes: 2,
      }),
      ['spot', 'zones', 'ports', 'image-id', 'disk-size', 'labels', 'autostop', 'stop-spot', 'multi-node'],
    );
    assert.deepEqual(requiredFeatures({ autostop: { idleMinutes: 5, down: false } }), ['autostop', 'stop']);
    assert.deepEqual(requiredFeatures({ autostop: { idleMinutes: 5, down: true } }), ['autostop']);
    // Empty lists and a spec's null zone ask for nothing.
    assert.deepEqual(requiredFeatures({ ports: [], labels: {}, zone: null, numNodes: 1 }), []);
  });

  test('what a cloud lacks, and the one message for each', () => {
    const r = { diskSize: 10, labels: { a: 'b' }, zone: 'z' };
    assert.deepEqual(missingFeatures(r, has('zones')), ['disk-size', 'labels']);
    assert.deepEqual(missingFeatures(r, getCloud('aws')), []);
    assert.deepEqual(missingFeatures(r, getCloud('fluffycloud')), ['disk-size', 'labels']);
    assert.equal(featureMessage('zones', 'c', has(), r), 'c has no zones; leave zone out');
    assert.equal(
      featureMessage('disk-size', 'c', has(), r),
      'c cannot set the disk size; drop disk_size or choose another cloud',
    );
    assert.equal(
      featureMessage('multi-node', 'c', has(), { numNodes: 3 }),
      'c runs single-node clusters only, but 3 nodes are asked for',
    );
    // Stopping spot instances: a cloud that stops on-demand ones says it cannot stop spot ones; a
    // cloud that cannot stop at all says that.
    const spotStop = { useSpot: true, autostop: { idleMinutes: 7, down: false } };
    assert.equal(
      featureMessage('stop-spot', 'c', has('stop'), spotStop),
      'c cannot stop spot instances, only tear them down; ask for autodown (--down, or autostop: {idle_minutes: 7, down: true})',
    );
    assert.equal(
      featureMessage('stop-spot', 'c', has(), spotStop, 'use autodown'),
      'c cannot stop instances, only tear them down; use autodown',
    );
    assert.equal(featureAsked('zones', r), 'zone: z');
    assert.equal(featureProblem('labels', 'c', has(), r), 'c cannot label instances');
    assert.equal(featureField('labels'), 'labels');
    assert.equal(featureField('stop-spot'), 'autostop');
    assert.equal(featureField('multi-node'), 'numNodes');
  });
});
