/**
 * How skyhop marks its nodes in every cloud: the tags a provider sets when it launches a node and
 * finds the cluster by (the cloud is the truth, never local state), and what a node's tags say.
 *
 *   skyhop-cluster = <cluster>, skyhop-role = head | worker, skyhop-rank = 0 (head) .. n-1
 */
import type { NodeInfo } from '../core/cluster.js';

export const TAG_CLUSTER = 'skyhop-cluster';
export const TAG_ROLE = 'skyhop-role';
export const TAG_RANK = 'skyhop-rank';

/** The tags a node of `cluster` at `rank` carries. */
export function nodeTags(cluster: string, rank: number): Record<string, string> {
  return { [TAG_CLUSTER]: cluster, [TAG_ROLE]: rank === 0 ? 'head' : 'worker', [TAG_RANK]: String(rank) };
}

/** The rank a node's tags say it has; a head without a rank tag is rank 0; null when the tags do not say. */
export function rankOf(tags: Record<string, string>): number | null {
  const raw = tags[TAG_RANK];
  if (raw !== undefined && /^\d+$/.test(raw)) return Number(raw);
  return tags[TAG_ROLE] === 'head' ? 0 : null;
}

/** Keys a user's labels cannot set (they would disguise a node as another cluster's or rank). */
export function isSkyhopTag(key: string): boolean {
  return key.startsWith('skyhop-');
}

/** Head first, then by rank; nodes without a rank last; ties by id. */
export function byRank(a: NodeInfo, b: NodeInfo): number {
  return (
    (a.rank ?? Number.MAX_SAFE_INTEGER) - (b.rank ?? Number.MAX_SAFE_INTEGER) || a.id.localeCompare(b.id)
  );
}
