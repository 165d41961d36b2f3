/**
 * What every cloud's runInstances does, written once above the providers (as Ray's autoscaler sits
 * above its NodeProvider); a provider supplies only its API calls (`ClusterApi`):
 *
 * 1. list the cluster's nodes by tag (the cloud is the truth); one node per rank, the oldest wins;
 *    a node without a usable rank, or a second node of a rank, is a stray and is removed;
 * 2. a cluster with a rank at or above the count asked for is refused (nothing is removed);
 * 3. the nodes kept are readied (started again, re-tagged: the provider's `reuse`);
 * 4. the missing ranks are launched, the head first, then the workers `concurrency` at a time; the
 *    signal is checked before each launch, never during one (an abandoned launch request could still
 *    create an instance nobody recorded); after the first failure no launch starts, and those in
 *    flight finish and are recorded;
 * 5. it waits until every node is running with an IP: a node that ends (or, where the cloud's list
 *    is consistent, vanishes) while booting, or that is not up in time, fails the launch with
 *    ProvisionError(bootScope, 'boot_failed' | 'boot_timeout'); as each node is first seen running,
 *    the known_hosts entry of a fresh node's address is forgotten (a new instance has a new host key)
 *    and the caller's `onRunning` is told (it starts that node's SSH check);
 * 6. nodes that appeared meanwhile (a launch whose answer was lost) are removed as strays;
 * 7. on any failure or abort, the nodes this call created (not those it found) are removed before the
 *    error is thrown (InterruptedError after an abort).
 *
 * Reachability over SSH is not waited for here: the caller does it for every cloud
 * (runtime/bootstrap.ts launchReachable, in the failover attempt).
 */
import type { BlockScope, ClusterSpec, NodeInfo } from '../core/cluster.js';
import { ProvisionError } from '../core/errors.js';
import { forgetNodeHostKeys } from '../runtime/known-hosts.js';
import { inParallel } from '../runtime/parallel.js';
import { InterruptedError, UserError } from '../util/errors.js';
import { sleep } from '../util/sleep.js';
import { byRank, rankOf } from './tags.js';

/** A node as the cloud's list shows it: what the rank rules read. */
export interface Listed {
  id: string;
  tags: Record<string, string>;
}

/** A node being waited for, as the cloud describes it now. */
export interface Described {
  node: NodeInfo;
  /** Why it ended, when the cloud says (a status reason). */
  why?: string;
}

/** A cloud's API calls, as the shared runInstances uses them. `Ctx` is what launches need. */
export interface ClusterApi<I extends Listed, Ctx> {
  /** 'AWS', 'FluffyCloud': for messages. */
  displayName: string;
  region: string;
  /** The cluster's nodes that are not terminated, oldest first (and refuses what cannot be reused). */
  list(signal?: AbortSignal): Promise<I[]>;
  /** Removes nodes and waits until they are gone; no signal (cleanup must finish); ids already gone are fine. */
  remove(ids: readonly string[]): Promise<void>;
  /** Readies the nodes kept (start stopped ones, tag them again, open ports); `missing` are about to be launched. */
  reuse?(kept: ReadonlyMap<number, I>, missing: readonly number[], signal?: AbortSignal): Promise<void>;
  /** What the launches need, made once before the first (key pair, network, image). */
  prepare(signal?: AbortSignal): Promise<Ctx>;
  /** Launches the node of `rank`, tagged `nodeTags(cluster, rank)` at launch; returns its id. */
  launch(rank: number, ctx: Ctx, signal?: AbortSignal): Promise<string>;
  /** Launches in flight at once after the head; default 1. */
  concurrency?: number;
  /** The nodes `ids` as the cloud describes them now (any status); an id it does not show is absent. */
  describe(ids: readonly string[], signal?: AbortSignal): Promise<Described[]>;
  /**
   * Whether an id the cloud does not show means the node is gone (a consistent list) rather than not
   * shown yet (EC2 is eventually consistent).
   */
  absentIsGone: boolean;
  /** What a node that dies while booting or is not up in time blocks: 'zone' (AWS) or 'region'. */
  bootScope: BlockScope;
  pollMs: number;
  bootTimeoutMs: number;
}

/** A cloud's instance state as a NodeInfo status ('shutting-down' is on its way to terminated). */
export function nodeStatus(state: string | undefined): NodeInfo['status'] {
  switch (state) {
    case 'running':
    case 'stopping':
    case 'stopped':
    case 'terminated':
      return state;
    case 'shutting-down':
      return 'terminated';
    default:
      return 'pending';
  }
}

/** One node per rank (the first listed wins: list oldest first); the rest are strays. */
export function assignRanks<I extends Listed>(listed: readonly I[]): { kept: Map<number, I>; strays: I[] } {
  const kept = new Map<number, I>();
  const strays: I[] = [];
  for (const i of listed) {
    const rank = rankOf(i.tags);
    if (rank === null || kept.has(rank)) strays.push(i);
    else kept.set(rank, i);
  }
  return { kept, strays };
}

/** The refusal of a request for fewer nodes than the cluster has. */
export function tooManyNodes(displayName: string, cluster: string, have: number, want: number): UserError {
  return new UserError(
    `${displayName} cluster ${cluster} already has ${have} nodes and the request asks for ${want}; ` +
      `ask for ${have} nodes or run \`skyhop down ${cluster}\` first`,
  );
}

/** The shared runInstances (steps 1-7 above): every node of the cluster running with an IP, head first. */
export async function runCluster<I extends Listed, Ctx>(
  spec: ClusterSpec,
  api: ClusterApi<I, Ctx>,
  signal?: AbortSignal,
  onRunning?: (node: NodeInfo) => void,
): Promise<NodeInfo[]> {
  if (signal?.aborted) throw new InterruptedError();
  const { cluster, numNodes } = spec;
  const created: string[] = [];
  try {
    const { kept, strays } = assignRanks(await api.list(signal));
    if ([...kept.keys()].some((r) => r >= numNodes)) {
      throw tooManyNodes(api.displayName, cluster, kept.size, numNodes);
    }
    if (strays.length > 0) await api.remove(strays.map((s) => s.id));

    const ids = new Map<number, string>();
    for (const [rank, i] of kept) ids.set(rank, i.id);
    const missing = Array.from({ length: numNodes }, (_, r) => r).filter((r) => !ids.has(r));
    await api.reuse?.(kept, missing, signal);

    if (missing.length > 0) {
      const ctx = await api.prepare(signal);
      let failure: { error: unknown } | null = null;
      const launchRank = async (rank: number) => {
        if (failure) return;
        if (signal?.aborted) {
          failure = { error: new InterruptedError() };
          return;
        }
        try {
          const id = await api.launch(rank, ctx, signal);
          created.push(id);
          ids.set(rank, id);
        } catch (error) {
          failure ??= { error };
        }
      };
      const rest = [...missing];
      if (rest[0] === 0) await launchRank(rest.shift() as number);
      await inParallel(rest, launchRank, { concurrency: api.concurrency ?? 1 });
      if (failure) throw (failure as { error: unknown }).error;
    }

    const nodes = await waitRunning(spec, api, ids, new Set(created), signal, onRunning);
    // A launch whose answer was lost may still have made a node after the list above: a stray now.
    const wanted = new Set(ids.values());
    const late = (await api.list(signal)).filter((i) => !wanted.has(i.id));
    if (late.length > 0) await api.remove(late.map((i) => i.id));
    return nodes;
  } catch (e) {
    if (created.length > 0) {
      await api.remove(created).catch(() => {
        // The original error matters more; the nodes carry the cluster's tags, so the caller's
        // terminateInstances (the failover loop calls it) or `skyhop down` still finds them.
      });
    }
    if (signal?.aborted || e instanceof InterruptedError) {
      throw new InterruptedError(
        `Interrupted; the ${api.displayName} nodes this launch of ${cluster} had created were removed.`,
      );
    }
    throw e;
  }
}

/** Polls until every node is running with an IP; a node that ends while booting fails the wait. */
async function waitRunning<I extends Listed, Ctx>(
  spec: ClusterSpec,
  api: ClusterApi<I, Ctx>,
  ids: ReadonlyMap<number, string>,
  fresh: ReadonlySet<string>,
  signal?: AbortSignal,
  onRunning?: (node: NodeInfo) => void,
): Promise<NodeInfo[]> {
  const deadline = Date.now() + api.bootTimeoutMs;
  const up = new Set<string>();
  const where = `in ${api.region}`;
  for (;;) {
    const seen = new Map((await api.describe([...ids.values()], signal)).map((d) => [d.node.id, d]));
    const nodes: NodeInfo[] = [];
    let pending = 0;
    for (const [rank, id] of ids) {
      const d = seen.get(id);
      const gone = d ? d.node.status === 'terminated' : api.absentIsGone;
      if (gone) {
        const why = d ? `was terminated${d.why ? ` (${d.why})` : ''}` : 'disappeared';
        throw new ProvisionError(
          api.bootScope,
          'boot_failed',
          `${api.displayName} instance ${id} (${spec.cluster} rank ${rank}) ${why} while booting ${where}`,
        );
      }
      if (d?.node.status !== 'running' || !d.node.internalIp) {
        pending++;
        continue;
      }
      nodes.push(d.node);
      if (!up.has(id)) {
        up.add(id);
        if (fresh.has(id)) forgetNodeHostKeys([d.node]);
        onRunning?.(d.node);
      }
    }
    if (pending === 0) return nodes.sort(byRank);
    if (Date.now() > deadline) {
      throw new ProvisionError(
        api.bootScope,
        'boot_timeout',
        `${pending} ${api.displayName} node(s) of ${spec.cluster} were not running after ` +
          `${Math.round(api.bootTimeoutMs / 1000)} s ${where}; run \`skyhop status --refresh\` or \`skyhop down ${spec.cluster}\``,
      );
    }
    await sleep(api.pollMs, signal);
  }
}
