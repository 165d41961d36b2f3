import { openStore } from '../state/index.js';
import { UserError } from '../util/errors.js';
import { interruptSignal } from './ui.js';

export default async function logsCmd(args: string[], opts: Record<string, unknown>): Promise<number> {
  const [cluster, idArg] = args;
  const store = openStore();
  const { requireUp } = await import('../sdk/clusters.js');
  const { followJob, latestJobId, exitCodeFor } = await import('../sdk/jobs.js');
  const rec = requireUp(store, cluster);
  if (idArg !== undefined && !/^\d+$/.test(idArg))
    throw new UserError(`job id must be a number, got ${JSON.stringify(idArg)}`);
  const jobId = idArg === undefined ? await latestJobId(store, cluster) : Number(idArg);
  const intr = interruptSignal();
  try {
    const o = await followJob(store, rec, jobId, {
      follow: opts.follow !== false && !opts.status,
      onOutput: opts.status ? undefined : (c) => process.stdout.write(c),
      signal: intr.signal,
    });
    if (opts.status) {
      process.stdout.write(`${o.status}\n`);
      return o.status === 'SUCCEEDED' ? 0 : 1;
    }
    if (opts.follow === false) return 0;
    return exitCodeFor(o);
  } catch (e) {
    if (intr.signal.aborted) {
      process.stderr.write(`\nStopped following job ${jobId}; it keeps running.\n`);
      return 130;
    }
    throw e;
  } finally {
    intr.dispose();
  }
}
