/**
 * The time model behind `--target time`.
 *
 * A task's `estimatedHours` (default 1) is its runtime on its CHEAPEST candidate. Any other
 * candidate runs it in `hours x throughput(cheapest) / throughput(candidate)`, where a node's
 * throughput is the relative speed of its accelerator (the table below, A100 = 1.0, roughly dense
 * FP16/BF16 training throughput per device) times the accelerator count. A node without an
 * accelerator counts its vCPUs at CPU_SPEED_PER_VCPU A100-equivalents each, so CPU-only
 * candidates compare by vCPUs. The node count is the same for every candidate of a task, so it
 * cancels out. Accelerators missing from the table count as UNKNOWN_ACCELERATOR_SPEED. A request
 * without accelerators is measured by vCPUs, even on a type that has GPUs.
 */
import type { Launchable } from '../core/cluster.js';

const SPEED: Readonly<Record<string, number>> = {
  B200: 5.0,
  H200: 3.4,
  'H200-SXM': 3.4,
  GH200: 3.3,
  'H100-SXM': 3.0,
  'H100-MEGA': 3.1,
  H100: 3.0,
  'H100-NVL': 2.6,
  'H100-NVLINK': 3.0,
  MI300X: 3.0,
  'A100-80GB-SXM': 1.2,
  'A100-80GB': 1.1,
  A100: 1.0,
  L40S: 0.95,
  L40: 0.75,
  'RTX6000-Ada': 0.75,
  RTX4090: 0.65,
  A6000: 0.55,
  A40: 0.5,
  'V100-32GB': 0.45,
  V100: 0.42,
  A10: 0.4,
  A10G: 0.35,
  L4: 0.3,
  RTX6000: 0.3,
  A5000: 0.3,
  A4000: 0.2,
  T4: 0.2,
  P100: 0.12,
  P4: 0.06,
  K80: 0.05,
};

/** Speed of one vCPU relative to one A100 (used only for candidates without accelerators). */
export const CPU_SPEED_PER_VCPU = 0.01;
export const UNKNOWN_ACCELERATOR_SPEED = 0.5;

const SPEED_LOWER = new Map(Object.entries(SPEED).map(([k, v]) => [k.toLowerCase(), v]));

/** Relative speed of one device of the named accelerator (case-insensitive). */
export function acceleratorSpeed(name: string): number {
  return SPEED_LOWER.get(name.toLowerCase()) ?? UNKNOWN_ACCELERATOR_SPEED;
}

/**
 * Relative throughput of one node of the launchable (> 0). Accelerators count only when the request
 * asked for them: a CPU-only request that lands on a type with GPUs (RunPod's types all have some)
 * is not sped up by them.
 */
export function throughput(l: Launchable): number {
  if (l.request.accelerators && l.accelerators && l.accelerators.count > 0) {
    return acceleratorSpeed(l.accelerators.name) * l.accelerators.count;
  }
  const v = l.vcpus ?? 1;
  return Math.max(v, 0.25) * CPU_SPEED_PER_VCPU;
}

/** Hours on `l` for a task that takes `baseHours` on `reference` (its cheapest candidate). */
export function scaledHours(baseHours: number, reference: Launchable, l: Launchable): number {
  return (baseHours * throughput(reference)) / throughput(l);
}
