/**
 * NodeProvider of the local cloud: a node is a sandbox on this machine with its own HOME and its
 * own loopback address. The on-disk registry (nodes.ts) is the cloud's truth; this never reads
 * the client's state database.
 *
 * The address 127.x.y.z is the node's identity (SKYPILOT_NODE_IPS, NodeInfo.internalIp); nothing
 * forces the node's processes to bind to it, and they share this machine's network namespace.
 *
 * Every process started in a node carries `SKYHOP_NODE_ID=<cluster>/<node-id>` (the LocalRunner
 * sets it, children inherit it), so stop and terminate kill all of them by that marker, daemonised
 * (`setsid nohup ... &`) ones included.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeProvider } from '../../clouds/types.js';
import type { ClusterSpec, Feature, NodeInfo } from '../../core/cluster.js';
import { featureMessage, missingFeatures } from '../../core/features.js';
import { CONTAINER_RECORD, containerTeardown } from '../../runtime/docker.js';
import { makeRunner } from '../../runtime/index.js';
import { killByMarker } from '../../runtime/procs.js';
import { CloudError, InterruptedError, UserError } from '../../util/errors.js';
import { withFileLock } from './lock.js';
import { unmountNode } from './mounts.js';
import { describeMachine, detectMachine, gpuNameMatches } from './machine.js';
import { tooManyNodes } from '../reconcile.js';
import { checkClusterName, type NodeRecord, NodeRegistry, rankOf } from './nodes.js';

/**
 * What the local cloud can do. Disk size and labels are accepted and not enforced (a node's disk is
 * this machine's disk; its records keep only skyhop's tags); spot, zones and VM images do not exist.
 * Ports are open by nature: a node is an address of this machine's loopback (127.0.0.x) with no
 * firewall, so a server bound to the node's address (`SKYPILOT_NODE_IPS`) on any port is reachable from
 * this machine (a service's replicas). A task may run in a Docker container (`image_id: docker:`), on
 * this machine's Docker Engine.
 */
export const LOCAL_FEATURES: ReadonlySet<Feature> = new Set<Feature>([
  'provision',
  'ports',
  'stop',
  'autostop',
  'multi-node',
  'disk-size',
  'labels',
  'docker-image',
]);

export const LOCAL_REGION = 'local';
export const LOCAL_INSTANCE_TYPE = 'local';
/** The environment variable that marks every process of a node (value: `<cluster>/<node-id>`). */
export const NODE_MARKER = 'SKYHOP_NODE_ID';

export class LocalProvider implements NodeProvider {
  readonly registry: NodeRegistry;

  /** `home` is $SKYHOP_HOME, resolved by the caller when the provider is made. */
  constructor(home: string) {
    this.registry = new NodeRegistry(join(home, 'local'));
  }

  private locked<T>(cluster: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return withFileLock(this.registry.lockPath(cluster), fn, {
      what: `local cluster ${cluster}`,
      signal,
    });
  }

  toNodeInfo(r: NodeRecord): NodeInfo {
    const rank = rankOf(r);
    return {
      id: r.id,
      cluster: r.cluster,
      role: rank === 0 ? 'head' : 'worker',
      rank,
      status: r.status,
      internalIp: r.ip,
      externalIp: r.ip,
      tags: { ...r.tags },
      zone: null,
      instanceType: LOCAL_INSTANCE_TYPE,
      spot: false,
      connection: {
        kind: 'local',
        home: this.registry.homeDir(r.cluster, r.id),
        nodeId: `${r.cluster}/${r.id}`,
      },
    };
  }

  /**
   * A node's container (`image_id: docker:`) lives in this machine's Docker Engine, not in the node,
   * so it outlives the node's processes: stopped with the node, removed with it.
   */
  private async containers(cluster: string, action: 'rm' | 'stop'): Promise<void> {
    await Promise.all(
      this.registry.records(cluster).map(async (r) => {
        const node = this.toNodeInfo(r);
        if (node.connection.kind !== 'local') return;
        if (!existsSync(join(node.connection.home, CONTAINER_RECORD))) return;
        const runner = makeRunner(node.connection);
        try {
          await runner.run(containerTeardown(action), { timeoutMs: 60_000 });
        } finally {
          await runner.close();
        }
      }),
    );
  }

  private checkSpec(spec: ClusterSpec): void {
    checkClusterName(spec.cluster);
    if (!Number.isInteger(spec.numNodes) || spec.numNodes < 1) {
      throw new UserError(
        `num_nodes must be a whole number >= 1 (got ${spec.numNodes}) for cluster ${spec.cluster}`,
      );
    }
    const wrong: string[] = [];
    if (spec.instanceType !== LOCAL_INSTANCE_TYPE) wrong.push(`instance type ${spec.instanceType}`);
    if (spec.region !== LOCAL_REGION) wrong.push(`region ${spec.region}`);
    if (wrong.length) {
      throw new CloudError(
        `the local cloud cannot provide ${wrong.join(', ')} for cluster ${spec.cluster}: it has one instance ` +
          `type 'local' in region 'local'`,
      );
    }
    const local = { features: LOCAL_FEATURES };
    const [lacking] = missingFeatures(spec, local);
    if (lacking !== undefined) {
      throw new CloudError(`${featureMessage(lacking, 'local', local, spec)} (cluster ${spec.cluster})`);
    }
    if (spec.accelerators) {
      const m = detectMachine();
      const a = m.accelerator;
      if (!a || !gpuNameMatches(spec.accelerators.name, a.name) || spec.accelerators.count > a.count) {
        throw new CloudError(
          `the local machine has ${describeMachine(m)}; cluster ${spec.cluster} asks for ` +
            `${spec.accelerators.name}:${spec.accelerators.count}`,
        );
      }
    }
  }

  async runInstances(spec: ClusterSpec, signal?: AbortSignal): Promise<NodeInfo[]> {
    this.checkSpec(spec);
    if (signal?.aborted) throw new InterruptedError();
    const { cluster, numNodes } = spec;
    return this.locked(
      cluster,
      async () => {
        const reg = this.registry;
        reg.cleanup(cluster);
        const existing = reg.records(cluster);
        if (existing.length > numNodes) {
          throw tooManyNodes('local', cluster, existing.length, numNodes);
        }
        const now = new Date().toISOString();
        for (const r of existing) {
          if (r.status !== 'running') reg.write({ ...r, status: 'running', updatedAt: now });
        }
        const have = new Set(existing.map(rankOf));
        for (let rank = 0; rank < numNodes; rank++) {
          if (have.has(rank)) continue;
          if (signal?.aborted) throw new InterruptedError();
          reg.create(cluster, rank);
        }
        return reg.records(cluster).map((r) => this.toNodeInfo(r));
      },
      signal,
    );
  }

  async queryInstances(cluster: string): Promise<NodeInfo[]> {
    checkClusterName(cluster);
    return this.registry.records(cluster).map((r) => this.toNodeInfo(r));
  }

  async listClusters(): Promise<string[]> {
    return this.registry.clusterNames();
  }

  /** Kill every process of every node of the cluster (half-created nodes included). */
  private async killAll(cluster: string): Promise<void> {
    this.unmountAll(cluster);
    for (const id of this.registry.nodeIds(cluster)) await killByMarker(NODE_MARKER, `${cluster}/${id}`);
    // A mount made while the processes were being killed, or left dead by a killed rclone.
    this.unmountAll(cluster);
  }

  /** The FUSE mounts of the cluster's nodes (buckets, src/storage/node.ts): see mounts.ts. */
  private unmountAll(cluster: string): void {
    for (const id of this.registry.nodeIds(cluster)) unmountNode(this.registry.homeDir(cluster, id));
  }

  async terminateInstances(cluster: string): Promise<void> {
    checkClusterName(cluster);
    await this.locked(cluster, async () => {
      const reg = this.registry;
      const ids = reg.nodeIds(cluster);
      await this.containers(cluster, 'rm');
      await this.killAll(cluster);
      for (const id of ids) reg.remove(cluster, id);
      reg.cleanup(cluster);
      reg.removeClusterDirIfEmpty(cluster);
      // A process a runner started while the dirs were going away would still carry the marker.
      for (const id of ids) await killByMarker(NODE_MARKER, `${cluster}/${id}`);
    });
  }

  async stopInstances(cluster: string): Promise<void> {
    checkClusterName(cluster);
    await this.locked(cluster, async () => {
      const reg = this.registry;
      reg.cleanup(cluster);
      await this.containers(cluster, 'stop');
      await this.killAll(cluster);
      const now = new Date().toISOString();
      for (const r of reg.records(cluster)) {
        if (r.status !== 'stopped') reg.write({ ...r, status: 'stopped', updatedAt: now });
      }
    });
  }

  async startInstances(cluster: string): Promise<NodeInfo[]> {
    checkClusterName(cluster);
    return this.locked(cluster, async () => {
      const reg = this.registry;
      reg.cleanup(cluster);
      const records = reg.records(cluster);
      if (records.length === 0) {
        throw new CloudError(
          `local cluster ${cluster} has no nodes to start; launch it with \`skyhop launch\``,
        );
      }
      const now = new Date().toISOString();
      for (const r of records)
        if (r.status !== 'running') reg.write({ ...r, status: 'running', updatedAt: now });
      return reg.records(cluster).map((r) => this.toNodeInfo(r));
    });
  }
}
