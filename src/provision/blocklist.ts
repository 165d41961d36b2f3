import type { BlockScope, BlocklistEntry, Launchable } from '../core/cluster.js';

/** The entry that blocks `scope` of the place a launch just tried. */
export function blockEntry(
  scope: Exclude<BlockScope, 'fatal' | 'retry'>,
  place: { cloud: string; region: string; zone: string | null },
  reason: string,
): BlocklistEntry {
  if (scope === 'cloud') return { cloud: place.cloud, reason };
  if (scope === 'region' || place.zone === null) return { cloud: place.cloud, region: place.region, reason };
  return { cloud: place.cloud, region: place.region, zone: place.zone, reason };
}

/** Human form: "aws", "aws/us-east-1", "aws/us-east-1/us-east-1a". */
export function placeString(p: { cloud: string; region?: string | null; zone?: string | null }): string {
  return [p.cloud, p.region, p.zone].filter(Boolean).join('/');
}

/** The zone to try first for a launchable: the pinned or cheapest one, else the first offered, else none. */
export function firstZone(l: Launchable): string | null {
  return l.zone ?? l.zones[0] ?? null;
}
