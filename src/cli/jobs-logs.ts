/** `skyhop jobs logs [ID]`: a managed job's output, followed across its recoveries until it ends. */
import { options, type OptionsOf, flags } from './options.js';
import { interruptSignal } from './ui.js';

export const parse = options({
  jobId: flags.jobId(),
  controller: flags.bool(),
  follow: flags.boolDefault(true),
});
export type JobsLogsOptions = OptionsOf<typeof parse>;

export default async function jobsLogsCmd(o: JobsLogsOptions): Promise<number> {
  const { managedLogs } = await import('../sdk/managed.js');
  const intr = interruptSignal();
  try {
    const end = await managedLogs({
      id: o.jobId,
      controller: o.controller,
      follow: o.follow,
      onOutput: (c) => process.stdout.write(c),
      signal: intr.signal,
    });
    if (!o.follow) return 0;
    if (end.status && end.status !== 'SUCCEEDED') {
      process.stderr.write(`Managed job ${end.id} ${end.status}${end.reason ? `: ${end.reason}` : ''}\n`);
      return 1;
    }
    return 0;
  } catch (e) {
    if (intr.signal.aborted) {
      process.stderr.write('\nStopped following; the job keeps running.\n');
      return 130;
    }
    throw e;
  } finally {
    intr.dispose();
  }
}
