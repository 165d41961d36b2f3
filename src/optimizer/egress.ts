/**
 * The egress model. Moving data out of a cloud costs `cloud.egressCostPerGb(gb) x gb`; moving it
 * within one cloud (any regions) is free, as in SkyPilot.
 *
 * - Edge u -> v (v runs after u): the GB are u's `outputs.sizeGb`, else v's `inputs.sizeGb` when
 *   v's inputs come from u (they name no storage cloud, or the same location as u's outputs).
 *   Charged from u's cloud when v runs on another cloud.
 * - A task whose `inputs` are stored on cloud X (`inputs.cloud`, e.g. s3:// -> aws) and do not
 *   come from an upstream task pays X's egress for them when it runs anywhere but X.
 */
import type { Cloud } from '../clouds/types.js';
import type { Task } from '../core/task.js';

/** Whether `down`'s inputs are produced by `up`. */
export function inputsFromUpstream(up: Task, down: Task): boolean {
  const inp = down.inputs;
  if (!inp) return false;
  if (up.outputs && up.outputs.location === inp.location) return true;
  return inp.cloud === undefined;
}

/** GB moved along the edge up -> down. */
export function edgeGb(up: Task, down: Task): number {
  if (up.outputs) return up.outputs.sizeGb;
  if (down.inputs && inputsFromUpstream(up, down)) return down.inputs.sizeGb;
  return 0;
}

/** The cloud storing `task`'s inputs, when they do not come from one of its parents. */
export function inputStorage(task: Task, parents: readonly Task[]): { cloud: string; gb: number } | null {
  const inp = task.inputs;
  if (!inp || inp.cloud === undefined || inp.sizeGb <= 0) return null;
  if (parents.some((p) => p.outputs && p.outputs.location === inp.location)) return null;
  return { cloud: inp.cloud, gb: inp.sizeGb };
}

/** USD to move `gb` out of `from` to `to` (0 within one cloud, or when `from` is unknown). */
export function transferCost(from: Cloud | undefined, fromName: string, toName: string, gb: number): number {
  if (gb <= 0 || fromName === toName || !from) return 0;
  return from.egressCostPerGb(gb) * gb;
}
