/**
 * The job scheduler: pure functions over per-node free capacity (CPUs and individual GPUs).
 *
 * Rule (FIFO with a reservation for the head of the line, so nothing starves):
 *   Waiting jobs are considered oldest first (by job id). A job starts when its gang of `numNodes`
 *   nodes can each give it its per-node demand (CPUs, and GPUs by index). The oldest waiting job that
 *   cannot start RESERVES, on the nodes where it would fit best, its demand in each dimension, capped
 *   at what is free there; every later job may start ahead of it only if it fits in what remains
 *   after that reservation. Only that one job reserves: once it starts, the next blocked job does.
 *   So a small job can fill holes that the blocked job cannot use (e.g. GPUs when it needs only CPUs,
 *   or other nodes), but never takes what the blocked job is waiting for.
 *
 * GPUs are tracked per index, each with a free fraction in [0, 1]. A demand of 1 or more GPUs takes
 * ceil(count) wholly free GPUs (lowest indices first); a fractional demand (< 1) takes that fraction
 * of one GPU, the fullest one it fits in. The indices given become the job's CUDA_VISIBLE_DEVICES.
 * Jobs whose demand exceeds what a node has (or that need more nodes than the cluster has) are
 * rejected up front by `infeasibility`, so the queue never waits for the impossible.
 */
import type { AcceleratorCount } from './types.js';

const EPS = 1e-9;
const round = (x: number) => Math.round(x * 1e6) / 1e6;

export interface NodeFree {
  cpus: number;
  /** Free fraction of each GPU, by index. */
  gpus: number[];
}

export interface SchedJob {
  id: number;
  /** Per node. */
  cpus: number;
  /** GPUs per node (0 when none). */
  gpus: number;
  numNodes: number;
}

export interface GpuSlot {
  index: number;
  amount: number;
}

export interface Placement {
  /** Node positions (indices into the cluster's node list, head = 0), ascending. */
  nodes: number[];
  cpus: number;
  /** Per placed node: the GPU slots taken. */
  gpus: GpuSlot[][];
}

export interface PerNodeCapacity {
  cpus: number;
  accelerators: AcceleratorCount | null;
}

export function initialFree(nodeCount: number, perNode: PerNodeCapacity): NodeFree[] {
  const g = Math.floor(perNode.accelerators?.count ?? 0);
  return Array.from({ length: nodeCount }, () => ({ cpus: perNode.cpus, gpus: new Array(g).fill(1) }));
}

/**
 * Why a job can never run on this cluster, or null when it can (given an idle cluster).
 * `clusterName` is used in the message.
 */
export function infeasibility(
  job: { cpus: number; accelerators: AcceleratorCount | null; numNodes: number },
  cluster: { name: string; nodeCount: number; perNode: PerNodeCapacity },
): string | null {
  const { perNode } = cluster;
  if (!Number.isInteger(job.numNodes) || job.numNodes < 1) return `invalid number of nodes: ${job.numNodes}`;
  if (!(job.cpus >= 0) || !Number.isFinite(job.cpus)) return `invalid CPU demand: ${job.cpus}`;
  if (job.numNodes > cluster.nodeCount) {
    return `it needs ${job.numNodes} nodes but cluster '${cluster.name}' has ${cluster.nodeCount}`;
  }
  if (job.cpus > perNode.cpus + EPS) {
    return `it needs ${job.cpus} CPUs per node but each node of cluster '${cluster.name}' has ${perNode.cpus}`;
  }
  const acc = job.accelerators;
  if (acc && acc.count > 0) {
    if (!(acc.count > 0) || !Number.isFinite(acc.count)) return `invalid accelerator count: ${acc.count}`;
    const have = perNode.accelerators;
    if (!have || have.count <= 0) {
      return `it needs ${acc.name}:${acc.count} per node but the nodes of cluster '${cluster.name}' have no accelerators`;
    }
    if (have.name.toLowerCase() !== acc.name.toLowerCase()) {
      return `it needs ${acc.name}:${acc.count} per node but the nodes of cluster '${cluster.name}' have ${have.name}:${have.count}`;
    }
    if (gpusNeeded(acc.count) > Math.floor(have.count)) {
      return `it needs ${acc.name}:${acc.count} per node but each node of cluster '${cluster.name}' has ${have.name}:${have.count}`;
    }
  }
  return null;
}

/** Whole GPUs a demand occupies at most (a fraction below 1 shares one GPU). */
function gpusNeeded(count: number): number {
  return count < 1 ? 1 : Math.ceil(count - EPS);
}

function pickGpus(free: readonly number[], count: number): GpuSlot[] | null {
  if (count <= EPS) return [];
  if (count >= 1 - EPS) {
    const n = Math.ceil(count - EPS);
    const whole: GpuSlot[] = [];
    for (let i = 0; i < free.length && whole.length < n; i++) {
      if (free[i] >= 1 - EPS) whole.push({ index: i, amount: 1 });
    }
    return whole.length === n ? whole : null;
  }
  let best = -1;
  for (let i = 0; i < free.length; i++) {
    if (free[i] + EPS >= count && (best === -1 || free[i] < free[best] - EPS)) best = i;
  }
  return best === -1 ? null : [{ index: best, amount: count }];
}

/** Where `job` would run now, or null. Does not change `free`. */
export function tryPlace(free: readonly NodeFree[], job: SchedJob): Placement | null {
  const nodes: number[] = [];
  const gpus: GpuSlot[][] = [];
  for (let p = 0; p < free.length && nodes.length < job.numNodes; p++) {
    if (free[p].cpus + EPS < job.cpus) continue;
    const slots = pickGpus(free[p].gpus, job.gpus);
    if (!slots) continue;
    nodes.push(p);
    gpus.push(slots);
  }
  return nodes.length === job.numNodes ? { nodes, cpus: job.cpus, gpus } : null;
}

/** Take a placement's resources out of `free`. */
export function take(free: NodeFree[], pl: Placement): void {
  pl.nodes.forEach((p, k) => {
    free[p].cpus = round(free[p].cpus - pl.cpus);
    for (const s of pl.gpus[k]) free[p].gpus[s.index] = round(free[p].gpus[s.index] - s.amount);
  });
}

/** Give a placement's resources back to `free`. */
export function give(free: NodeFree[], pl: Placement): void {
  pl.nodes.forEach((p, k) => {
    free[p].cpus = round(free[p].cpus + pl.cpus);
    for (const s of pl.gpus[k]) free[p].gpus[s.index] = round(free[p].gpus[s.index] + s.amount);
  });
}

/** Reserve a blocked job's demand, capped at what is free, on the nodes where it fits best. */
export function reserve(free: NodeFree[], job: SchedJob): void {
  const score = (f: NodeFree) => {
    const whole = f.gpus.filter((x) => x >= 1 - EPS).length;
    const most = f.gpus.reduce((a, b) => Math.max(a, b), 0);
    return { g: job.gpus <= EPS ? 0 : job.gpus >= 1 ? whole : most, c: f.cpus };
  };
  const order = free
    .map((f, p) => ({ p, s: score(f) }))
    .sort((a, b) => b.s.g - a.s.g || b.s.c - a.s.c || a.p - b.p)
    .slice(0, job.numNodes);
  for (const { p } of order) {
    const f = free[p];
    f.cpus = round(f.cpus - Math.min(job.cpus, f.cpus));
    if (job.gpus <= EPS) continue;
    if (job.gpus >= 1 - EPS) {
      let n = Math.ceil(job.gpus - EPS);
      for (let i = 0; i < f.gpus.length && n > 0; i++) {
        if (f.gpus[i] >= 1 - EPS) {
          f.gpus[i] = 0;
          n--;
        }
      }
    } else {
      const slot = pickGpus(f.gpus, job.gpus);
      let i = slot ? slot[0].index : -1;
      if (i === -1) i = f.gpus.reduce((best, x, k) => (best === -1 || x > f.gpus[best] ? k : best), -1);
      if (i !== -1) f.gpus[i] = round(f.gpus[i] - Math.min(job.gpus, f.gpus[i]));
    }
  }
}

/**
 * Which waiting jobs start now, and where (see the rule at the top of this file). `free` is the
 * capacity left by running jobs; it is not changed. `waiting` may be in any order.
 */
export function plan(
  free: readonly NodeFree[],
  waiting: readonly SchedJob[],
): { id: number; placement: Placement }[] {
  const view = free.map((f) => ({ cpus: f.cpus, gpus: [...f.gpus] }));
  const out: { id: number; placement: Placement }[] = [];
  let reserved = false;
  for (const job of [...waiting].sort((a, b) => a.id - b.id)) {
    const pl = tryPlace(view, job);
    if (pl) {
      take(view, pl);
      out.push({ id: job.id, placement: pl });
    } else if (!reserved) {
      reserve(view, job);
      reserved = true;
    }
  }
  return out;
}

/** CUDA_VISIBLE_DEVICES for one node of a placement. */
export function visibleDevices(slots: readonly GpuSlot[]): string {
  return slots.map((s) => s.index).join(',');
}
