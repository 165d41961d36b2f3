/**
 * Equally priced places are ordered as SkyPilot orders them (issue 10): AWS and Lambda try US
 * regions first, then regions by name; other clouds go by region name. The plan says why.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { regionPreference } from '../../../src/catalog/profiles.js';
import type { Cloud } from '../../../src/clouds/types.js';
import type { Resources } from '../../../src/core/task.js';
import { catalogClouds, mkTask, tempHome } from './helpers.js';

let env: ReturnType<typeof tempHome>;
let clouds: Cloud[];
let opt: typeof import('../../../src/optimizer/index.js');

before(async () => {
  env = tempHome();
  clouds = await catalogClouds();
  opt = await import('../../../src/optimizer/index.js');
});
after(() => env.cleanup());

const A10_ON_LAMBDA: Resources = { useSpot: false, cloud: 'lambda', accelerators: { name: 'A10', count: 1 } };

describe('ties between equally priced places', () => {
  test('Lambda lands in a US region first (us-east-1), not asia-northeast-1; the failover order keeps US regions ahead', () => {
    const plan = opt.optimize({ tasks: [mkTask([A10_ON_LAMBDA], { name: 't' })], edges: [] }, { clouds });
    const p = plan.tasks[0];
    assert.equal(p.choice.cloud, 'lambda');
    assert.equal(p.choice.region, 'us-east-1');
    const same = p.ranked.filter((l) => l.hourlyPrice === p.choice.hourlyPrice);
    assert.ok(
      same.some((l) => l.region === 'asia-northeast-1'),
      'the catalog has the tie this test is about',
    );
    const regions = same.map((l) => l.region);
    const firstNonUs = regions.findIndex((r) => !r.startsWith('us-'));
    assert.ok(firstNonUs > 0);
    assert.ok(
      regions.slice(firstNonUs).every((r) => !r.startsWith('us-')),
      `US regions first: ${regions.join(' ')}`,
    );
    assert.deepEqual(regions.slice(0, firstNonUs), [...regions.slice(0, firstNonUs)].sort());
    assert.deepEqual(regions.slice(firstNonUs), [...regions.slice(firstNonUs)].sort());
  });

  test('the plan says why the place was chosen among equals', () => {
    const plan = opt.optimize({ tasks: [mkTask([A10_ON_LAMBDA], { name: 't' })], edges: [] }, { clouds });
    const text = opt.renderPlan(plan);
    const n = new Set(
      plan.tasks[0].ranked
        .filter((l) => l.hourlyPrice === plan.tasks[0].choice.hourlyPrice)
        .map((l) => l.region),
    ).size;
    assert.ok(
      text.includes(
        `  (${n - 1} other places cost the same; lambda/us-east-1 comes first in SkyPilot's order: lambda tries US regions first, then by name.)`,
      ),
      text,
    );
  });

  test('a plan decided by price alone has no such note', () => {
    const plan = opt.optimize(
      {
        tasks: [mkTask([{ useSpot: false, accelerators: { name: 'A100', count: 8 } }], { name: 't' })],
        edges: [],
      },
      { clouds },
    );
    const p = plan.tasks[0];
    const tied = p.ranked.filter(
      (l) =>
        l.hourlyPrice === p.choice.hourlyPrice &&
        (l.cloud !== p.choice.cloud || l.region !== p.choice.region),
    );
    const text = opt.renderPlan(plan);
    assert.equal(text.includes("comes first in SkyPilot's order"), tied.length > 0, text);
  });

  test('only AWS and Lambda prefer US regions; the rest of the order is by name', () => {
    assert.equal(regionPreference('aws', 'us-west-2'), 0);
    assert.equal(regionPreference('aws', 'eu-west-1'), 1);
    assert.equal(regionPreference('lambda', 'asia-northeast-1'), 1);
    assert.equal(regionPreference('gcp', 'europe-west4'), 0);
    assert.equal(regionPreference('gcp', 'us-central1'), 0);
    assert.equal(regionPreference('runpod', 'CA-MTL-1'), 0);
    const lambda = clouds.find((c) => c.name === 'lambda')!;
    const regions = lambda.catalog().regionsOf('gpu_1x_a10');
    assert.ok(regions.indexOf('us-east-1') < regions.indexOf('asia-northeast-1'), regions.join(' '));
  });
});
