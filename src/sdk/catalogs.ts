/**
 * The price catalogs: where each cloud's comes from (`catalog show`) and refreshing them
 * (`catalog update`: a download from the skypilot-catalog repository, or for aws a rebuild from
 * EC2's own APIs). A failed or corrupt download keeps the old catalog.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AwsApiUpdateResult } from '../clouds/aws/catalog-update.js';
import type { UpdateResult } from '../catalog/update.js';
import { SkyhopError, UserError } from '../util/errors.js';
import { skyhopHome } from '../util/paths.js';

export interface CatalogInfo {
  cloud: string;
  /** 'bundled' (shipped with skyhop), 'downloaded' (by `catalog update`), or the loader's kind. */
  source: string;
  path: string;
  rows: number;
  instanceTypes: number;
  regions: number;
  /** Null when the cloud's catalog has no zones. */
  zones: number | null;
  /** Something to know about the source (e.g. a download that was unreadable). */
  note?: string;
}

/** Clouds with a downloaded catalog under $SKYHOP_HOME/catalogs. */
function downloadedClouds(): string[] {
  const dir = join(skyhopHome(), 'catalogs');
  try {
    return readdirSync(dir).filter((c) => existsSync(join(dir, c, 'vms.csv')));
  } catch {
    return [];
  }
}

/** The named clouds' catalogs (default: every bundled or downloaded one). */
export async function catalogs(clouds: string[] = []): Promise<CatalogInfo[]> {
  const { bundledCatalogClouds, loadCatalog } = await import('../catalog/index.js');
  const names = clouds.length
    ? [...new Set(clouds)]
    : [...new Set([...bundledCatalogClouds(), ...downloadedClouds()])].filter((c) => c !== 'common').sort();
  return names.map((cloud) => {
    const cat = loadCatalog(cloud);
    const types = new Set<string>();
    const zones = new Set<string>();
    for (const r of cat.rows) {
      if (r.instanceType) types.add(r.instanceType);
      if (r.zone !== null) zones.add(r.zone);
    }
    return {
      cloud,
      source: cat.source.kind === 'cache' ? 'downloaded' : cat.source.kind,
      path: cat.source.path,
      rows: cat.rows.length,
      instanceTypes: types.size,
      regions: cat.regions().length,
      zones: cat.hasZones ? zones.size : null,
      ...(cat.source.note ? { note: cat.source.note } : {}),
    };
  });
}

export type CatalogUpdate = { cloud: string; result: UpdateResult } | { cloud: string; error: SkyhopError };

/**
 * Downloads the newest catalogs (default: every cloud with a public one). Unknown or
 * non-downloadable clouds are refused before any download; a cloud whose download fails keeps its
 * catalog and the others still update (its error is in the result).
 */
export async function updateCatalogs(
  clouds: string[] = [],
  o: { baseUrl?: string; onCloud?(cloud: string): void } = {},
): Promise<CatalogUpdate[]> {
  const { checkUpdatable, publicCatalogClouds, updateCatalog } = await import('../catalog/index.js');
  const names = clouds.length ? [...new Set(clouds)] : publicCatalogClouds();
  for (const c of names) checkUpdatable(c);
  const out: CatalogUpdate[] = [];
  for (const cloud of names) {
    o.onCloud?.(cloud);
    try {
      out.push({ cloud, result: await updateCatalog(cloud, { baseUrl: o.baseUrl }) });
    } catch (e) {
      if (!(e instanceof SkyhopError)) throw e;
      out.push({ cloud, error: e });
    }
  }
  return out;
}

/** Rebuilds the aws catalog from EC2's APIs (instance types, offerings, spot prices, Price List). */
export async function updateAwsCatalog(
  clouds: string[] = [],
  o: { regions?: string[]; onStart?(): void; onProgress?(message: string): void } = {},
): Promise<AwsApiUpdateResult> {
  const others = [...new Set(clouds)].filter((c) => c !== 'aws');
  if (others.length) {
    throw new UserError(
      `--from-api builds only the aws catalog, not ${others.join(', ')}; ` +
        `run \`skyhop catalog update ${others.join(' ')}\` without --from-api to download theirs.`,
    );
  }
  if (o.regions !== undefined && o.regions.length === 0)
    throw new UserError('--regions is empty; pass e.g. --regions us-east-1,us-west-2.');
  const { updateAwsCatalogFromApi } = await import('../clouds/aws/catalog-update.js');
  o.onStart?.();
  return updateAwsCatalogFromApi({ regions: o.regions, onProgress: o.onProgress });
}
