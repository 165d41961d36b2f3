/**
 * Candidate enumeration for one task: every launchable the clouds' catalogs offer for every
 * alternative of the task's resources, minus the blocklist; and the deterministic orders used
 * to rank them.
 */
import { regionPreference } from '../catalog/profiles.js';
import type { Cloud } from '../clouds/types.js';
import type { BlocklistEntry, Launchable } from '../core/cluster.js';
import { missingFeatures } from '../core/features.js';
import type { Task } from '../core/task.js';

/** Whether the entry blocks a (cloud, region) place as a whole (cloud- or region-scope entry). */
function blocksRegion(e: BlocklistEntry, l: Launchable): boolean {
  if (e.cloud !== l.cloud || e.zone !== undefined) return false;
  return e.region === undefined || e.region === l.region;
}

/**
 * Apply the blocklist to one launchable: null when its cloud or region is blocked, or when every
 * zone it has is blocked; otherwise the launchable with blocked zones removed. Zones are cheapest
 * first, so when the first one goes, the price becomes that of the first zone left (`priceIn`,
 * from the cloud's catalog; spot prices differ by zone) and a `zone` that was blocked moves there.
 */
export function applyBlocklist(
  l: Launchable,
  blocklist: readonly BlocklistEntry[],
  priceIn?: (l: Launchable, zone: string) => number | null,
): Launchable | null {
  if (blocklist.length === 0) return l;
  const zoneBlocks: BlocklistEntry[] = [];
  for (const e of blocklist) {
    if (blocksRegion(e, l)) return null;
    if (e.cloud === l.cloud && e.zone !== undefined && (e.region === undefined || e.region === l.region)) {
      zoneBlocks.push(e);
    }
  }
  if (zoneBlocks.length === 0) return l;
  const isBlocked = (z: string) => zoneBlocks.some((e) => e.zone === z);
  if (l.zones.length === 0) {
    // A catalog without zones: only a pinned zone can be blocked.
    return l.zone !== null && isBlocked(l.zone) ? null : l;
  }
  const zones = l.zones.filter((z) => !isBlocked(z));
  if (zones.length === 0) return null;
  if (zones.length === l.zones.length && (l.zone === null || !isBlocked(l.zone))) return l;
  let zone = l.zone;
  if (zone !== null && isBlocked(zone)) {
    if (l.request.zone !== undefined) return null; // the user pinned that zone
    zone = zones[0];
  }
  let hourlyPrice = l.hourlyPrice;
  if (zones[0] !== l.zones[0] && priceIn) hourlyPrice = priceIn(l, zones[0]) ?? hourlyPrice;
  return { ...l, zones, zone, hourlyPrice };
}

export interface TaskCandidates {
  /** Feasible launchables after the blocklist, in enumeration order. */
  launchables: Launchable[];
  /** How many there were before the blocklist (to tell "blocked" from "not offered"). */
  beforeBlocklist: number;
}

/**
 * Every feasible launchable for the task over the clouds, minus the blocklist. A task of more than
 * one node skips clouds without the 'multi-node' feature (a Resources request cannot say so).
 */
export function enumerateCandidates(
  task: Task,
  clouds: readonly Cloud[],
  blocklist: readonly BlocklistEntry[],
): TaskCandidates {
  const launchables: Launchable[] = [];
  let beforeBlocklist = 0;
  task.resources.forEach((r, i) => {
    for (const cloud of clouds) {
      if (r.cloud !== undefined && r.cloud !== cloud.name) continue;
      if (missingFeatures({ numNodes: task.numNodes }, cloud).length > 0) continue;
      const priceIn = (l: Launchable, zone: string) =>
        cloud
          .catalog()
          .hourlyCostWithAccelerators(l.instanceType, { useSpot: l.useSpot, region: l.region, zone });
      for (const l of cloud.feasibleResources(r, i)) {
        beforeBlocklist++;
        const kept = applyBlocklist(l, blocklist, priceIn);
        if (kept) launchables.push(kept);
      }
    }
  });
  return { launchables, beforeBlocklist };
}

function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The tie-break after the objective: cloud name, region in SkyPilot's order (US regions first on AWS
 * and Lambda, then by name: regionPreference), instance type, zone, on-demand first, alternative.
 */
export function tieBreak(a: Launchable, b: Launchable): number {
  return (
    cmpStr(a.cloud, b.cloud) ||
    regionPreference(a.cloud, a.region) - regionPreference(b.cloud, b.region) ||
    cmpStr(a.region, b.region) ||
    cmpStr(a.instanceType, b.instanceType) ||
    cmpStr(a.zone ?? '', b.zone ?? '') ||
    Number(a.useSpot) - Number(b.useSpot) ||
    a.alternative - b.alternative
  );
}

/** Relative comparison of two non-negative amounts that tolerates float noise. */
export function cmpNum(a: number, b: number): number {
  const tol = 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
  if (Math.abs(a - b) <= tol) return 0;
  return a < b ? -1 : 1;
}
