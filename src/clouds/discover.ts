/**
 * Finding skyhop's clusters by the clouds' tags, not by the local state: what `status --refresh` and
 * `down NAME` (for a name the state does not know) use when the state database was lost, emptied or
 * moved away. The clouds' tags are the truth (src/clouds/tags.ts): every provider lists the clusters
 * with live nodes in its region (`NodeProvider.listClusters`), and this module walks the regions.
 *
 * Cost: one listing per region of every cloud asked (AWS: one DescribeInstances filtered by the tag key
 * `skyhop-cluster` per region of its catalog, 8 regions in flight; FluffyCloud: one listing per region;
 * local: a directory read). A region the account cannot use (AWS opt-in regions not enabled) counts as
 * empty; any other failure is reported, never taken for "nothing there".
 */
import type { NodeInfo } from '../core/cluster.js';
import { inParallel } from '../runtime/parallel.js';
import { errorFacts } from './errors.js';
import type { Cloud } from './types.js';

/** A cluster the clouds have: its nodes that are not terminated, in one region of one cloud. */
export interface FoundCluster {
  name: string;
  cloud: Cloud;
  region: string;
  nodes: NodeInfo[];
}

export interface Discovery {
  found: FoundCluster[];
  /** One line per cloud whose listing failed (where it failed and why). */
  problems: Array<{ cloud: Cloud; message: string }>;
}

/** Regions looked at in parallel per cloud. */
const REGIONS_IN_FLIGHT = 8;

/** Errors that mean "this account cannot use this region" (AWS opt-in regions): nothing is there. */
const REGION_NOT_ENABLED = new Set(['OptInRequired', 'AuthFailure', 'UnauthorizedOperation']);

/**
 * The clusters carrying skyhop's tags on `clouds` (those that provision; the caller passes the enabled
 * ones), in every region of each cloud's catalog; only `names` when given. Sorted by name, then cloud
 * and region.
 */
export async function discoverClusters(
  clouds: readonly Cloud[],
  names?: readonly string[],
): Promise<Discovery> {
  const wanted = (n: string) => !names?.length || names.includes(n);
  const found: FoundCluster[] = [];
  const problems: Discovery['problems'] = [];
  await Promise.all(
    clouds.map(async (cloud) => {
      const regions = cloud.catalog().regions();
      const results = await inParallel(
        regions,
        async (region) => {
          const provider = cloud.provider(region);
          const listed = (await provider.listClusters()).filter(wanted);
          const out: FoundCluster[] = [];
          for (const name of listed) {
            const nodes = (await provider.queryInstances(name)).filter((n) => n.status !== 'terminated');
            if (nodes.length > 0) out.push({ name, cloud, region, nodes });
          }
          return out;
        },
        { concurrency: REGIONS_IN_FLIGHT },
      );
      const failed: Array<{ region: string; error: unknown }> = [];
      results.forEach((r, i) => {
        if (r.ok) found.push(...r.value);
        else failed.push({ region: regions[i], error: r.error });
      });
      // Regions the account has not enabled are empty, unless every region failed that way (then the
      // credentials themselves are refused, and "nothing found" would be a lie).
      const real = failed.filter(
        (f) => failed.length === regions.length || !REGION_NOT_ENABLED.has(errorFacts(f.error).code),
      );
      if (real.length > 0) {
        const first = real[0];
        const msg = first.error instanceof Error ? first.error.message.split('\n')[0] : String(first.error);
        const where =
          real.length === 1
            ? first.region
            : `${real.length} regions (${real.map((f) => f.region).join(', ')})`;
        problems.push({
          cloud,
          message: `could not list ${cloud.displayName}'s skyhop clusters in ${where}: ${msg}`,
        });
      }
    }),
  );
  found.sort(
    (a, b) =>
      a.name.localeCompare(b.name) ||
      a.cloud.name.localeCompare(b.cloud.name) ||
      a.region.localeCompare(b.region),
  );
  return { found, problems };
}
