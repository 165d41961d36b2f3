import type { Catalog } from '../catalog/types.js';
import type { AcceleratorDemand, Resources } from '../task/types.js';

export type Feature =
  | 'stop'
  /** Spot instances can be stopped and started again (no cloud of skyhop's can yet: AWS one-time spot cannot). */
  | 'stop-spot'
  | 'autostop'
  | 'spot'
  | 'multi-node'
  | 'ports'
  | 'image-id'
  | 'disk-size'
  | 'labels'
  | 'zones';

export type CredentialStatus =
  | { ok: true; source: string; identity?: string }
  | { ok: false; reason: string; hint: string };

/** What the failover loop blocks after an error; 'retry' = transient, retry the same place with backoff. */
export type BlockScope = 'zone' | 'region' | 'cloud' | 'fatal' | 'retry';

/** A concrete thing the optimizer can choose: one instance type in one region, priced per node. */
export interface Launchable {
  cloud: string;
  instanceType: string;
  region: string;
  /** Zones (cheapest first) where it is offered at `hourlyPrice`; [] if the catalog has no zones. */
  zones: string[];
  /** The zone when the user pinned one or the price depends on the zone (spot); else null. */
  zone: string | null;
  accelerators: AcceleratorDemand | null;
  vcpus: number | null;
  memoryGiB: number | null;
  useSpot: boolean;
  /** USD per node-hour: instance plus attached accelerators (GCP). */
  hourlyPrice: number;
  /** The request alternative it satisfies (index into Task.resources). */
  alternative: number;
  /** The merged request it came from (disk size, ports, image, labels travel to provisioning). */
  request: Resources;
}

/** How to reach a node; serializable, so the agent can reach workers the same way. */
export type Connection =
  | { kind: 'local'; home: string; nodeId: string }
  | { kind: 'ssh'; host: string; port: number; user: string; keyPath: string; knownHostsPath?: string };

export interface NodeInfo {
  id: string; // the cloud's instance id
  cluster: string;
  role: 'head' | 'worker';
  rank?: number; // 0 = head; workers 1..n-1 in creation order
  status: 'pending' | 'running' | 'stopping' | 'stopped' | 'terminated';
  internalIp: string;
  externalIp: string | null;
  tags: Record<string, string>;
  zone?: string | null;
  instanceType?: string;
  spot?: boolean;
  connection: Connection;
}

export interface ClusterSpec {
  cluster: string;
  numNodes: number;
  instanceType: string;
  region: string;
  zone: string | null;
  useSpot: boolean;
  accelerators: AcceleratorDemand | null;
  diskSize?: number;
  ports?: string[];
  imageId?: string;
  labels?: Record<string, string>;
  /** The cluster's SSH public key (clouds with SSH register it); absent for local. */
  sshPublicKey?: string;
}

/** Cluster-level, idempotent, tag-based. Nodes carry tags `skyhop-cluster` and `skyhop-role`. */
export interface NodeProvider {
  /** Creates missing nodes (reusing those already there) and returns only when all are running and reachable. */
  runInstances(spec: ClusterSpec, signal?: AbortSignal): Promise<NodeInfo[]>;
  /** Every non-terminated node of the cluster, found by tag. Sorted head first, then by rank. */
  queryInstances(cluster: string): Promise<NodeInfo[]>;
  /** Safe to repeat; a no-op when nothing is there. */
  terminateInstances(cluster: string): Promise<void>;
  stopInstances?(cluster: string): Promise<void>;
  startInstances?(cluster: string): Promise<NodeInfo[]>;
  openPorts?(cluster: string, ports: string[]): Promise<void>;
  /**
   * Readies the nodes for the cloud's autostop command before the agent is told to run it (AWS:
   * what a node's own shutdown means, stop or terminate). Called whenever autostop is set.
   */
  prepareAutostop?(cluster: string, action: 'stop' | 'down'): Promise<void>;
}

/** What a cluster's agent runs when autostop fires (see Cloud.autostopCommand). */
export interface AutostopCommand {
  /** Run on the head node, detached, with `env`. */
  argv: string[];
  env: Record<string, string>;
  /** A shell script run first on every worker, over the agent's connection to it (failures are logged). */
  workers?: string;
}

export interface Cloud {
  readonly name: string;
  /** Human name for tables and messages: 'AWS', 'FluffyCloud'. */
  readonly displayName: string;
  readonly features: ReadonlySet<Feature>;
  readonly maxClusterNameLength: number;
  /** Loaded lazily on first use (catalog parsing is not free). */
  catalog(): Catalog;
  /** No network; `verbose` may call the cloud's identity API. */
  checkCredentials(opts?: { verbose?: boolean }): Promise<CredentialStatus>;
  /** From the catalog; no network. Empty when nothing fits. */
  feasibleResources(r: Resources, alternative: number): Launchable[];
  /** USD per GB leaving this cloud (to the internet or another cloud). */
  egressCostPerGb(gb: number): number;
  provider(region: string): NodeProvider;
  classifyError(e: unknown): BlockScope;
  /** Shell lines run on each node after boot (image-specific preparation). */
  nodeSetup?(node: NodeInfo): string[];
  /**
   * What the cluster's agent runs to stop or tear down its own cluster (autostop/autodown);
   * absent when the cloud cannot do it from the head node.
   */
  autostopCommand?(cluster: string, action: 'stop' | 'down'): AutostopCommand;
}

export interface BlocklistEntry {
  cloud: string;
  region?: string;
  zone?: string;
  reason?: string;
}
