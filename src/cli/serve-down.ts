/** `skyhop serve down NAME... | -a [--purge]`: services' replicas torn down, the services removed. */
import { UserError } from '../util/errors.js';
import { options, type OptionsOf, flags } from './options.js';
import { confirm, interruptSignal, progress } from './ui.js';

export const parse = options({
  serviceNames: flags.words(),
  all: flags.bool(),
  purge: flags.bool(),
  yes: flags.bool(),
});
export type ServeDownOptions = OptionsOf<typeof parse>;

export default async function serveDownCmd(o: ServeDownOptions): Promise<number> {
  if (!o.all && o.serviceNames.length === 0)
    throw new UserError('name the services to take down, or -a for all of them');
  if (o.all && o.serviceNames.length > 0) throw new UserError('give service names or -a, not both');
  const what = o.all ? 'every service' : o.serviceNames.map((n) => `'${n}'`).join(', ');
  if (!o.yes && !(await confirm(`Tearing down ${what} and all their replicas. Proceed?`, false))) return 1;
  const { serveDown } = await import('../sdk/serve.js');
  const ui = await progress();
  const intr = interruptSignal();
  try {
    const r = await serveDown({
      names: o.all ? undefined : o.serviceNames,
      all: o.all,
      purge: o.purge,
      signal: intr.signal,
      onStep: (m) => ui.step(m),
    });
    ui.stop();
    if (r.names.length === 0) {
      process.stderr.write('No services.\n');
      return 0;
    }
    for (const s of r.failed) process.stderr.write(`Service '${s.name}' FAILED_CLEANUP: ${s.reason ?? ''}\n`);
    const done = r.names.filter((n) => !r.failed.some((s) => s.name === n));
    if (done.length > 0)
      process.stderr.write(`Service${done.length === 1 ? '' : 's'} ${done.join(', ')} removed.\n`);
    return r.failed.length > 0 ? 1 : 0;
  } finally {
    ui.stop();
    intr.dispose();
  }
}
