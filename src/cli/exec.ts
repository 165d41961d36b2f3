import { options, type OptionsOf, flags, overridesOf, resourceFlags } from './options.js';
import { interruptSignal } from './ui.js';

export const parse = options({
  cluster: flags.arg(),
  entrypoint: flags.words(),
  detachRun: flags.bool(),
  name: flags.str(),
  ...resourceFlags,
});
export type ExecOptions = OptionsOf<typeof parse>;

export default async function execCmd(o: ExecOptions): Promise<number> {
  const { cluster } = o;
  const { exec } = await import('../sdk/exec.js');
  const { exitCodeFor } = await import('../sdk/jobs.js');
  const intr = interruptSignal();
  let jobId: number | null = null;
  try {
    const r = await exec({
      cluster,
      task: o.entrypoint,
      overrides: overridesOf(o),
      detach: o.detachRun,
      signal: intr.signal,
      onSubmitted: (_, id) => {
        jobId = id;
      },
      onOutput: (c) => process.stdout.write(c),
      onWarning: (w) => process.stderr.write(`Warning: ${w}\n`),
    });
    if (!r.outcome) {
      process.stderr.write(
        `Job ${r.jobId} submitted to ${cluster}. Follow it: skyhop logs ${cluster} ${r.jobId}\n`,
      );
      return 0;
    }
    const out = r.outcome;
    if (out.status !== 'SUCCEEDED') {
      process.stderr.write(
        `Job ${r.jobId} ${out.status}${out.reason ? `: ${out.reason}` : ''}${out.exitCode ? ` (exit code ${out.exitCode})` : ''}\n`,
      );
    }
    return exitCodeFor(out);
  } catch (e) {
    if (jobId !== null && intr.signal.aborted) {
      process.stderr.write(
        `\nDetached from job ${jobId}; it keeps running. Follow: skyhop logs ${cluster} ${jobId}  Cancel: skyhop cancel ${cluster} ${jobId}\n`,
      );
      return 130;
    }
    throw e;
  } finally {
    intr.dispose();
  }
}
