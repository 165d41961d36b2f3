import type { ServiceSpec } from './serve.js';
import type { StorageMount } from './storage.js';

/**
 * The validated task model. `src/task` turns YAML into these; everything downstream
 * (optimizer, provision, runtime, agent) reads only these types, never raw YAML.
 */

/** A numeric demand: "4" (exactly 4), "4+" (at least 4), or 4. */
export interface Amount {
  value: number;
  orMore: boolean;
}

/** One accelerator choice: name as in the catalogs (case as the catalog spells it), count (may be fractional, e.g. 0.5). */
export interface AcceleratorDemand {
  name: string;
  count: number;
}

/**
 * One concrete resource request. A task may list several (any_of / ordered / a set of
 * accelerators); each alternative is a fully merged Resources.
 */
export interface Resources {
  cloud?: string; // registry name: 'aws', 'gcp', 'lambda', 'runpod', 'fluffycloud', 'local'
  region?: string;
  zone?: string;
  instanceType?: string;
  cpus?: Amount;
  memory?: Amount; // GiB
  accelerators?: AcceleratorDemand;
  useSpot: boolean;
  diskSize?: number; // GiB
  ports?: string[]; // "8080", "10000-10010"
  /** The VM image the cloud boots (`image_id: ami-…`, or a `skypilot:<tag>` the cloud maps to one). */
  imageId?: string;
  /**
   * `image_id: docker:<image>`: the nodes boot the cloud's default image and setup and run execute in
   * this container on every node (host network, the node's GPUs, HOME with the workdir mounted).
   */
  dockerImage?: string;
  labels?: Record<string, string>;
  /** Disk tier (SkyPilot's `disk_tier`); clouds without tiers ignore it. */
  diskTier?: 'low' | 'medium' | 'high' | 'ultra' | 'best';
  /**
   * Network tier (SkyPilot's `network_tier`): `best` asks for the cloud's high-performance
   * networking (EFA on AWS) and plans only instance types that have it; `standard` is every cloud's
   * ordinary network (the same as leaving it out).
   */
  networkTier?: 'standard' | 'best';
  /** Stop (or tear down, with `down`) the cluster after this many idle minutes (`autostop:`). */
  autostop?: { idleMinutes: number; down: boolean };
}

/** Where a data size estimate lives: `inputs: {s3://bucket/x: 100}` means 100 GB at s3 (-> aws). */
export interface DataEstimate {
  location: string;
  sizeGb: number;
  /** The cloud that stores it, derived from the URL scheme (s3:// -> aws, gs:// -> gcp), if known. */
  cloud?: string;
}

/**
 * A task's `config:` section (SkyPilot's task-level overrides of the config file), as far as skyhop
 * reads it; src/config validates it and merges it over the config file (`effectiveConfig`).
 */
export interface TaskConfig {
  /** `docker.run_options`: extra `docker run` options for the task's container. */
  docker?: { runOptions: string[] };
  /** `nvidia_gpus.disable_ecc`. */
  nvidiaGpus?: { disableEcc: boolean };
}

/** SkyPilot's managed-job recovery strategies (`job_recovery: FAILOVER`). */
export type RecoveryStrategy = 'FAILOVER' | 'EAGER_NEXT_REGION';

/**
 * How a managed job (`skyhop jobs launch`) comes back after its cluster is lost or the job fails:
 * SkyPilot's `resources.job_recovery` (old name `spot_recovery`).
 */
export interface JobRecovery {
  strategy: RecoveryStrategy;
  /** Restarts after the job itself fails (not counting recoveries from preemption); 0 = none. */
  maxRestartsOnErrors: number;
  /** Exit codes (0-255) that always restart the job, whatever maxRestartsOnErrors says. */
  recoverOnExitCodes: number[];
}

export interface Task {
  /** The file it came from (absolute), for error messages; undefined for tasks built in code. */
  file?: string;
  name?: string;
  workdir?: string; // absolute local path
  numNodes: number;
  envs: Record<string, string>;
  /** Values never written to logs or state; passed to setup/run like envs. */
  secrets: Record<string, string>;
  /** remote path -> absolute local source path. */
  fileMounts: Record<string, string>;
  /**
   * remote path -> a bucket mounted or copied there (`file_mounts` with `s3://...` or a
   * `{name, source, store, mode, persistent}` mapping). Absent or empty: none.
   */
  storageMounts?: Record<string, StorageMount>;
  setup?: string;
  run?: string;
  /** At least one alternative. With `ordered`, the user's order is a preference order. */
  resources: Resources[];
  ordered: boolean;
  inputs?: DataEstimate;
  outputs?: DataEstimate;
  /** Estimated runtime in hours on the cheapest candidate (skyhop extension; default 1). */
  estimatedHours?: number;
  /** Names of tasks this one depends on (skyhop extension for DAGs; chains are implicit). */
  dependsOn?: string[];
  /** The task's `config:` overrides (only the keys SkyPilot lets a task override). */
  config?: TaskConfig;
  /**
   * `resources.job_recovery`, the same for every alternative; absent when not given (or `none`).
   * Read by `skyhop jobs launch`; a plain `launch` ignores it, as `sky launch` does.
   */
  jobRecovery?: JobRecovery;
  /**
   * The task's `service:` section (`skyhop serve up`); a plain `launch` ignores it with a warning, as
   * `sky launch` does.
   */
  service?: ServiceSpec;
}

/** A pipeline: tasks plus edges (indices: from -> to). A chain has edges i -> i+1. */
export interface Dag {
  name?: string;
  tasks: Task[];
  edges: Array<[number, number]>;
  /**
   * One line each for what parsing left out or changed and the user should know (a `service:`
   * section ignored, an any_of alternative on a cloud skyhop lacks dropped); the CLI prints them once.
   */
  warnings?: string[];
}
