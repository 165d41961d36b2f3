// Every catalog function on the bundled GCP catalog (VM rows plus attachable accelerator rows);
// expected values read from catalogs/gcp/vms.csv.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Catalog, catalogFromRows, loadCatalog } from '../../../src/catalog/index.js';
import type { CatalogRow } from '../../../src/catalog/types.js';
import { UserError } from '../../../src/util/errors.js';
import { type TempHome, useTempHome } from './helpers.js';

let home: TempHome;
let gcp: Catalog;
before(() => {
  home = useTempHome();
  gcp = loadCatalog('gcp');
});
after(() => home.restore());

describe('gcp catalog', () => {
  test('loads VM rows and accelerator rows', () => {
    assert.equal(gcp.rows.length, 2913);
    assert.equal(gcp.rows.filter((r) => r.instanceType === '').length, 561);
    assert.equal(gcp.source.kind, 'bundled');
  });

  test('instanceTypeExists: VM types only, not accelerator rows', () => {
    assert.equal(gcp.instanceTypeExists('a2-highgpu-8g'), true);
    assert.equal(gcp.instanceTypeExists('n2-standard-128'), true);
    assert.equal(gcp.instanceTypeExists(''), false);
    assert.equal(gcp.instanceTypeExists('n1-standard-8'), false);
  });

  test('hourlyCost: the VM alone', () => {
    assert.equal(gcp.hourlyCost('a2-highgpu-8g', { useSpot: false, region: 'us-central1' }), 5.91582);
    assert.equal(
      gcp.hourlyCost('a2-highgpu-8g', { useSpot: true, region: 'us-central1', zone: 'us-central1-f' }),
      2.36604,
    );
    assert.equal(gcp.hourlyCost('n2-standard-8', { useSpot: false }), 0.38847);
    assert.equal(gcp.hourlyCost('a2-highgpu-8g', { useSpot: false, region: 'europe-west1' }), null);
  });

  test('acceleratorHourlyCost: A100:8 per region, zone and spot', () => {
    assert.equal(gcp.acceleratorHourlyCost('A100', 8, { useSpot: false, region: 'us-central1' }), 23.47126);
    assert.equal(gcp.acceleratorHourlyCost('a100', 8, { useSpot: true, region: 'us-central1' }), 9.1776);
    assert.equal(gcp.acceleratorHourlyCost('A100', 8, { useSpot: false }), 12.90919); // europe-west4
    assert.equal(gcp.acceleratorHourlyCost('A100', 8, { useSpot: true }), 7.7144); // asia-northeast1
    assert.equal(gcp.acceleratorHourlyCost('A100', 8, { useSpot: false, zone: 'us-central1-b' }), 23.47126);
    assert.equal(gcp.acceleratorHourlyCost('T4', 1, { useSpot: false }), 0.35);
    assert.equal(gcp.acceleratorHourlyCost('T4', 8, { useSpot: false }), null);
    assert.equal(gcp.acceleratorHourlyCost('A100', 8, { useSpot: false, region: 'europe-west1' }), null);
    const offers = gcp.acceleratorOfferings('A100', 8);
    assert.deepEqual(
      offers.filter((o) => o.region === 'us-central1').map((o) => o.zone),
      ['us-central1-a', 'us-central1-b', 'us-central1-c', 'us-central1-f'],
    );
    assert.ok(offers.every((o) => o.instanceType === ''));
  });

  test('hourlyCostWithAccelerators: a2 VM plus its A100s in the same zone', () => {
    const opts = { useSpot: false, region: 'us-central1' };
    assert.equal(gcp.hourlyCostWithAccelerators('a2-highgpu-8g', opts), 29.38708); // 5.91582 + 23.47126
    assert.equal(gcp.hourlyCostWithAccelerators('a2-highgpu-8g', { useSpot: false }), 19.4217); // europe-west4
    assert.equal(gcp.hourlyCostWithAccelerators('a2-highgpu-8g', { useSpot: true }), 10.33396); // asia-northeast1
    assert.equal(gcp.hourlyCostWithAccelerators('n2-standard-8', opts), 0.38847);
  });

  test('info and acceleratorsOf know the GPUs that come with a2/a3/g2 machines', () => {
    assert.deepEqual(gcp.info('a2-highgpu-8g'), {
      instanceType: 'a2-highgpu-8g',
      vcpus: 96,
      memoryGiB: 680,
      accelerator: { name: 'A100', count: 8 },
    });
    assert.deepEqual(gcp.acceleratorsOf('a3-highgpu-8g'), { name: 'H100', count: 8 });
    assert.deepEqual(gcp.acceleratorsOf('g2-standard-4'), { name: 'L4', count: 1 });
    assert.deepEqual(gcp.acceleratorsOf('g2-standard-48'), { name: 'L4', count: 4 });
    assert.equal(gcp.acceleratorsOf('n2-standard-8'), null);
    assert.deepEqual(gcp.vcpusMemory('e2-standard-2'), { vcpus: 2, memoryGiB: 8 });
  });

  test("defaultInstanceType follows SkyPilot's GCP rule (n2/n4 families; e2 is cheaper but not a default)", () => {
    assert.equal(gcp.defaultInstanceType(), 'n2-standard-8');
    assert.equal(gcp.defaultInstanceType({ cpus: { value: 2, orMore: false } }), 'n2-standard-2');
    assert.equal(gcp.defaultInstanceType({ cpus: { value: 2, orMore: false }, region: 'nope' }), null);
  });

  test('instanceTypesForAccelerator: machine types for A100/L4, nothing for T4 without an n1 host', () => {
    assert.deepEqual(gcp.instanceTypesForAccelerator('A100', 8), {
      instanceTypes: ['a2-highgpu-8g'],
      fuzzy: [],
    });
    assert.deepEqual(gcp.instanceTypesForAccelerator('L4', 1).instanceTypes, [
      'g2-standard-4',
      'g2-standard-8',
      'g2-standard-12',
      'g2-standard-16',
      'g2-standard-32',
    ]);
    assert.deepEqual(
      gcp.instanceTypesForAccelerator('L4', 1, { cpus: { value: 12, orMore: true } }).instanceTypes,
      ['g2-standard-12', 'g2-standard-16', 'g2-standard-32'],
    );
    // T4 exists only as an attachable accelerator; its hosts (n1-*) are not in this subset.
    assert.deepEqual(gcp.instanceTypesForAccelerator('T4', 1), { instanceTypes: [], fuzzy: [] });
    assert.deepEqual(gcp.instanceTypesForAccelerator('A100', 3), {
      instanceTypes: [],
      fuzzy: ['A100:4', 'A100:8', 'A100:16'],
    });
    // A100:16 has accelerator rows but its machine (a2-megagpu-16g) is not in the subset.
    assert.deepEqual(gcp.instanceTypesForAccelerator('A100', 16), { instanceTypes: [], fuzzy: [] });
  });

  test('instanceTypesFor', () => {
    const types = gcp.instanceTypesFor({
      cpus: { value: 8, orMore: false },
      memory: { value: 32, orMore: false },
    });
    assert.deepEqual(types, ['e2-standard-8', 'n2-standard-8']);
    assert.ok(
      gcp
        .instanceTypesFor({ cpus: { value: 8, orMore: false }, withAccelerators: true })
        .includes('g2-standard-8'),
    );
  });

  test('regions, zones, regionsOf, zonesOf, offerings', () => {
    assert.equal(gcp.regions().length, 42);
    assert.deepEqual(gcp.zones('us-central1'), [
      'us-central1-a',
      'us-central1-b',
      'us-central1-c',
      'us-central1-f',
    ]);
    assert.deepEqual(gcp.regionsOf('a2-highgpu-8g').sort(), [
      'asia-northeast1',
      'asia-northeast3',
      'asia-southeast1',
      'europe-west4',
      'me-west1',
      'us-central1',
      'us-east1',
      'us-west1',
      'us-west3',
      'us-west4',
    ]);
    assert.equal(gcp.offerings('a3-highgpu-8g').length, 22);
    assert.deepEqual(gcp.zonesOf('a2-highgpu-8g', 'us-central1'), [
      'us-central1-a',
      'us-central1-b',
      'us-central1-c',
      'us-central1-f',
    ]);
  });

  test('validateRegionZone', () => {
    assert.deepEqual(gcp.validateRegionZone('us-central1', 'us-central1-a'), {
      region: 'us-central1',
      zone: 'us-central1-a',
    });
    assert.throws(
      () => gcp.validateRegionZone('us-central2'),
      (e: unknown) => e instanceof UserError && /did you mean .*us-central1/.test(e.message),
    );
    assert.throws(
      () => gcp.validateRegionZone('us-central1', 'us-central1-d'),
      (e: unknown) => e instanceof UserError && /zone 'us-central1-d' in region us-central1/.test(e.message),
    );
  });

  test('listAccelerators: a2 with the A100 price added; T4 attached with its own price', () => {
    const a100 = gcp.listAccelerators({ name: 'A100' });
    assert.deepEqual(
      a100.map((o) => [o.acceleratorCount, o.instanceType, o.cheapestPrice, o.cheapestPriceRegion]),
      [
        [1, 'a2-highgpu-1g', 2.42771, 'europe-west4'],
        [2, 'a2-highgpu-2g', 4.85543, 'europe-west4'],
        [4, 'a2-highgpu-4g', 9.71086, 'europe-west4'],
        [8, 'a2-highgpu-8g', 19.4217, 'europe-west4'],
      ],
    );
    assert.equal(a100[3].cheapestSpotPrice, 10.33396);
    assert.equal(a100[3].deviceMemoryGiB, 40);
    const t4 = gcp.listAccelerators({ name: 'T4' });
    assert.deepEqual(
      t4.map((o) => [o.acceleratorCount, o.instanceType, o.vcpus, o.cheapestPrice, o.cheapestPriceRegion]),
      [
        [1, '', null, 0.35, 'asia-east1'],
        [2, '', null, 0.7, 'asia-east1'],
        [4, '', null, 1.4, 'asia-east1'],
      ],
    );
    assert.deepEqual(gcp.listAccelerators({ name: 'T4', includeAttachable: false }), []);
    assert.deepEqual(gcp.acceleratorNames(), ['A100', 'H100', 'L4', 'T4', 'V100']);
  });
});

describe('gcp attachable accelerators with n1 hosts (as in the full catalog after `catalog update gcp`)', () => {
  const vm = (t: string, v: number, m: number, price: number, zone: string): CatalogRow => ({
    instanceType: t,
    acceleratorName: null,
    acceleratorCount: null,
    vcpus: v,
    memoryGiB: m,
    gpuInfo: null,
    price,
    spotPrice: price / 4,
    region: zone.slice(0, -2),
    zone,
  });
  const t4 = (count: number, price: number, zone: string): CatalogRow => ({
    instanceType: '',
    acceleratorName: 'T4',
    acceleratorCount: count,
    vcpus: null,
    memoryGiB: null,
    gpuInfo: "{'Gpus': [{'MemoryInfo': {'SizeInMiB': 16384}}]}",
    price,
    spotPrice: null,
    region: zone.slice(0, -2),
    zone,
  });
  const rows = [
    vm('n1-standard-4', 4, 15, 0.19, 'us-central1-a'),
    vm('n1-highmem-4', 4, 26, 0.237, 'us-central1-a'),
    vm('n1-standard-8', 8, 30, 0.38, 'us-central1-a'),
    vm('n1-standard-8', 8, 30, 0.4, 'europe-west1-b'),
    vm('n2-standard-4', 4, 16, 0.19, 'us-central1-a'),
    t4(1, 0.35, 'us-central1-a'),
    t4(4, 1.4, 'europe-west1-b'),
  ];
  const cat = catalogFromRows('gcp', rows, { kind: 'generated', path: '(test rows)' });

  test("the host follows SkyPilot's rule: T4:1 gets 4+ vCPUs and 16+ GiB from the n1 family", () => {
    // n1-standard-4 has 15 GiB, n2 may not host GPUs: n1-highmem-4 is the cheapest that fits.
    assert.deepEqual(cat.instanceTypesForAccelerator('T4', 1), {
      instanceTypes: ['n1-highmem-4', 'n1-standard-8'],
      fuzzy: [],
    });
    // cpus without memory asks 4 GiB per vCPU: n1-standard-8 has 30 GiB, not 32.
    assert.deepEqual(
      cat.instanceTypesForAccelerator('T4', 1, { cpus: { value: 8, orMore: false } }).instanceTypes,
      [],
    );
    const asked = { cpus: { value: 8, orMore: false }, memory: { value: 30, orMore: true } };
    assert.deepEqual(cat.instanceTypesForAccelerator('T4', 1, asked).instanceTypes, ['n1-standard-8']);
    // T4:4 wants 48+ vCPUs: no host here.
    assert.deepEqual(cat.instanceTypesForAccelerator('T4', 4), { instanceTypes: [], fuzzy: [] });
    assert.deepEqual(cat.instanceTypesForAccelerator('T4', 2), { instanceTypes: [], fuzzy: ['T4:4'] });
  });

  test('listAccelerators pairs the accelerator with its cheapest host in the same zone', () => {
    assert.deepEqual(
      cat
        .listAccelerators({ name: 'T4' })
        .map((o) => [o.acceleratorCount, o.instanceType, o.vcpus, o.cheapestPrice]),
      [
        [1, 'n1-highmem-4', 4, 0.587],
        [4, '', null, 1.4],
      ],
    );
  });
});
