/**
 * Parsers for the polymorphic values of a task (cpus, memory, accelerators, ports, infra, ...).
 * Shared by the YAML schema and the CLI overrides: each throws a ValueError whose message says
 * what was expected and what was given; the caller adds where (file:line:col + field, or flag).
 */
import type { AcceleratorDemand, Amount } from '../core/task.js';

export { show, ValueError } from '../util/yaml/value.js';
import { show, ValueError } from '../util/yaml/value.js';

const NUM = String.raw`(\d+(?:\.\d*)?|\.\d+)`;

/** vCPUs: 4, "4" (exactly), "4+" (at least). */
export function parseCpus(v: unknown): Amount {
  const expected = `expected a number like 4 or "4+", got ${show(v)}`;
  let value: number;
  let orMore = false;
  if (typeof v === 'number') value = v;
  else if (typeof v === 'string') {
    const m = new RegExp(`^\\s*${NUM}\\s*(\\+)?\\s*$`).exec(v);
    if (!m) throw new ValueError(expected);
    value = Number(m[1]);
    orMore = m[2] === '+';
  } else throw new ValueError(expected);
  if (!Number.isFinite(value) || value <= 0)
    throw new ValueError(`expected a number above 0, got ${show(v)}`);
  return { value, orMore };
}

const SIZE_UNITS: Record<string, number> = {
  k: 2 ** -20,
  kb: 2 ** -20,
  m: 2 ** -10,
  mb: 2 ** -10,
  g: 1,
  gb: 1,
  t: 2 ** 10,
  tb: 2 ** 10,
  p: 2 ** 20,
  pb: 2 ** 20,
};

function parseSize(v: unknown, expected: string, allowPlus: boolean): Amount {
  let value: number;
  let orMore = false;
  if (typeof v === 'number') value = v;
  else if (typeof v === 'string') {
    const m = new RegExp(`^\\s*${NUM}\\s*([a-zA-Z]{1,2})?\\s*(\\+)?\\s*$`).exec(v);
    if (!m) throw new ValueError(expected);
    const unit = m[2] === undefined ? 1 : SIZE_UNITS[m[2].toLowerCase()];
    if (unit === undefined) throw new ValueError(expected);
    if (m[3] === '+' && !allowPlus) throw new ValueError(expected);
    value = Number(m[1]) * unit;
    orMore = m[3] === '+';
  } else throw new ValueError(expected);
  if (!Number.isFinite(value) || value <= 0) throw new ValueError(`expected a size above 0, got ${show(v)}`);
  return { value, orMore };
}

/** Memory in GiB: 16, "16", "16+", "64GB", "1024MB+" (units KB/MB/GB/TB/PB, powers of 1024). */
export function parseMemory(v: unknown): Amount {
  return parseSize(v, `expected a size in GiB like 16, "16+" or "64GB", got ${show(v)}`, true);
}

/** Disk size in GiB (whole GiB, rounded down as SkyPilot does): 256, "256", "256GB", "1TB". */
export function parseDiskSize(v: unknown): number {
  const expected = `expected a disk size in GiB like 256 or "256GB", got ${show(v)}`;
  const a = parseSize(v, expected, false);
  const gib = Math.floor(a.value);
  if (gib < 1) throw new ValueError(`expected a disk size of at least 1 GiB, got ${show(v)}`);
  return gib;
}

const ACC_EXPECTED = (v: unknown) =>
  `expected an accelerator like "A100", "A100:8", a list of them or {A100: 8}, got ${show(v)}`;

/** "A100" (count 1) or "A100:8"; counts may be fractional ("T4:0.5") but must be above 0. */
export function parseAcceleratorString(s: string, whole: unknown = s): AcceleratorDemand {
  const m = /^\s*([^:\s][^:]*?)\s*(?::\s*(\S+)\s*)?$/.exec(s);
  if (!m) throw new ValueError(ACC_EXPECTED(whole));
  return { name: m[1], count: m[2] === undefined ? 1 : parseAcceleratorCount(m[2], whole) };
}

function parseAcceleratorCount(c: unknown, whole: unknown): number {
  const n =
    typeof c === 'number' ? c : typeof c === 'string' && new RegExp(`^${NUM}$`).test(c) ? Number(c) : NaN;
  if (Number.isNaN(n)) throw new ValueError(ACC_EXPECTED(whole));
  if (!(n > 0) || !Number.isFinite(n))
    throw new ValueError(`accelerator count must be above 0, got ${show(whole)}`);
  return n;
}

/**
 * How accelerators were asked for: one, an ordered list of alternatives (try in order), or an
 * unordered set (let the optimizer pick the cheapest).
 */
export interface AcceleratorSpec {
  kind: 'single' | 'list' | 'set';
  alternatives: AcceleratorDemand[];
}

function pushUnique(out: AcceleratorDemand[], a: AcceleratorDemand): void {
  if (!out.some((o) => o.name.toLowerCase() === a.name.toLowerCase() && o.count === a.count)) out.push(a);
}

function fromMapEntries(obj: Record<string, unknown>, whole: unknown): AcceleratorDemand[] {
  const out: AcceleratorDemand[] = [];
  for (const [k, val] of Object.entries(obj)) {
    if (val === null || val === undefined) pushUnique(out, parseAcceleratorString(k, whole));
    else {
      if (k.includes(':')) throw new ValueError(ACC_EXPECTED(whole));
      pushUnique(out, {
        name: parseAcceleratorString(k, whole).name,
        count: parseAcceleratorCount(val, whole),
      });
    }
  }
  return out;
}

/**
 * `A100`, `A100:8`, `{A100: 8}` (one), `[A100:1, V100:1]` (ordered list), `{A100:1, V100:1}` or
 * `{A100: 1, V100: 1}` (unordered set).
 */
export function parseAccelerators(v: unknown): AcceleratorSpec {
  if (typeof v === 'string') return { kind: 'single', alternatives: [parseAcceleratorString(v)] };
  if (Array.isArray(v)) {
    if (v.length === 0) throw new ValueError(ACC_EXPECTED(v));
    const out: AcceleratorDemand[] = [];
    for (const item of v) {
      if (typeof item === 'string') pushUnique(out, parseAcceleratorString(item, item));
      else if (item && typeof item === 'object' && !Array.isArray(item)) {
        const entries = fromMapEntries(item as Record<string, unknown>, item);
        if (entries.length !== 1) throw new ValueError(ACC_EXPECTED(item));
        pushUnique(out, entries[0]);
      } else throw new ValueError(ACC_EXPECTED(item));
    }
    return { kind: 'list', alternatives: out };
  }
  if (v instanceof Set) return parseAccelerators(Object.fromEntries([...v].map((k) => [String(k), null])));
  if (v && typeof v === 'object') {
    const out = fromMapEntries(v as Record<string, unknown>, v);
    if (out.length === 0) throw new ValueError(ACC_EXPECTED(v));
    return { kind: out.length === 1 ? 'single' : 'set', alternatives: out };
  }
  throw new ValueError(ACC_EXPECTED(v));
}

const PORTS_EXPECTED = (v: unknown) =>
  `expected a port like 8080, a range like "10000-10010" or a list of them, got ${show(v)}`;

function checkPort(n: number, whole: unknown): number {
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new ValueError(`ports must be whole numbers from 1 to 65535, got ${show(whole)}`);
  }
  return n;
}

function parsePortItem(item: unknown, out: string[]): void {
  if (typeof item === 'number') {
    out.push(String(checkPort(item, item)));
    return;
  }
  if (typeof item !== 'string') throw new ValueError(PORTS_EXPECTED(item));
  for (const part of item.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new ValueError(PORTS_EXPECTED(item));
    const lo = checkPort(Number(m[1]), item);
    if (m[2] === undefined) {
      out.push(String(lo));
      continue;
    }
    const hi = checkPort(Number(m[2]), item);
    if (hi < lo) throw new ValueError(`a port range must go from low to high, got ${show(item)}`);
    out.push(lo === hi ? String(lo) : `${lo}-${hi}`);
  }
}

/** 8080, "8080", "10000-10010", "8080,8081", or a list of those -> ["8080", "10000-10010"]. */
export function parsePorts(v: unknown): string[] {
  const out: string[] = [];
  if (Array.isArray(v)) {
    if (v.length === 0) throw new ValueError(PORTS_EXPECTED(v));
    for (const item of v) parsePortItem(item, out);
  } else parsePortItem(v, out);
  return [...new Set(out)];
}

export interface InfraSpec {
  cloud?: string;
  region?: string;
  zone?: string;
}

/** "aws", "aws/us-east-1", "aws/us-east-1/us-east-1a"; "*" is a wildcard in any part. Cloud lower-cased. */
export function parseInfra(v: unknown): InfraSpec {
  const expected = `expected CLOUD[/REGION[/ZONE]] like "aws" or "aws/us-east-1", got ${show(v)}`;
  if (typeof v !== 'string') throw new ValueError(expected);
  const parts = v.trim().split('/');
  if (parts.length > 3 || parts.some((p) => p.trim() === '' || /\s/.test(p.trim()))) {
    throw new ValueError(expected);
  }
  const [cloud, region, zone] = parts.map((p) => (p === '*' ? undefined : p));
  const out: InfraSpec = {};
  if (cloud !== undefined) out.cloud = cloud.toLowerCase();
  if (region !== undefined) out.region = region;
  if (zone !== undefined) out.zone = zone;
  return out;
}

/** A cloud name, lower-cased. */
export function parseCloudName(v: unknown): string {
  if (typeof v !== 'string' || !/^[A-Za-z][A-Za-z0-9_-]*$/.test(v.trim())) {
    throw new ValueError(`expected a cloud name like "aws", got ${show(v)}`);
  }
  return v.trim().toLowerCase();
}

// autostop's parser is shared with the config file's jobs.controller.autostop (src/config reads it too).
export { type AutostopSpec, parseAutostop } from '../config/autostop.js';

export const DISK_TIERS = ['low', 'medium', 'high', 'ultra', 'best'] as const;
export type DiskTier = (typeof DISK_TIERS)[number];

export function parseDiskTier(v: unknown): DiskTier {
  const s = typeof v === 'string' ? v.trim().toLowerCase() : undefined;
  if (s && (DISK_TIERS as readonly string[]).includes(s)) return s as DiskTier;
  throw new ValueError(`expected one of ${DISK_TIERS.join(', ')}, got ${show(v)}`);
}

export const NETWORK_TIERS = ['standard', 'best'] as const;
export type NetworkTier = (typeof NETWORK_TIERS)[number];

/** `network_tier: standard | best` (SkyPilot's names, any case). */
export function parseNetworkTier(v: unknown): NetworkTier {
  const s = typeof v === 'string' ? v.trim().toLowerCase() : undefined;
  if (s && (NETWORK_TIERS as readonly string[]).includes(s)) return s as NetworkTier;
  throw new ValueError(`expected one of ${NETWORK_TIERS.join(', ')}, got ${show(v)}`);
}

/** A whole number of nodes, at least 1 (from YAML or a flag string). */
export function parseNumNodes(v: unknown): number {
  const n =
    typeof v === 'number' ? v : typeof v === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 1)
    throw new ValueError(`expected a whole number of nodes, 1 or more, got ${show(v)}`);
  return n;
}

/** A boolean from YAML (true/false; YAML 1.1 also reads yes/no/on/off as booleans). */
export function parseBool(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  throw new ValueError(`expected true or false, got ${show(v)}`);
}

/** Env/label values: strings, numbers and booleans become strings (numbers as written in the file). */
export function scalarString(v: unknown, asWritten?: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return asWritten ?? String(v);
  throw new ValueError(`expected a string, number or boolean, got ${show(v)}`);
}

/** `s3://b/x` -> aws, `gs://b/x` -> gcp; undefined for other locations. */
export function storageCloud(location: string): string | undefined {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(location);
  if (!m) return undefined;
  const scheme = m[1].toLowerCase();
  if (scheme === 's3') return 'aws';
  if (scheme === 'gs' || scheme === 'gcs') return 'gcp';
  return undefined;
}
