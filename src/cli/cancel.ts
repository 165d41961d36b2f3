import { openStore } from '../state/index.js';
import { UserError } from '../util/errors.js';
import { options, type OptionsOf, flags } from './options.js';

export const parse = options({
  cluster: flags.arg(),
  jobIds: flags.jobIds(),
  all: flags.bool(),
  yes: flags.bool(),
});
export type CancelOptions = OptionsOf<typeof parse>;

export default async function cancelCmd(o: CancelOptions): Promise<number> {
  if (!o.all && o.jobIds.length === 0) throw new UserError('name the job ids to cancel, or --all');
  const { cancel } = await import('../sdk/jobs.js');
  const done = await cancel(openStore(), o.cluster, o.all ? 'all' : o.jobIds);
  process.stderr.write(
    done.length
      ? `Cancelled job${done.length > 1 ? 's' : ''} ${done.join(', ')} on ${o.cluster}.\n`
      : 'No unfinished jobs to cancel.\n',
  );
  return 0;
}
