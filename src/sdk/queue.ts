/** Reading jobs: the queue of one or more clusters, and a job's logs. */
import { openStore, type Store } from '../state/index.js';
import { UserError } from '../util/errors.js';
import { requireUp } from './clusters.js';
import { clusterQueue, followJob, type JobOutcome, type JobRecord, latestJobId } from './jobs.js';

/** Each cluster's jobs, as its agent lists them (default: every UP cluster). */
export async function queue(
  o: { clusters?: string[]; store?: Store } = {},
): Promise<Record<string, JobRecord[]>> {
  const store = o.store ?? openStore();
  const names = o.clusters?.length
    ? o.clusters
    : store
        .listClusters()
        .filter((c) => c.status === 'UP')
        .map((c) => c.name);
  if (names.length === 0) throw new UserError('no UP clusters; name one, or see `skyhop status`');
  const out: Record<string, JobRecord[]> = {};
  for (const name of names) out[name] = await clusterQueue(store, name);
  return out;
}

export interface LogsOptions {
  cluster: string;
  /** Default: the cluster's latest job. */
  jobId?: number;
  /** Keep streaming until the job ends (default true); false prints what is there. */
  follow?: boolean;
  onOutput?(chunk: string): void;
  /** Aborting stops following (the job keeps running); logs then throws an InterruptedError. */
  signal?: AbortSignal;
  /** Called with the job id once it is known (before any output). */
  onJob?(jobId: number): void;
  store?: Store;
}

/** Streams a job's output; resolves with how it ended (or where it is, when not following). */
export async function logs(o: LogsOptions): Promise<JobOutcome> {
  const store = o.store ?? openStore();
  const rec = requireUp(store, o.cluster);
  const jobId = o.jobId ?? (await latestJobId(store, o.cluster));
  o.onJob?.(jobId);
  return followJob(store, rec, jobId, { follow: o.follow ?? true, onOutput: o.onOutput, signal: o.signal });
}
