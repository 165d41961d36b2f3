import { allClouds } from '../clouds/registry.js';
import { resolveClouds } from '../sdk/plan.js';
import { openStore } from '../state/index.js';
import { loadTask } from '../sdk/tasks.js';
import { options, type OptionsOf, flags, overridesOf, planFlags, resourceFlags } from './options.js';
import { confirm, interruptSignal, progress } from './ui.js';

export const parse = options({
  entrypoint: flags.words(),
  cluster: flags.str(),
  yes: flags.bool(),
  detachRun: flags.bool(),
  name: flags.str(),
  dryrun: flags.bool(),
  down: flags.bool(),
  idleMinutesToAutostop: flags.minutes('--idle-minutes-to-autostop'),
  retryUntilUp: flags.bool(),
  ...planFlags,
  ...resourceFlags,
});
export type LaunchOptions = OptionsOf<typeof parse>;

export default async function launchCmd(opts: LaunchOptions): Promise<number> {
  if (opts.dryrun) {
    const { planForCli } = await import('./optimize.js');
    const { text } = await planForCli(opts.entrypoint, opts);
    process.stdout.write(text);
    return 0;
  }
  const dag = await loadTask(opts.entrypoint, overridesOf(opts), { clouds: allClouds() });
  for (const w of dag.warnings ?? []) process.stderr.write(`Warning: ${w}\n`);
  const { clouds } = await resolveClouds({ clouds: opts.clouds }, 'launch');
  const store = openStore();
  const name = opts.cluster;

  if (!name || !store.getCluster(name)) {
    // A new cluster: show the plan and ask (SkyPilot's flow); -y skips the question.
    const { renderPlan } = await import('../optimizer/index.js');
    const { planLaunch } = await import('../sdk/plan.js');
    const { note } = opts.clouds || opts.allClouds ? await resolveClouds(opts, 'plan') : { note: null };
    // The plan the launch will try first (planLaunch: the same options as the SDK launch's failover).
    const plan = await planLaunch({ dag, clouds, target: opts.target });
    if (!opts.yes) {
      process.stderr.write(`${renderPlan(plan, note)}\n`);
      const ok = await confirm(`Launching a new cluster${name ? ` '${name}'` : ''}. Proceed?`, false);
      if (!ok) return 1;
    }
  }

  const ui = await progress();
  const intr = interruptSignal();
  let submitted: { cluster: string; jobId: number } | null = null;
  try {
    const { launch } = await import('../sdk/launch.js');
    const { exitCodeFor } = await import('../sdk/jobs.js');
    const r = await launch({
      dag,
      cluster: name,
      clouds,
      store,
      target: opts.target,
      detach: opts.detachRun,
      retryUntilUp: opts.retryUntilUp,
      signal: intr.signal,
      onStep: (m) => ui.step(m),
      onWait: (m) => ui.step(m),
      onSubmitted: (cluster, jobId) => {
        submitted = { cluster, jobId };
        ui.step(`Job ${jobId} submitted to ${cluster}.`);
        ui.stop();
      },
      onOutput: (c) => process.stdout.write(c),
    });
    if (!r.outcome) {
      process.stderr.write(
        `Job ${r.jobId} is running on ${r.cluster}. Follow it: skyhop logs ${r.cluster} ${r.jobId}\n`,
      );
      return 0;
    }
    const o = r.outcome;
    if (o.status !== 'SUCCEEDED') {
      process.stderr.write(
        `Job ${o.jobId} on ${r.cluster} ${o.status}${o.reason ? `: ${o.reason}` : ''}${o.exitCode ? ` (exit code ${o.exitCode})` : ''}\n`,
      );
    }
    // The SDK's launch has torn down a cluster set to autodown after 0 minutes (`--down`).
    const rec = store.getCluster(r.cluster);
    ui.stop();
    if (rec) {
      const a = rec.autostop;
      const idle = a
        ? ` It ${a.down ? 'tears itself down' : 'stops'} after ${a.idleMinutes} idle minute${a.idleMinutes === 1 ? '' : 's'}.`
        : '';
      process.stderr.write(
        `Cluster ${r.cluster} is UP.${idle} Run more: skyhop exec ${r.cluster} CMD. Tear down: skyhop down ${r.cluster}\n`,
      );
    }
    return exitCodeFor(o);
  } catch (e) {
    const s = submitted as { cluster: string; jobId: number } | null;
    if (s && intr.signal.aborted) {
      process.stderr.write(
        `\nDetached from job ${s.jobId}; it keeps running on ${s.cluster}. Follow: skyhop logs ${s.cluster} ${s.jobId}  Cancel: skyhop cancel ${s.cluster} ${s.jobId}\n`,
      );
      return 130;
    }
    throw e;
  } finally {
    ui.stop();
    intr.dispose();
  }
}
