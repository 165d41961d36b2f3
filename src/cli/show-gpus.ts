/**
 * `skyhop show-gpus [NAME[:N]] [--cloud C] [--region R] [--all] [--json]`: which accelerators
 * each cloud's catalog offers, in which counts; with a name, the instance types carrying it and
 * their cheapest on-demand and spot prices. Reads only the catalogs (no credentials, no network);
 * every registered cloud is shown unless --cloud narrows it.
 */
import type { AcceleratorOffer } from '../catalog/types.js';
import type { Cloud } from '../clouds/types.js';
import { closestName, nearestNames } from '../util/suggest.js';
import { textTable } from '../util/table.js';
import { UserError } from '../util/errors.js';

/** Shown without --all (SkyPilot likewise shows a common set first). */
export const COMMON_ACCELERATORS = [
  'A10',
  'A10G',
  'A100',
  'A100-80GB',
  'B200',
  'H100',
  'H200',
  'L4',
  'L40S',
  'T4',
  'V100',
  'V100-32GB',
];

export interface GpuOfferJson {
  accelerator: string;
  count: number;
  cloud: string;
  instance_type: string | null;
  vcpus: number | null;
  memory_gib: number | null;
  device_memory_gib: number | null;
  price: number | null;
  price_region: string | null;
  spot_price: number | null;
  spot_region: string | null;
}

/** Parse NAME or NAME:N (N a positive number, fractions allowed). */
export function parseAcceleratorArg(s: string): { name: string; count: number | null } {
  const m = /^([^:]+?)(?::([0-9]*\.?[0-9]+))?$/.exec(s.trim());
  if (!m || (m[2] !== undefined && !(Number(m[2]) > 0))) {
    throw new UserError(`Invalid accelerator '${s}': use NAME or NAME:COUNT, e.g. A100 or A100:8.`);
  }
  return { name: m[1], count: m[2] === undefined ? null : Number(m[2]) };
}

async function selectClouds(opts: Record<string, unknown>): Promise<Cloud[]> {
  const { allClouds } = await import('../clouds/registry.js');
  const every = allClouds();
  if (opts.cloud === undefined) return every;
  const want = String(opts.cloud).toLowerCase();
  const found = every.filter((c) => c.name === want);
  if (found.length === 0) {
    const names = every.map((c) => c.name);
    throw new UserError(
      `Unknown cloud '${String(opts.cloud)}' for --cloud; did you mean ${closestName(want, names)}? (clouds: ${names.join(', ')})`,
    );
  }
  return found;
}

function priceText(p: number | null): string {
  return p === null ? '-' : `$ ${p.toFixed(3)}`;
}

function countsText(counts: number[]): string {
  return counts.length ? counts.join(', ') : '-';
}

/** Per accelerator name (as the catalogs spell it), per cloud, the counts offered. */
function countsByName(clouds: Cloud[], region: string | undefined): Map<string, Map<string, number[]>> {
  const out = new Map<string, Map<string, number[]>>();
  for (const c of clouds) {
    for (const o of c.catalog().listAccelerators({ region })) {
      const per = out.get(o.acceleratorName) ?? new Map<string, number[]>();
      out.set(o.acceleratorName, per);
      const list = per.get(c.name) ?? [];
      if (!list.includes(o.acceleratorCount)) list.push(o.acceleratorCount);
      per.set(c.name, list);
    }
  }
  for (const per of out.values()) for (const l of per.values()) l.sort((a, b) => a - b);
  return out;
}

function sortNames(names: Iterable<string>): string[] {
  return [...names].sort((a, b) => a.localeCompare(b, 'en', { numeric: true, sensitivity: 'base' }));
}

function overview(clouds: Cloud[], opts: Record<string, unknown>): string {
  const region = opts.region as string | undefined;
  const byName = countsByName(clouds, region);
  const common = new Set(COMMON_ACCELERATORS.map((n) => n.toLowerCase()));
  const names = sortNames(byName.keys());
  const shown = opts.all ? names : names.filter((n) => common.has(n.toLowerCase()));
  const others = names.filter((n) => !shown.includes(n));
  if (opts.json) {
    const acc: Record<string, Record<string, number[]>> = {};
    for (const n of shown) acc[n] = Object.fromEntries(byName.get(n)!);
    return `${JSON.stringify({ accelerators: acc, others })}\n`;
  }
  if (names.length === 0) {
    return `No accelerators in the catalogs of ${clouds.map((c) => c.name).join(', ')}${region ? ` in ${region}` : ''}.\n`;
  }
  // Columns for the clouds that offer any accelerator (or the one --cloud names).
  const cols = clouds.filter(
    (c) => opts.cloud !== undefined || names.some((n) => byName.get(n)!.has(c.name)),
  );
  const t = textTable(
    [opts.all ? 'ACCELERATOR' : 'COMMON_ACCELERATOR', ...cols.map((c) => c.name.toUpperCase())],
    shown.map((n) => [n, ...cols.map((c) => countsText(byName.get(n)!.get(c.name) ?? []))]),
  );
  const lines = [`Counts of each accelerator per instance, by cloud${region ? ` (region ${region})` : ''}:`];
  lines.push(t);
  if (others.length) lines.push('', `Other accelerators: ${others.join(', ')} (show them with --all).`);
  lines.push('', 'Details and prices: skyhop show-gpus NAME[:COUNT], e.g. skyhop show-gpus A100:8.');
  return `${lines.join('\n')}\n`;
}

function offerJson(cloud: string, o: AcceleratorOffer): GpuOfferJson {
  return {
    accelerator: o.acceleratorName,
    count: o.acceleratorCount,
    cloud,
    instance_type: o.instanceType || null,
    vcpus: o.vcpus,
    memory_gib: o.memoryGiB,
    device_memory_gib: o.deviceMemoryGiB ?? null,
    price: o.cheapestPrice,
    price_region: o.cheapestPriceRegion,
    spot_price: o.cheapestSpotPrice,
    spot_region: o.cheapestSpotRegion,
  };
}

async function details(clouds: Cloud[], arg: string, opts: Record<string, unknown>): Promise<string> {
  const { name, count } = parseAcceleratorArg(arg);
  const region = opts.region as string | undefined;
  const offers: GpuOfferJson[] = [];
  const allNames = new Set<string>();
  for (const c of clouds) {
    const cat = c.catalog();
    for (const n of cat.acceleratorNames()) allNames.add(n);
    for (const o of cat.listAccelerators({ name, region })) {
      if (count !== null && o.acceleratorCount !== count) continue;
      offers.push(offerJson(c.name, o));
    }
  }
  if (offers.length === 0) {
    const where = `${clouds.map((c) => c.name).join(', ')}${region ? ` in region ${region}` : ''}`;
    const lname = name.toLowerCase();
    const sameName = [...allNames].filter((n) => n.toLowerCase().includes(lname));
    if (sameName.length && count !== null) {
      const counts = new Set<number>();
      for (const c of clouds) {
        for (const o of c.catalog().listAccelerators({ name, region })) counts.add(o.acceleratorCount);
      }
      throw new UserError(
        `No ${name}:${count} on ${where}; offered counts: ${[...counts].sort((a, b) => a - b).join(', ') || 'none'}.`,
      );
    }
    const near = nearestNames(name, allNames, 4);
    if (near.length === 0) near.push(...[closestName(name, allNames) ?? []].flat());
    throw new UserError(
      `Unknown accelerator '${name}' on ${where}; nearest names: ${near.join(', ') || 'none'}. ` +
        'List them all with skyhop show-gpus --all.',
    );
  }
  const key = (o: GpuOfferJson) => o.price ?? o.spot_price ?? Number.POSITIVE_INFINITY;
  const cloudOrder = clouds.map((c) => c.name);
  offers.sort(
    (a, b) =>
      a.accelerator.localeCompare(b.accelerator) ||
      a.count - b.count ||
      cloudOrder.indexOf(a.cloud) - cloudOrder.indexOf(b.cloud) ||
      key(a) - key(b) ||
      (a.instance_type ?? '').localeCompare(b.instance_type ?? ''),
  );
  if (opts.json) return `${JSON.stringify({ offers })}\n`;
  const head = [
    'ACCELERATOR',
    'QTY',
    'CLOUD',
    'INSTANCE_TYPE',
    'DEVICE_MEM',
    'vCPUs',
    'HOST_MEM',
    'HOURLY_PRICE',
    'HOURLY_SPOT_PRICE',
    'REGION',
  ];
  const rows = offers.map((o) => [
    o.accelerator,
    o.count,
    o.cloud,
    o.instance_type ?? '(attached)',
    o.device_memory_gib === null ? '-' : `${o.device_memory_gib}GB`,
    o.vcpus ?? '-',
    o.memory_gib === null ? '-' : `${o.memory_gib}GB`,
    priceText(o.price),
    priceText(o.spot_price),
    o.price_region ?? o.spot_region ?? '-',
  ]);
  return `${textTable(head, rows)}\n`;
}

async function checkRegion(clouds: Cloud[], region: string | undefined): Promise<void> {
  if (region === undefined) return;
  const regions = new Set(clouds.flatMap((c) => c.catalog().regions()));
  if (regions.has(region)) return;
  const hint = regions.size ? `; did you mean ${closestName(region, regions)}?` : '';
  throw new UserError(`Unknown region '${region}' for ${clouds.map((c) => c.name).join(', ')}${hint}`);
}

/** What `show-gpus` prints for these arguments (tests call this directly). */
export async function showGpusText(args: string[], opts: Record<string, unknown>): Promise<string> {
  const clouds = await selectClouds(opts);
  await checkRegion(clouds, opts.region as string | undefined);
  return args.length ? details(clouds, args[0], opts) : overview(clouds, opts);
}

export default async function showGpusCmd(args: string[], opts: Record<string, unknown>): Promise<number> {
  process.stdout.write(await showGpusText(args, opts));
  return 0;
}
