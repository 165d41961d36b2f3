/**
 * Accelerators in the clouds' catalogs (`skyhop show-gpus`): which ones each cloud offers, in
 * which counts, and for one name the instance types carrying it with their cheapest on-demand and
 * spot prices. Reads only the catalogs: no credentials, no network.
 */
import type { AcceleratorOffer } from '../catalog/types.js';
import type { Cloud } from '../clouds/types.js';
import { UserError } from '../util/errors.js';
import { closestName, nearestNames } from '../util/suggest.js';

/** Shown without `all` (SkyPilot likewise shows a common set first). */
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

/** One instance type (or attachable accelerator) carrying an accelerator, with its cheapest prices. */
export interface GpuOffer {
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

export interface GpuQuery {
  /** Only this cloud (default: every registered cloud). */
  cloud?: string;
  /** Only this region. */
  region?: string;
  /** Every accelerator, not only the common ones (overview only). */
  all?: boolean;
}

export interface GpuOverview {
  /** The clouds looked at. */
  clouds: string[];
  /** Those of them that offer any accelerator. */
  offeringClouds: string[];
  /** Per accelerator shown (common ones, or all), per cloud, the counts offered. */
  accelerators: Record<string, Record<string, number[]>>;
  /** The accelerator names not shown (without `all`). */
  others: string[];
}

/** Parse NAME or NAME:N (N a positive number, fractions allowed). */
export function parseAcceleratorArg(s: string): { name: string; count: number | null } {
  const m = /^([^:]+?)(?::([0-9]*\.?[0-9]+))?$/.exec(s.trim());
  if (!m || (m[2] !== undefined && !(Number(m[2]) > 0))) {
    throw new UserError(`Invalid accelerator '${s}': use NAME or NAME:COUNT, e.g. A100 or A100:8.`);
  }
  return { name: m[1], count: m[2] === undefined ? null : Number(m[2]) };
}

async function selectClouds(q: GpuQuery): Promise<Cloud[]> {
  const { allClouds } = await import('../clouds/registry.js');
  const every = allClouds();
  let clouds = every;
  if (q.cloud !== undefined) {
    const want = q.cloud.toLowerCase();
    clouds = every.filter((c) => c.name === want);
    if (clouds.length === 0) {
      const names = every.map((c) => c.name);
      throw new UserError(
        `Unknown cloud '${q.cloud}' for --cloud; did you mean ${closestName(want, names)}? (clouds: ${names.join(', ')})`,
      );
    }
  }
  if (q.region !== undefined) {
    const regions = new Set(clouds.flatMap((c) => c.catalog().regions()));
    if (!regions.has(q.region)) {
      const hint = regions.size ? `; did you mean ${closestName(q.region, regions)}?` : '';
      throw new UserError(`Unknown region '${q.region}' for ${clouds.map((c) => c.name).join(', ')}${hint}`);
    }
  }
  return clouds;
}

function sortNames(names: Iterable<string>): string[] {
  return [...names].sort((a, b) => a.localeCompare(b, 'en', { numeric: true, sensitivity: 'base' }));
}

/** Which accelerators each cloud offers, in which counts per instance. */
export async function gpuOverview(q: GpuQuery = {}): Promise<GpuOverview> {
  const clouds = await selectClouds(q);
  const byName = new Map<string, Map<string, number[]>>();
  for (const c of clouds) {
    for (const o of c.catalog().listAccelerators({ region: q.region })) {
      const per = byName.get(o.acceleratorName) ?? new Map<string, number[]>();
      byName.set(o.acceleratorName, per);
      const list = per.get(c.name) ?? [];
      if (!list.includes(o.acceleratorCount)) list.push(o.acceleratorCount);
      per.set(c.name, list);
    }
  }
  for (const per of byName.values()) for (const l of per.values()) l.sort((a, b) => a - b);
  const common = new Set(COMMON_ACCELERATORS.map((n) => n.toLowerCase()));
  const names = sortNames(byName.keys());
  const shown = q.all ? names : names.filter((n) => common.has(n.toLowerCase()));
  const accelerators: GpuOverview['accelerators'] = {};
  for (const n of shown) accelerators[n] = Object.fromEntries(byName.get(n)!);
  return {
    clouds: clouds.map((c) => c.name),
    offeringClouds: clouds.filter((c) => names.some((n) => byName.get(n)!.has(c.name))).map((c) => c.name),
    accelerators,
    others: names.filter((n) => !shown.includes(n)),
  };
}

function offerOf(cloud: string, o: AcceleratorOffer): GpuOffer {
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

/**
 * The offers of one accelerator (`NAME` or `NAME:COUNT`), sorted by name, count, cloud, price.
 * None is a UserError with the nearest names (or the offered counts).
 */
export async function gpuOffers(accelerator: string, q: GpuQuery = {}): Promise<GpuOffer[]> {
  const { name, count } = parseAcceleratorArg(accelerator);
  const clouds = await selectClouds(q);
  const region = q.region;
  const offers: GpuOffer[] = [];
  const allNames = new Set<string>();
  for (const c of clouds) {
    const cat = c.catalog();
    for (const n of cat.acceleratorNames()) allNames.add(n);
    for (const o of cat.listAccelerators({ name, region })) {
      if (count !== null && o.acceleratorCount !== count) continue;
      offers.push(offerOf(c.name, o));
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
  const key = (o: GpuOffer) => o.price ?? o.spot_price ?? Number.POSITIVE_INFINITY;
  const cloudOrder = clouds.map((c) => c.name);
  return offers.sort(
    (a, b) =>
      a.accelerator.localeCompare(b.accelerator) ||
      a.count - b.count ||
      cloudOrder.indexOf(a.cloud) - cloudOrder.indexOf(b.cloud) ||
      key(a) - key(b) ||
      (a.instance_type ?? '').localeCompare(b.instance_type ?? ''),
  );
}
