/**
 * Step 1 of the new-cloud guide: the FluffyCloud NodeProvider, over the API client (api.ts).
 *
 * The cloud is the truth. A node is a FluffyCloud instance tagged
 *   skyhop-cluster = <cluster>, skyhop-role = head | worker, skyhop-rank = 0 (head) .. n-1
 * and every question ("which nodes does this cluster have?") is answered by listing instances and
 * reading tags, never from local state, so a client that lost its state or died at any line still
 * finds (and can remove) everything it started.
 *
 * Guarantees:
 * - runInstances is idempotent: nodes already there (any status but terminated) are reused; only the
 *   missing ranks are launched, the head first, then the workers 8 at a time, tagged at launch (a reused
 *   node with incomplete tags is tagged again with setTags). It returns
 *   only when every node is `running` and answers over SSH. If it fails part-way (capacity for 2 of 4
 *   nodes, a node that dies while booting, an abort), it removes the instances it launched in this call
 *   (not the ones it found) and then throws the original error (InterruptedError after an abort).
 * - queryInstances and terminateInstances look at the cluster's nodes in every region (a node is
 *   never left unseen because it sits in another region than the caller thought); runInstances
 *   refuses to add to a cluster that has nodes in another region.
 * - terminateInstances removes every node with the cluster's tag, waits until the list shows them
 *   terminated, and deletes the cluster's registered SSH keys; it is safe to repeat.
 *
 * Callers hold the cluster's lock (the SDK does), so two launches of one cluster do not race.
 */
import { setMaxListeners } from 'node:events';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeRunner } from '../../runtime/index.js';
import { clusterKeyDir, ensureClusterKey } from '../../runtime/ssh-keys.js';
import { InterruptedError, UserError } from '../../util/errors.js';
import type { NodeProvider } from '../types.js';
import type { ClusterSpec, NodeInfo } from '../../core/cluster.js';
import {
  type FluffyCloudApi,
  type FluffyCloudApiOptions,
  type FluffyInstance,
  fluffyCloudApi,
} from './api.js';
import { FluffyCloudProvisionError } from './errors.js';
import { nameSafe, registerClusterKey, removeClusterKeys } from './setup.js';
import { sleep } from '../../util/sleep.js';
import { inParallel } from '../../runtime/parallel.js';

/** Worker launches in flight at once (each is one API call; the emulator boots an sshd for it). */
const LAUNCH_CONCURRENCY = 8;

/** Longest pause between instance listings while nodes boot (pollMs when that is shorter). */
const READY_POLL_MS = 250;

export const TAG_CLUSTER = 'skyhop-cluster';
export const TAG_ROLE = 'skyhop-role';
export const TAG_RANK = 'skyhop-rank';

export interface FluffyCloudProviderOptions {
  /** The API client; default: one made from ~/.fluffycloud/credentials on first use. */
  api?: FluffyCloudApi;
  /** Options for that default client (timeouts, retries). */
  apiOptions?: Omit<FluffyCloudApiOptions, 'endpoint' | 'apiKey'>;
  /** How often instance status is polled while waiting; default 500 ms. */
  pollMs?: number;
  /** Longest wait for all nodes to be `running`; default 10 min. */
  bootTimeoutMs?: number;
  /** Longest wait for a running node to answer over SSH; default 5 min. */
  sshTimeoutMs?: number;
  /** Longest wait for removed nodes to show as terminated; default 5 min. */
  terminateTimeoutMs?: number;
}

type SshKey = { keyPath: string; publicKey: string; knownHostsPath: string };

/** The rank a node's tags say it has; null when the tags do not say. */
export function rankFromTags(tags: Record<string, string>): number | null {
  const raw = tags[TAG_RANK];
  if (raw !== undefined && /^\d+$/.test(raw)) return Number(raw);
  if (tags[TAG_ROLE] === 'head') return 0;
  return null;
}

/** The tags a node of `cluster` at `rank` carries. */
export function nodeTags(cluster: string, rank: number): Record<string, string> {
  return { [TAG_CLUSTER]: cluster, [TAG_ROLE]: rank === 0 ? 'head' : 'worker', [TAG_RANK]: String(rank) };
}

/** A unique instance name per launch call: `<cluster>-head-<4 hex>` or `<cluster>-w<rank>-<4 hex>`. */
export function instanceName(cluster: string, rank: number): string {
  return `${nameSafe(cluster)}-${rank === 0 ? 'head' : `w${rank}`}-${randomBytes(2).toString('hex')}`;
}

/** How known_hosts names a host: `ip` on port 22, `[ip]:port` otherwise. */
function knownHostName(ip: string, port: number): string {
  return port === 22 ? ip : `[${ip}]:${port}`;
}

function knownHostsLineMatches(line: string, names: ReadonlySet<string>): boolean {
  const field = line.trim().split(/\s+/)[0] ?? '';
  if (field.startsWith('|1|')) {
    // Hashed: |1|base64(salt)|base64(HMAC-SHA1(salt, name)).
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    const key = Buffer.from(salt, 'base64');
    return [...names].some((n) => createHmac('sha1', key).update(n).digest('base64') === hash);
  }
  return field.split(',').some((h) => names.has(h));
}

/**
 * Drops known_hosts entries for addresses of freshly created nodes: a new instance has a new host
 * key, and an entry left by an earlier instance at the same address would make SSH refuse it.
 */
export function forgetHostKeys(knownHostsPath: string, hosts: ReadonlyArray<{ ip: string; port: number }>) {
  if (hosts.length === 0 || !existsSync(knownHostsPath)) return;
  const names = new Set(hosts.map((h) => knownHostName(h.ip, h.port)));
  const lines = readFileSync(knownHostsPath, 'utf8').split('\n');
  const kept = lines.filter((l) => !knownHostsLineMatches(l, names));
  if (kept.length === lines.length) return;
  const tmp = `${knownHostsPath}.${process.pid}.${randomBytes(3).toString('hex')}.tmp`;
  writeFileSync(tmp, kept.join('\n'), { mode: 0o600 });
  renameSync(tmp, knownHostsPath);
}

function nodeStatus(s: string): NodeInfo['status'] {
  switch (s) {
    case 'running':
    case 'stopping':
    case 'stopped':
    case 'terminated':
      return s;
    default:
      return 'pending';
  }
}

function sshPort(n: NodeInfo): number {
  return n.connection.kind === 'ssh' ? n.connection.port : 22;
}

function byRank(a: NodeInfo, b: NodeInfo): number {
  return (
    (a.rank ?? Number.MAX_SAFE_INTEGER) - (b.rank ?? Number.MAX_SAFE_INTEGER) || a.id.localeCompare(b.id)
  );
}

export class FluffyCloudProvider implements NodeProvider {
  private api: FluffyCloudApi | null;
  private readonly pollMs: number;
  private readonly bootTimeoutMs: number;
  private readonly sshTimeoutMs: number;
  private readonly terminateTimeoutMs: number;

  constructor(
    readonly region: string,
    private readonly opts: FluffyCloudProviderOptions = {},
  ) {
    this.api = opts.api ?? null;
    this.pollMs = opts.pollMs ?? 500;
    this.bootTimeoutMs = opts.bootTimeoutMs ?? 10 * 60_000;
    this.sshTimeoutMs = opts.sshTimeoutMs ?? 5 * 60_000;
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
    const rank = rankFromTags(i.tags) ?? undefined;
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
    const wrong: string[] = [];
    if (spec.ports?.length) wrong.push(`ports ${spec.ports.join(',')}`);
    if (spec.imageId) wrong.push(`image ${spec.imageId}`);
    if (wrong.length) {
      throw new UserError(
        `FluffyCloud cannot provide ${wrong.join(' or ')} for cluster ${spec.cluster}; drop them from the request`,
      );
    }
  }

  async runInstances(spec: ClusterSpec, signal?: AbortSignal): Promise<NodeInfo[]> {
    this.checkSpec(spec);
    if (signal?.aborted) throw new InterruptedError();
    const { cluster, numNodes } = spec;
    const api = await this.client();
    const key: SshKey = ensureClusterKey(cluster);
    const created: string[] = [];
    try {
      const keyName = await registerClusterKey(api, cluster, key.publicKey, signal);
      const existing = await this.clusterInstances(api, cluster, signal);
      const elsewhere = existing.filter((i) => i.region !== this.region);
      if (elsewhere.length > 0) {
        throw new FluffyCloudProvisionError(
          'cluster_conflict',
          `cluster ${cluster} already has FluffyCloud nodes in region ${elsewhere[0].region} ` +
            `(${elsewhere.map((i) => i.id).join(', ')}); launch it there or run \`skyhop down ${cluster}\` first`,
        );
      }
      // One node per rank: the oldest wins; a node without a usable rank or a duplicate is a stray.
      const chosen = new Map<number, FluffyInstance>();
      const strays: FluffyInstance[] = [];
      for (const i of existing) {
        const rank = rankFromTags(i.tags);
        if (rank === null || chosen.has(rank)) strays.push(i);
        else chosen.set(rank, i);
      }
      const tooMany = [...chosen.keys()].filter((r) => r >= numNodes);
      if (tooMany.length > 0) {
        throw new UserError(
          `FluffyCloud cluster ${cluster} already has ${chosen.size} nodes and the request asks for ${numNodes}; ` +
            `ask for ${chosen.size} nodes or run \`skyhop down ${cluster}\` first`,
        );
      }
      for (const s of strays) await this.removeQuietly(api, s.id);

      // Launch the missing ranks: the head first, then the workers, LAUNCH_CONCURRENCY at a time. The
      // signal is checked before each launch, never during one (an abandoned launch request could
      // still create an instance nobody recorded); after the first failure no new launch starts, and
      // the launches in flight finish and are recorded, so the cleanup below finds them.
      const ids = new Map<number, string>();
      for (const [rank, i] of chosen) ids.set(rank, i.id);
      const missing = Array.from({ length: numNodes }, (_, r) => r).filter((r) => !ids.has(r));
      let failure: { error: unknown } | null = null;
      const launchRank = async (rank: number) => {
        if (failure) return;
        if (signal?.aborted) {
          failure ??= { error: new InterruptedError() };
          return;
        }
        try {
          const { id } = await api.launch(
            instanceName(cluster, rank),
            spec.instanceType,
            this.region,
            keyName,
            {
              zone: spec.zone,
              spot: spec.useSpot,
              tags: nodeTags(cluster, rank),
              signal,
            },
          );
          created.push(id);
          ids.set(rank, id);
        } catch (error) {
          failure ??= { error };
        }
      };
      if (missing[0] === 0) await launchRank(missing.shift() as number);
      await inParallel(missing, launchRank, { concurrency: LAUNCH_CONCURRENCY });
      if (failure) throw (failure as { error: unknown }).error;
      // Reused nodes whose tags are incomplete get them again (new ones were launched with them).
      for (const [rank, i] of chosen) {
        const want = nodeTags(cluster, rank);
        if (Object.entries(want).every(([k, v]) => i.tags[k] === v)) continue;
        await api.setTags(i.id, want, { signal });
      }
      const nodes = await this.waitReady(api, cluster, ids, key, new Set(created), signal);
      // A launch that timed out may still have created an instance after we looked: remove such strays.
      const wanted = new Set(ids.values());
      for (const i of await this.clusterInstances(api, cluster, signal)) {
        if (!wanted.has(i.id)) await this.removeQuietly(api, i.id);
      }
      return nodes;
    } catch (e) {
      await this.removeCreated(api, created).catch(() => {
        // The original error matters more; the nodes carry the cluster's tags, so the caller's
        // terminateInstances (the failover loop calls it) or `skyhop down` still finds them.
      });
      if (signal?.aborted || e instanceof InterruptedError) {
        throw new InterruptedError(
          `Interrupted; the FluffyCloud nodes this launch of ${cluster} had created were removed.`,
        );
      }
      throw e;
    }
  }

  /** Polls until every node is running; a node that vanishes or ends while booting fails the launch. */
  /**
   * Waits until every node is `running` and answers `true` over SSH. Each node's SSH check starts
   * as soon as the list shows it running (after forgetting the old host key of a fresh node's
   * address), so booting and connecting overlap across nodes. A node that is terminated or gone
   * while booting, or that does not answer over SSH in time, fails the wait.
   */
  private async waitReady(
    api: FluffyCloudApi,
    cluster: string,
    ids: Map<number, string>,
    key: SshKey,
    fresh: ReadonlySet<string>,
    signal?: AbortSignal,
  ): Promise<NodeInfo[]> {
    const deadline = Date.now() + this.bootTimeoutMs;
    const stop = new AbortController(); // ends the SSH checks still running when the wait fails
    const probeSignal = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
    setMaxListeners(0, probeSignal); // one listener per node's command
    const probes = new Map<string, Promise<void>>();
    let probeError: unknown = null;
    try {
      for (;;) {
        const all = new Map((await api.listInstances({ signal })).map((i) => [i.id, i]));
        const nodes: NodeInfo[] = [];
        let pending = 0;
        for (const [rank, id] of ids) {
          const i = all.get(id);
          if (!i || i.status === 'terminated') {
            const why = i ? `was terminated${i.status_reason ? ` (${i.status_reason})` : ''}` : 'disappeared';
            throw new FluffyCloudProvisionError(
              'boot_failed',
              `FluffyCloud instance ${id} (${cluster} rank ${rank}) ${why} while booting in ${this.region}`,
            );
          }
          const node = this.toNodeInfo(i, key);
          nodes.push(node);
          if (i.status !== 'running') {
            pending++;
            continue;
          }
          if (!probes.has(id)) {
            if (fresh.has(id))
              forgetHostKeys(key.knownHostsPath, [{ ip: node.internalIp, port: sshPort(node) }]);
            const p = this.probeSsh(node, probeSignal, signal);
            p.catch((e) => {
              probeError ??= e;
            });
            probes.set(id, p);
          }
        }
        if (probeError) throw probeError;
        if (pending === 0) {
          await Promise.all(probes.values());
          return nodes.sort(byRank);
        }
        if (Date.now() > deadline) {
          throw new FluffyCloudProvisionError(
            'boot_timeout',
            `${pending} FluffyCloud node(s) of ${cluster} were not running after ${Math.round(this.bootTimeoutMs / 1000)} s in ${this.region}`,
          );
        }
        await sleep(Math.min(this.pollMs, READY_POLL_MS), signal);
      }
    } finally {
      stop.abort();
      if (probes.size > 0) await Promise.allSettled(probes.values());
    }
  }

  /** One node answers `true` over SSH within sshTimeoutMs (the SSH runner retries the connection patiently). */
  private async probeSsh(n: NodeInfo, stop: AbortSignal, signal?: AbortSignal): Promise<void> {
    const limit = AbortSignal.timeout(this.sshTimeoutMs);
    const runner = makeRunner(n.connection);
    try {
      const r = await runner.run('true', { signal: AbortSignal.any([stop, limit]) });
      if (signal?.aborted) throw new InterruptedError();
      if (r.code !== 0) {
        const c = n.connection as { host: string; port: number; user: string };
        const last = r.stderr.trim().split('\n').pop() ?? '';
        throw new FluffyCloudProvisionError(
          'ssh_unreachable',
          `FluffyCloud node ${n.id} (${n.cluster} rank ${n.rank}) does not answer over SSH at ` +
            `${c.user}@${c.host}:${c.port}${limit.aborted ? ` within ${Math.round(this.sshTimeoutMs / 1000)} s` : ` (exit ${r.code})`}` +
            `${last ? `: ${last}` : ''}`,
        );
      }
    } finally {
      await runner.close().catch(() => {});
    }
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
        throw new FluffyCloudProvisionError(
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
