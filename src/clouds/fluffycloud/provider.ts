/**
 * Step 1 of the new-cloud guide: the FluffyCloud NodeProvider, over the API client (api.ts). It holds
 * FluffyCloud's API calls only; what every cloud's provider does the same way is shared:
 * - tags (skyhop-cluster, skyhop-role, skyhop-rank) and what they say: src/clouds/tags.ts;
 * - runInstances: src/clouds/reconcile.ts reuses the nodes there (any status but terminated), removes
 *   strays, launches the missing ranks (the head first, then the workers 8 at a time, tagged at launch;
 *   a reused node with incomplete tags is tagged again with setTags), waits until every node is
 *   `running` with an IP, and on a failure part-way (capacity for 2 of 4 nodes, a node that dies while
 *   booting, an abort) removes the instances it launched in this call (not the ones it found);
 * - that the nodes answer over SSH is waited for by the caller, for every cloud
 *   (src/runtime/bootstrap.ts launchReachable, from the failover attempt).
 *
 * The cloud is the truth: every question ("which nodes does this cluster have?") is answered by
 * listing instances and reading tags, never from local state, so a client that lost its state or died
 * at any line still finds (and can remove) everything it started.
 * - queryInstances and terminateInstances look at the cluster's nodes in every region (a node is
 *   never left unseen because it sits in another region than the caller thought); runInstances
 *   refuses to add to a cluster that has nodes in another region.
 * - terminateInstances removes every node with the cluster's tag, waits until the list shows them
 *   terminated, and deletes the cluster's registered SSH keys; it is safe to repeat.
 *
 * Callers hold the cluster's lock (the SDK does), so two launches of one cluster do not race.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { clusterKeyDir, ensureClusterKey } from '../../runtime/ssh-keys.js';
import { UserError } from '../../util/errors.js';
import { ProvisionError } from '../errors.js';
import { type ClusterApi, nodeStatus, runCluster } from '../reconcile.js';
import { byRank, nodeTags, rankOf, TAG_CLUSTER } from '../tags.js';
import type { NodeProvider } from '../types.js';
import type { ClusterSpec, NodeInfo } from '../../core/cluster.js';
import { featureMessage, missingFeatures } from '../../core/features.js';
import { FLUFFYCLOUD_FEATURES } from './index.js';
import {
  type FluffyCloudApi,
  type FluffyCloudApiOptions,
  type FluffyInstance,
  fluffyCloudApi,
} from './api.js';
import { nameSafe, registerClusterKey, removeClusterKeys } from './setup.js';
import { sleep } from '../../util/sleep.js';

/** Worker launches in flight at once (each is one API call; the emulator boots an sshd for it). */
const LAUNCH_CONCURRENCY = 8;

/** Longest pause between instance listings while nodes boot (pollMs when that is shorter). */
const READY_POLL_MS = 250;

export interface FluffyCloudProviderOptions {
  /** The API client; default: one made from ~/.fluffycloud/credentials on first use. */
  api?: FluffyCloudApi;
  /** Options for that default client (timeouts, retries). */
  apiOptions?: Omit<FluffyCloudApiOptions, 'endpoint' | 'apiKey'>;
  /** How often instance status is polled while waiting; default 500 ms. */
  pollMs?: number;
  /** Longest wait for all nodes to be `running`; default 10 min. */
  bootTimeoutMs?: number;
  /** Longest wait for removed nodes to show as terminated; default 5 min. */
  terminateTimeoutMs?: number;
}

type SshKey = { keyPath: string; publicKey: string; knownHostsPath: string };

/** A unique instance name per launch call: `<cluster>-head-<4 hex>` or `<cluster>-w<rank>-<4 hex>`. */
export function instanceName(cluster: string, rank: number): string {
  return `${nameSafe(cluster)}-${rank === 0 ? 'head' : `w${rank}`}-${randomBytes(2).toString('hex')}`;
}

export class FluffyCloudProvider implements NodeProvider {
  private api: FluffyCloudApi | null;
  private readonly pollMs: number;
  private readonly bootTimeoutMs: number;
  private readonly terminateTimeoutMs: number;

  constructor(
    readonly region: string,
    private readonly opts: FluffyCloudProviderOptions = {},
  ) {
    this.api = opts.api ?? null;
    this.pollMs = opts.pollMs ?? 500;
    this.bootTimeoutMs = opts.bootTimeoutMs ?? 10 * 60_000;
    this.terminateTimeoutMs = opts.terminateTimeoutMs ?? 5 * 60_000;
  }

  private async client(): Promise<FluffyCloudApi> {
    this.api ??= await fluffyCloudApi(this.opts.apiOptions);
    return this.api;
  }

  /** The cluster's instances that are not terminated, in every region, oldest first. */
  private async clusterInstances(api: FluffyCloudApi, cluster: string, signal?: AbortSignal) {
    const all = await api.listInstances({ signal });
    return all
      .filter((i) => i.tags[TAG_CLUSTER] === cluster && i.status !== 'terminated')
      .sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  }

  toNodeInfo(i: FluffyInstance, key: SshKey): NodeInfo {
    const rank = rankOf(i.tags) ?? undefined;
    return {
      id: i.id,
      cluster: i.tags[TAG_CLUSTER],
      role: rank === 0 ? 'head' : 'worker',
      rank,
      status: nodeStatus(i.status),
      internalIp: i.ip,
      externalIp: i.ip,
      tags: { ...i.tags },
      zone: i.zone ?? null,
      instanceType: i.instance_type,
      spot: i.spot,
      connection: {
        kind: 'ssh',
        host: i.ip,
        port: i.ssh_port,
        user: i.ssh_user,
        keyPath: key.keyPath,
        knownHostsPath: key.knownHostsPath,
      },
    };
  }

  private checkSpec(spec: ClusterSpec): void {
    if (spec.cluster === '') throw new UserError('a FluffyCloud cluster needs a name');
    if (!Number.isInteger(spec.numNodes) || spec.numNodes < 1) {
      throw new UserError(
        `num_nodes must be a whole number >= 1 (got ${spec.numNodes}) for cluster ${spec.cluster}`,
      );
    }
    if (spec.region !== this.region) {
      throw new UserError(
        `cluster ${spec.cluster} asks for FluffyCloud region ${spec.region} from the provider of region ${this.region}`,
      );
    }
    const [lacking] = missingFeatures(spec, { features: FLUFFYCLOUD_FEATURES });
    if (lacking !== undefined) {
      throw new UserError(
        `${featureMessage(lacking, 'FluffyCloud', { features: FLUFFYCLOUD_FEATURES }, spec)} (cluster ${spec.cluster})`,
      );
    }
  }

  async runInstances(
    spec: ClusterSpec,
    signal?: AbortSignal,
    onRunning?: (node: NodeInfo) => void,
  ): Promise<NodeInfo[]> {
    this.checkSpec(spec);
    const api = await this.client();
    return runCluster(spec, this.clusterApi(api, spec), signal, onRunning);
  }

  /** FluffyCloud's calls for the shared runInstances (src/clouds/reconcile.ts). */
  private clusterApi(api: FluffyCloudApi, spec: ClusterSpec): ClusterApi<FluffyInstance, string> {
    const { cluster } = spec;
    const key: SshKey = ensureClusterKey(cluster);
    return {
      displayName: 'FluffyCloud',
      region: this.region,
      list: async (signal) => {
        const existing = await this.clusterInstances(api, cluster, signal);
        const elsewhere = existing.filter((i) => i.region !== this.region);
        if (elsewhere.length > 0) {
          throw new ProvisionError(
            'fatal',
            'cluster_conflict',
            `cluster ${cluster} already has FluffyCloud nodes in region ${elsewhere[0].region} ` +
              `(${elsewhere.map((i) => i.id).join(', ')}); launch it there or run \`skyhop down ${cluster}\` first`,
          );
        }
        return existing;
      },
      remove: (ids) => this.removeCreated(api, ids),
      // Reused nodes whose tags are incomplete get them again (new ones are launched with them).
      reuse: async (kept, _missing, signal) => {
        for (const [rank, i] of kept) {
          const want = nodeTags(cluster, rank);
          if (Object.entries(want).every(([k, v]) => i.tags[k] === v)) continue;
          await api.setTags(i.id, want, { signal });
        }
      },
      prepare: (signal) => registerClusterKey(api, cluster, key.publicKey, signal),
      launch: async (rank, keyName, signal) =>
        (
          await api.launch(instanceName(cluster, rank), spec.instanceType, this.region, keyName, {
            zone: spec.zone,
            spot: spec.useSpot,
            tags: nodeTags(cluster, rank),
            signal,
          })
        ).id,
      concurrency: LAUNCH_CONCURRENCY,
      describe: async (ids, signal) => {
        const wanted = new Set(ids);
        return (await api.listInstances({ signal }))
          .filter((i) => wanted.has(i.id))
          .map((i) => ({ node: this.toNodeInfo(i, key), why: i.status_reason ?? undefined }));
      },
      // The list shows every instance (terminated ones for a while): one not listed is gone.
      absentIsGone: true,
      // A node that dies or never comes up while booting: capacity and health are per region here.
      bootScope: 'region',
      pollMs: Math.min(this.pollMs, READY_POLL_MS),
      bootTimeoutMs: this.bootTimeoutMs,
    };
  }

  private async removeQuietly(api: FluffyCloudApi, id: string): Promise<void> {
    try {
      await api.remove(id);
    } catch (e) {
      if ((e as { code?: unknown }).code !== 'not_found') throw e;
    }
  }

  /** Removes instances (no signal: cleanup must finish) and waits until the list shows them gone. */
  private async removeCreated(api: FluffyCloudApi, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    for (const id of ids) await this.removeQuietly(api, id);
    await this.waitGone(api, ids);
  }

  private async waitGone(api: FluffyCloudApi, ids: readonly string[]): Promise<void> {
    const deadline = Date.now() + this.terminateTimeoutMs;
    const wanted = new Set(ids);
    for (;;) {
      const left = (await api.listInstances()).filter((i) => wanted.has(i.id) && i.status !== 'terminated');
      if (left.length === 0) return;
      if (Date.now() > deadline) {
        throw new ProvisionError(
          'retry',
          'terminate_timeout',
          `FluffyCloud instances ${left.map((i) => i.id).join(', ')} were still ${left[0].status} ` +
            `${Math.round(this.terminateTimeoutMs / 1000)} s after removal; run \`skyhop down\` again later`,
        );
      }
      await sleep(this.pollMs);
    }
  }

  async queryInstances(cluster: string): Promise<NodeInfo[]> {
    const api = await this.client();
    const found = await this.clusterInstances(api, cluster);
    if (found.length === 0) return [];
    // The key's paths without creating a key (a query has no side effects; a lost key stays lost).
    const dir = clusterKeyDir(cluster);
    const key: SshKey = {
      keyPath: join(dir, 'id_ed25519'),
      publicKey: '',
      knownHostsPath: join(dir, 'known_hosts'),
    };
    return found.map((i) => this.toNodeInfo(i, key)).sort(byRank);
  }

  /** Clusters with nodes that are not terminated in this provider's region (one listing of the account). */
  async listClusters(): Promise<string[]> {
    const api = await this.client();
    const names = new Set<string>();
    for (const i of await api.listInstances()) {
      const cluster = i.tags[TAG_CLUSTER];
      if (cluster && i.region === this.region && i.status !== 'terminated') names.add(cluster);
    }
    return [...names].sort();
  }

  async terminateInstances(cluster: string): Promise<void> {
    const api = await this.client();
    const found = await this.clusterInstances(api, cluster);
    // Workers first, the head last: an autodown runs on the head, and removing the head ends it.
    for (const i of [...found].reverse()) await this.removeQuietly(api, i.id);
    await this.waitGone(
      api,
      found.map((i) => i.id),
    );
    // The cluster's key registrations cost nothing; failing to delete them must not make a
    // successful tear-down look failed (the next terminate deletes them).
    await removeClusterKeys(api, cluster).catch(() => {});
  }
}
