/**
 * Parsing of SkyPilot catalog CSVs (schema v7). Column order differs between clouds and
 * AvailabilityZone is optional, so columns are found by their header names. csv-parse is loaded
 * only when a CSV is actually parsed (a warm start reads the parsed cache instead).
 */
import { createRequire } from 'node:module';
import type { parse as ParseFn } from 'csv-parse/sync';
import { UserError } from '../util/errors.js';
import { catalogProfile } from './profiles.js';
import type { CatalogRow } from './types.js';

/** The columns of a v7 vms.csv, as SkyPilot spells them. */
export const CATALOG_COLUMNS = [
  'InstanceType',
  'AcceleratorName',
  'AcceleratorCount',
  'vCPUs',
  'MemoryGiB',
  'GpuInfo',
  'Price',
  'SpotPrice',
  'Region',
  'AvailabilityZone',
] as const;
type Column = (typeof CATALOG_COLUMNS)[number];

/** Columns every catalog must have; GpuInfo is informational and AvailabilityZone depends on the cloud. */
const REQUIRED: readonly Column[] = [
  'InstanceType',
  'AcceleratorName',
  'AcceleratorCount',
  'vCPUs',
  'MemoryGiB',
  'Price',
  'SpotPrice',
  'Region',
];

let csvParse: typeof ParseFn | undefined;
function loadCsvParse(): typeof ParseFn {
  csvParse ??= (createRequire(import.meta.url)('csv-parse/sync') as { parse: typeof ParseFn }).parse;
  return csvParse;
}

function failure(where: string, what: string): UserError {
  return new UserError(`${where}: ${what}`);
}

/** Map each known column to its index in the header; header names match case-insensitively. */
function columnIndexes(header: string[], cloud: string, where: string): Record<Column, number> {
  const lower = header.map((h) => h.trim().toLowerCase());
  const idx = {} as Record<Column, number>;
  for (const c of CATALOG_COLUMNS) idx[c] = lower.indexOf(c.toLowerCase());
  const required: Column[] = [...REQUIRED];
  if (catalogProfile(cloud).zones === true) required.push('AvailabilityZone');
  const missing = required.filter((c) => idx[c] < 0);
  if (missing.length) {
    const first = header.join(',').slice(0, 60);
    const looksHtml = /^\s*</.test(first);
    throw failure(
      where,
      looksHtml
        ? `line 1 is not a catalog header but looks like HTML (${JSON.stringify(first)}); expected a CSV with columns ${required.join(', ')}`
        : `line 1: the header lacks column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} ` +
            `(a ${cloud} catalog needs ${required.join(', ')})`,
    );
  }
  return idx;
}

function num(raw: string, column: Column, line: number, where: string): number | null {
  const s = raw.trim();
  if (s === '' || s.toLowerCase() === 'nan') return null;
  const v = Number(s);
  if (!Number.isFinite(v))
    throw failure(where, `line ${line}: ${column} ${JSON.stringify(raw)} is not a number`);
  if (v < 0) throw failure(where, `line ${line}: ${column} ${JSON.stringify(raw)} is negative`);
  return v;
}

/**
 * Parse a catalog CSV into rows. Throws a UserError naming `where` and the line on a malformed
 * header, a row with the wrong number of fields, a non-numeric number, or a row without a region.
 */
export function parseCatalogCsv(text: string, cloud: string, where = `${cloud} catalog`): CatalogRow[] {
  const parse = loadCsvParse();
  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    records = parse(text, { bom: true, skip_empty_lines: true, info: true }) as unknown as typeof records;
  } catch (e) {
    const err = e as { message?: string; lines?: number; code?: string; record?: string[] };
    if (err.code === 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH' && err.record) {
      const m = /expect (\d+)/.exec(err.message ?? '');
      throw failure(
        where,
        `line ${err.lines}: ${err.record.length} fields where the header has ${m ? m[1] : 'a different number'} ` +
          '(a truncated or malformed row)',
      );
    }
    const msg = String(err.message ?? e).replace(/\s+/g, ' ');
    throw failure(where, `not a valid CSV${err.lines ? ` at line ${err.lines}` : ''}: ${msg}`);
  }
  if (records.length === 0) throw failure(where, 'the file is empty (expected a header and rows)');
  const idx = columnIndexes(records[0].record, cloud, where);
  if (records.length === 1) throw failure(where, 'the catalog has a header but no rows');
  const width = records[0].record.length;
  const rows: CatalogRow[] = new Array(records.length - 1);
  for (let i = 1; i < records.length; i++) {
    const { record: f, info } = records[i];
    const line = info.lines;
    if (f.length !== width) {
      throw failure(where, `line ${line}: ${f.length} fields, the header has ${width}`);
    }
    const str = (c: Column): string | null => {
      if (idx[c] < 0) return null;
      const s = f[idx[c]].trim();
      return s === '' ? null : s;
    };
    const n = (c: Column): number | null => (idx[c] < 0 ? null : num(f[idx[c]], c, line, where));
    const region = str('Region');
    if (region === null) throw failure(where, `line ${line}: Region is empty`);
    const instanceType = str('InstanceType') ?? '';
    const acceleratorName = str('AcceleratorName');
    if (instanceType === '' && acceleratorName === null) {
      throw failure(where, `line ${line}: both InstanceType and AcceleratorName are empty`);
    }
    rows[i - 1] = {
      instanceType,
      acceleratorName,
      acceleratorCount: n('AcceleratorCount'),
      vcpus: n('vCPUs'),
      memoryGiB: n('MemoryGiB'),
      gpuInfo: str('GpuInfo'),
      price: n('Price'),
      spotPrice: n('SpotPrice'),
      region,
      zone: str('AvailabilityZone'),
    };
  }
  return rows;
}

/**
 * The accelerator names listed in catalogs/common/accelerators.csv (header AcceleratorName,Clouds).
 * Read line by line without csv-parse (it is on the start-up path): only the first field is needed,
 * and it may be quoted; records never span lines in this file.
 */
export function parseCommonAccelerators(text: string, where: string): string[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const first = (line: string, n: number): string => {
    if (!line.startsWith('"')) return line.split(',', 1)[0].trim();
    let out = '';
    for (let i = 1; i < line.length; i++) {
      if (line[i] !== '"') out += line[i];
      else if (line[i + 1] === '"') {
        out += '"';
        i++;
      } else return out.trim();
    }
    throw failure(where, `line ${n}: a quoted field is not closed`);
  };
  const header = lines[0] ?? '';
  if (first(header, 1).toLowerCase() !== 'acceleratorname') {
    throw failure(where, 'line 1: the header does not start with column AcceleratorName');
  }
  const names: string[] = [];
  for (let i = 1; i < lines.length; i++) {
    if (lines[i].trim() === '') continue;
    const name = first(lines[i], i + 1);
    if (name) names.push(name);
  }
  return names;
}
