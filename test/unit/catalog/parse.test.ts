// parseCatalogCsv edge cases, and catalogFromRows (how the local cloud builds its catalog).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { catalogFromRows, parseCatalogCsv } from '../../../src/catalog/index.js';
import type { CatalogRow } from '../../../src/catalog/types.js';
import { UserError } from '../../../src/util/errors.js';

const AWS_HEADER =
  'InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,AvailabilityZone';
const P4D =
  `p4d.24xlarge,A100,8.0,96.0,1152.0,"{'Gpus': [{'Name': 'A100', 'Manufacturer': 'NVIDIA', 'Count': 8, ` +
  `'MemoryInfo': {'SizeInMiB': 40960}}], 'TotalGpuMemoryInMiB': 327680}",32.7726,5.093300,us-east-1,use1-az6`;
const LAMBDA_HEADER =
  'InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,Region,GpuInfo,SpotPrice';

function userError(re: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
    assert.match(e.message, re);
    return true;
  };
}

describe('parseCatalogCsv', () => {
  test('a quoted GpuInfo with commas stays one field', () => {
    const [row] = parseCatalogCsv(`${AWS_HEADER}\n${P4D}\n`, 'aws');
    assert.deepEqual(row, {
      instanceType: 'p4d.24xlarge',
      acceleratorName: 'A100',
      acceleratorCount: 8,
      vcpus: 96,
      memoryGiB: 1152,
      gpuInfo:
        "{'Gpus': [{'Name': 'A100', 'Manufacturer': 'NVIDIA', 'Count': 8, 'MemoryInfo': {'SizeInMiB': 40960}}], " +
        "'TotalGpuMemoryInMiB': 327680}",
      price: 32.7726,
      spotPrice: 5.0933,
      region: 'us-east-1',
      zone: 'use1-az6',
    });
  });

  test('CRLF line endings (as the lambda and runpod sources have) and a BOM', () => {
    const text = `\uFEFF${LAMBDA_HEADER}\r\ncpu_4x_general,,,4.0,16.0,0.2,europe-central-1,,\r\ngpu_1x_a10,A10,1.0,30.0,200.0,0.75,us-east-1,,\r\n`;
    const rows = parseCatalogCsv(text, 'lambda');
    assert.equal(rows.length, 2);
    assert.equal(rows[0].spotPrice, null);
    assert.equal(rows[1].region, 'us-east-1');
    assert.equal(rows[1].zone, null, 'no AvailabilityZone column');
    assert.ok(rows.every((r) => !Object.values(r).some((v) => typeof v === 'string' && v.includes('\r'))));
  });

  test('empty numeric fields are null; columns are found by name in any order', () => {
    const text = `${LAMBDA_HEADER}\ncpu_4x_general,,,4.0,16.0,0.2,europe-central-1,,\n`;
    assert.deepEqual(parseCatalogCsv(text, 'lambda')[0], {
      instanceType: 'cpu_4x_general',
      acceleratorName: null,
      acceleratorCount: null,
      vcpus: 4,
      memoryGiB: 16,
      gpuInfo: null,
      price: 0.2,
      spotPrice: null,
      region: 'europe-central-1',
      zone: null,
    });
  });

  test('GCP accelerator rows: empty InstanceType, vCPUs and memory', () => {
    const text =
      'InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,GpuInfo,Region,AvailabilityZone,Price,SpotPrice\n' +
      `,,,A100,8,{'Gpus': [{'MemoryInfo': {'SizeInMiB': 40960}}]},us-central1,us-central1-a,23.47126,9.1776\n`;
    const [row] = parseCatalogCsv(text, 'gcp');
    assert.equal(row.instanceType, '');
    assert.equal(row.vcpus, null);
    assert.equal(row.acceleratorCount, 8);
    assert.equal(row.price, 23.47126);
    assert.equal(row.zone, 'us-central1-a');
  });

  test('header names match case-insensitively (GPUInfo), blank lines are skipped', () => {
    const header = AWS_HEADER.replace('GpuInfo', 'GPUInfo').replace('vCPUs', 'VCPUS');
    const rows = parseCatalogCsv(
      `${header}\n\nt3.nano,,,2.0,0.5,,0.0052,0.0016,us-east-1,use1-az1\n\n`,
      'aws',
    );
    assert.equal(rows.length, 1);
    assert.equal(rows[0].vcpus, 2);
  });

  test('a missing column is named', () => {
    const header = AWS_HEADER.replace(',Price,', ',Cost,');
    assert.throws(
      () => parseCatalogCsv(`${header}\n${P4D}\n`, 'aws', 'x.csv'),
      userError(/^x\.csv: line 1: .*lacks column Price/),
    );
    const noZone = AWS_HEADER.replace(',AvailabilityZone', '');
    assert.throws(
      () => parseCatalogCsv(`${noZone}\nt3.nano,,,2.0,0.5,,0.0052,0.0016,us-east-1\n`, 'aws'),
      userError(/lacks column AvailabilityZone/),
    );
    const two = AWS_HEADER.replace('InstanceType,', 'Type,').replace(',Region,', ',Place,');
    assert.throws(
      () => parseCatalogCsv(`${two}\n${P4D}\n`, 'aws'),
      userError(/lacks columns InstanceType, Region/),
    );
  });

  test('a truncated row, a bad number, an empty region, an open quote: errors name the line', () => {
    assert.throws(
      () => parseCatalogCsv(`${AWS_HEADER}\n${P4D}\nt3.nano,,,2.0,0.5,,0.0052\n`, 'aws', 'cat.csv'),
      userError(/^cat\.csv: line 3: 7 fields where the header has 10/),
    );
    assert.throws(
      () =>
        parseCatalogCsv(`${AWS_HEADER}\n${P4D}\nt3.nano,,,2.0,0.5,,cheap,0.0016,us-east-1,use1-az1\n`, 'aws'),
      userError(/line 3: Price "cheap" is not a number/),
    );
    assert.throws(
      () => parseCatalogCsv(`${AWS_HEADER}\nt3.nano,,,2.0,0.5,,-1,0.0016,us-east-1,use1-az1\n`, 'aws'),
      userError(/line 2: Price "-1" is negative/),
    );
    assert.throws(
      () => parseCatalogCsv(`${AWS_HEADER}\nt3.nano,,,2.0,0.5,,0.0052,0.0016,,use1-az1\n`, 'aws'),
      userError(/line 2: Region is empty/),
    );
    assert.throws(
      () => parseCatalogCsv(`${AWS_HEADER}\n,,,2.0,0.5,,0.0052,0.0016,us-east-1,use1-az1\n`, 'aws'),
      userError(/line 2: both InstanceType and AcceleratorName are empty/),
    );
    assert.throws(
      () => parseCatalogCsv(`${AWS_HEADER}\n${P4D.slice(0, 80)}\n`, 'aws'),
      userError(/not a valid CSV at line 2: Quote Not Closed/),
    );
  });

  test('HTML, an empty file and a header without rows are refused', () => {
    assert.throws(
      () => parseCatalogCsv('<!DOCTYPE html>\n<html><body>404: Not Found</body></html>\n', 'aws'),
      userError(/line 1 is not a catalog header but looks like HTML/),
    );
    assert.throws(() => parseCatalogCsv('', 'aws'), userError(/the file is empty/));
    assert.throws(() => parseCatalogCsv(`${AWS_HEADER}\n`, 'aws'), userError(/a header but no rows/));
  });
});

describe('catalogFromRows', () => {
  test('a one-row generated catalog answers every query', () => {
    const row: CatalogRow = {
      instanceType: 'local',
      acceleratorName: null,
      acceleratorCount: null,
      vcpus: 2,
      memoryGiB: 7.5,
      gpuInfo: null,
      price: 0,
      spotPrice: null,
      region: 'local',
      zone: null,
    };
    const cat = catalogFromRows('local', [row], { kind: 'generated', path: '(this machine)' });
    assert.equal(cat.source.kind, 'generated');
    assert.equal(cat.instanceTypeExists('local'), true);
    assert.equal(cat.defaultInstanceType(), 'local', 'the local profile has no 8-vCPU floor');
    assert.equal(cat.defaultInstanceType({ cpus: { value: 4, orMore: true } }), null);
    assert.equal(cat.hourlyCost('local', { useSpot: false }), 0);
    assert.deepEqual(cat.regions(), ['local']);
    assert.deepEqual(cat.validateRegionZone('local'), { region: 'local' });
    assert.deepEqual(cat.listAccelerators(), []);
    assert.deepEqual(cat.instanceTypesForAccelerator('A100', 1), { instanceTypes: [], fuzzy: [] });
  });

  test('a generated catalog with a GPU lists it', () => {
    const row: CatalogRow = {
      instanceType: 'local',
      acceleratorName: 'H100',
      acceleratorCount: 1,
      vcpus: 16,
      memoryGiB: 128,
      gpuInfo: null,
      price: 0,
      spotPrice: null,
      region: 'local',
      zone: null,
    };
    const cat = catalogFromRows('local', [row], { kind: 'generated', path: '(this machine)' });
    assert.deepEqual(cat.instanceTypesForAccelerator('h100', 1).instanceTypes, ['local']);
    assert.deepEqual(cat.acceleratorNames(), ['H100']);
    assert.equal(cat.defaultInstanceType(), 'local');
  });
});
