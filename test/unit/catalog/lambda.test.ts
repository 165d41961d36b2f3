// Every catalog function on the bundled Lambda catalog (no zones, no spot); expected values read
// from catalogs/lambda/vms.csv.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Catalog, loadCatalog } from '../../../src/catalog/index.js';
import { UserError } from '../../../src/util/errors.js';
import { type TempHome, useTempHome } from './helpers.js';

let home: TempHome;
let lambda: Catalog;
before(() => {
  home = useTempHome();
  lambda = loadCatalog('lambda');
});
after(() => home.restore());

const ALL_REGIONS = [
  'asia-northeast-1',
  'asia-northeast-2',
  'asia-south-1',
  'australia-east-1',
  'europe-central-1',
  'europe-south-1',
  'me-west-1',
  'us-east-1',
  'us-east-2',
  'us-east-3',
  'us-midwest-1',
  'us-south-1',
  'us-south-2',
  'us-south-3',
  'us-west-1',
  'us-west-2',
  'us-west-3',
];

describe('lambda catalog', () => {
  test('rows, no zones', () => {
    assert.equal(lambda.rows.length, 323);
    assert.equal(lambda.hasZones, false);
    assert.ok(lambda.rows.every((r) => r.zone === null && r.spotPrice === null));
  });

  test('instanceTypeExists, info, vcpusMemory, acceleratorsOf', () => {
    assert.equal(lambda.instanceTypeExists('gpu_8x_a100'), true);
    assert.equal(lambda.instanceTypeExists('gpu_16x_a100'), false);
    assert.deepEqual(lambda.info('gpu_8x_a100'), {
      instanceType: 'gpu_8x_a100',
      vcpus: 124,
      memoryGiB: 1800,
      accelerator: { name: 'A100', count: 8 },
    });
    assert.deepEqual(lambda.vcpusMemory('cpu_4x_general'), { vcpus: 4, memoryGiB: 16 });
    assert.equal(lambda.acceleratorsOf('cpu_4x_general'), null);
    assert.deepEqual(lambda.acceleratorsOf('gpu_1x_gh200'), { name: 'GH200', count: 1 });
  });

  test('hourlyCost: one price everywhere, no spot, no zones', () => {
    assert.equal(lambda.hourlyCost('gpu_8x_a100', { useSpot: false, region: 'us-east-1' }), 10.32);
    assert.equal(lambda.hourlyCost('gpu_8x_h100_sxm5', { useSpot: false }), 23.92);
    assert.equal(lambda.hourlyCost('gpu_8x_a100', { useSpot: true }), null);
    assert.equal(lambda.hourlyCost('gpu_8x_a100', { useSpot: false, zone: 'us-east-1a' }), null);
    assert.equal(lambda.acceleratorHourlyCost('A100', 8, { useSpot: false }), null);
    assert.deepEqual(lambda.acceleratorOfferings('A100', 8), []);
    assert.equal(lambda.hourlyCostWithAccelerators('gpu_1x_a10', { useSpot: false }), 0.75);
  });

  test("defaultInstanceType follows SkyPilot's Lambda rule: 30+ vCPUs, 4 GiB per vCPU, any type", () => {
    assert.equal(lambda.defaultInstanceType(), 'gpu_1x_a10');
    assert.equal(lambda.defaultInstanceType({ cpus: { value: 4, orMore: false } }), 'cpu_4x_general');
    assert.equal(lambda.defaultInstanceType({ memory: { value: 400, orMore: true } }), 'gpu_1x_gh200');
  });

  test('instanceTypesForAccelerator', () => {
    // gpu_1x_a100 and gpu_1x_a100_sxm4 cost the same (1.29): ties go to the smaller, then the name.
    assert.deepEqual(lambda.instanceTypesForAccelerator('A100', 1), {
      instanceTypes: ['gpu_1x_a100', 'gpu_1x_a100_sxm4'],
      fuzzy: [],
    });
    assert.deepEqual(lambda.instanceTypesForAccelerator('H100', 1).instanceTypes, [
      'gpu_1x_h100_pcie',
      'gpu_1x_h100_sxm5',
    ]);
    assert.deepEqual(
      lambda.instanceTypesForAccelerator('H100', 1, { memory: { value: 225, orMore: false } }).instanceTypes,
      ['gpu_1x_h100_sxm5'],
    );
    assert.deepEqual(lambda.instanceTypesForAccelerator('a100', 3), {
      instanceTypes: [],
      fuzzy: ['A100:4', 'A100:8', 'A100-80GB:8'],
    });
    assert.deepEqual(lambda.instanceTypesForAccelerator('A100', 8, { useSpot: true }), {
      instanceTypes: [],
      fuzzy: [],
    });
  });

  test('instanceTypesFor', () => {
    assert.deepEqual(lambda.instanceTypesFor({}), ['cpu_4x_general']);
    assert.deepEqual(
      lambda.instanceTypesFor({ cpus: { value: 200, orMore: true }, withAccelerators: true }),
      [
        'gpu_8x_a100_80gb_sxm4', // 14.32
        'gpu_8x_h100_sxm5', // 23.92
      ],
    );
  });

  test('regions of gpu_8x_a100: all 17, no zones', () => {
    assert.deepEqual(lambda.regions(), ALL_REGIONS);
    // Same price everywhere: SkyPilot's order, US regions first, then by name.
    const us = ALL_REGIONS.filter((r) => r.startsWith('us-'));
    assert.ok(us.length > 0 && us.length < ALL_REGIONS.length);
    assert.deepEqual(lambda.regionsOf('gpu_8x_a100'), [...us, ...ALL_REGIONS.filter((r) => !us.includes(r))]);
    assert.deepEqual(lambda.zones('us-east-1'), []);
    assert.deepEqual(lambda.zonesOf('gpu_8x_a100', 'us-east-1'), []);
    assert.deepEqual(lambda.offerings('gpu_8x_a100')[0], {
      instanceType: 'gpu_8x_a100',
      region: 'europe-central-1',
      zone: null,
      price: 10.32,
      spotPrice: null,
    });
  });

  test('validateRegionZone refuses zones', () => {
    assert.deepEqual(lambda.validateRegionZone('us-west-1'), { region: 'us-west-1' });
    assert.throws(
      () => lambda.validateRegionZone('us-west-1', 'us-west-1a'),
      (e: unknown) => e instanceof UserError && /lambda has no zones/.test(e.message),
    );
    assert.throws(
      () => lambda.validateRegionZone('us-west1'),
      (e: unknown) => e instanceof UserError && /did you mean us-west-1/.test(e.message),
    );
  });

  test('listAccelerators and acceleratorNames', () => {
    assert.deepEqual(lambda.acceleratorNames(), [
      'A10',
      'A100',
      'A100-80GB',
      'A6000',
      'GH200',
      'H100',
      'RTX6000',
      'V100',
    ]);
    const h100 = lambda.listAccelerators({ name: 'h100' });
    assert.deepEqual(
      h100.map((o) => [o.acceleratorCount, o.instanceType, o.cheapestPrice, o.cheapestSpotPrice]),
      [
        [1, 'gpu_1x_h100_pcie', 2.49, null],
        [1, 'gpu_1x_h100_sxm5', 3.29, null],
        [2, 'gpu_2x_h100_sxm5', 6.38, null],
        [4, 'gpu_4x_h100_sxm5', 12.36, null],
        [8, 'gpu_8x_h100_sxm5', 23.92, null],
      ],
    );
    // a substring match: five A100 types and the A100-80GB one
    assert.equal(lambda.listAccelerators({ name: 'A100', region: 'us-east-1' }).length, 6);
  });
});
