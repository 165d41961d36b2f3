/**
 * `skyhop optimize FILE`: the cheapest (or fastest) plan for a task YAML. Provisions nothing and
 * needs no credentials. `--json` prints exactly one JSON object on stdout.
 */
import { existsSync, statSync } from 'node:fs';
import type { Plan, Target } from '../optimizer/index.js';
import { UserError } from '../util/errors.js';

export interface CliPlan {
  plan: Plan;
  /** Which clouds were planned over and why (from resolvePlanningClouds); null when nothing to say. */
  note: string | null;
  /** What to print on stdout: the rendered plan, or with `--json` the JSON object; ends with a newline. */
  text: string;
}

function targetOf(opts: Record<string, unknown>): Target {
  const t = opts.target ?? 'cost';
  if (t !== 'cost' && t !== 'time') throw new UserError(`--target must be cost or time, got ${String(t)}.`);
  return t;
}

/**
 * Plan a task for the CLI (`optimize`, `launch --dryrun`). `entry` is a YAML path, or the
 * launch entrypoint words (a YAML path or an inline command), or nothing (a task from the flags).
 */
export async function planForCli(
  entry: string | string[] | undefined,
  opts: Record<string, unknown>,
): Promise<CliPlan> {
  const target = targetOf(opts);
  const [{ allClouds, resolvePlanningClouds }, taskInput, optimizer] = await Promise.all([
    import('../clouds/registry.js'),
    import('./task-input.js'),
    import('../optimizer/index.js'),
  ]);
  const every = allClouds();
  let dag: import('../core/task.js').Dag;
  if (typeof entry === 'string') {
    if (!existsSync(entry) || !statSync(entry).isFile()) {
      throw new UserError(`Task file not found: ${entry}; pass the path of a task YAML.`);
    }
    dag = await taskInput.dagFromArgs([entry], opts, every);
  } else {
    dag = await taskInput.dagFromArgs(entry ?? [], opts, every);
  }
  const { clouds, note } = await resolvePlanningClouds({
    clouds: opts.clouds as string | undefined,
    allClouds: Boolean(opts.allClouds),
    cloud: opts.cloud as string | undefined,
  });
  const { planLaunch } = await import('../sdk/plan.js');
  const plan = await planLaunch({ dag, clouds, target, dataClouds: every });
  const text = opts.json
    ? `${JSON.stringify(optimizer.planToJson(plan))}\n`
    : `${optimizer.renderPlan(plan, note)}\n`;
  return { plan, note, text };
}

export default async function optimizeCmd(args: string[], opts: Record<string, unknown>): Promise<number> {
  if (args.length !== 1) throw new UserError('optimize takes one task YAML: skyhop optimize FILE.');
  const { note, text } = await planForCli(args[0], opts);
  if (opts.json && note) process.stderr.write(`${note}\n`);
  process.stdout.write(text);
  return 0;
}
