// Every catalog function on the bundled FluffyCloud catalog (our own design: see catalogs/SOURCE.md).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Catalog, loadCatalog } from '../../../src/catalog/index.js';
import { UserError } from '../../../src/util/errors.js';
import { type TempHome, useTempHome } from './helpers.js';

let home: TempHome;
let ff: Catalog;
before(() => {
  home = useTempHome();
  ff = loadCatalog('fluffycloud');
});
after(() => home.restore());

describe('fluffycloud catalog', () => {
  test('shape: 12 types, 3 regions, zones in two of them, accelerator names from the common list', () => {
    assert.equal(ff.rows.length, 68);
    assert.deepEqual(ff.regions(), ['fluffy-east', 'fluffy-eu', 'fluffy-west']);
    assert.deepEqual(ff.zones('fluffy-east'), ['fluffy-east-1a', 'fluffy-east-1b']);
    assert.deepEqual(ff.zones('fluffy-west'), ['fluffy-west-1a', 'fluffy-west-1b', 'fluffy-west-1c']);
    assert.deepEqual(ff.zones('fluffy-eu'), []);
    assert.equal(ff.hasZones, true);
    assert.deepEqual(ff.acceleratorNames(), ['A100', 'H100', 'L4', 'T4']);
  });

  test('instanceTypeExists, info, vcpusMemory, acceleratorsOf', () => {
    assert.equal(ff.instanceTypeExists('ff.small'), true);
    assert.equal(ff.instanceTypeExists('ff.tiny'), false);
    assert.deepEqual(ff.info('ff.gpu.a100.8'), {
      instanceType: 'ff.gpu.a100.8',
      vcpus: 96,
      memoryGiB: 680,
      accelerator: { name: 'A100', count: 8 },
    });
    assert.deepEqual(ff.vcpusMemory('ff.small'), { vcpus: 2, memoryGiB: 8 });
    assert.equal(ff.acceleratorsOf('ff.large'), null);
  });

  test('hourlyCost: prices differ by region; spot only in zoned regions', () => {
    assert.equal(ff.hourlyCost('ff.large', { useSpot: false, region: 'fluffy-east' }), 0.32);
    assert.equal(ff.hourlyCost('ff.large', { useSpot: false, region: 'fluffy-west' }), 0.352);
    assert.equal(ff.hourlyCost('ff.large', { useSpot: false, region: 'fluffy-eu' }), 0.384);
    assert.equal(
      ff.hourlyCost('ff.large', { useSpot: true, region: 'fluffy-east', zone: 'fluffy-east-1b' }),
      0.112,
    );
    assert.equal(ff.hourlyCost('ff.large', { useSpot: true }), 0.096);
    assert.equal(ff.hourlyCost('ff.large', { useSpot: true, region: 'fluffy-eu' }), null);
    assert.equal(ff.hourlyCost('ff.gpu.a100.8', { useSpot: false }), 24.5); // cheapest in the west
    assert.equal(ff.hourlyCost('ff.gpu.a100.8', { useSpot: true }), null);
    assert.equal(ff.hourlyCost('ff.gpu.h100.8', { useSpot: false, region: 'fluffy-eu' }), null);
    assert.equal(ff.acceleratorHourlyCost('A100', 8, { useSpot: false }), null);
    assert.deepEqual(ff.acceleratorOfferings('A100', 8), []);
    assert.equal(
      ff.hourlyCostWithAccelerators('ff.gpu.t4.1', { useSpot: true, region: 'fluffy-west' }),
      0.1815,
    );
  });

  test('defaultInstanceType: 8+ vCPUs and 4 GiB per vCPU, so ff.highcpu.8 is passed over for ff.large', () => {
    assert.equal(ff.defaultInstanceType(), 'ff.large');
    assert.equal(ff.defaultInstanceType({ cpus: { value: 2, orMore: true } }), 'ff.small');
    assert.equal(
      ff.defaultInstanceType({ cpus: { value: 8, orMore: false }, memory: { value: 16, orMore: false } }),
      'ff.highcpu.8',
    );
    assert.equal(ff.defaultInstanceType({ memory: { value: 64, orMore: true } }), 'ff.highmem.8');
  });

  test('instanceTypesForAccelerator', () => {
    assert.deepEqual(ff.instanceTypesForAccelerator('T4', 1), { instanceTypes: ['ff.gpu.t4.1'], fuzzy: [] });
    assert.deepEqual(ff.instanceTypesForAccelerator('H100', 8, { region: 'fluffy-eu' }), {
      instanceTypes: [],
      fuzzy: [],
    });
    assert.deepEqual(ff.instanceTypesForAccelerator('A100', 2), { instanceTypes: [], fuzzy: ['A100:8'] });
    assert.deepEqual(ff.instanceTypesForAccelerator('T4', 2), { instanceTypes: [], fuzzy: ['T4:4'] });
  });

  test('regionsOf gives the failover order: cheapest region first', () => {
    assert.deepEqual(ff.regionsOf('ff.large'), ['fluffy-east', 'fluffy-west', 'fluffy-eu']);
    assert.deepEqual(ff.regionsOf('ff.gpu.a100.8'), ['fluffy-west', 'fluffy-east', 'fluffy-eu']);
    assert.deepEqual(ff.regionsOf('ff.gpu.h100.8'), ['fluffy-west', 'fluffy-east']);
    assert.deepEqual(ff.zonesOf('ff.large', 'fluffy-west'), [
      'fluffy-west-1a',
      'fluffy-west-1b',
      'fluffy-west-1c',
    ]);
    assert.deepEqual(ff.zonesOf('ff.gpu.h100.8', 'fluffy-west'), ['fluffy-west-1b', 'fluffy-west-1c']);
    assert.deepEqual(ff.zonesOf('ff.large', 'fluffy-eu'), []);
    assert.deepEqual(ff.offerings('ff.gpu.h100.8'), [
      {
        instanceType: 'ff.gpu.h100.8',
        region: 'fluffy-east',
        zone: 'fluffy-east-1a',
        price: 40.95,
        spotPrice: null,
      },
      {
        instanceType: 'ff.gpu.h100.8',
        region: 'fluffy-west',
        zone: 'fluffy-west-1b',
        price: 39,
        spotPrice: null,
      },
      {
        instanceType: 'ff.gpu.h100.8',
        region: 'fluffy-west',
        zone: 'fluffy-west-1c',
        price: 39,
        spotPrice: null,
      },
    ]);
  });

  test('validateRegionZone: a region without zones refuses one', () => {
    assert.deepEqual(ff.validateRegionZone('fluffy-west', 'fluffy-west-1c'), {
      region: 'fluffy-west',
      zone: 'fluffy-west-1c',
    });
    assert.throws(
      () => ff.validateRegionZone('fluffy-eu', 'fluffy-east-1a'),
      (e: unknown) => e instanceof UserError && /region fluffy-eu has no zones/.test(e.message),
    );
    assert.throws(
      () => ff.validateRegionZone('fluffy-south'),
      (e: unknown) =>
        e instanceof UserError && /did you mean fluffy-east, fluffy-eu, fluffy-west\?/.test(e.message),
    );
  });

  test('listAccelerators', () => {
    const all = ff.listAccelerators();
    assert.deepEqual(
      all.map(
        (o) =>
          `${o.acceleratorName}:${o.acceleratorCount} ${o.instanceType} ${o.cheapestPrice}@${o.cheapestPriceRegion}`,
      ),
      [
        'A100:1 ff.gpu.a100.1 3.1@fluffy-west',
        'A100:8 ff.gpu.a100.8 24.5@fluffy-west',
        'H100:8 ff.gpu.h100.8 39@fluffy-west',
        'L4:1 ff.gpu.l4.1 0.75@fluffy-east',
        'T4:1 ff.gpu.t4.1 0.55@fluffy-east',
        'T4:4 ff.gpu.t4.4 2.4@fluffy-east',
      ],
    );
    const t4 = ff.listAccelerators({ name: 't4', region: 'fluffy-west' });
    assert.deepEqual(
      t4.map((o) => [
        o.instanceType,
        o.cheapestPrice,
        o.cheapestSpotPrice,
        o.cheapestSpotRegion,
        o.deviceMemoryGiB,
      ]),
      [
        ['ff.gpu.t4.1', 0.605, 0.1815, 'fluffy-west', 16],
        ['ff.gpu.t4.4', 2.64, 0.792, 'fluffy-west', 16],
      ],
    );
  });
});
