/**
 * What the emulated cloud sells: instance types, regions, zones and which (type, region, zone) rows exist,
 * read from a SkyPilot-format catalog CSV (by default the bundled `catalogs/fluffycloud/vms.csv`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCatalogCsv } from '../../catalog/parse.js';
import { packageRoot } from '../../util/package-root.js';

export interface InstanceTypeView {
  name: string;
  vcpus: number;
  memory_gib: number;
  accelerator: { name: string; count: number } | null;
}

export interface EmulatorOffer {
  zone: string | null;
  price: number | null;
  spotPrice: number | null;
}

export interface EmulatorCatalog {
  /** Sorted by name. */
  types: InstanceTypeView[];
  /** Region -> its zones (sorted; empty for a region without zones), regions sorted by name. */
  regions: Map<string, string[]>;
  type(name: string): InstanceTypeView | undefined;
  /** Rows of the type in the region, cheapest on-demand first (then zone name). */
  offers(type: string, region: string): EmulatorOffer[];
  /** Regions offering the type. */
  regionsOf(type: string): string[];
}

export function defaultCatalogPath(): string {
  return join(packageRoot(), 'catalogs', 'fluffycloud', 'vms.csv');
}

export function loadEmulatorCatalog(path = defaultCatalogPath()): EmulatorCatalog {
  const rows = parseCatalogCsv(readFileSync(path, 'utf8'), 'fluffycloud', path);
  const types = new Map<string, InstanceTypeView>();
  const zones = new Map<string, Set<string>>();
  const offers = new Map<string, EmulatorOffer[]>();
  for (const r of rows) {
    if (!r.instanceType) continue;
    if (!types.has(r.instanceType)) {
      types.set(r.instanceType, {
        name: r.instanceType,
        vcpus: r.vcpus ?? 0,
        memory_gib: r.memoryGiB ?? 0,
        accelerator:
          r.acceleratorName && r.acceleratorCount
            ? { name: r.acceleratorName, count: r.acceleratorCount }
            : null,
      });
    }
    const z = zones.get(r.region) ?? new Set<string>();
    if (r.zone) z.add(r.zone);
    zones.set(r.region, z);
    const key = `${r.instanceType}\0${r.region}`;
    const list = offers.get(key) ?? [];
    list.push({ zone: r.zone, price: r.price, spotPrice: r.spotPrice });
    offers.set(key, list);
  }
  for (const list of offers.values()) {
    list.sort(
      (a, b) =>
        (a.price ?? Number.POSITIVE_INFINITY) - (b.price ?? Number.POSITIVE_INFINITY) ||
        (a.zone ?? '').localeCompare(b.zone ?? ''),
    );
  }
  const typeList = [...types.values()].sort((a, b) => a.name.localeCompare(b.name));
  const regions = new Map(
    [...zones.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([r, z]) => [r, [...z].sort()]),
  );
  return {
    types: typeList,
    regions,
    type: (name) => types.get(name),
    offers: (type, region) => offers.get(`${type}\0${region}`) ?? [],
    regionsOf: (type) => [...regions.keys()].filter((r) => offers.has(`${type}\0${r}`)),
  };
}
