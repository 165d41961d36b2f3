/** `skyhop jobs launch`: a managed job (SkyPilot's `sky jobs launch`). */
import { allClouds } from '../clouds/registry.js';
import { resolveClouds } from '../sdk/plan.js';
import { loadTask } from '../sdk/tasks.js';
import { openStore } from '../state/index.js';
import { options, type OptionsOf, flags, overridesOf, planFlags, resourceFlags } from './options.js';
import { confirm, interruptSignal, progress } from './ui.js';

export const parse = options({
  entrypoint: flags.words(),
  name: flags.str(),
  yes: flags.bool(),
  detachRun: flags.bool(),
  ...planFlags,
  ...resourceFlags,
});
export type JobsLaunchOptions = OptionsOf<typeof parse>;

export default async function jobsLaunchCmd(o: JobsLaunchOptions): Promise<number> {
  // -n names the job (SkyPilot's), not a task: the overrides get no name.
  const dag = await loadTask(o.entrypoint, overridesOf({ ...o, name: undefined }), { clouds: allClouds() });
  for (const w of dag.warnings ?? []) process.stderr.write(`Warning: ${w}\n`);
  const { clouds } = await resolveClouds({ clouds: o.clouds }, 'launch');
  const name = o.name ?? dag.name ?? dag.tasks[0]?.name ?? 'job';
  const { planLaunch } = await import('../sdk/plan.js');
  const plan = await planLaunch({ dag, clouds, target: o.target });
  if (!o.yes) {
    const { renderPlan } = await import('../optimizer/index.js');
    const { note } = o.clouds || o.allClouds ? await resolveClouds(o, 'plan') : { note: null };
    process.stderr.write(`${renderPlan(plan, note)}\n`);
    const ok = await confirm(`Launching managed job '${name}'. Proceed?`, false);
    if (!ok) return 1;
  }
  const ui = await progress();
  const intr = interruptSignal();
  let jobId: number | null = null;
  try {
    const { managedLaunch } = await import('../sdk/managed.js');
    const r = await managedLaunch({
      dag,
      name,
      clouds,
      target: o.target,
      detach: o.detachRun,
      store: openStore(),
      signal: intr.signal,
      onStep: (m) => ui.step(m),
      onSubmitted: (id) => {
        jobId = id;
        ui.step(`Managed job ${id} ('${name}') submitted.`);
        ui.stop();
        process.stderr.write(`Managed job ID: ${id}\n`);
      },
      onOutput: (c) => process.stdout.write(c),
    });
    ui.stop();
    const help = `  Cancel: skyhop jobs cancel ${r.id}\n  Logs: skyhop jobs logs ${r.id}  (controller: skyhop jobs logs --controller ${r.id})\n  All jobs: skyhop jobs queue\n`;
    if (r.status === null) {
      process.stderr.write(`Managed job ${r.id} is running.\n${help}`);
      return 0;
    }
    process.stderr.write(`Managed job ${r.id} finished: ${r.status}${r.reason ? ` (${r.reason})` : ''}\n`);
    return r.status === 'SUCCEEDED' ? 0 : r.status === 'CANCELLED' ? 130 : 1;
  } catch (e) {
    if (jobId !== null && intr.signal.aborted) {
      process.stderr.write(
        `\nStopped following managed job ${jobId}; it keeps running. Follow: skyhop jobs logs ${jobId}  Cancel: skyhop jobs cancel ${jobId}\n`,
      );
      return 130;
    }
    throw e;
  } finally {
    ui.stop();
    intr.dispose();
  }
}
