/** The cloud contract: what a cloud folder implements (see docs/adding-a-cloud.md). */
import type { Catalog } from '../catalog/types.js';
import type {
  AutostopCommand,
  BlockScope,
  ClusterSpec,
  CredentialStatus,
  Feature,
  Launchable,
  NodeInfo,
} from '../core/cluster.js';
import type { Resources } from '../core/task.js';

/**
 * Cluster-level, idempotent, tag-based: nodes carry the tags of src/clouds/tags.ts (`skyhop-cluster`,
 * `skyhop-role`, `skyhop-rank`). A provider holds its cloud's API calls; what every cloud does the same
 * way is shared above it (src/clouds/reconcile.ts runCluster for runInstances). A provider's own
 * failures are `ProvisionError(scope, reason, message)` (src/clouds/errors.ts).
 */
export interface NodeProvider {
  /**
   * Creates missing nodes (reusing those already there), head first, and returns when all are running
   * with IPs, head first then by rank; on failure, removes what this call created. `onRunning` is told
   * of each node when it is first seen running with an IP. That the nodes answer over SSH is not its
   * job: the failover attempt waits for it, for every cloud (src/runtime/bootstrap.ts
   * launchReachable, which starts each node's check from `onRunning`).
   */
  runInstances(
    spec: ClusterSpec,
    signal?: AbortSignal,
    onRunning?: (node: NodeInfo) => void,
  ): Promise<NodeInfo[]>;
  /** Every non-terminated node of the cluster, found by tag. Sorted head first, then by rank. */
  queryInstances(cluster: string): Promise<NodeInfo[]>;
  /** Safe to repeat; a no-op when nothing is there. */
  terminateInstances(cluster: string): Promise<void>;
  /**
   * The names of the clusters with nodes that are not terminated in this provider's region, found by
   * the `skyhop-cluster` tag (the cloud is the truth): how `status --refresh` finds clusters the local
   * state has lost (src/clouds/discover.ts). Sorted; [] when there are none.
   */
  listClusters(): Promise<string[]>;
  stopInstances?(cluster: string): Promise<void>;
  startInstances?(cluster: string): Promise<NodeInfo[]>;
  openPorts?(cluster: string, ports: string[]): Promise<void>;
  /**
   * Readies the nodes for the cloud's autostop command before the agent is told to run it (AWS:
   * what a node's own shutdown means, stop or terminate). Called whenever autostop is set.
   */
  prepareAutostop?(cluster: string, action: 'stop' | 'down'): Promise<void>;
}

/**
 * A credential file another machine needs to use a cloud as this user (SkyPilot's
 * `get_credential_file_mounts`): where it is here, and where the cloud's tools look for it there.
 */
export interface CredentialFile {
  /** Absolute path on this machine; listed only when a regular file is there. */
  local: string;
  /** `~/...` on the other machine (under its user's home). */
  remote: string;
  /**
   * An environment variable to set there to the file's remote path (e.g. `AWS_CA_BUNDLE`), for a file
   * the tools find only through it; absent when they look at `remote` by themselves.
   */
  pathEnv?: string;
}

/** What another machine needs to use a cloud as this user: files, and variables passed on by name. */
export interface CredentialSources {
  files: CredentialFile[];
  /**
   * Names of environment variables that carry credentials or endpoints, passed on with this
   * machine's values where set and non-empty (never a variable that names a local path).
   */
  env: string[];
}

export interface Cloud {
  readonly name: string;
  /** Human name for tables and messages: 'AWS', 'FluffyCloud'. */
  readonly displayName: string;
  readonly features: ReadonlySet<Feature>;
  /**
   * A cloud served by an emulator on this machine (fluffycloud): a cloud only for those who configured
   * it, so `--all-clouds` plans over it only when its credentials exist.
   */
  readonly emulator?: boolean;
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
  /**
   * What to block after this cloud's own API error; undefined when `e` is not one (the failover loop's
   * `classify` handles what every cloud shares: ProvisionError, UserError, interrupts, transient errors).
   */
  classifyError(e: unknown): BlockScope | undefined;
  /** Shell lines run on each node after boot (image-specific preparation). */
  nodeSetup?(node: NodeInfo): string[];
  /**
   * What the cluster's agent runs to stop or tear down its own cluster (autostop/autodown);
   * absent when the cloud cannot do it from the head node.
   */
  autostopCommand?(cluster: string, action: 'stop' | 'down'): AutostopCommand;
  /**
   * The credential files and variables a process on another machine (a managed jobs controller)
   * needs to use this cloud as this user; no network. `credentialBundle` (credentials.ts) reads them.
   */
  credentialSources?(): Promise<CredentialSources>;
}
