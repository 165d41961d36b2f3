import { openStore } from '../state/index.js';
import { UserError } from '../util/errors.js';

export default async function cancelCmd(args: string[], opts: Record<string, unknown>): Promise<number> {
  const [cluster, ...idArgs] = args;
  if (!opts.all && idArgs.length === 0) throw new UserError('name the job ids to cancel, or --all');
  const bad = idArgs.filter((a) => !/^\d+$/.test(a));
  if (bad.length) throw new UserError(`job ids must be numbers: ${bad.join(', ')}`);
  const { cancel } = await import('../sdk/jobs.js');
  const done = await cancel(openStore(), cluster, opts.all ? 'all' : idArgs.map(Number));
  process.stderr.write(
    done.length
      ? `Cancelled job${done.length > 1 ? 's' : ''} ${done.join(', ')} on ${cluster}.\n`
      : 'No unfinished jobs to cancel.\n',
  );
  return 0;
}
