/**
 * Finding and loading a cloud's catalog: a valid cached download ($SKYHOP_HOME/catalogs/<cloud>/vms.csv)
 * wins over the bundled snapshot (<package>/catalogs/<cloud>/vms.csv). After the first parse of a CSV
 * the rows are written as a compact JSON (dictionary-encoded columns) under $SKYHOP_HOME/cache/catalogs,
 * named by a hash of the CSV's path, size and mtime, so later processes skip csv-parse entirely.
 */
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  type Stats,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UserError } from '../util/errors.js';
import { skyhopHome } from '../util/paths.js';
import { packageRoot } from '../util/package-root.js';
import { CatalogImpl } from './catalog.js';
import { nearestNames } from '../util/suggest.js';
import { parseCatalogCsv, parseCommonAccelerators } from './parse.js';
import { knownCatalogClouds } from './profiles.js';
import type { Catalog, CatalogRow, CatalogSource } from './types.js';

/** Bump when the parsed form or the parser's output changes: old cache files are then ignored. */
const PARSED_FORMAT = 1;

const CLOUD_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

function checkCloudName(cloud: string): void {
  if (!CLOUD_NAME.test(cloud)) {
    throw new UserError(
      `'${cloud}' is not a cloud name (lower-case letters, digits, '-' and '_'); try aws, gcp, lambda.`,
    );
  }
}

/** Where `skyhop catalog update` keeps the downloaded CSV of a cloud. */
export function catalogCachePath(cloud: string): string {
  checkCloudName(cloud);
  return join(skyhopHome(), 'catalogs', cloud, 'vms.csv');
}

/** The snapshot shipped with skyhop. */
export function bundledCatalogPath(cloud: string): string {
  checkCloudName(cloud);
  return join(packageRoot(), 'catalogs', cloud, 'vms.csv');
}

function parsedCacheDir(): string {
  return join(skyhopHome(), 'cache', 'catalogs');
}

/** Two 32-bit FNV-1a hashes (different offsets) of a string, as 16 hex digits; node:crypto costs more to load. */
function fnv64(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193);
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}

/** The parsed-cache file for a CSV as it is now (its path, size and mtime name it). */
export function parsedCachePath(cloud: string, csvPath: string, st: Stats): string {
  const h = fnv64(`${PARSED_FORMAT}\0${csvPath}\0${st.size}\0${st.mtimeMs}`);
  return join(parsedCacheDir(), `${cloud}.${h}.json`);
}

// ---- parsed form ---------------------------------------------------------------------------------

interface ParsedForm {
  format: number;
  cloud: string;
  csvPath: string;
  size: number;
  mtimeMs: number;
  n: number;
  /** Every distinct string; string columns hold indexes into it (-1 = null). */
  strings: string[];
  instanceType: number[];
  acceleratorName: number[];
  gpuInfo: number[];
  region: number[];
  zone: number[];
  acceleratorCount: Array<number | null>;
  vcpus: Array<number | null>;
  memoryGiB: Array<number | null>;
  price: Array<number | null>;
  spotPrice: Array<number | null>;
}

function encode(cloud: string, csvPath: string, st: Stats, rows: CatalogRow[]): ParsedForm {
  const strings: string[] = [];
  const ids = new Map<string, number>();
  const id = (s: string | null): number => {
    if (s === null) return -1;
    let i = ids.get(s);
    if (i === undefined) {
      i = strings.length;
      strings.push(s);
      ids.set(s, i);
    }
    return i;
  };
  return {
    format: PARSED_FORMAT,
    cloud,
    csvPath,
    size: st.size,
    mtimeMs: st.mtimeMs,
    n: rows.length,
    strings,
    instanceType: rows.map((r) => id(r.instanceType)),
    acceleratorName: rows.map((r) => id(r.acceleratorName)),
    gpuInfo: rows.map((r) => id(r.gpuInfo)),
    region: rows.map((r) => id(r.region)),
    zone: rows.map((r) => id(r.zone)),
    acceleratorCount: rows.map((r) => r.acceleratorCount),
    vcpus: rows.map((r) => r.vcpus),
    memoryGiB: rows.map((r) => r.memoryGiB),
    price: rows.map((r) => r.price),
    spotPrice: rows.map((r) => r.spotPrice),
  };
}

/** Rows from a parsed form, or null when it does not belong to this CSV or is damaged. */
function decode(f: ParsedForm, cloud: string, csvPath: string, st: Stats): CatalogRow[] | null {
  if (!f || f.format !== PARSED_FORMAT || f.cloud !== cloud || f.csvPath !== csvPath) return null;
  if (f.size !== st.size || f.mtimeMs !== st.mtimeMs || !Array.isArray(f.strings)) return null;
  const n = f.n;
  const cols = [
    f.instanceType,
    f.acceleratorName,
    f.gpuInfo,
    f.region,
    f.zone,
    f.acceleratorCount,
    f.vcpus,
    f.memoryGiB,
    f.price,
    f.spotPrice,
  ];
  if (!Number.isInteger(n) || n < 1 || cols.some((c) => !Array.isArray(c) || c.length !== n)) return null;
  const s = f.strings;
  const str = (i: number): string | null => (i < 0 ? null : (s[i] ?? null));
  const rows: CatalogRow[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const region = str(f.region[i]);
    if (region === null) return null;
    rows[i] = {
      instanceType: str(f.instanceType[i]) ?? '',
      acceleratorName: str(f.acceleratorName[i]),
      acceleratorCount: f.acceleratorCount[i],
      vcpus: f.vcpus[i],
      memoryGiB: f.memoryGiB[i],
      gpuInfo: str(f.gpuInfo[i]),
      price: f.price[i],
      spotPrice: f.spotPrice[i],
      region,
      zone: str(f.zone[i]),
    };
  }
  return rows;
}

/**
 * Write `data` to `path` atomically: a temporary file in the same folder, fsync (when `durable`),
 * rename. Caches skip the fsyncs: a torn cache file fails validation and is rebuilt.
 */
export function writeFileAtomic(path: string, data: string, durable = true): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', 0o644);
    const buf = Buffer.from(data, 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    if (durable) fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {}
    throw e;
  }
  if (!durable) return;
  try {
    const dfd = openSync(dirname(path), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {}
}

/** Save the parsed form next to older ones of the same cloud, which are removed. Failures are ignored. */
export function writeParsedCache(cloud: string, csvPath: string, st: Stats, rows: CatalogRow[]): void {
  const target = parsedCachePath(cloud, csvPath, st);
  try {
    writeFileAtomic(target, JSON.stringify(encode(cloud, csvPath, st, rows)), false);
  } catch {
    return; // e.g. a read-only home: the next run parses the CSV again
  }
  try {
    const keep = basename(target);
    for (const name of readdirSync(dirname(target))) {
      if (name !== keep && name.startsWith(`${cloud}.`) && name.endsWith('.json')) {
        const other = join(dirname(target), name);
        const f = JSON.parse(readFileSync(other, 'utf8')) as Partial<ParsedForm>;
        if (f.csvPath === csvPath) unlinkSync(other);
      }
    }
  } catch {}
}

/** Rows of a CSV file: from the parsed cache when it matches the file, else parsed (and cached). */
function readRows(
  cloud: string,
  csvPath: string,
  st: Stats,
): { rows: CatalogRow[]; from: 'csv' | 'parsed-cache' } {
  const cachePath = parsedCachePath(cloud, csvPath, st);
  try {
    const rows = decode(JSON.parse(readFileSync(cachePath, 'utf8')) as ParsedForm, cloud, csvPath, st);
    if (rows) return { rows, from: 'parsed-cache' };
  } catch {}
  const rows = parseCatalogCsv(readFileSync(csvPath, 'utf8'), cloud, csvPath);
  writeParsedCache(cloud, csvPath, st, rows);
  return { rows, from: 'csv' };
}

function statFile(path: string): Stats | null {
  try {
    const st = statSync(path);
    return st.isFile() ? st : null;
  } catch {
    return null;
  }
}

// ---- loading -------------------------------------------------------------------------------------

const memo = new Map<string, Catalog>();

function memoKey(cloud: string): string {
  return `${cloud}\0${skyhopHome()}`;
}

/** Forget loaded catalogs (one cloud, or all), so the next loadCatalog reads the files again. */
export function clearCatalogMemo(cloud?: string): void {
  if (cloud === undefined) memo.clear();
  else for (const k of [...memo.keys()]) if (k.startsWith(`${cloud}\0`)) memo.delete(k);
}

/** Clouds with a bundled catalog (a folder with vms.csv under <package>/catalogs). */
export function bundledCatalogClouds(): string[] {
  try {
    return readdirSync(join(packageRoot(), 'catalogs'))
      .filter((c) => CLOUD_NAME.test(c) && statFile(join(packageRoot(), 'catalogs', c, 'vms.csv')) !== null)
      .sort();
  } catch {
    return [];
  }
}

/**
 * The catalog of a cloud, loaded once per process: the cached download when there is a valid one,
 * else the bundled snapshot. `source` says which (and, in `note`, why a cached download was passed over).
 */
export function loadCatalog(cloud: string): Catalog {
  checkCloudName(cloud);
  const key = memoKey(cloud);
  const hit = memo.get(key);
  if (hit) return hit;
  let note: string | undefined;
  let catalog: Catalog | undefined;
  const cached = catalogCachePath(cloud);
  const cst = statFile(cached);
  if (cst) {
    try {
      const { rows, from } = readRows(cloud, cached, cst);
      catalog = new CatalogImpl(cloud, rows, { kind: 'cache', path: cached, loadedFrom: from });
    } catch (e) {
      note = `the downloaded catalog ${cached} is unusable (${(e as Error).message}); using the bundled one (run \`skyhop catalog update ${cloud}\` to fetch it again)`;
    }
  }
  if (!catalog) {
    const bundled = bundledCatalogPath(cloud);
    const bst = statFile(bundled);
    if (!bst) {
      const known = [...new Set([...bundledCatalogClouds(), ...knownCatalogClouds()])].sort();
      const near = nearestNames(cloud, known);
      throw new UserError(
        `No catalog for cloud '${cloud}' (neither ${cached} nor ${bundled} exists)` +
          (near.length
            ? `; did you mean ${near.join(', ')}?`
            : `; clouds with a catalog: ${bundledCatalogClouds().join(', ')}.`),
      );
    }
    const { rows, from } = readRows(cloud, bundled, bst);
    const source: CatalogSource = { kind: 'bundled', path: bundled, loadedFrom: from };
    if (note) source.note = note;
    catalog = new CatalogImpl(cloud, rows, source);
  }
  memo.set(key, catalog);
  return catalog;
}

let commonNames: string[] | undefined;

/** Every accelerator name SkyPilot knows (catalogs/common/accelerators.csv), in file order. */
export function commonAcceleratorNames(): string[] {
  if (!commonNames) {
    const path = join(packageRoot(), 'catalogs', 'common', 'accelerators.csv');
    commonNames = parseCommonAccelerators(readFileSync(path, 'utf8'), path);
  }
  return [...commonNames];
}
