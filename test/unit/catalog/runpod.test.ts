// Every catalog function on the bundled RunPod catalog (subset: GPU types only; a zone shared by
// two regions); expected values read from catalogs/runpod/vms.csv.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Catalog, loadCatalog } from '../../../src/catalog/index.js';
import { UserError } from '../../../src/util/errors.js';
import { type TempHome, useTempHome } from './helpers.js';

let home: TempHome;
let runpod: Catalog;
before(() => {
  home = useTempHome();
  runpod = loadCatalog('runpod');
});
after(() => home.restore());

describe('runpod catalog', () => {
  test('rows and types', () => {
    assert.equal(runpod.rows.length, 700);
    assert.equal(new Set(runpod.rows.map((r) => r.instanceType)).size, 28);
    assert.equal(runpod.instanceTypeExists('8x_H100-SXM_SECURE'), true);
    assert.equal(runpod.instanceTypeExists('1x_A10_SECURE'), false);
  });

  test('hourlyCost: on-demand and spot; empty spot is null', () => {
    assert.equal(runpod.hourlyCost('1x_A100-80GB_SECURE', { useSpot: false, region: 'CA' }), 1.64);
    assert.equal(
      runpod.hourlyCost('1x_A100-80GB_SECURE', { useSpot: true, region: 'CA', zone: 'CA-MTL-1' }),
      1.19,
    );
    assert.equal(runpod.hourlyCost('8x_H100-SXM_SECURE', { useSpot: true }), 21.52);
    assert.equal(runpod.hourlyCost('1x_L4_SECURE', { useSpot: true }), null);
    assert.equal(runpod.hourlyCost('1x_L4_SECURE', { useSpot: false, region: 'ca' }), 0.44);
    assert.equal(runpod.acceleratorHourlyCost('L4', 1, { useSpot: false }), null);
    assert.deepEqual(runpod.acceleratorOfferings('L4', 1), []);
    assert.equal(
      runpod.hourlyCostWithAccelerators('1x_A100-80GB_SECURE', { useSpot: true, region: 'CA' }),
      1.19,
    );
  });

  test('info, vcpusMemory, acceleratorsOf', () => {
    assert.deepEqual(runpod.info('8x_A100-80GB_SECURE'), {
      instanceType: '8x_A100-80GB_SECURE',
      vcpus: 64,
      memoryGiB: 640,
      accelerator: { name: 'A100-80GB', count: 8 },
    });
    assert.deepEqual(runpod.vcpusMemory('1x_L4_SECURE'), { vcpus: 4, memoryGiB: 24 });
    assert.deepEqual(runpod.acceleratorsOf('1x_H100-NVL_SECURE'), { name: 'H100-NVL', count: 1 });
  });

  test("defaultInstanceType follows SkyPilot's RunPod rule: the cheapest type that meets what was asked", () => {
    assert.equal(runpod.defaultInstanceType(), '1x_L4_SECURE');
    assert.equal(runpod.defaultInstanceType({ cpus: { value: 16, orMore: true } }), '1x_RTX4090_SECURE');
  });

  test('instanceTypesForAccelerator: exact names only, fuzzy lists the H100 family', () => {
    assert.deepEqual(runpod.instanceTypesForAccelerator('H100', 1), {
      instanceTypes: ['1x_H100_SECURE'],
      fuzzy: [],
    });
    assert.deepEqual(runpod.instanceTypesForAccelerator('h100-sxm', 8), {
      instanceTypes: ['8x_H100-SXM_SECURE'],
      fuzzy: [],
    });
    assert.deepEqual(runpod.instanceTypesForAccelerator('H100', 3), {
      instanceTypes: [],
      fuzzy: ['H100:4', 'H100-NVL:4', 'H100-SXM:4', 'H100:8', 'H100-NVL:8', 'H100-SXM:8'],
    });
    assert.deepEqual(runpod.instanceTypesForAccelerator('L4', 1, { useSpot: true }), {
      instanceTypes: [],
      fuzzy: [],
    });
  });

  test('instanceTypesFor: no CPU-only types in this subset', () => {
    assert.deepEqual(runpod.instanceTypesFor({}), []);
    assert.equal(runpod.instanceTypesFor({ withAccelerators: true })[0], '1x_L4_SECURE');
  });

  test('regions and zones, with EU-SE-1 in two regions', () => {
    assert.deepEqual(runpod.regions(), ['CA', 'CZ', 'IS', 'NL', 'NO', 'RO', 'SE', 'US']);
    assert.deepEqual(runpod.zones('NO'), ['EU-SE-1']);
    assert.deepEqual(runpod.zones('SE'), ['EU-SE-1']);
    assert.equal(runpod.zones('US').length, 14);
    assert.equal(runpod.regionsOf('1x_L4_SECURE').length, 8);
    assert.deepEqual(runpod.zonesOf('1x_L4_SECURE', 'CA'), ['CA-MTL-1', 'CA-MTL-2', 'CA-MTL-3']);
    assert.equal(runpod.offerings('1x_L4_SECURE').length, 25);
  });

  test('validateRegionZone: a zone of two regions is valid in both, and its region stays open', () => {
    assert.deepEqual(runpod.validateRegionZone('NO', 'EU-SE-1'), { region: 'NO', zone: 'EU-SE-1' });
    assert.deepEqual(runpod.validateRegionZone('se', 'eu-se-1'), { region: 'SE', zone: 'EU-SE-1' });
    assert.deepEqual(runpod.validateRegionZone(undefined, 'EU-SE-1'), { region: undefined, zone: 'EU-SE-1' });
    assert.throws(
      () => runpod.validateRegionZone('CA', 'EU-SE-1'),
      (e: unknown) => e instanceof UserError && /it is in NO, SE/.test(e.message),
    );
    assert.throws(
      () => runpod.validateRegionZone('DE'),
      (e: unknown) => e instanceof UserError && /Unknown runpod region 'DE'/.test(e.message),
    );
  });

  test('listAccelerators and acceleratorNames', () => {
    assert.deepEqual(runpod.acceleratorNames(), [
      'A100-80GB',
      'A100-80GB-SXM',
      'H100',
      'H100-NVL',
      'H100-SXM',
      'L4',
      'RTX4090',
    ]);
    const a100 = runpod.listAccelerators({ name: 'a100-80gb' });
    assert.equal(a100.length, 8); // A100-80GB and A100-80GB-SXM, 4 counts each
    assert.deepEqual(a100[0], {
      acceleratorName: 'A100-80GB',
      acceleratorCount: 1,
      instanceType: '1x_A100-80GB_SECURE',
      vcpus: 8,
      memoryGiB: 80,
      cheapestPrice: 1.64,
      cheapestPriceRegion: 'CA',
      cheapestSpotPrice: 1.19,
      cheapestSpotRegion: 'CA',
      deviceMemoryGiB: null, // RunPod's GpuInfo is only the name
    });
  });
});
