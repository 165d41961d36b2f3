/**
 * The seed's catalog functions, implemented once for every cloud over normalised rows. The
 * constructor builds the indexes (instance type -> rows, region -> zones, attachable accelerator
 * -> rows) once, so each query is a map lookup plus a scan of one type's rows. Nothing here does I/O.
 */
import { UserError } from '../util/errors.js';
import { nearestNames } from '../util/suggest.js';
import { type AcceleratorCount, type CatalogProfile, catalogProfile, regionPreference } from './profiles.js';
import type {
  AcceleratorOffer,
  Catalog,
  CatalogRow,
  CatalogSource,
  InstanceTypeInfo,
  Offering,
  ResourceFilter,
} from './types.js';

const EPS = 1e-6;
/** Accelerator counts match within this (SkyPilot's tolerance for fractional GPUs). */
const COUNT_EPS = 0.01;

type Amount = { value: number; orMore: boolean };
type PriceOpts = { useSpot: boolean; region?: string; zone?: string };

interface TypeEntry {
  info: InstanceTypeInfo;
  /** Indexes into rows. */
  rows: number[];
}

interface AttachableGroup {
  name: string;
  count: number;
  rows: number[];
}

function amountOk(v: number | null, a: Amount | undefined): boolean {
  if (!a) return true;
  if (v === null) return false;
  return a.orMore ? v >= a.value - EPS : Math.abs(v - a.value) <= EPS;
}

/** a + b without binary noise (catalog prices have at most 6 decimals). */
function addPrices(a: number, b: number): number {
  return Math.round((a + b) * 1e8) / 1e8;
}

function countText(c: number): string {
  return Number.isInteger(c) ? String(c) : c.toFixed(2);
}

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Memory of one GPU in GiB from a SkyPilot GpuInfo string ("...'SizeInMiB': 40960..."). */
function deviceMemoryGiB(gpuInfo: string | null): number | null {
  if (!gpuInfo) return null;
  const m = /'SizeInMiB':\s*([\d.]+)/.exec(gpuInfo);
  return m ? Number(m[1]) / 1024 : null;
}

function listText(names: string[], max = 12): string {
  return names.length <= max
    ? names.join(', ')
    : `${names.slice(0, max).join(', ')}, ... (${names.length} in all)`;
}

export class CatalogImpl implements Catalog {
  readonly cloud: string;
  readonly source: CatalogSource;
  readonly rows: readonly CatalogRow[];
  readonly hasZones: boolean;
  private readonly profile: CatalogProfile;
  private readonly types = new Map<string, TypeEntry>();
  /** Lower-case accelerator name -> attachable (instanceType '') rows per count. */
  private readonly attachable = new Map<string, AttachableGroup[]>();
  private readonly regionZones = new Map<string, Set<string>>();
  private readonly regionByLower = new Map<string, string>();
  private readonly zoneRegions = new Map<string, Set<string>>();
  private readonly zoneByLower = new Map<string, string>();
  private readonly accNames = new Set<string>();
  /** Lower-case accelerator name -> the types that carry it. */
  private readonly typesByAcc = new Map<string, TypeEntry[]>();
  private readonly offerCache = new Map<string, AcceleratorOffer[]>();

  constructor(cloud: string, rows: readonly CatalogRow[], source: CatalogSource, profile?: CatalogProfile) {
    this.cloud = cloud;
    this.source = source;
    this.rows = rows;
    this.profile = profile ?? catalogProfile(cloud);
    let hasZones = false;
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      let zones = this.regionZones.get(r.region);
      if (!zones) {
        zones = new Set();
        this.regionZones.set(r.region, zones);
        this.regionByLower.set(r.region.toLowerCase(), r.region);
      }
      if (r.zone !== null) {
        hasZones = true;
        zones.add(r.zone);
        let zr = this.zoneRegions.get(r.zone);
        if (!zr) {
          zr = new Set();
          this.zoneRegions.set(r.zone, zr);
          this.zoneByLower.set(r.zone.toLowerCase(), r.zone);
        }
        zr.add(r.region);
      }
      if (r.acceleratorName !== null) this.accNames.add(r.acceleratorName);
      if (r.instanceType === '') {
        if (r.acceleratorName === null) continue;
        const key = r.acceleratorName.toLowerCase();
        const count = r.acceleratorCount ?? 1;
        let groups = this.attachable.get(key);
        if (!groups) {
          groups = [];
          this.attachable.set(key, groups);
        }
        let g = groups.find((x) => Math.abs(x.count - count) <= COUNT_EPS);
        if (!g) {
          g = { name: r.acceleratorName, count, rows: [] };
          groups.push(g);
        }
        g.rows.push(i);
        continue;
      }
      let entry = this.types.get(r.instanceType);
      if (!entry) {
        let accelerator: AcceleratorCount | null = null;
        if (r.acceleratorName !== null)
          accelerator = { name: r.acceleratorName, count: r.acceleratorCount ?? 1 };
        else accelerator = this.profile.inherentAccelerator(r.instanceType);
        entry = {
          info: { instanceType: r.instanceType, vcpus: r.vcpus, memoryGiB: r.memoryGiB, accelerator },
          rows: [],
        };
        this.types.set(r.instanceType, entry);
        if (accelerator) {
          this.accNames.add(accelerator.name);
          const key = accelerator.name.toLowerCase();
          const list = this.typesByAcc.get(key);
          if (list) list.push(entry);
          else this.typesByAcc.set(key, [entry]);
        }
      }
      entry.rows.push(i);
    }
    this.hasZones = hasZones;
  }

  // ---- names -------------------------------------------------------------------------------

  private canonRegion(region: string | undefined): string | undefined {
    if (region === undefined) return undefined;
    if (this.regionZones.has(region)) return region;
    return this.regionByLower.get(region.toLowerCase()) ?? region;
  }

  private canonZone(zone: string | undefined): string | undefined {
    if (zone === undefined) return undefined;
    if (this.zoneRegions.has(zone)) return zone;
    return this.zoneByLower.get(zone.toLowerCase()) ?? zone;
  }

  /** Row i is in the (canonical) region and zone, where given. */
  private inPlace(i: number, region: string | undefined, zone: string | undefined): boolean {
    const r = this.rows[i];
    return (region === undefined || r.region === region) && (zone === undefined || r.zone === zone);
  }

  private priceOf(i: number, useSpot: boolean): number | null {
    const r = this.rows[i];
    return useSpot ? r.spotPrice : r.price;
  }

  /** Cheapest price (of the kind asked) among the rows in the place; null if none is priced. */
  private cheapest(rows: number[], useSpot: boolean, region?: string, zone?: string): number | null {
    let best: number | null = null;
    for (const i of rows) {
      if (!this.inPlace(i, region, zone)) continue;
      const p = this.priceOf(i, useSpot);
      if (p !== null && (best === null || p < best)) best = p;
    }
    return best;
  }

  private attachableGroup(name: string, count: number): AttachableGroup | undefined {
    return this.attachable.get(name.toLowerCase())?.find((g) => Math.abs(g.count - count) <= COUNT_EPS);
  }

  // ---- the seed's functions ----------------------------------------------------------------

  instanceTypeExists(instanceType: string): boolean {
    return this.types.has(instanceType);
  }

  validateRegionZone(region?: string, zone?: string): { region?: string; zone?: string } {
    const show = `\`skyhop catalog show ${this.cloud}\``;
    let r: string | undefined;
    if (region !== undefined) {
      r = this.canonRegion(region)!;
      if (!this.regionZones.has(r)) {
        const all = this.regions();
        const near = nearestNames(region, all);
        throw new UserError(
          `Unknown ${this.cloud} region '${region}'` +
            (near.length ? `; did you mean ${near.join(', ')}?` : `; ${show} lists the regions.`),
          { details: [`${this.cloud} regions: ${listText(all, 40)}`] },
        );
      }
    }
    if (zone === undefined) return { region: r };
    if (!this.hasZones) {
      throw new UserError(
        `${this.cloud} has no zones in its catalog (zone '${zone}' was asked); leave the zone out.`,
      );
    }
    const z = this.canonZone(zone)!;
    const zoneRegions = this.zoneRegions.get(z);
    if (!zoneRegions) {
      const pool = r !== undefined ? [...(this.regionZones.get(r) ?? [])] : [...this.zoneRegions.keys()];
      const near = nearestNames(zone, pool);
      const where = r !== undefined ? ` in region ${r}` : '';
      throw new UserError(
        `Unknown ${this.cloud} zone '${zone}'${where}` +
          (near.length ? `; did you mean ${near.join(', ')}?` : `; ${show} lists the zones.`),
        r !== undefined ? { details: [`zones of ${r}: ${listText(this.zones(r), 40) || '(none)'}`] } : {},
      );
    }
    if (r !== undefined && !zoneRegions.has(r)) {
      const zonesOfR = this.zones(r);
      throw new UserError(
        `Zone '${z}' is not in ${this.cloud} region '${r}' (it is in ${[...zoneRegions].sort().join(', ')}); ` +
          (zonesOfR.length ? `zones of ${r}: ${listText(zonesOfR)}.` : `region ${r} has no zones.`),
      );
    }
    if (r === undefined && zoneRegions.size === 1) r = [...zoneRegions][0];
    return { region: r, zone: z };
  }

  hourlyCost(instanceType: string, opts: PriceOpts): number | null {
    const entry = this.types.get(instanceType);
    if (!entry) return null;
    return this.cheapest(entry.rows, opts.useSpot, this.canonRegion(opts.region), this.canonZone(opts.zone));
  }

  acceleratorHourlyCost(name: string, count: number, opts: PriceOpts): number | null {
    const g = this.attachableGroup(name, count);
    if (!g) return null;
    return this.cheapest(g.rows, opts.useSpot, this.canonRegion(opts.region), this.canonZone(opts.zone));
  }

  acceleratorOfferings(name: string, count: number): Offering[] {
    const g = this.attachableGroup(name, count);
    return g ? g.rows.map((i) => this.offering(i, '')) : [];
  }

  /** Where the type's own accelerators are priced in separate rows: (region|zone) -> that price. */
  private separateAcceleratorPrices(info: InstanceTypeInfo, useSpot: boolean): Map<string, number> | null {
    if (!this.profile.acceleratorPricedSeparately || !info.accelerator) return null;
    const first = this.rows[this.types.get(info.instanceType)!.rows[0]];
    if (first.acceleratorName !== null) return null; // the row prices its accelerators itself
    const out = new Map<string, number>();
    const g = this.attachableGroup(info.accelerator.name, info.accelerator.count);
    for (const i of g?.rows ?? []) {
      const p = this.priceOf(i, useSpot);
      const key = `${this.rows[i].region}|${this.rows[i].zone ?? ''}`;
      if (p !== null && !(out.get(key)! <= p)) out.set(key, p);
    }
    return out;
  }

  hourlyCostWithAccelerators(instanceType: string, opts: PriceOpts): number | null {
    const entry = this.types.get(instanceType);
    if (!entry) return null;
    const acc = this.separateAcceleratorPrices(entry.info, opts.useSpot);
    if (!acc) return this.hourlyCost(instanceType, opts);
    const region = this.canonRegion(opts.region);
    const zone = this.canonZone(opts.zone);
    let best: number | null = null;
    for (const i of entry.rows) {
      if (!this.inPlace(i, region, zone)) continue;
      const p = this.priceOf(i, opts.useSpot);
      const a = acc.get(`${this.rows[i].region}|${this.rows[i].zone ?? ''}`);
      if (p === null || a === undefined) continue;
      if (best === null || addPrices(p, a) < best) best = addPrices(p, a);
    }
    return best;
  }

  info(instanceType: string): InstanceTypeInfo | null {
    const e = this.types.get(instanceType);
    if (!e) return null;
    const { accelerator } = e.info;
    return { ...e.info, accelerator: accelerator ? { ...accelerator } : null };
  }

  vcpusMemory(instanceType: string): { vcpus: number | null; memoryGiB: number | null } | null {
    const e = this.types.get(instanceType);
    return e ? { vcpus: e.info.vcpus, memoryGiB: e.info.memoryGiB } : null;
  }

  acceleratorsOf(instanceType: string): { name: string; count: number } | null {
    const a = this.types.get(instanceType)?.info.accelerator;
    return a ? { ...a } : null;
  }

  /** Types passing `keep`, each with its cheapest price in the place, cheapest first (ties: smaller, then name). */
  private ranked(
    keep: (e: TypeEntry) => boolean,
    useSpot: boolean,
    region?: string,
    zone?: string,
    pool: Iterable<TypeEntry> = this.types.values(),
  ): string[] {
    const r = this.canonRegion(region);
    const z = this.canonZone(zone);
    const found: Array<{ e: TypeEntry; p: number }> = [];
    for (const e of pool) {
      if (!keep(e)) continue;
      const p = this.cheapest(e.rows, useSpot, r, z);
      if (p !== null) found.push({ e, p });
    }
    found.sort(
      (a, b) =>
        a.p - b.p ||
        (a.e.info.vcpus ?? 0) - (b.e.info.vcpus ?? 0) ||
        (a.e.info.memoryGiB ?? 0) - (b.e.info.memoryGiB ?? 0) ||
        byName(a.e.info.instanceType, b.e.info.instanceType),
    );
    return found.map((f) => f.e.info.instanceType);
  }

  defaultInstanceType(filter: ResourceFilter = {}): string | null {
    const p = this.profile;
    let cpus = filter.cpus;
    const memory = filter.memory;
    if (!cpus && !memory && p.defaultVcpus !== null) cpus = { value: p.defaultVcpus, orMore: true };
    const ratio = memory ? null : p.memoryPerVcpu;
    const families = p.defaultFamilies;
    const keep = (e: TypeEntry): boolean => {
      const { info } = e;
      if (families && !families.some((f) => info.instanceType.startsWith(f))) return false;
      if (p.defaultCpuOnly && info.accelerator) return false;
      if (!amountOk(info.vcpus, cpus) || !amountOk(info.memoryGiB, memory)) return false;
      if (ratio !== null) {
        if (info.vcpus === null || info.memoryGiB === null) return false;
        if (info.memoryGiB < info.vcpus * ratio - EPS) return false;
      }
      return true;
    };
    return this.ranked(keep, filter.useSpot ?? false, filter.region, filter.zone)[0] ?? null;
  }

  instanceTypesFor(filter: ResourceFilter & { withAccelerators?: boolean }): string[] {
    const keep = (e: TypeEntry): boolean =>
      (filter.withAccelerators === true || !e.info.accelerator) &&
      amountOk(e.info.vcpus, filter.cpus) &&
      amountOk(e.info.memoryGiB, filter.memory);
    return this.ranked(keep, filter.useSpot ?? false, filter.region, filter.zone);
  }

  instanceTypesForAccelerator(
    name: string,
    count: number,
    filter: ResourceFilter = {},
  ): { instanceTypes: string[]; fuzzy: string[] } {
    const lname = name.toLowerCase();
    const region = this.canonRegion(filter.region);
    const zone = this.canonZone(filter.zone);
    const useSpot = filter.useSpot ?? false;
    const carries = (e: TypeEntry) => {
      const a = e.info.accelerator;
      return a !== null && a.name.toLowerCase() === lname && Math.abs(a.count - count) <= COUNT_EPS;
    };
    const exact = (this.typesByAcc.get(lname) ?? []).filter(
      (e) => carries(e) && e.rows.some((i) => this.inPlace(i, region, zone)),
    );
    const attachRows = (this.attachableGroup(name, count)?.rows ?? []).filter((i) =>
      this.inPlace(i, region, zone),
    );
    if (exact.length === 0 && attachRows.length === 0) {
      return { instanceTypes: [], fuzzy: this.fuzzyAccelerators(lname, count, region, zone) };
    }
    if (exact.length > 0) {
      const keep = (e: TypeEntry) =>
        carries(e) && amountOk(e.info.vcpus, filter.cpus) && amountOk(e.info.memoryGiB, filter.memory);
      return { instanceTypes: this.ranked(keep, useSpot, region, zone, exact), fuzzy: [] };
    }
    return { instanceTypes: this.hostsFor(name, count, attachRows, filter), fuzzy: [] };
  }

  /** Host types for a GCP-style attachable accelerator, offered where the accelerator is; cheapest first. */
  private hostsFor(name: string, count: number, attachRows: number[], filter: ResourceFilter): string[] {
    const rule = this.profile.attachableHosts;
    if (!rule || this.profile.boundAccelerators.has(name.toLowerCase())) return [];
    let cpus = filter.cpus;
    let memory = filter.memory;
    if (!cpus && !memory) {
      const v = rule.defaultVcpus(name, count);
      if (v === null) return [];
      cpus = { value: v, orMore: true };
    }
    if (!memory && cpus) memory = { value: cpus.value * rule.memoryPerVcpu, orMore: true };
    const places = new Set(attachRows.map((i) => `${this.rows[i].region}|${this.rows[i].zone ?? ''}`));
    const useSpot = filter.useSpot ?? false;
    const region = this.canonRegion(filter.region);
    const zone = this.canonZone(filter.zone);
    const found: Array<{ t: string; p: number }> = [];
    for (const e of this.types.values()) {
      const { info } = e;
      if (info.accelerator || !rule.prefixes.some((p) => info.instanceType.startsWith(p))) continue;
      if (!amountOk(info.vcpus, cpus) || !amountOk(info.memoryGiB, memory)) continue;
      const rows = e.rows.filter((i) => places.has(`${this.rows[i].region}|${this.rows[i].zone ?? ''}`));
      const p = this.cheapest(rows, useSpot, region, zone);
      if (p !== null) found.push({ t: info.instanceType, p });
    }
    found.sort((a, b) => a.p - b.p || byName(a.t, b.t));
    return found.map((f) => f.t);
  }

  /** "NAME:COUNT" offers near a request nothing matches: names containing it (or close to it), counts >= it. */
  private fuzzyAccelerators(lname: string, count: number, region?: string, zone?: string): string[] {
    const offers: Array<{ name: string; count: number; p: number }> = [];
    const consider = (accName: string, accCount: number, rows: number[]) => {
      if (accCount < count - COUNT_EPS) return;
      let p = this.cheapest(rows, false, region, zone);
      if (p === null) {
        if (!rows.some((i) => this.inPlace(i, region, zone))) return;
        p = Number.POSITIVE_INFINITY;
      }
      offers.push({ name: accName, count: accCount, p });
    };
    const collect = (match: (n: string) => boolean) => {
      for (const e of this.types.values()) {
        const a = e.info.accelerator;
        if (a && match(a.name.toLowerCase())) consider(a.name, a.count, e.rows);
      }
      for (const groups of this.attachable.values()) {
        for (const g of groups) if (match(g.name.toLowerCase())) consider(g.name, g.count, g.rows);
      }
    };
    collect((n) => n.includes(lname));
    const known = [...this.accNames].some((n) => n.toLowerCase() === lname);
    if (offers.length === 0 && !known) {
      const close = new Set(nearestNames(lname, this.accNames, 5).map((n) => n.toLowerCase()));
      collect((n) => close.has(n));
    }
    offers.sort((a, b) => a.p - b.p || byName(a.name, b.name) || a.count - b.count);
    const out: string[] = [];
    for (const o of offers) {
      const s = `${o.name}:${countText(o.count)}`;
      if (!out.includes(s)) out.push(s);
    }
    return out;
  }

  regions(): string[] {
    return [...this.regionZones.keys()].sort(byName);
  }

  zones(region: string): string[] {
    const zones = this.regionZones.get(this.canonRegion(region)!);
    return zones ? [...zones].sort(byName) : [];
  }

  regionsOf(instanceType: string): string[] {
    const entry = this.types.get(instanceType);
    if (!entry) return [];
    const best = new Map<string, number>();
    for (const i of entry.rows) {
      const r = this.rows[i];
      const p = r.price ?? Number.POSITIVE_INFINITY;
      if (!(best.get(r.region)! <= p)) best.set(r.region, p);
    }
    const pref = (region: string) => regionPreference(this.cloud, region);
    return [...best.entries()]
      .sort((a, b) => a[1] - b[1] || pref(a[0]) - pref(b[0]) || byName(a[0], b[0]))
      .map(([r]) => r);
  }

  zonesOf(instanceType: string, region: string): string[] {
    const entry = this.types.get(instanceType);
    if (!entry) return [];
    const reg = this.canonRegion(region);
    const best = new Map<string, { p: number; s: number }>();
    for (const i of entry.rows) {
      const r = this.rows[i];
      if (r.region !== reg || r.zone === null) continue;
      const p = r.price ?? Number.POSITIVE_INFINITY;
      const s = r.spotPrice ?? Number.POSITIVE_INFINITY;
      const cur = best.get(r.zone);
      if (!cur || p < cur.p || (p === cur.p && s < cur.s)) best.set(r.zone, { p, s });
    }
    return [...best.entries()]
      .sort((a, b) => a[1].p - b[1].p || a[1].s - b[1].s || byName(a[0], b[0]))
      .map(([z]) => z);
  }

  private offering(i: number, instanceType: string): Offering {
    const r = this.rows[i];
    return { instanceType, region: r.region, zone: r.zone, price: r.price, spotPrice: r.spotPrice };
  }

  offerings(instanceType: string): Offering[] {
    const entry = this.types.get(instanceType);
    return entry ? entry.rows.map((i) => this.offering(i, instanceType)) : [];
  }

  listAccelerators(
    opts: { name?: string; region?: string; includeAttachable?: boolean } = {},
  ): AcceleratorOffer[] {
    const region = this.canonRegion(opts.region);
    const includeAttachable = opts.includeAttachable ?? true;
    const key = `${region ?? ''}\u0000${includeAttachable}`;
    let all = this.offerCache.get(key);
    if (!all) {
      all = this.computeOffers(region, includeAttachable);
      this.offerCache.set(key, all);
    }
    const needle = opts.name?.toLowerCase();
    const picked = needle ? all.filter((o) => o.acceleratorName.toLowerCase().includes(needle)) : all;
    return picked.map((o) => ({ ...o }));
  }

  private computeOffers(region: string | undefined, includeAttachable: boolean): AcceleratorOffer[] {
    const groups = new Map<string, AcceleratorOffer>();
    const add = (
      acc: AcceleratorCount,
      instanceType: string,
      vcpus: number | null,
      memoryGiB: number | null,
      gpuInfo: string | null,
      rowRegion: string,
      price: number | null,
      spot: number | null,
    ) => {
      const k = `${acc.name}\u0000${acc.count}\u0000${instanceType}`;
      let o = groups.get(k);
      if (!o) {
        o = {
          acceleratorName: acc.name,
          acceleratorCount: acc.count,
          instanceType,
          vcpus,
          memoryGiB,
          cheapestPrice: null,
          cheapestPriceRegion: null,
          cheapestSpotPrice: null,
          cheapestSpotRegion: null,
          deviceMemoryGiB: deviceMemoryGiB(gpuInfo),
        };
        groups.set(k, o);
      }
      if (o.deviceMemoryGiB === null) o.deviceMemoryGiB = deviceMemoryGiB(gpuInfo);
      if (price !== null && (o.cheapestPrice === null || price < o.cheapestPrice)) {
        o.cheapestPrice = price;
        o.cheapestPriceRegion = rowRegion;
      }
      if (spot !== null && (o.cheapestSpotPrice === null || spot < o.cheapestSpotPrice)) {
        o.cheapestSpotPrice = spot;
        o.cheapestSpotRegion = rowRegion;
      }
    };
    const hosted = new Set<string>(); // "name|count" carried by some instance type
    const sum = (a: number | null, b: number | null | undefined) =>
      a === null || b == null ? null : addPrices(a, b);
    for (const e of this.types.values()) {
      const acc = e.info.accelerator;
      if (!acc) continue;
      hosted.add(`${acc.name.toLowerCase()}|${acc.count}`);
      const onDemand = this.separateAcceleratorPrices(e.info, false);
      const spot = onDemand ? this.separateAcceleratorPrices(e.info, true) : null;
      const g = onDemand ? this.attachableGroup(acc.name, acc.count) : undefined;
      const gpuInfo = g ? this.rows[g.rows[0]].gpuInfo : this.rows[e.rows[0]].gpuInfo;
      for (const i of e.rows) {
        const r = this.rows[i];
        if (region !== undefined && r.region !== region) continue;
        if (!onDemand) {
          add(
            acc,
            e.info.instanceType,
            e.info.vcpus,
            e.info.memoryGiB,
            gpuInfo,
            r.region,
            r.price,
            r.spotPrice,
          );
          continue;
        }
        const place = `${r.region}|${r.zone ?? ''}`;
        if (!onDemand.has(place) && !spot!.has(place)) continue;
        const p = sum(r.price, onDemand.get(place));
        const s = sum(r.spotPrice, spot!.get(place));
        add(acc, e.info.instanceType, e.info.vcpus, e.info.memoryGiB, gpuInfo, r.region, p, s);
      }
    }
    for (const groupsOfName of this.attachable.values()) {
      for (const g of groupsOfName) {
        const lname = g.name.toLowerCase();
        if (hosted.has(`${lname}|${g.count}`)) continue;
        const rows = g.rows.filter((i) => region === undefined || this.rows[i].region === region);
        if (rows.length === 0) continue;
        const acc = { name: g.name, count: g.count };
        const gpuInfo = this.rows[rows[0]].gpuInfo;
        let placed = false;
        if (this.profile.attachableHosts && !this.profile.boundAccelerators.has(lname)) {
          for (const i of rows) {
            const r = this.rows[i];
            const place = { region: r.region, zone: r.zone ?? undefined };
            const host = this.hostsFor(g.name, g.count, [i], place)[0];
            if (!host) continue;
            const h = this.types.get(host)!;
            const hp = this.cheapest(h.rows, false, r.region, r.zone ?? undefined);
            const hs = this.cheapest(h.rows, true, r.region, r.zone ?? undefined);
            add(
              acc,
              host,
              h.info.vcpus,
              h.info.memoryGiB,
              gpuInfo,
              r.region,
              sum(r.price, hp),
              sum(r.spotPrice, hs),
            );
            placed = true;
          }
        }
        if (!placed && includeAttachable && !this.profile.boundAccelerators.has(lname)) {
          for (const i of rows) {
            const r = this.rows[i];
            add(acc, '', null, null, gpuInfo, r.region, r.price, r.spotPrice);
          }
        }
      }
    }
    return [...groups.values()].sort(
      (a, b) =>
        byName(a.acceleratorName.toLowerCase(), b.acceleratorName.toLowerCase()) ||
        a.acceleratorCount - b.acceleratorCount ||
        (a.cheapestPrice ?? Number.POSITIVE_INFINITY) - (b.cheapestPrice ?? Number.POSITIVE_INFINITY) ||
        byName(a.instanceType, b.instanceType),
    );
  }

  acceleratorNames(): string[] {
    return [...this.accNames].sort((a, b) => byName(a.toLowerCase(), b.toLowerCase()) || byName(a, b));
  }
}

/** A Catalog over rows already in memory (the local cloud builds its one-row catalog this way). */
export function catalogFromRows(
  cloud: string,
  rows: CatalogRow[],
  source: CatalogSource,
  profile?: CatalogProfile,
): Catalog {
  return new CatalogImpl(cloud, rows, source, profile);
}
