/**
 * The shared vocabulary of clusters and nodes (floor 1: types only). Every layer speaks it:
 * task, state, runtime and the agent read it without importing the cloud contract above them.
 */
import type { AcceleratorDemand, Resources } from './task.js';
import type { StoreKind } from './storage.js';

export type Feature =
  /** The cloud creates nodes (launch, exec, start); without it the cloud is planning-only (optimize). */
  | 'provision'
  | 'stop'
  /** Spot instances can be stopped and started again (no cloud of skyhop's can yet: AWS one-time spot cannot). */
  | 'stop-spot'
  | 'autostop'
  | 'spot'
  | 'multi-node'
  | 'ports'
  | 'image-id'
  /** Nodes can run a Docker Engine, so a task may run in a container (`image_id: docker:<image>`). */
  | 'docker-image'
  | 'disk-size'
  | 'labels'
  | 'zones'
  /** High-performance networking for `network_tier: best` (AWS: EFA on the instance types that have it). */
  | 'network-tier-best';

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
  /** The container every node runs the cluster's jobs in (`image_id: docker:<image>`). */
  dockerImage?: string;
  labels?: Record<string, string>;
  /** `network_tier: best`: the nodes get the cloud's high-performance network interface (AWS: EFA). */
  networkTier?: 'best';
  /**
   * The network to launch in, from the config file (`aws.vpc_name`, or SKYHOP_AWS_VPC_ID): by id, else
   * by name (the VPC's Name tag); absent: the region's default network.
   */
  vpc?: { id?: string; name?: string };
  /**
   * Object stores the nodes read and write (the task mounts buckets there). AWS attaches an IAM
   * instance profile with S3 access to the instances, so nodes need no keys for S3.
   */
  storage?: StoreKind[];
}

/** What a cluster's agent runs when autostop fires (see Cloud.autostopCommand). */
export interface AutostopCommand {
  /** Run on the head node, detached, with `env`. */
  argv: string[];
  env: Record<string, string>;
  /** A shell script run first on every worker, over the agent's connection to it (failures are logged). */
  workers?: string;
}

export interface BlocklistEntry {
  cloud: string;
  region?: string;
  zone?: string;
  reason?: string;
}
