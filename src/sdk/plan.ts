/**
 * `planLaunch`: the ONE way a launch plan is made. `optimize`, `launch --dryrun`, the launch
 * confirmation table and every re-plan of the failover loop call it with the same options, so the
 * plan a user is shown is the plan that is tried.
 */
import type { Cloud } from '../clouds/types.js';
import type { BlocklistEntry } from '../core/cluster.js';
import type { Dag } from '../core/task.js';
import type { Plan, Target } from '../optimizer/index.js';

export type { Plan, Target } from '../optimizer/index.js';

export interface PlanOptions {
  dag: Dag;
  /** The clouds to place tasks on, already resolved (enabled ones, or those the user named). */
  clouds: Cloud[];
  /** Minimise money (default) or estimated time. */
  target?: Target;
  /** Places excluded: what failed during this launch, or what the user ruled out. */
  blocklist?: BlocklistEntry[];
  /**
   * Clouds that may hold a task's `inputs` (for the egress price of reading them elsewhere).
   * Default: every registered cloud, so launch and optimize price data the same way.
   */
  dataClouds?: Cloud[];
}

/**
 * The cheapest (or fastest) placement of every task of `opts.dag` over `opts.clouds`, minus the
 * blocklist. Throws the optimizer's UserError when a task fits nowhere.
 */
export async function planLaunch(opts: PlanOptions): Promise<Plan> {
  const [{ optimizeAsync }, { allClouds }] = await Promise.all([
    import('../optimizer/index.js'),
    import('../clouds/registry.js'),
  ]);
  return optimizeAsync(opts.dag, {
    clouds: opts.clouds,
    target: opts.target ?? 'cost',
    blocklist: opts.blocklist ?? [],
    dataClouds: opts.dataClouds ?? allClouds(),
  });
}
