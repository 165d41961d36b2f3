/** `skyhop serve update NAME FILE`: the service's next version (rolling, or --mode blue_green). */
import { allClouds } from '../clouds/registry.js';
import { resolveClouds } from '../sdk/plan.js';
import { loadTask } from '../sdk/tasks.js';
import { UserError } from '../util/errors.js';
import { options, type OptionsOf, flags, overridesOf, planFlags, resourceFlags } from './options.js';
import { serveWarnings } from './serve-up.js';
import { confirm, progress } from './ui.js';

export const parse = options({
  serviceName: flags.arg(),
  entrypoint: flags.words(),
  mode: flags.str(),
  yes: flags.bool(),
  ...planFlags,
  ...resourceFlags,
});
export type ServeUpdateOptions = OptionsOf<typeof parse>;

export default async function serveUpdateCmd(o: ServeUpdateOptions): Promise<number> {
  const mode = o.mode ?? 'rolling';
  if (mode !== 'rolling' && mode !== 'blue_green') {
    throw new UserError(`--mode must be rolling or blue_green, not '${mode}'`);
  }
  if (o.entrypoint.length !== 1) throw new UserError('serve update takes a service name and one YAML');
  const dag = await loadTask(o.entrypoint, overridesOf({ ...o, name: undefined }), { clouds: allClouds() });
  for (const w of serveWarnings(dag.warnings)) process.stderr.write(`Warning: ${w}\n`);
  const { serveUpdate, serviceTask } = await import('../sdk/serve.js');
  await serviceTask(dag);
  const { clouds } = await resolveClouds({ clouds: o.clouds }, 'launch');
  if (!o.yes && !(await confirm(`Updating service '${o.serviceName}' (${mode}). Proceed?`, false))) return 1;
  const ui = await progress();
  try {
    const r = await serveUpdate({
      name: o.serviceName,
      dag,
      clouds,
      target: o.target,
      mode,
      onStep: (m) => ui.step(m),
    });
    ui.stop();
    process.stderr.write(
      `Service '${o.serviceName}' is updating to version ${r.version} (${mode}); \`skyhop serve status ${o.serviceName}\` shows its replicas.\n`,
    );
    return 0;
  } finally {
    ui.stop();
  }
}
