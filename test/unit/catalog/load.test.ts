// loadCatalog: bundled vs downloaded source, the parsed cache (hit, stale, unwritable), memo, names.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import {
  bundledCatalogPath,
  catalogCachePath,
  clearCatalogMemo,
  commonAcceleratorNames,
  loadCatalog,
} from '../../../src/catalog/index.js';
import { UserError } from '../../../src/util/errors.js';
import { type TempHome, useTempHome } from './helpers.js';

let home: TempHome;
beforeEach(() => {
  home = useTempHome();
});
afterEach(() => home.restore());

const skyhopHome = () => process.env.SKYHOP_HOME!;
const parsedDir = () => join(skyhopHome(), 'cache', 'catalogs');
const parsedFiles = (cloud: string) =>
  existsSync(parsedDir()) ? readdirSync(parsedDir()).filter((f) => f.startsWith(`${cloud}.`)) : [];

const HEADER =
  'InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,GpuInfo,Region,AvailabilityZone,Price,SpotPrice';
function writeDownloaded(cloud: string, lines: string[], mtime?: Date): string {
  const path = catalogCachePath(cloud);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, `${HEADER}\n${lines.join('\n')}\n`);
  if (mtime) utimesSync(path, mtime, mtime);
  return path;
}

describe('loadCatalog', () => {
  test('paths: the bundled snapshot and the download under SKYHOP_HOME', () => {
    assert.match(bundledCatalogPath('aws'), /\/catalogs\/aws\/vms\.csv$/);
    assert.equal(catalogCachePath('aws'), join(skyhopHome(), 'catalogs', 'aws', 'vms.csv'));
    assert.throws(() => catalogCachePath('../etc'), UserError);
  });

  test('first load parses the CSV and writes the parsed cache; the next process reads it, same answers', () => {
    const first = loadCatalog('fluffycloud');
    assert.deepEqual(first.source, {
      kind: 'bundled',
      path: bundledCatalogPath('fluffycloud'),
      loadedFrom: 'csv',
    });
    assert.equal(parsedFiles('fluffycloud').length, 1);
    assert.match(parsedFiles('fluffycloud')[0], /^fluffycloud\.[0-9a-f]{16}\.json$/);
    assert.equal(loadCatalog('fluffycloud'), first, 'memoised');
    clearCatalogMemo(); // as a new process would
    const second = loadCatalog('fluffycloud');
    assert.notEqual(second, first);
    assert.equal(second.source.loadedFrom, 'parsed-cache');
    assert.deepEqual(second.rows, first.rows);
    assert.equal(second.defaultInstanceType(), first.defaultInstanceType());
    assert.deepEqual(second.listAccelerators(), first.listAccelerators());
    assert.deepEqual(second.regionsOf('ff.gpu.a100.8'), first.regionsOf('ff.gpu.a100.8'));
  });

  test('the parsed cache of every bundled catalog round-trips to the same rows', () => {
    for (const cloud of ['aws', 'gcp', 'lambda', 'runpod', 'fluffycloud']) {
      const parsed = loadCatalog(cloud);
      clearCatalogMemo(cloud);
      const cached = loadCatalog(cloud);
      assert.equal(cached.source.loadedFrom, 'parsed-cache', cloud);
      assert.deepEqual(cached.rows, parsed.rows, cloud);
    }
  });

  test('a valid download wins over the bundled snapshot', () => {
    const path = writeDownloaded('fluffycloud', ['ff.tiny,1.0,1.0,,,,fluffy-north,,0.01,']);
    const cat = loadCatalog('fluffycloud');
    assert.equal(cat.source.kind, 'cache');
    assert.equal(cat.source.path, path);
    assert.deepEqual(cat.regions(), ['fluffy-north']);
  });

  test('the parsed cache is used while the CSV is unchanged, and not after it changes', () => {
    const path = writeDownloaded(
      'fluffycloud',
      ['ff.tiny,1.0,1.0,,,,fluffy-north,,0.01,'],
      new Date(2020, 0, 1),
    );
    assert.equal(loadCatalog('fluffycloud').hourlyCost('ff.tiny', { useSpot: false }), 0.01);
    const [cacheFile] = parsedFiles('fluffycloud');
    // Prove the cache is what a later load reads: change the price in it (only there).
    const cachePath = join(parsedDir(), cacheFile);
    const form = JSON.parse(readFileSync(cachePath, 'utf8'));
    form.price[0] = 0.5;
    writeFileSync(cachePath, JSON.stringify(form));
    clearCatalogMemo();
    const hit = loadCatalog('fluffycloud');
    assert.equal(hit.source.loadedFrom, 'parsed-cache');
    assert.equal(hit.hourlyCost('ff.tiny', { useSpot: false }), 0.5);
    // The CSV changes (same size, new mtime): the old parsed form must not be used.
    writeDownloaded('fluffycloud', ['ff.tiny,1.0,1.0,,,,fluffy-north,,0.02,'], new Date(2021, 0, 1));
    clearCatalogMemo();
    const fresh = loadCatalog('fluffycloud');
    assert.equal(fresh.source.loadedFrom, 'csv');
    assert.equal(fresh.hourlyCost('ff.tiny', { useSpot: false }), 0.02);
    assert.deepEqual(parsedFiles('fluffycloud').length, 1, 'the stale parsed form was removed');
    assert.notEqual(parsedFiles('fluffycloud')[0], cacheFile);
    assert.equal(readFileSync(path, 'utf8').includes('0.02'), true);
  });

  test('a damaged parsed cache is ignored', () => {
    writeDownloaded('fluffycloud', ['ff.tiny,1.0,1.0,,,,fluffy-north,,0.01,']);
    loadCatalog('fluffycloud');
    const [cacheFile] = parsedFiles('fluffycloud');
    writeFileSync(join(parsedDir(), cacheFile), '{"format": 1, "n": 3');
    clearCatalogMemo();
    const cat = loadCatalog('fluffycloud');
    assert.equal(cat.source.loadedFrom, 'csv');
    assert.equal(cat.hourlyCost('ff.tiny', { useSpot: false }), 0.01);
  });

  test('an unwritable cache folder only costs speed', () => {
    mkdirSync(skyhopHome(), { recursive: true });
    writeFileSync(join(skyhopHome(), 'cache'), 'not a folder'); // mkdir of cache/catalogs fails
    const cat = loadCatalog('lambda');
    assert.equal(cat.rows.length, 323);
    clearCatalogMemo();
    assert.equal(loadCatalog('lambda').source.loadedFrom, 'csv');
  });

  test('an unusable download falls back to the bundled snapshot and says why', () => {
    const path = catalogCachePath('fluffycloud');
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, 'garbage\n');
    const cat = loadCatalog('fluffycloud');
    assert.equal(cat.source.kind, 'bundled');
    assert.match(cat.source.note ?? '', /downloaded catalog .*unusable.*lacks columns/);
    assert.equal(cat.rows.length, 68);
  });

  test('memo is per SKYHOP_HOME', () => {
    const a = loadCatalog('fluffycloud');
    const other = useTempHome();
    try {
      writeDownloaded('fluffycloud', ['ff.tiny,1.0,1.0,,,,fluffy-north,,0.01,']);
      const b = loadCatalog('fluffycloud');
      assert.notEqual(b, a);
      assert.equal(b.source.kind, 'cache');
    } finally {
      other.restore();
    }
  });

  test('unknown clouds: UserError with the nearest names', () => {
    assert.throws(
      () => loadCatalog('awz'),
      (e: unknown) =>
        e instanceof UserError && /No catalog for cloud 'awz'.*did you mean aws/.test(e.message),
    );
    assert.throws(() => loadCatalog('Not A Cloud'), UserError);
  });
});

describe('commonAcceleratorNames', () => {
  before(() => clearCatalogMemo());
  after(() => clearCatalogMemo());
  test('all 56 names of catalogs/common/accelerators.csv, in file order', () => {
    const names = commonAcceleratorNames();
    assert.equal(names.length, 56);
    assert.equal(names[0], 'A10');
    assert.equal(names.at(-1), 'tpu-v6e');
    assert.ok(names.includes('Gaudi HL-205'));
    assert.ok(names.includes('A100-80GB'));
    for (const n of ['T4', 'L4', 'A100', 'H100']) assert.ok(names.includes(n), `${n} (used by fluffycloud)`);
  });
});
