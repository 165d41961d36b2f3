/**
 * `planLaunch`: the ONE way a launch plan is made. `optimize`, `launch --dryrun`, the launch
 * confirmation table and every re-plan of the failover loop call it with the same options, so the
 * plan a user is shown is the plan that is tried.
 */
import type { Cloud } from '../clouds/types.js';
import type { BlocklistEntry } from '../core/cluster.js';
import type { Dag } from '../core/task.js';
import type { Plan, Target } from '../optimizer/index.js';
import { UserError } from '../util/errors.js';

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

/** Which clouds a plan or a launch may use, as the user said it (`--clouds a,b`, `--all-clouds`, `--cloud`). */
export interface CloudChoice {
  /** Cloud names (`--clouds`); a comma-separated string is split. */
  clouds?: string | string[];
  /** Every registered cloud, credentials unchecked (`--all-clouds`; planning only). */
  allClouds?: boolean;
  /** The cloud the task (or `--cloud`) pins. */
  cloud?: string;
}

/**
 * The clouds for `planLaunch`, parsed once.
 * - `purpose: 'plan'` (optimize, `launch --dryrun`): the named clouds, enabled or not, or every cloud
 *   with `allClouds`, else the enabled ones; `note` says when credentials were not checked.
 * - `purpose: 'launch'`: the enabled clouds skyhop can launch on (feature 'provision'), narrowed to
 *   the named ones; naming one that is not enabled, or one that is planning-only (gcp, lambda, runpod
 *   today), is a UserError. So the plan a user confirms is one that can run.
 */
export async function resolveClouds(
  choice: CloudChoice,
  purpose: 'plan' | 'launch',
): Promise<{ clouds: Cloud[]; note: string | null }> {
  const { enabledClouds, getCloud, resolvePlanningClouds } = await import('../clouds/registry.js');
  const list = Array.isArray(choice.clouds) ? choice.clouds.join(',') : choice.clouds;
  if (purpose === 'plan') {
    return resolvePlanningClouds({ clouds: list, allClouds: choice.allClouds, cloud: choice.cloud });
  }
  const { canProvision, planningOnlyProblem } = await import('../core/features.js');
  const enabled = await enabledClouds();
  const launchable = enabled.filter(canProvision);
  if (launchable.length === 0) {
    throw new UserError(
      'no cloud that can launch is enabled here: `skyhop check` says how to enable one ' +
        '(`skyhop launch --dryrun --all-clouds` plans without credentials)',
    );
  }
  if (list === undefined) return { clouds: launchable, note: null };
  const want = list
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  const planningOnly = want.map(getCloud).filter((c) => !canProvision(c));
  if (planningOnly.length) {
    const names = planningOnly.map((c) => c.name).join(',');
    throw new UserError(
      `${planningOnly.map((c) => `${c.name}: ${planningOnlyProblem(c.displayName)}`).join('; ')}; ` +
        `\`skyhop optimize --clouds ${names}\` plans for it, launch on another cloud`,
    );
  }
  const off = want.filter((w) => !enabled.some((c) => c.name === w));
  if (off.length) {
    throw new UserError(`not enabled: ${off.join(', ')}; run \`skyhop check\` to see how to enable them`);
  }
  const clouds = launchable.filter((c) => want.includes(c.name));
  return { clouds, note: `launching on ${clouds.map((c) => c.name).join(', ')}` };
}
