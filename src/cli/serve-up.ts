/** `skyhop serve up`: a service (SkyPilot's `sky serve up`). */
import { allClouds } from '../clouds/registry.js';
import { resolveClouds } from '../sdk/plan.js';
import { loadTask } from '../sdk/tasks.js';
import { isServiceIgnoredWarning } from '../task/service.js';
import { options, type OptionsOf, flags, overridesOf, planFlags, resourceFlags } from './options.js';
import { confirm, interruptSignal, progress } from './ui.js';

export const parse = options({
  entrypoint: flags.words(),
  serviceName: flags.str(),
  yes: flags.bool(),
  ...planFlags,
  ...resourceFlags,
});
export type ServeUpOptions = OptionsOf<typeof parse>;

/** The warning `launch` prints for a `service:` section does not apply to `serve`. */
export function serveWarnings(warnings: string[] | undefined): string[] {
  return (warnings ?? []).filter((w) => !isServiceIgnoredWarning(w));
}

export default async function serveUpCmd(o: ServeUpOptions): Promise<number> {
  if (o.entrypoint.length !== 1) {
    throw new (await import('../util/errors.js')).UserError(
      'serve up takes one service YAML: skyhop serve up service.yaml',
    );
  }
  const dag = await loadTask(o.entrypoint, overridesOf({ ...o, name: undefined }), { clouds: allClouds() });
  for (const w of serveWarnings(dag.warnings)) process.stderr.write(`Warning: ${w}\n`);
  const { serviceTask, serveUp } = await import('../sdk/serve.js');
  const task = await serviceTask(dag);
  const { clouds } = await resolveClouds({ clouds: o.clouds }, 'launch');
  const { planLaunch } = await import('../sdk/plan.js');
  const plan = await planLaunch({ dag: { tasks: [task], edges: [] }, clouds, target: o.target });
  if (!o.yes) {
    const { renderPlan } = await import('../optimizer/index.js');
    const { note } = o.clouds || o.allClouds ? await resolveClouds(o, 'plan') : { note: null };
    process.stderr.write(`${renderPlan(plan, note)}\n`);
    const p = task.service!.replicaPolicy;
    const count =
      p.minReplicas === p.maxReplicas ? `${p.minReplicas}` : `${p.minReplicas} to ${p.maxReplicas}`;
    const ok = await confirm(
      `Serving ${o.serviceName ? `'${o.serviceName}'` : 'a new service'} with ${count} replica(s) of this plan each. Proceed?`,
      false,
    );
    if (!ok) return 1;
  }
  const ui = await progress();
  const intr = interruptSignal();
  try {
    const r = await serveUp({
      dag,
      name: o.serviceName,
      clouds,
      target: o.target,
      signal: intr.signal,
      onStep: (m) => ui.step(m),
    });
    ui.stop();
    process.stdout.write(
      `Service name: ${r.name}\nEndpoint URL: ${r.endpoint ?? '(not yet known; skyhop serve status shows it)'}\n`,
    );
    process.stderr.write(
      `  Status: skyhop serve status ${r.name}\n  Logs: skyhop serve logs ${r.name} 1  (controller: --controller, load balancer: --load-balancer)\n  Remove: skyhop serve down ${r.name}\n`,
    );
    return 0;
  } finally {
    ui.stop();
    intr.dispose();
  }
}
