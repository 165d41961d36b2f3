/**
 * Request -> Launchables from a cloud's catalog, shared by every catalog-backed cloud. No network.
 *
 * Which instance types are candidates (SkyPilot's `_get_feasible_launchable_resources`):
 * - `instance_type` named: that type only; its accelerators, vCPUs and memory must match whatever
 *   else the request asks.
 * - accelerators named: every type carrying exactly that accelerator and count (cloud-specific hook;
 *   GCP pairs accelerators with host machine types), restricted by cpus/memory when asked.
 * - only cpus and/or memory: the cloud's default instance type for them, as SkyPilot does: the
 *   cheapest type of the cloud's default families meeting them, memory defaulting to 4 GiB per vCPU
 *   (`Catalog.defaultInstanceType`; per-cloud rules in src/catalog/profiles.ts).
 * - nothing at all: the cloud's default type: `defaultInstanceType()` with no filter, which asks for
 *   8+ vCPUs with 4 GiB per vCPU from the default families (AWS m6i/c6i/r6i..., GCP n2/n4 ->
 *   m6i.2xlarge / n2-standard-8), 30+ vCPUs on Lambda, the cheapest type on RunPod.
 *
 * Then one Launchable per (instance type, region) among the catalog's offerings that match the
 * region/zone asked and have a price (the spot price with use_spot; rows without one are skipped):
 * `hourlyPrice` is the cheapest matching zone's price (plus attached accelerators, GCP), `zones` every
 * matching zone of the region where the type is offered, cheapest first (the order the provisioner
 * tries), `zone` the pinned zone, else the cheapest zone for spot (spot prices differ by zone), else null.
 *
 * A request needing a feature the cloud lacks (use_spot, zone, ports, image_id, disk_size, labels,
 * autostop, network_tier: best; the one table is src/core/features.ts) gets nothing from it.
 * `network_tier: best` keeps only the types the cloud's `highPerformanceNetwork` hook accepts (AWS:
 * EFA); with no type or accelerator named, every such type meeting cpus/memory is a candidate
 * (without cpus/memory, those without accelerators), instead of the default type. SkyPilot silently ignores disk_size and labels where a cloud has no such thing;
 * skyhop treats them as requirements, so a plan never drops part of what the task asked for.
 */
import { closestName } from '../util/suggest.js';
import type { Catalog, Offering, ResourceFilter } from '../catalog/types.js';
import type { AcceleratorDemand, Amount, Resources } from '../core/task.js';
import { UserError } from '../util/errors.js';
import type { Feature, Launchable } from '../core/cluster.js';
import { missingFeatures } from '../core/features.js';
import { type SkyImages, skypilotImages, skypilotTag } from '../catalog/images.js';

/** The part of a Cloud that planning needs. */
export interface PlanningCloud {
  readonly name: string;
  readonly displayName: string;
  readonly features: ReadonlySet<Feature>;
  catalog(): Catalog;
}

/** Cloud-specific planning hooks; every one has a catalog-based default. */
export interface PlanningHooks {
  /** Instance types carrying exactly `acc` that meet `filter` (cpus/memory), cheapest first. */
  typesForAccelerator?(catalog: Catalog, acc: AcceleratorDemand, filter: ResourceFilter): string[];
  /**
   * The accelerators a launchable of this type has for request `r` (default: `catalog.acceleratorsOf`,
   * what the type comes with; GCP also attaches the requested GPUs to a host type).
   */
  acceleratorsOf?(
    catalog: Catalog,
    instanceType: string,
    r: Resources,
  ): { name: string; count: number } | null;
  /**
   * USD/hour added to the instance row's price in this region/zone (GCP: the accelerator rows);
   * null when the addition is not offered there (the offering is then skipped). Default 0.
   */
  /**
   * Whether instance type `t` has the cloud's high-performance network (`network_tier: best`: only
   * such types are candidates). A cloud with the 'network-tier-best' feature gives it.
   */
  highPerformanceNetwork?(instanceType: string): boolean;
  extraHourlyPrice?(
    catalog: Catalog,
    instanceType: string,
    accelerators: { name: string; count: number } | null,
    at: { region: string; zone: string | null; useSpot: boolean },
  ): number | null;
}

/** Whether `have` satisfies an Amount ("4" exactly 4, "4+" at least 4). */
export function meetsAmount(have: number | null, want: Amount | undefined): boolean {
  if (want === undefined) return true;
  if (have === null) return false;
  return want.orMore ? have >= want.value - 1e-9 : Math.abs(have - want.value) < 1e-9;
}

/** Accelerator names compare case-insensitively; counts within 0.01 (fractional GPUs), as SkyPilot. */
export function sameAccelerator(
  a: { name: string; count: number },
  b: { name: string; count: number },
): boolean {
  return a.name.toLowerCase() === b.name.toLowerCase() && Math.abs(a.count - b.count) <= 0.01;
}

function filterOf(r: Resources): ResourceFilter {
  const f: ResourceFilter = {};
  if (r.cpus) f.cpus = { value: r.cpus.value, orMore: r.cpus.orMore };
  if (r.memory) f.memory = { value: r.memory.value, orMore: r.memory.orMore };
  return f;
}

function pinned(cloud: PlanningCloud, r: Resources): boolean {
  return r.cloud === cloud.name;
}

/** Where the request points, spelled as the catalog spells it. */
interface Place {
  region?: string;
  zone?: string;
}

/**
 * The request's region/zone as the catalog spells them; null when this catalog does not know them.
 * Pinned to this cloud, an unknown region/zone is the catalog's UserError (with the nearest names).
 */
function placeOf(cloud: PlanningCloud, catalog: Catalog, r: Resources): Place | null {
  if (r.region === undefined && r.zone === undefined) return {};
  try {
    const v = catalog.validateRegionZone(r.region, r.zone);
    const place: Place = {};
    if (r.region !== undefined) place.region = v.region ?? r.region;
    if (r.zone !== undefined) place.zone = v.zone ?? r.zone;
    return place;
  } catch (e) {
    if (pinned(cloud, r)) throw e;
    return null;
  }
}

function candidateTypes(
  cloud: PlanningCloud,
  catalog: Catalog,
  r: Resources,
  place: Place,
  hooks: PlanningHooks,
): string[] {
  const accOf = (t: string) =>
    hooks.acceleratorsOf ? hooks.acceleratorsOf(catalog, t, r) : catalog.acceleratorsOf(t);
  const fitsCpuMem = (t: string) => {
    const vm = catalog.vcpusMemory(t);
    return meetsAmount(vm?.vcpus ?? null, r.cpus) && meetsAmount(vm?.memoryGiB ?? null, r.memory);
  };

  if (r.instanceType !== undefined) {
    const t = r.instanceType;
    if (!catalog.instanceTypeExists(t)) {
      if (!pinned(cloud, r)) return [];
      const names = [...new Set(catalog.rows.map((row) => row.instanceType).filter((n) => n !== ''))];
      const near = closestName(t, names);
      throw new UserError(
        `instance type '${t}' is not in the ${cloud.displayName} catalog` +
          (near ? ` (did you mean '${near}'?)` : '') +
          `; see \`skyhop show-gpus --cloud ${cloud.name}\` or the catalog CSV`,
      );
    }
    if (r.accelerators) {
      const has = accOf(t);
      if (!has || !sameAccelerator(has, r.accelerators)) return [];
    }
    return fitsCpuMem(t) ? [t] : [];
  }

  if (r.accelerators) {
    const filter = filterOf(r);
    const types = hooks.typesForAccelerator
      ? hooks.typesForAccelerator(catalog, r.accelerators, filter)
      : catalog.instanceTypesForAccelerator(r.accelerators.name, r.accelerators.count, filter).instanceTypes;
    return types.filter((t) => {
      const has = accOf(t);
      return has !== null && sameAccelerator(has, r.accelerators!) && fitsCpuMem(t);
    });
  }

  // No type and no accelerators, with network_tier: best: every type with the fast network that meets
  // the cpus/memory asked (the cloud's default families rarely have it); the cheapest wins the plan.
  if (r.networkTier === 'best') {
    const fast = hooks.highPerformanceNetwork;
    if (!fast) return [];
    const names = new Set(catalog.rows.map((row) => row.instanceType).filter((n) => n !== ''));
    return [...names].filter((t) => fast(t) && fitsCpuMem(t) && (r.cpus || r.memory || accOf(t) === null));
  }
  // No type and no accelerators: the cloud's default type for the cpus/memory asked (or none asked).
  const filter: ResourceFilter = filterOf(r);
  if (place.region !== undefined) filter.region = place.region;
  if (place.zone !== undefined) filter.zone = place.zone;
  const t = catalog.defaultInstanceType(filter);
  return t !== null && fitsCpuMem(t) ? [t] : [];
}

/** Launchables for one instance type: one per region with a priced offering. */
function launchablesForType(
  cloud: PlanningCloud,
  catalog: Catalog,
  r: Resources,
  alternative: number,
  place: Place,
  instanceType: string,
  hooks: PlanningHooks,
): Launchable[] {
  const accelerators = hooks.acceleratorsOf
    ? hooks.acceleratorsOf(catalog, instanceType, r)
    : catalog.acceleratorsOf(instanceType);
  const vm = catalog.vcpusMemory(instanceType);
  // region -> zone ('' when the catalog has no zones) -> cheapest price there
  const byRegion = new Map<string, Map<string, number>>();
  for (const o of catalog.offerings(instanceType) as Offering[]) {
    if (place.region !== undefined && o.region !== place.region) continue;
    if (place.zone !== undefined && o.zone !== place.zone) continue;
    const base = r.useSpot ? o.spotPrice : o.price;
    if (base === null || !Number.isFinite(base)) continue;
    const extra = hooks.extraHourlyPrice
      ? hooks.extraHourlyPrice(catalog, instanceType, accelerators, {
          region: o.region,
          zone: o.zone,
          useSpot: r.useSpot,
        })
      : 0;
    if (extra === null) continue;
    const price = base + extra;
    let zones = byRegion.get(o.region);
    if (!zones) {
      zones = new Map();
      byRegion.set(o.region, zones);
    }
    const key = o.zone ?? '';
    const prev = zones.get(key);
    if (prev === undefined || price < prev) zones.set(key, price);
  }

  const out: Launchable[] = [];
  for (const [region, zonePrices] of byRegion) {
    const ranked = [...zonePrices.entries()].sort(
      (a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0),
    );
    const zones = ranked.map(([z]) => z).filter((z) => z !== '');
    const hourlyPrice = ranked[0][1];
    const zone = place.zone !== undefined ? place.zone : r.useSpot && zones.length > 0 ? zones[0] : null;
    out.push({
      cloud: cloud.name,
      instanceType,
      region,
      zones,
      zone,
      accelerators: accelerators ? { name: accelerators.name, count: accelerators.count } : null,
      vcpus: vm?.vcpus ?? null,
      memoryGiB: vm?.memoryGiB ?? null,
      useSpot: r.useSpot,
      hourlyPrice,
      alternative,
      request: r,
    });
  }
  return out;
}

/** Why `cloud` cannot boot SkyPilot's image `tag` (in `region`, when pinned), or null when it can. */
function tagProblem(
  cloud: PlanningCloud,
  tag: string,
  images: SkyImages | null,
  region?: string,
): string | null {
  if (!images) {
    return `${cloud.displayName} has no SkyPilot images, so image_id: ${tag} cannot be used there; give one of its own image ids, or image_id: docker:<image>`;
  }
  const regions = images.regionsOf(tag);
  if (regions.length === 0) {
    const near = closestName(tag, images.tags());
    return `${cloud.displayName} has no SkyPilot image ${tag}${near ? ` (did you mean ${near}?)` : ''}; its SkyPilot images: ${images.tags().join(', ')}`;
  }
  if (region !== undefined && !regions.includes(region)) {
    return `${cloud.displayName} has no image for ${tag} in ${region}; it has one in ${regions.join(', ')}`;
  }
  return null;
}

/**
 * Every launchable of `cloud` for request `r` (alternative `alternative` of its task), cheapest
 * first (ties: region, then instance type). Empty when nothing fits, the request is pinned to
 * another cloud, or it needs a feature the cloud lacks. A region, zone or instance type unknown to
 * the catalog is a UserError (with the nearest names) when the request is pinned to this cloud.
 */
export function feasibleFromCatalog(
  cloud: PlanningCloud,
  r: Resources,
  alternative: number,
  hooks: PlanningHooks = {},
): Launchable[] {
  if (r.cloud !== undefined && r.cloud !== cloud.name) return [];
  if (missingFeatures(r, cloud).length > 0) return [];
  // image_id: skypilot:<tag> plans only regions where the cloud's image catalog maps the tag.
  const tag = skypilotTag(r.imageId);
  const images = tag ? skypilotImages(cloud.name) : null;
  if (tag) {
    const why = tagProblem(cloud, tag, images, r.region);
    if (why) {
      if (pinned(cloud, r)) throw new UserError(why);
      return [];
    }
  }
  const catalog = cloud.catalog();
  const place = placeOf(cloud, catalog, r);
  if (place === null) return [];
  let out: Launchable[] = [];
  const fast = hooks.highPerformanceNetwork;
  for (const t of candidateTypes(cloud, catalog, r, place, hooks)) {
    // network_tier: best plans only types with the cloud's high-performance network.
    if (r.networkTier === 'best' && !fast?.(t)) continue;
    out.push(...launchablesForType(cloud, catalog, r, alternative, place, t, hooks));
  }
  if (tag && images) out = out.filter((l) => images.imageFor(tag, l.region) !== null);
  return out.sort(
    (a, b) =>
      a.hourlyPrice - b.hourlyPrice ||
      (a.region < b.region ? -1 : a.region > b.region ? 1 : 0) ||
      (a.instanceType < b.instanceType ? -1 : a.instanceType > b.instanceType ? 1 : 0),
  );
}

/** Internet egress tiers: [up to this many GB in total, USD per GB within the tier]. */
export type EgressTiers = ReadonlyArray<readonly [number, number]>;

/**
 * The average USD per GB of moving `gb` out of a cloud whose egress is billed in `tiers` (each GB at
 * its tier's rate, as clouds bill it), so that `egressCostPerGb(gb) * gb` is the transfer's cost.
 * 0 for 0 GB or less.
 */
export function tieredEgressPerGb(gb: number, tiers: EgressTiers): number {
  if (!(gb > 0)) return 0;
  let total = 0;
  let from = 0;
  for (const [upTo, rate] of tiers) {
    if (gb <= from) break;
    total += (Math.min(gb, upTo) - from) * rate;
    from = upTo;
  }
  return total / gb;
}
