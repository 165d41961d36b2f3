// Every catalog function on the bundled AWS catalog; expected values read from catalogs/aws/vms.csv.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Catalog, loadCatalog } from '../../../src/catalog/index.js';
import { UserError } from '../../../src/util/errors.js';
import { type TempHome, useTempHome } from './helpers.js';

let home: TempHome;
let aws: Catalog;
before(() => {
  home = useTempHome();
  aws = loadCatalog('aws');
});
after(() => home.restore());

describe('aws catalog', () => {
  test('loads the bundled snapshot with every row', () => {
    assert.equal(aws.cloud, 'aws');
    assert.equal(aws.source.kind, 'bundled');
    assert.match(aws.source.path, /catalogs\/aws\/vms\.csv$/);
    assert.equal(aws.rows.length, 2846);
    assert.equal(aws.hasZones, true);
    assert.equal(loadCatalog('aws'), aws, 'memoised per process');
  });

  test('instanceTypeExists', () => {
    assert.equal(aws.instanceTypeExists('p4d.24xlarge'), true);
    assert.equal(aws.instanceTypeExists('t3.nano'), true);
    assert.equal(aws.instanceTypeExists('p4de.24xlarge'), false);
    assert.equal(aws.instanceTypeExists(''), false);
  });

  test('hourlyCost: on-demand and spot, per region and zone', () => {
    const p4 = 'p4d.24xlarge';
    assert.equal(aws.hourlyCost(p4, { useSpot: false, region: 'us-east-1' }), 32.7726);
    assert.equal(aws.hourlyCost(p4, { useSpot: false, region: 'ap-northeast-2' }), 45.38848);
    assert.equal(aws.hourlyCost(p4, { useSpot: false }), 32.7726);
    assert.equal(aws.hourlyCost(p4, { useSpot: true, region: 'us-east-1' }), 5.0933);
    assert.equal(aws.hourlyCost(p4, { useSpot: true, region: 'us-east-1', zone: 'use1-az2' }), 9.6107);
    assert.equal(aws.hourlyCost(p4, { useSpot: true }), 4.2604); // ap-southeast-2 apse2-az2
    assert.equal(
      aws.hourlyCost(p4, { useSpot: false, region: 'US-EAST-1' }),
      32.7726,
      'regions match any case',
    );
    assert.equal(aws.hourlyCost(p4, { useSpot: false, region: 'sa-east-1' }), null, 'not offered there');
    assert.equal(aws.hourlyCost('m6i.2xlarge', { useSpot: false, region: 'eu-west-1' }), 0.428);
    assert.equal(aws.hourlyCost('no-such.type', { useSpot: false }), null);
  });

  test('acceleratorHourlyCost is null: AWS has no attachable accelerators', () => {
    assert.equal(aws.acceleratorHourlyCost('A100', 8, { useSpot: false }), null);
    assert.deepEqual(aws.acceleratorOfferings('T4', 1), []);
    assert.equal(
      aws.hourlyCostWithAccelerators('p4d.24xlarge', { useSpot: false, region: 'us-east-1' }),
      32.7726,
    );
  });

  test('info, vcpusMemory, acceleratorsOf', () => {
    assert.deepEqual(aws.info('p4d.24xlarge'), {
      instanceType: 'p4d.24xlarge',
      vcpus: 96,
      memoryGiB: 1152,
      accelerator: { name: 'A100', count: 8 },
    });
    assert.deepEqual(aws.vcpusMemory('t3.nano'), { vcpus: 2, memoryGiB: 0.5 });
    assert.deepEqual(aws.acceleratorsOf('g5.xlarge'), { name: 'A10G', count: 1 });
    assert.equal(aws.acceleratorsOf('m6i.large'), null);
    assert.equal(aws.info('nope'), null);
    assert.equal(aws.vcpusMemory('nope'), null);
  });

  test("defaultInstanceType follows SkyPilot's AWS rule", () => {
    // 8+ vCPUs, >= 4 GiB per vCPU, m6i/r6i/c6i families: c6i.2xlarge (16 GiB) and t3 are out.
    assert.equal(aws.defaultInstanceType(), 'm6i.2xlarge');
    assert.equal(aws.defaultInstanceType({ cpus: { value: 2, orMore: false } }), 'm6i.large');
    assert.equal(aws.defaultInstanceType({ memory: { value: 16, orMore: true } }), 'm6i.xlarge');
    assert.equal(
      aws.defaultInstanceType({ cpus: { value: 8, orMore: false }, memory: { value: 16, orMore: false } }),
      'c6i.2xlarge',
    );
    assert.equal(aws.defaultInstanceType({ cpus: { value: 4, orMore: true }, useSpot: true }), 'm6i.xlarge');
    assert.equal(aws.defaultInstanceType({ region: 'eu-west-1' }), 'm6i.2xlarge');
    assert.equal(aws.defaultInstanceType({ cpus: { value: 1000, orMore: true } }), null);
  });

  test('instanceTypesForAccelerator: sorted by price, filtered, fuzzy when nothing matches', () => {
    assert.deepEqual(aws.instanceTypesForAccelerator('T4', 1), {
      instanceTypes: ['g4dn.xlarge', 'g4dn.2xlarge', 'g4dn.4xlarge', 'g4dn.8xlarge', 'g4dn.16xlarge'],
      fuzzy: [],
    });
    assert.deepEqual(
      aws.instanceTypesForAccelerator('t4', 1, { cpus: { value: 16, orMore: true } }).instanceTypes,
      ['g4dn.4xlarge', 'g4dn.8xlarge', 'g4dn.16xlarge'],
    );
    assert.deepEqual(
      aws.instanceTypesForAccelerator('A10G', 1, { memory: { value: 64, orMore: false } }).instanceTypes,
      ['g5.4xlarge'],
    );
    assert.deepEqual(aws.instanceTypesForAccelerator('A100', 8).instanceTypes, ['p4d.24xlarge']);
    assert.deepEqual(aws.instanceTypesForAccelerator('A100', 8, { region: 'sa-east-1' }), {
      instanceTypes: [],
      fuzzy: [],
    });
    assert.deepEqual(aws.instanceTypesForAccelerator('A100', 3), { instanceTypes: [], fuzzy: ['A100:8'] });
    assert.deepEqual(aws.instanceTypesForAccelerator('V10', 1), {
      instanceTypes: [],
      fuzzy: ['V100:1', 'V100:4', 'V100:8'],
    });
    assert.deepEqual(aws.instanceTypesForAccelerator('T4', 1, { cpus: { value: 1000, orMore: true } }), {
      instanceTypes: [],
      fuzzy: [],
    });
  });

  test('instanceTypesFor: CPU-only unless asked, cheapest first', () => {
    const eight = aws.instanceTypesFor({
      cpus: { value: 8, orMore: false },
      memory: { value: 32, orMore: false },
    });
    assert.deepEqual(eight, ['t3.2xlarge', 'm6i.2xlarge']); // 0.3328 and 0.384 in us-east-1
    const t3 = aws.instanceTypesFor({ cpus: { value: 2, orMore: false } });
    assert.equal(t3[0], 't3.nano');
    assert.ok(!t3.some((t) => t.startsWith('g')), 'no GPU types by default');
    const withGpus = aws.instanceTypesFor({ cpus: { value: 4, orMore: false }, withAccelerators: true });
    assert.ok(withGpus.includes('g4dn.xlarge'));
  });

  test('regions, zones, regionsOf, zonesOf, offerings', () => {
    assert.equal(aws.regions().length, 22);
    assert.ok(aws.regions().includes('us-east-1'));
    assert.deepEqual(aws.zones('us-east-1'), [
      'use1-az1',
      'use1-az2',
      'use1-az3',
      'use1-az4',
      'use1-az5',
      'use1-az6',
    ]);
    assert.deepEqual(aws.zones('nowhere'), []);
    assert.deepEqual(aws.regionsOf('p4d.24xlarge'), [
      'us-east-1',
      'us-east-2',
      'us-west-2',
      'eu-west-1',
      'ap-south-1',
      'eu-central-1',
      'ap-southeast-2',
      'ap-northeast-1',
      'ap-northeast-2',
    ]);
    assert.deepEqual(aws.zonesOf('p4d.24xlarge', 'us-east-1'), ['use1-az6', 'use1-az1', 'use1-az2']);
    const offers = aws.offerings('p4d.24xlarge');
    assert.equal(offers.length, 17);
    assert.deepEqual(
      offers.find((o) => o.zone === 'use1-az6'),
      {
        instanceType: 'p4d.24xlarge',
        region: 'us-east-1',
        zone: 'use1-az6',
        price: 32.7726,
        spotPrice: 5.0933,
      },
    );
  });

  test('validateRegionZone: canonical names back, UserError with the nearest names', () => {
    assert.deepEqual(aws.validateRegionZone('us-east-1'), { region: 'us-east-1' });
    assert.deepEqual(aws.validateRegionZone('US-EAST-1', 'use1-az1'), {
      region: 'us-east-1',
      zone: 'use1-az1',
    });
    assert.deepEqual(aws.validateRegionZone(undefined, 'usw2-az1'), {
      region: 'us-west-2',
      zone: 'usw2-az1',
    });
    assert.deepEqual(aws.validateRegionZone(), { region: undefined });
    assert.throws(
      () => aws.validateRegionZone('us-east-7'),
      (e: unknown) =>
        e instanceof UserError && /region 'us-east-7'.*did you mean us-east-1, us-east-2/.test(e.message),
    );
    assert.throws(
      () => aws.validateRegionZone('us-east-1', 'use1-az9'),
      (e: unknown) =>
        e instanceof UserError &&
        /zone 'use1-az9' in region us-east-1; did you mean use1-az1/.test(e.message),
    );
    assert.throws(
      () => aws.validateRegionZone('us-east-1', 'usw2-az1'),
      (e: unknown) =>
        e instanceof UserError &&
        /'usw2-az1' is not in aws region 'us-east-1' \(it is in us-west-2\)/.test(e.message),
    );
  });

  test('listAccelerators and acceleratorNames', () => {
    assert.deepEqual(aws.acceleratorNames(), ['A100', 'A10G', 'H100', 'L4', 'T4', 'V100']);
    const t4 = aws.listAccelerators({ name: 't4' });
    assert.ok(t4.every((o) => o.acceleratorName === 'T4'));
    assert.deepEqual(t4[0], {
      acceleratorName: 'T4',
      acceleratorCount: 1,
      instanceType: 'g4dn.xlarge',
      vcpus: 4,
      memoryGiB: 16,
      cheapestPrice: 0.526,
      cheapestPriceRegion: 'us-east-1',
      cheapestSpotPrice: 0.0909,
      cheapestSpotRegion: 'ap-east-1',
      deviceMemoryGiB: 16,
    });
    assert.deepEqual(
      t4.map((o) => `${o.acceleratorCount} ${o.instanceType}`),
      [
        '1 g4dn.xlarge',
        '1 g4dn.2xlarge',
        '1 g4dn.4xlarge',
        '1 g4dn.8xlarge',
        '1 g4dn.16xlarge',
        '4 g4dn.12xlarge',
        '8 g4dn.metal',
      ],
    );
    const inEu = aws.listAccelerators({ name: 'A100', region: 'eu-west-1' });
    assert.deepEqual(
      inEu.map((o) => [o.instanceType, o.cheapestPrice, o.cheapestPriceRegion]),
      [['p4d.24xlarge', 35.39655, 'eu-west-1']],
    );
    const names = new Set(aws.listAccelerators().map((o) => o.acceleratorName));
    assert.deepEqual([...names].sort(), ['A100', 'A10G', 'H100', 'L4', 'T4', 'V100']);
  });
});
