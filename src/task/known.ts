/**
 * What the task parser knows about clouds, regions, zones, instance types and accelerators, for
 * the checks that need catalog knowledge (unknown names, zone outside its region, instance type vs
 * accelerators, features like spot). Parsing works without it (shape checks only).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Catalog } from '../catalog/types.js';
import { packageRoot } from '../util/package-root.js';
import type { Feature } from '../core/cluster.js';
import type { AcceleratorDemand } from '../core/task.js';

export interface KnownNames {
  /** Registry names, lower case. */
  clouds: string[];
  /** Every accelerator name known anywhere (catalogs plus the common list), catalog spelling. */
  acceleratorNames(): string[];
  /** With `cloud` undefined: offered by any cloud. */
  instanceTypeExists(cloud: string | undefined, t: string): boolean;
  instanceTypes(cloud?: string): string[];
  /** The accelerators an instance type carries (null: none, or unknown type). */
  acceleratorsOf(cloud: string | undefined, t: string): AcceleratorDemand | null;
  regions(cloud: string): string[];
  zones(cloud: string, region?: string): string[];
  /** The region a zone belongs to, or null when the zone is unknown to the cloud. */
  zoneRegion(cloud: string, zone: string): string | null;
  /** Feature names of src/core/cluster.ts (`spot`, `multi-node`, `ports`, `image-id`, ...). */
  cloudHasFeature?(cloud: string, feature: string): boolean;
}

/**
 * Accelerator names of SkyPilot's common list (catalogs/common/accelerators.csv). Empty if the
 * file is missing.
 */
export function commonAcceleratorNames(): string[] {
  let text = '';
  try {
    text = readFileSync(join(packageRoot(), 'catalogs', 'common', 'accelerators.csv'), 'utf8');
  } catch {
    text = '';
  }
  const names: string[] = [];
  for (const line of text.split('\n').slice(1)) {
    if (line.trim() === '') continue;
    let name: string;
    if (line.startsWith('"')) {
      const end = line.indexOf('"', 1);
      name = line.slice(1, end < 0 ? undefined : end);
    } else {
      const comma = line.indexOf(',');
      name = comma < 0 ? line : line.slice(0, comma);
    }
    if (name.trim()) names.push(name.trim());
  }
  return names;
}

interface CloudIndex {
  catalog: Catalog;
  instanceTypes: string[];
  regions: string[];
  zoneToRegion: Map<string, string>;
}

/** What the task checks need of a cloud (a `Cloud` satisfies it; task/ never imports clouds/). */
export interface CatalogSource {
  readonly name: string;
  readonly features: ReadonlySet<Feature>;
  catalog(): Catalog;
}

/**
 * KnownNames over the registered clouds' catalogs. Each cloud's catalog is loaded (and indexed)
 * only when a question about that cloud is asked.
 */
export function knownNamesFromClouds(clouds: readonly CatalogSource[]): KnownNames {
  const byName = new Map(clouds.map((c) => [c.name.toLowerCase(), c]));
  const indexes = new Map<string, CloudIndex>();
  let accNames: string[] | undefined;

  function index(cloud: string): CloudIndex | undefined {
    const key = cloud.toLowerCase();
    const hit = indexes.get(key);
    if (hit) return hit;
    const c = byName.get(key);
    if (!c) return undefined;
    const catalog = c.catalog();
    const types = new Set<string>();
    const zoneToRegion = new Map<string, string>();
    for (const row of catalog.rows) {
      if (row.instanceType) types.add(row.instanceType);
      if (row.zone && !zoneToRegion.has(row.zone)) zoneToRegion.set(row.zone, row.region);
    }
    const idx: CloudIndex = {
      catalog,
      instanceTypes: [...types].sort(),
      regions: catalog.regions(),
      zoneToRegion,
    };
    indexes.set(key, idx);
    return idx;
  }

  function cloudsFor(cloud: string | undefined): string[] {
    return cloud === undefined
      ? [...byName.keys()]
      : byName.has(cloud.toLowerCase())
        ? [cloud.toLowerCase()]
        : [];
  }

  return {
    clouds: [...byName.keys()],
    acceleratorNames() {
      if (!accNames) {
        const names = new Set<string>();
        for (const c of byName.keys())
          for (const n of index(c)?.catalog.acceleratorNames() ?? []) names.add(n);
        for (const n of commonAcceleratorNames()) names.add(n);
        accNames = [...names];
      }
      return accNames;
    },
    instanceTypeExists(cloud, t) {
      return cloudsFor(cloud).some((c) => index(c)?.catalog.instanceTypeExists(t) === true);
    },
    instanceTypes(cloud) {
      const out = new Set<string>();
      for (const c of cloudsFor(cloud)) for (const t of index(c)?.instanceTypes ?? []) out.add(t);
      return [...out];
    },
    acceleratorsOf(cloud, t) {
      for (const c of cloudsFor(cloud)) {
        const idx = index(c);
        if (idx?.catalog.instanceTypeExists(t)) {
          const a = idx.catalog.acceleratorsOf(t);
          return a ? { name: a.name, count: a.count } : null;
        }
      }
      return null;
    },
    regions(cloud) {
      return index(cloud)?.regions ?? [];
    },
    zones(cloud, region) {
      const idx = index(cloud);
      if (!idx) return [];
      if (region !== undefined) return idx.catalog.zones(region);
      return [...idx.zoneToRegion.keys()];
    },
    zoneRegion(cloud, zone) {
      const idx = index(cloud);
      if (!idx) return null;
      const r = idx.zoneToRegion.get(zone);
      if (r !== undefined) return r;
      // AWS catalogs list zone ids (use1-az1) while users write zone names (us-east-1a): where the
      // catalog has no zone named after the region, accept `<region><letter>` as a zone of that region.
      const m = /^(.+\d)([a-z])$/.exec(zone);
      if (m && idx.zoneToRegion.size > 0 && idx.regions.includes(m[1])) {
        const named = [...idx.zoneToRegion.keys()].some((z) => z.startsWith(m[1]));
        if (!named) return m[1];
      }
      return null;
    },
    cloudHasFeature(cloud, feature) {
      const c = byName.get(cloud.toLowerCase());
      return c ? c.features.has(feature as never) : false;
    },
  };
}
