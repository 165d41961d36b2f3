/** `skyhop jobs cancel ID... | -n NAME | -a`: cancel managed jobs (their clusters are torn down). */
import { UserError } from '../util/errors.js';
import { options, type OptionsOf, flags } from './options.js';
import { confirm } from './ui.js';

export const parse = options({
  jobIds: flags.jobIds(),
  name: flags.str(),
  all: flags.bool(),
  yes: flags.bool(),
});
export type JobsCancelOptions = OptionsOf<typeof parse>;

export default async function jobsCancelCmd(o: JobsCancelOptions): Promise<number> {
  const ways = [o.jobIds.length > 0, o.name !== undefined, Boolean(o.all)].filter(Boolean).length;
  if (ways === 0) throw new UserError('give managed job ids, -n NAME, or -a/--all');
  if (ways > 1) throw new UserError('give only one of: job ids, -n NAME, -a/--all');
  const what = o.all
    ? 'every unfinished managed job'
    : o.name
      ? `managed job '${o.name}'`
      : `managed job(s) ${o.jobIds.join(', ')}`;
  if (!(await confirm(`Cancel ${what}?`, o.yes))) return 1;
  const { managedCancel } = await import('../sdk/managed.js');
  const ids = await managedCancel({ ids: o.jobIds.length ? o.jobIds : undefined, name: o.name, all: o.all });
  if (ids.length === 0) process.stderr.write('No unfinished managed job to cancel.\n');
  else
    process.stderr.write(
      `Cancelling managed job(s) ${ids.join(', ')}; their clusters are being torn down.\n`,
    );
  return 0;
}
