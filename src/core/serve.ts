/**
 * The serving vocabulary (`skyhop serve`, SkyPilot's SkyServe), shared by the task parser (the
 * `service:` section), the serve controller (src/serve/) and the client (sdk/serve.ts, the CLI).
 */
import { UserError } from '../util/errors.js';

/** SkyPilot's service names: a letter first, then letters, digits and dashes; no dash last; 30 at most. */
const SERVICE_NAME = /^[a-z]([-a-z0-9]{0,28}[a-z0-9])?$/;

/** A service's name, checked (its replicas' clusters are `<name>-<id>`). */
export function checkServiceName(name: string): void {
  if (!SERVICE_NAME.test(name)) {
    throw new UserError(
      `'${name}' is not a valid service name: use 1-30 lowercase letters, digits and dashes, starting with a letter and not ending with a dash`,
    );
  }
}

/** `service.readiness_probe`: a string is its `path`. */
export interface ReadinessProbe {
  /** Starts with `/`. */
  path: string;
  /** `post_data`: when given, the probe is a POST with this value as its JSON body (a string in the YAML is parsed as JSON). */
  postData?: unknown;
  /** Probe failures during this many seconds after the replica's job started are not held against it (default 1200). */
  initialDelaySeconds: number;
  /** A probe not answered 2xx within this many seconds failed (default 15). */
  timeoutSeconds: number;
  /** Extra request headers of the probe. */
  headers: Record<string, string>;
}

/** `service.replicas` (fixed: min = max, no target) or `service.replica_policy`. */
export interface ReplicaPolicy {
  minReplicas: number;
  /** Equals minReplicas when the count is fixed. */
  maxReplicas: number;
  /** Autoscaling on: the load balancer's QPS divided by this is the wanted replica count. */
  targetQpsPerReplica?: number;
  /** The wanted count must stay above the current one this long before a scale-up (default 300). */
  upscaleDelaySeconds: number;
  /** ... below it this long before a scale-down (default 1200). */
  downscaleDelaySeconds: number;
  /** Of the wanted replicas, this many are always on-demand; the rest use spot (when the task asks for spot). */
  baseOndemandFallbackReplicas: number;
  /** Launch on-demand replicas for spot replicas that are not READY (preempted, still starting), and remove them when the spot ones are. */
  dynamicOndemandFallback: boolean;
}

export type LoadBalancingPolicy = 'round_robin' | 'least_load';

/** A task's `service:` section, checked. */
export interface ServiceSpec {
  readinessProbe: ReadinessProbe;
  replicaPolicy: ReplicaPolicy;
  /** The port every replica serves on: `service.ports`, else the task's single `resources.ports`. */
  port: number;
  /** Default `least_load`, as SkyPilot's. */
  loadBalancingPolicy: LoadBalancingPolicy;
  /** `tls`: the load balancer serves HTTPS with these files (absolute local paths, checked to exist). */
  tls?: { keyfile: string; certfile: string };
}

/** SkyServe's replica states. */
export type ReplicaStatus =
  | 'PENDING' // decided, not launched yet
  | 'PROVISIONING' // its cluster is being launched
  | 'STARTING' // launched; the readiness probe has not passed yet (within initial_delay_seconds)
  | 'READY' // the probe passes: the load balancer sends it requests
  | 'NOT_READY' // was READY, the probe now fails (no requests sent to it)
  | 'SHUTTING_DOWN' // being torn down
  | 'FAILED' // its job exited, or it failed after READY for too long
  | 'FAILED_INITIAL_DELAY' // never passed the probe within initial_delay_seconds
  | 'FAILED_PROBING' // NOT_READY for too long
  | 'FAILED_PROVISION' // no place had capacity, or the launch failed
  | 'FAILED_CLEANUP' // its teardown failed (its cluster may be left: `serve down --purge` forgets it)
  | 'PREEMPTED' // its spot instances went away
  | 'UNKNOWN';

/** Replica states that end it (its cluster is gone, or being removed). */
export const REPLICA_TERMINAL: ReadonlySet<ReplicaStatus> = new Set<ReplicaStatus>([
  'FAILED',
  'FAILED_INITIAL_DELAY',
  'FAILED_PROBING',
  'FAILED_PROVISION',
  'FAILED_CLEANUP',
  'PREEMPTED',
]);

/** SkyServe's service states. */
export type ServiceStatus =
  | 'CONTROLLER_INIT' // submitted; the controller has not taken it up yet
  | 'REPLICA_INIT' // no replica READY yet
  | 'READY' // at least one replica READY
  | 'NO_REPLICA' // scaled to zero, or every replica failed and is being replaced
  | 'SHUTTING_DOWN' // `serve down` asked
  | 'FAILED' // replicas keep failing (e.g. the run exits at once): it stopped launching
  | 'CONTROLLER_FAILED' // the controller process failed on it (a bug; `serve logs --controller` says what)
  | 'FAILED_CLEANUP'; // `serve down` could not remove every replica (`--purge` forgets it)

export type UpdateMode = 'rolling' | 'blue_green';

/** A replica as `serve status` shows it. */
export interface ReplicaInfo {
  service: string;
  id: number;
  version: number;
  status: ReplicaStatus;
  spot: boolean;
  /** Its cluster (`<service>-<id>`), on the controller's state. */
  cluster: string;
  /** `http://IP:PORT` once its cluster is up. */
  url: string | null;
  cloud: string | null;
  region: string | null;
  zone: string | null;
  instanceType: string | null;
  launchedAt: number | null;
  /** Why it is in a failed state, or what it waits for. */
  reason: string | null;
}

/** A service as `serve status` shows it. */
export interface ServiceInfo {
  name: string;
  status: ServiceStatus;
  /** The version new replicas get (1, then +1 at every `serve update`). */
  version: number;
  /** Versions the load balancer may send requests to now (both, during a rolling update). */
  activeVersions: number[];
  updateMode: UpdateMode;
  /** `http(s)://HOST:PORT` of its load balancer. */
  endpoint: string | null;
  createdAt: number;
  policy: ReplicaPolicy;
  loadBalancingPolicy: LoadBalancingPolicy;
  /** Requests per second at the load balancer, over the autoscaler's window. */
  qps: number;
  /** The count the autoscaler wants now (of the newest version). */
  targetReplicas: number;
  reason: string | null;
  replicas: ReplicaInfo[];
}
