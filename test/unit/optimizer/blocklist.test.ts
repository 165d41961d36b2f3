/** The blocklist at cloud, region and zone scope moves the choice where it should (real catalogs). */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Cloud } from '../../../src/clouds/types.js';
import type { BlocklistEntry } from '../../../src/core/cluster.js';
import type { Plan } from '../../../src/optimizer/index.js';
import type { Resources } from '../../../src/core/task.js';
import { UserError } from '../../../src/util/errors.js';
import type { RawCatalog } from './bruteforce.js';
import { catalogClouds, mkTask, rawCatalogs, tempHome } from './helpers.js';

let env: ReturnType<typeof tempHome>;
let clouds: Cloud[];
let cats: RawCatalog[];
let optimize: typeof import('../../../src/optimizer/index.js').optimize;

before(async () => {
  env = tempHome();
  clouds = await catalogClouds();
  ({ cats } = rawCatalogs(clouds));
  ({ optimize } = await import('../../../src/optimizer/index.js'));
});
after(() => env.cleanup());

const A100_8: Resources = { useSpot: false, accelerators: { name: 'A100', count: 8 } };

function plan(r: Resources, blocklist: BlocklistEntry[] = []): Plan {
  return optimize({ tasks: [mkTask([r], { name: 'b' })], edges: [] }, { clouds, blocklist });
}

/** Cheapest raw row price of an AWS type (spot or on-demand), skipping the given zones. */
function awsMin(
  type: string,
  spot: boolean,
  skipZones: string[] = [],
): { price: number; region: string; zone: string } {
  const aws = cats.find((c) => c.cloud === 'aws')!;
  let best: { price: number; region: string; zone: string } | null = null;
  for (const row of aws.types.get(type)!.rows) {
    const p = spot ? row.spot : row.price;
    if (p === null || skipZones.includes(row.zone!)) continue;
    if (!best || p < best.price) best = { price: p, region: row.region, zone: row.zone! };
  }
  return best!;
}

describe('blocklist', () => {
  test('cloud scope: blocking the cheapest cloud moves A100:8 to the next cloud', () => {
    const before = plan(A100_8);
    assert.equal(before.tasks[0].choice.cloud, 'lambda');
    const after = plan(A100_8, [{ cloud: 'lambda' }]);
    assert.equal(after.tasks[0].choice.cloud, 'gcp');
    assert.equal(after.tasks[0].choice.instanceType, 'a2-highgpu-8g');
    assert.ok(after.tasks[0].ranked.every((l) => l.cloud !== 'lambda'));
    assert.ok(after.totalCost > before.totalCost);
  });

  test('region scope: blocking the chosen region keeps the cloud, moves to its next region', () => {
    const first = plan(A100_8).tasks[0].choice;
    const after = plan(A100_8, [{ cloud: first.cloud, region: first.region }]).tasks[0];
    assert.equal(after.choice.cloud, first.cloud);
    assert.notEqual(after.choice.region, first.region);
    assert.equal(after.choice.hourlyPrice, first.hourlyPrice); // Lambda prices A100:8 the same everywhere
    assert.ok(after.ranked.every((l) => !(l.cloud === first.cloud && l.region === first.region)));
  });

  test('zone scope (spot): the blocked zone goes, the price becomes the next zone’s', () => {
    const r: Resources = { useSpot: true, cloud: 'aws', accelerators: { name: 'H100', count: 8 } };
    const first = plan(r).tasks[0].choice;
    const want0 = awsMin('p5.48xlarge', true);
    assert.deepEqual([first.region, first.zone, first.hourlyPrice], [want0.region, want0.zone, want0.price]);
    const after = plan(r, [{ cloud: 'aws', zone: first.zone! }]).tasks[0];
    const want = awsMin('p5.48xlarge', true, [first.zone!]);
    assert.equal(after.choice.hourlyPrice, want.price);
    assert.equal(after.choice.region, want.region);
    assert.equal(after.choice.zone, want.zone);
    assert.ok(after.ranked.every((l) => !l.zones.includes(first.zone!) && l.zone !== first.zone));
  });

  test('zone scope (on-demand): a region keeps its other zones; all zones blocked drops the region', () => {
    const r: Resources = { useSpot: false, cloud: 'aws', accelerators: { name: 'A100', count: 8 } };
    const first = plan(r).tasks[0].choice;
    assert.equal(first.instanceType, 'p4d.24xlarge');
    assert.ok(first.zones.length >= 2, `expected several zones, got ${first.zones.join(',')}`);
    const one = plan(r, [{ cloud: 'aws', region: first.region, zone: first.zones[0] }]).tasks[0].choice;
    assert.equal(one.region, first.region);
    assert.deepEqual(one.zones, first.zones.slice(1));
    const all = plan(
      r,
      first.zones.map((z) => ({ cloud: 'aws', zone: z })),
    ).tasks[0];
    assert.notEqual(all.choice.region, first.region);
    assert.ok(all.ranked.every((l) => l.region !== first.region));
  });

  test('everything blocked: a UserError that says so', () => {
    const r: Resources = { useSpot: false, cloud: 'aws', accelerators: { name: 'A100', count: 8 } };
    assert.throws(
      () => plan(r, [{ cloud: 'aws' }]),
      (e: Error & { details?: string[] }) =>
        e.name === 'UserError' &&
        /task 'b': every place that fits .*A100.* is blocked \(aws\)/.test(e.message),
    );
  });
});

describe('autostop as a request', () => {
  test('autostop that stops needs a cloud that can stop (lambda cannot); autodown does not', () => {
    const stop = plan({ ...A100_8, autostop: { idleMinutes: 10, down: false } }).tasks[0];
    assert.notEqual(stop.choice.cloud, 'lambda');
    assert.ok(stop.ranked.every((l) => !['lambda', 'fluffycloud'].includes(l.cloud)));
    assert.equal(stop.choice.cloud, plan(A100_8, [{ cloud: 'lambda' }]).tasks[0].choice.cloud);
    const down = plan({ ...A100_8, autostop: { idleMinutes: 10, down: true } }).tasks[0];
    assert.equal(down.choice.cloud, 'lambda');
  });

  test('no cloud stops spot instances: spot with autostop is refused with the way out; spot with autodown plans', () => {
    const spot: Resources = { useSpot: true, accelerators: { name: 'A100', count: 8 } };
    assert.throws(
      () => plan({ ...spot, autostop: { idleMinutes: 10, down: false } }),
      (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.ok(
          e.details.includes(
            'no cloud here can stop spot instances; ask for autodown (--down) to tear the cluster down when idle instead',
          ),
          e.details.join('\n'),
        );
        return true;
      },
    );
    const down = plan({ ...spot, autostop: { idleMinutes: 10, down: true } }).tasks[0];
    assert.equal(down.choice.cloud, plan(spot).tasks[0].choice.cloud);
    assert.equal(down.choice.useSpot, true);
  });
});
