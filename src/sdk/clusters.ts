/** Shared pieces of the SDK: looking clusters up, their runners, names, resource descriptions. */
import { randomBytes } from 'node:crypto';
import type { Cloud } from '../clouds/types.js';
import type { NodeInfo } from '../core/cluster.js';
import { getCloud } from '../clouds/registry.js';
import { makeRunner } from '../runtime/index.js';
import type { CommandRunner } from '../runtime/types.js';
import type { ClusterRecord, Store } from '../state/index.js';
import type { Resources, Task } from '../core/task.js';
import { UserError } from '../util/errors.js';

export interface SdkEvents {
  /** A line of progress (provisioning steps, failover, teardown). */
  onStep?(message: string): void;
  /** Job output as it streams. */
  onOutput?(chunk: string): void;
  /** A warning about the task (a section skyhop ignores, an alternative dropped), once each. */
  onWarning?(message: string): void;
}

const NAME_RE = /^[a-zA-Z]([-_.a-zA-Z0-9]*[a-zA-Z0-9])?$/;

export function validateClusterName(name: string, cloud?: Cloud): void {
  if (!NAME_RE.test(name)) {
    throw new UserError(
      `invalid cluster name ${JSON.stringify(name)}: use letters, digits, '-', '_' and '.', starting with a letter and ending with a letter or digit`,
    );
  }
  if (cloud && name.length > cloud.maxClusterNameLength) {
    throw new UserError(
      `cluster name ${JSON.stringify(name)} is ${name.length} characters; ${cloud.displayName} allows at most ${cloud.maxClusterNameLength}`,
    );
  }
}

export function generateClusterName(): string {
  return `skyhop-${randomBytes(2).toString('hex')}`;
}

export function requireCluster(store: Store, name: string): ClusterRecord {
  const rec = store.getCluster(name);
  if (!rec) {
    const names = store.listClusters().map((c) => c.name);
    throw new UserError(
      `cluster ${JSON.stringify(name)} does not exist${names.length ? ` (clusters: ${names.join(', ')})` : ''}; see \`skyhop status\``,
    );
  }
  return rec;
}

export function requireUp(store: Store, name: string): ClusterRecord {
  const rec = requireCluster(store, name);
  if (rec.status !== 'UP') {
    const how =
      rec.status === 'STOPPED'
        ? `start it with \`skyhop start ${name}\``
        : `relaunch it with \`skyhop launch -c ${name}\``;
    throw new UserError(`cluster ${name} is ${rec.status}, not UP; ${how}`);
  }
  return rec;
}

/**
 * Why a cluster stopped answering while a command used it, when that is because it is going away: a
 * `down` or `stop` holds its lock, or its record is gone or no longer UP. Null when it still looks UP
 * and nobody is tearing it down (the original error then stands).
 */
export function goingAway(store: Store, name: string): string | null {
  let holder: ReturnType<Store['lockHolder']> = null;
  let rec: ClusterRecord | null = null;
  try {
    holder = store.lockHolder(name);
    rec = store.getCluster(name);
  } catch {
    return null;
  }
  if (holder && /\b(down|stop|autostop)\b/.test(holder.command)) {
    return `cluster ${name} is being ${/\bdown\b/.test(holder.command) ? 'torn down' : 'stopped'} (by pid ${holder.pid}: ${holder.command})`;
  }
  if (!rec) return `cluster ${name} was torn down`;
  if (rec.status !== 'UP') return `cluster ${name} is ${rec.status} now`;
  return null;
}

export function headNode(rec: ClusterRecord): NodeInfo {
  const head = rec.nodes.find((n) => n.role === 'head') ?? rec.nodes[0];
  if (!head)
    throw new UserError(`cluster ${rec.name} has no nodes on record; run \`skyhop status --refresh\``);
  return head;
}

export function headRunner(rec: ClusterRecord): CommandRunner {
  return makeRunner(headNode(rec).connection);
}

export function cloudOf(rec: ClusterRecord): Cloud {
  return getCloud(rec.cloud);
}

/** "2x local (2 CPUs, 23.4 GB)" / "1x aws p4d.24xlarge [A100:8] spot". */
export function describeLaunched(rec: ClusterRecord): string {
  const r = rec.resources;
  const acc = r.accelerators ? ` [${r.accelerators.name}:${r.accelerators.count}]` : '';
  const cpu =
    r.vcpus != null
      ? ` (${r.vcpus} CPUs${r.memoryGiB != null ? `, ${Math.round(r.memoryGiB * 10) / 10} GB` : ''})`
      : '';
  return `${r.numNodes}x ${rec.cloud} ${r.instanceType}${acc}${cpu}${r.useSpot ? ' spot' : ''}`;
}

/** Why an existing cluster cannot serve one alternative of a request; null when it can. */
function misfit(rec: ClusterRecord, want: Resources): string | null {
  const r = rec.resources;
  if (want.cloud && want.cloud !== rec.cloud) return `cloud ${want.cloud} (cluster: ${rec.cloud})`;
  if (want.region && want.region !== rec.region) return `region ${want.region} (cluster: ${rec.region})`;
  if (want.zone && want.zone !== rec.zone) return `zone ${want.zone} (cluster: ${rec.zone ?? 'none'})`;
  if (want.instanceType && want.instanceType !== r.instanceType)
    return `instance type ${want.instanceType} (cluster: ${r.instanceType})`;
  if (want.accelerators) {
    const a = r.accelerators;
    if (
      !a ||
      a.name.toLowerCase() !== want.accelerators.name.toLowerCase() ||
      a.count < want.accelerators.count
    )
      return `${want.accelerators.name}:${want.accelerators.count} (cluster: ${a ? `${a.name}:${a.count}` : 'no accelerators'})`;
  }
  if (want.useSpot && !r.useSpot) return 'spot instances (cluster: on-demand)';
  if (want.networkTier === 'best' && rec.spec?.networkTier !== 'best')
    return 'network_tier: best (cluster: standard network)';
  const has = rec.spec?.dockerImage;
  if (want.dockerImage && want.dockerImage !== has)
    return `image_id: docker:${want.dockerImage} (cluster: ${has ? `docker:${has}` : 'no container'})`;
  if (want.cpus && r.vcpus != null && r.vcpus < want.cpus.value)
    return `${want.cpus.value} CPUs (cluster: ${r.vcpus})`;
  if (want.memory && r.memoryGiB != null && r.memoryGiB < want.memory.value)
    return `${want.memory.value} GB memory (cluster: ${r.memoryGiB})`;
  return null;
}

/** Why an existing cluster cannot serve a request; null when it can. */
export function incompatibility(rec: ClusterRecord, task: Task): string | null {
  const r = rec.resources;
  if (task.numNodes > r.numNodes)
    return `the task needs ${task.numNodes} nodes and the cluster has ${r.numNodes}`;
  const reasons: string[] = [];
  for (const want of task.resources) {
    const why = misfit(rec, want);
    if (why === null) return null;
    reasons.push(why);
  }
  return `the task asks for ${reasons.join(' or ')}`;
}

/**
 * The job's per-node demand for the agent's scheduler: that of the task's first alternative (any_of /
 * ordered) the cluster fits, so a job launched on its second alternative is not held to the first's
 * cpus or accelerators.
 */
export function jobDemand(task: Task, rec?: ClusterRecord | null) {
  const r = (rec && task.resources.find((want) => misfit(rec, want) === null)) ?? task.resources[0];
  return {
    cpus: r?.cpus ? r.cpus.value : 0.5,
    accelerators: r?.accelerators ? { name: r.accelerators.name, count: r.accelerators.count } : null,
  };
}
