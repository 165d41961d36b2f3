import type { Cloud } from '../clouds/types.js';
import type { BlocklistEntry, Launchable } from '../core/cluster.js';
import type { Task } from '../core/task.js';

/** What the optimizer minimises: money (default) or estimated wall-clock time. */
export type Target = 'cost' | 'time';

export interface OptimizeOptions {
  /** The clouds to plan over (already resolved: enabled, or the ones the user named). */
  clouds: Cloud[];
  /** Places that failed (or the user excluded): a whole cloud, a region, or one zone. */
  blocklist?: BlocklistEntry[];
  target?: Target;
  /**
   * Clouds that may store a task's `inputs` (for the egress price of reading them elsewhere);
   * `clouds` are always consulted first. Data on a cloud found in neither is priced at 0 (unknown).
   */
  dataClouds?: Cloud[];
}

export interface PlannedTask {
  task: Task;
  /** The launchable picked for this task: `ranked[0]`. */
  choice: Launchable;
  /** Estimated hours on `choice` (task.estimatedHours on the cheapest candidate; scaled by speed for time). */
  estimatedHours: number;
  /** Compute cost of `choice`: hourlyPrice x numNodes x estimatedHours (egress is in Plan.egressCost). */
  estimatedCost: number;
  /** Every feasible launchable, best first under the target; this is also the failover order. */
  ranked: Launchable[];
}

export interface Plan {
  target: Target;
  tasks: PlannedTask[];
  /** Compute of every task plus egress. */
  totalCost: number;
  /** Sum of the tasks' estimated hours (tasks run one after another). */
  totalHours: number;
  /** Data moved between clouds: chain/DAG edges plus inputs read from another cloud. */
  egressCost: number;
}
