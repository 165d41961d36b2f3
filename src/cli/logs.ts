import { options, type OptionsOf, flags } from './options.js';
import { interruptSignal } from './ui.js';

export const parse = options({
  cluster: flags.arg(),
  jobId: flags.jobId(),
  follow: flags.boolDefault(true),
  status: flags.bool(),
});
export type LogsOptions = OptionsOf<typeof parse>;

export default async function logsCmd(o: LogsOptions): Promise<number> {
  const { logs } = await import('../sdk/queue.js');
  const { exitCodeFor } = await import('../sdk/jobs.js');
  const intr = interruptSignal();
  let jobId = o.jobId;
  try {
    const out = await logs({
      cluster: o.cluster,
      jobId: o.jobId,
      follow: o.follow && !o.status,
      onOutput: o.status ? undefined : (c) => process.stdout.write(c),
      onJob: (id) => {
        jobId = id;
      },
      signal: intr.signal,
    });
    if (o.status) {
      process.stdout.write(`${out.status}\n`);
      return out.status === 'SUCCEEDED' ? 0 : 1;
    }
    if (!o.follow) return 0;
    return exitCodeFor(out);
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
