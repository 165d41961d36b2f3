/**
 * `skyhop optimize FILE`: the cheapest (or fastest) plan for a task YAML. Provisions nothing and
 * needs no credentials. `--json` prints exactly one JSON object on stdout.
 */
import { existsSync, statSync } from 'node:fs';
import type { Plan } from '../optimizer/index.js';
import type { TaskOverrides } from '../sdk/tasks.js';
import { UserError } from '../util/errors.js';
import { options, type OptionsOf, flags, overridesOf, planFlags, resourceFlags } from './options.js';

export const parse = options({ file: flags.arg(), ...planFlags, ...resourceFlags });
export type OptimizeOptions = OptionsOf<typeof parse>;

/** What planning reads from launch's or optimize's options. */
type PlanOptions = Pick<OptimizeOptions, 'clouds' | 'allClouds' | 'cloud' | 'target' | 'json'> &
  Parameters<typeof overridesOf>[0];

export interface CliPlan {
  plan: Plan;
  /** Which clouds were planned over and why (from resolvePlanningClouds); null when nothing to say. */
  note: string | null;
  /** What to print on stdout: the rendered plan, or with `--json` the JSON object; ends with a newline. */
  text: string;
}

/**
 * Plan a task for the CLI (`optimize`, `launch --dryrun`). `entry` is a YAML path, or the
 * launch entrypoint words (a YAML path or an inline command), or nothing (a task from the flags).
 */
export async function planForCli(entry: string | string[] | undefined, opts: PlanOptions): Promise<CliPlan> {
  const target = opts.target;
  const overrides: TaskOverrides = overridesOf(opts);
  const [{ allClouds }, { loadTask }, { planLaunch, resolveClouds }, optimizer] = await Promise.all([
    import('../clouds/registry.js'),
    import('../sdk/tasks.js'),
    import('../sdk/plan.js'),
    import('../optimizer/index.js'),
  ]);
  const every = allClouds();
  let dag: import('../core/task.js').Dag;
  if (typeof entry === 'string') {
    if (!existsSync(entry) || !statSync(entry).isFile()) {
      throw new UserError(`Task file not found: ${entry}; pass the path of a task YAML.`);
    }
    dag = await loadTask([entry], overrides, { clouds: every });
  } else {
    dag = await loadTask(entry ?? [], overrides, { clouds: every });
  }
  for (const w of dag.warnings ?? []) process.stderr.write(`Warning: ${w}\n`);
  const { clouds, note } = await resolveClouds(
    { clouds: opts.clouds, allClouds: Boolean(opts.allClouds), cloud: opts.cloud },
    'plan',
  );
  const plan = await planLaunch({ dag, clouds, target });
  const text = opts.json
    ? `${JSON.stringify(optimizer.planToJson(plan))}\n`
    : `${optimizer.renderPlan(plan, note)}\n`;
  return { plan, note, text };
}

export default async function optimizeCmd(opts: OptimizeOptions): Promise<number> {
  const { note, text } = await planForCli(opts.file, opts);
  if (opts.json && note) process.stderr.write(`${note}\n`);
  process.stdout.write(text);
  return 0;
}
