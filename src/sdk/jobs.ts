/** Jobs on a cluster: installing the agent, submitting, following logs, the queue, cancelling. */
import { userInfo } from 'node:os';
import * as agent from '../agent/client.js';
import type { Cloud } from '../clouds/types.js';
import { featureMessage, missingFeatures } from '../core/features.js';
import type { CommandRunner } from '../runtime/types.js';
import { connectionsFromHead, nodeBinaryFor } from '../runtime/bootstrap.js';
import type { ClusterRecord, Store } from '../state/index.js';
import type { Task } from '../core/task.js';
import { InterruptedError, UserError } from '../util/errors.js';
import { cloudOf, headRunner, requireUp } from './clusters.js';

export type JobRecord = agent.JobRecord;

export interface JobOutcome {
  jobId: number;
  status: string;
  exitCode: number | null;
  reason: string | null;
}

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'FAILED_SETUP', 'CANCELLED']);

/** The process exit code `launch`/`exec`/`logs` return for a finished job. */
export function exitCodeFor(o: JobOutcome): number {
  if (o.status === 'SUCCEEDED') return 0;
  if (o.status === 'CANCELLED') return 1;
  return o.exitCode && o.exitCode > 0 ? o.exitCode : 1;
}

/** Refuses autostop that the cluster's cloud cannot carry out (before anything is asked of the cluster). */
export function checkAutostop(
  cloud: Cloud,
  rec: ClusterRecord,
  a: { idleMinutes: number; down: boolean } | null | undefined,
): void {
  if (!a) return;
  const need = { useSpot: rec.resources.useSpot, autostop: a };
  const missing = cloud.autostopCommand
    ? missingFeatures(need, cloud).filter((f) => f !== 'spot')
    : (['autostop'] as const);
  if (missing.length === 0) return;
  const fix =
    missing[0] === 'autostop'
      ? `autostop is not available for ${rec.name}`
      : `use autodown (\`skyhop autostop --down ${rec.name}\`)`;
  throw new UserError(featureMessage(missing[0], cloud.displayName, cloud, need, fix));
}

/**
 * The agent's autostop setting for a cluster (null turns it off), after the cloud's provider has
 * readied the nodes for it. Refuses what the cloud cannot do, before the agent is told anything.
 */
export async function autostopFor(
  cloud: Cloud,
  rec: ClusterRecord,
  a: { idleMinutes: number; down: boolean } | null | undefined,
): Promise<agent.AutostopConfig | null> {
  if (!a) return null;
  checkAutostop(cloud, rec, a);
  const action = a.down ? 'down' : 'stop';
  await cloud.provider(rec.region).prepareAutostop?.(rec.name, action);
  return {
    idleMinutes: a.idleMinutes,
    down: a.down,
    command: (cloud.autostopCommand as NonNullable<Cloud['autostopCommand']>)(rec.name, action),
  };
}

/** Writes cluster.json and starts the agent daemon on the head node (idempotent). */
export async function installClusterAgent(
  cloud: Cloud,
  rec: ClusterRecord,
  head: CommandRunner,
  bundle: string,
  /** Each node's container (`image_id: docker:<image>`), by position in `rec.nodes`. */
  containers?: readonly string[],
) {
  const conns = await connectionsFromHead(head, rec.nodes);
  const info: agent.ClusterInfoFile = {
    name: rec.name,
    cloud: rec.cloud,
    region: rec.region,
    nodes: rec.nodes.map((n, i) => ({
      rank: n.rank ?? i,
      ip: n.internalIp,
      connection: conns[i],
      ...(containers?.[i] ? { container: containers[i] } : {}),
    })),
    perNode: {
      cpus: rec.resources.vcpus ?? 1,
      memoryGiB: rec.resources.memoryGiB ?? 0,
      accelerators: rec.resources.accelerators,
    },
    autostop: await autostopFor(cloud, rec, rec.autostop),
    agentPath: '~/.skyhop/agent/agent.cjs',
    nodePath: nodeBinaryFor(head.connection),
  };
  await agent.installAgent(head, info, bundle);
}

export interface SubmitOptions {
  withSetup: boolean;
  demand: { cpus: number; accelerators: { name: string; count: number } | null };
  /** Set autostop/autodown after the job is queued (so an idle timer cannot fire first). */
  autostop?: { idleMinutes: number; down: boolean };
  command?: string;
}

/** Whether the cluster mounts buckets (MOUNT / MOUNT_CACHED), whose uploads every job waits for. */
export function hasMountedStorage(store: Store, cluster: string): boolean {
  return store.storageUses().some((u) => u.cluster === cluster && u.mode !== 'COPY');
}

export async function submitTask(
  store: Store,
  rec: ClusterRecord,
  task: Task,
  o: SubmitOptions,
): Promise<number> {
  const head = headRunner(rec);
  try {
    const jobId = await agent.submitJob(head, {
      name: task.name ?? 'task',
      run: task.run ?? '',
      setup: o.withSetup ? task.setup : undefined,
      envs: task.envs,
      secrets: task.secrets,
      numNodes: task.numNodes,
      demand: o.demand,
      workdir: Boolean(task.workdir),
      // A cluster with mounted buckets: the job ends once every node's uploads have finished.
      flushStorage: hasMountedStorage(store, rec.name) || undefined,
      submittedAt: Date.now(),
      // Through a team server, the job is its user's (the server sets SKYHOP_API_USER for their requests).
      user: process.env.SKYHOP_API_USER || userInfo().username,
    });
    store.recordJob({
      cluster: rec.name,
      jobId,
      name: task.name ?? 'task',
      submittedAt: Date.now(),
      status: 'PENDING',
      command: o.command,
    });
    if (o.autostop) {
      await agent.setAutostop(head, await autostopFor(cloudOf(rec), rec, o.autostop));
      store.setAutostop(rec.name, o.autostop);
    }
    return jobId;
  } finally {
    await head.close();
  }
}

/** Streams a job's output until it ends; records the final state. Aborting detaches (the job keeps running). */
export async function followJob(
  store: Store,
  rec: ClusterRecord,
  jobId: number,
  o: { onOutput?: (chunk: string) => void; signal?: AbortSignal; follow?: boolean },
): Promise<JobOutcome> {
  const head = headRunner(rec);
  try {
    let r: JobRecord;
    try {
      r = await agent.followLogs(head, jobId, {
        follow: o.follow ?? true,
        onData: (c) => o.onOutput?.(c),
        signal: o.signal,
      });
    } catch (e) {
      if (o.signal?.aborted) throw new InterruptedError();
      // The head stopped answering: if the cloud no longer has the cluster's nodes (a spot
      // preemption, a deletion outside skyhop), the job ended with them; say so plainly.
      const gone = await nodesGone(rec);
      if (!gone) throw e;
      store.updateJob(rec.name, jobId, { status: 'FAILED' });
      return { jobId, status: 'FAILED', exitCode: null, reason: gone };
    }
    if (o.signal?.aborted) throw new InterruptedError();
    const outcome = { jobId, status: r.status, exitCode: r.exitCode ?? null, reason: r.reason ?? null };
    if (TERMINAL.has(r.status)) store.updateJob(rec.name, jobId, { status: r.status });
    return outcome;
  } finally {
    await head.close();
  }
}

/** Why the cluster's nodes are no longer all there, or null when they are. */
async function nodesGone(rec: ClusterRecord): Promise<string | null> {
  const live = await cloudOf(rec)
    .provider(rec.region)
    .queryInstances(rec.name)
    .catch(() => null);
  if (live === null) return null;
  const running = live.filter((n) => n.status === 'running').length;
  if (running >= rec.resources.numNodes) return null;
  const spot = rec.resources.useSpot ? ' (spot instances can be preempted)' : '';
  return `the cluster lost ${rec.resources.numNodes - running} of its ${rec.resources.numNodes} node(s)${spot}; \`skyhop status --refresh\` updates its record`;
}

export async function clusterQueue(store: Store, name: string): Promise<JobRecord[]> {
  const rec = requireUp(store, name);
  const head = headRunner(rec);
  try {
    return await agent.getQueue(head);
  } finally {
    await head.close();
  }
}

export async function cancel(store: Store, name: string, ids: number[] | 'all'): Promise<number[]> {
  const rec = requireUp(store, name);
  const head = headRunner(rec);
  try {
    const done = await agent.cancelJobs(head, ids);
    for (const id of done) store.updateJob(name, id, { status: 'CANCELLED' });
    return done;
  } finally {
    await head.close();
  }
}

/** The latest job's id, for `logs` without an id. */
export async function latestJobId(store: Store, name: string): Promise<number> {
  const q = await clusterQueue(store, name);
  if (q.length === 0) throw new UserError(`cluster ${name} has no jobs yet`);
  return Math.max(...q.map((j) => j.id));
}
