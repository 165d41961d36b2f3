import { allClouds } from '../clouds/registry.js';
import { openStore } from '../state/index.js';
import { dagFromArgs, isYamlPath } from './task-input.js';
import { interruptSignal } from './ui.js';
import { UserError } from '../util/errors.js';

export default async function execCmd(args: string[], opts: Record<string, unknown>): Promise<number> {
  const [cluster, ...entry] = args;
  const store = openStore();
  const { requireUp, incompatibility, describeLaunched, jobDemand } = await import('../sdk/clusters.js');
  const rec = requireUp(store, cluster);
  const dag = await dagFromArgs(entry, opts, isYamlPath(entry) ? allClouds() : []);
  if (dag.tasks.length !== 1) throw new UserError('exec runs one task; this file is a pipeline');
  const task = dag.tasks[0];
  const why = incompatibility(rec, task);
  if (why) throw new UserError(`cluster ${cluster} (${describeLaunched(rec)}) cannot run this task: ${why}`);
  const { submitTask, followJob, exitCodeFor } = await import('../sdk/jobs.js');
  if (task.workdir) {
    const { runnersFor, syncTaskFiles, closeAll } = await import('../runtime/bootstrap.js');
    const runners = runnersFor(rec.nodes);
    try {
      await syncTaskFiles(task, runners, { fileMounts: false });
    } finally {
      await closeAll(runners);
    }
  }
  const jobId = await submitTask(store, rec, task, {
    withSetup: false,
    demand: jobDemand(task),
    command: entry.join(' '),
  });
  if (opts.detachRun) {
    process.stderr.write(
      `Job ${jobId} submitted to ${cluster}. Follow it: skyhop logs ${cluster} ${jobId}\n`,
    );
    return 0;
  }
  const intr = interruptSignal();
  try {
    const o = await followJob(store, rec, jobId, {
      onOutput: (c) => process.stdout.write(c),
      signal: intr.signal,
    });
    if (o.status !== 'SUCCEEDED') {
      process.stderr.write(
        `Job ${jobId} ${o.status}${o.reason ? `: ${o.reason}` : ''}${o.exitCode ? ` (exit code ${o.exitCode})` : ''}\n`,
      );
    }
    return exitCodeFor(o);
  } catch (e) {
    if (intr.signal.aborted) {
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
