/**
 * One managed job, driven to its end by the controller: each task of its pipeline in order, each on
 * its own cluster (launched through the SDK's one launch path), watched until it ends, recovered
 * when its cluster is preempted (or its code fails and `job_recovery` allows a restart), and torn
 * down whatever the ending.
 *
 * Crash safety: every step is written to the job's row before it is taken (`phase`: `launching` with
 * the cluster's name before the launch, `running` with the agent job's id after it, `cleanup` before a
 * teardown), so a controller killed at any line and started again resumes the job from its row:
 * a cluster mid-launch is adopted when its agent already runs our job (a managed task's cluster only
 * ever runs that task), else torn down (by its record and the provisioning journal) and launched
 * again; a finished task's cluster is torn down again until it is gone. Nothing is launched twice
 * for one step, and no cluster of an ended job is left.
 */
import type { Cloud } from '../clouds/types.js';
import type { BlocklistEntry } from '../core/cluster.js';
import type { Dag, JobRecovery, Task } from '../core/task.js';
import { getJob } from '../agent/client.js';
import { cloudOf, headRunner } from '../sdk/clusters.js';
import { followJob, type JobRecord } from '../sdk/jobs.js';
import {
  type ClusterRecord,
  describeResources,
  isManagedTerminal,
  type ManagedJobStatus,
  type ManagedTaskState,
  type Store,
  taskCostSoFar,
  taskRunMs,
} from '../state/index.js';
import { CloudError, SkyhopError, UserError } from '../util/errors.js';
import { sleep } from '../util/sleep.js';
import { taskIdOf } from '../util/task-id.js';
import { DEFAULT_RECOVERY_STRATEGY } from '../task/recovery.js';
import type { ManagedRequest } from '../sdk/managed.js';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { appendLine, fileSize, type JobFiles, readJson, uploadKeysOf } from './files.js';

/** What ends the watch of a task's current cluster. */
type Watched =
  | { kind: 'succeeded' }
  | { kind: 'failed'; status: 'FAILED' | 'FAILED_SETUP'; exitCode: number | null; reason: string }
  | { kind: 'preempted'; reason: string }
  | { kind: 'cancelled' };

/** The default `job_recovery` (SkyPilot's): the next region first, no restarts after the code fails. */
export const DEFAULT_RECOVERY: JobRecovery = {
  strategy: DEFAULT_RECOVERY_STRATEGY,
  maxRestartsOnErrors: 0,
  recoverOnExitCodes: [],
};

/** Consecutive failed contacts with the agent, while the cloud still lists the nodes, that mean "lost". */
const LOST_CONTACT_POLLS = 3;
/** How long an ended job's log stream may take to deliver its last output. */
const LOG_DRAIN_MS = 10_000;
/** How long one check of the agent may take before it counts as a failed contact. */
const AGENT_TIMEOUT_MS = 15_000;

export interface JobRunOptions {
  store: Store;
  id: number;
  dag: Dag;
  request: ManagedRequest;
  /** The file of the tasks' secrets (by task index; never in the state), read when a task is launched. */
  secretsFile: string;
  files: JobFiles;
  /** Where the client's uploads of local files live (`files.ts` `uploadsDir`). */
  uploadsDir: string;
  /** How often a running task's cluster is checked (ms). */
  pollMs: number;
  /** Backoff of relaunch attempts while recovering (ms). */
  backoffMs: { initial: number; max: number };
  /** The enabled clouds by name (the controller's). */
  cloudsByName: ReadonlyMap<string, Cloud>;
}

/** The cluster name of task `index` of job `id` (SkyPilot: `<name>-<id>`), valid on every cloud. */
export function managedClusterName(name: string, id: number, index: number, tasks: number): string {
  const slug =
    name
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^[^a-z]+/, '')
      .replace(/-+$/, '')
      .slice(0, 24)
      .replace(/-+$/, '') || 'job';
  return tasks > 1 ? `${slug}-${id}-${index}` : `${slug}-${id}`;
}

/** SKYPILOT_TASK_ID of a managed task: the same on every cluster the task recovers to. */
export function managedTaskId(submittedAt: number, name: string, id: number, index: number): string {
  return taskIdOf('skyhop-managed', submittedAt, name, `${id}-${index}`);
}

export class ManagedJobRun {
  private readonly cancel = new AbortController();
  /** Stops the current attempt's log stream. */
  private logs: AbortController | null = null;
  /** Settles when the current attempt's log stream has ended. */
  private logsDone: Promise<void> = Promise.resolve();

  constructor(private readonly o: JobRunOptions) {}

  /** Asks the run to cancel (the controller saw `cancel_requested`). */
  requestCancel(): void {
    this.cancel.abort();
  }

  get cancelled(): boolean {
    return this.cancel.signal.aborted;
  }

  private log(line: string): void {
    appendLine(this.o.files.controllerLog, `${new Date().toISOString()} ${line}`);
  }

  private rec() {
    const r = this.o.store.getManagedJob(this.o.id);
    if (!r) throw new Error(`managed job ${this.o.id} is gone from the state`);
    return r;
  }

  /** Updates task `i` (and the job's own status, which follows its current task). */
  private setTask(
    i: number,
    patch: Partial<ManagedTaskState>,
    job: Parameters<Store['updateManagedJob']>[1] = {},
  ): ManagedTaskState {
    const r = this.rec();
    const tasks = r.tasks.map((t, k) => (k === i ? { ...t, ...patch } : t));
    const status = patch.status;
    this.o.store.updateManagedJob(this.o.id, {
      tasks,
      ...(status && !isManagedTerminal(status) ? { status } : {}),
      ...job,
    });
    if (status && status !== r.tasks[i]?.status) {
      this.log(`task ${i} (${tasks[i]!.name}): ${status}${patch.reason ? `: ${patch.reason}` : ''}`);
    }
    return tasks[i]!;
  }

  /** Runs the job from where its row says it is, to its end. */
  async run(): Promise<void> {
    const r = this.rec();
    if (isManagedTerminal(r.status)) {
      // Ended, but its clusters are still being torn down (phase `cleanup`).
      await this.cleanupAll();
      this.forgetInputs();
      this.o.store.updateManagedJob(this.o.id, { phase: 'idle' });
      return;
    }
    if (r.status === 'PENDING') {
      this.o.store.updateManagedJob(this.o.id, { startedAt: Date.now() });
      this.log(`job ${this.o.id} (${r.name}) started by the controller`);
    } else {
      this.log(`controller restarted: resuming job ${this.o.id} (${r.status}, phase ${r.phase})`);
    }
    let final: ManagedJobStatus = 'SUCCEEDED';
    let reason: string | null = null;
    try {
      for (let i = r.currentTask; i < this.o.dag.tasks.length; i++) {
        this.o.store.updateManagedJob(this.o.id, { currentTask: i });
        const end = await this.runTask(i);
        // The next task starts once this one's cluster is gone (the last one's goes after the job ends).
        if (end.status === 'SUCCEEDED' && i + 1 < this.o.dag.tasks.length) await this.teardown(i);
        if (end.status !== 'SUCCEEDED') {
          final = end.status;
          reason = end.reason;
          // The tasks after it never run.
          for (let k = i + 1; k < this.o.dag.tasks.length; k++) {
            this.setTask(k, {
              status: final === 'CANCELLED' ? 'CANCELLED' : 'FAILED_PRECHECKS',
              reason: 'an earlier task did not succeed',
              endedAt: Date.now(),
            });
          }
          break;
        }
      }
    } catch (e) {
      // The task cannot run as given (its secrets gone...), or a bug of the controller's.
      const precheck = e instanceof UserError;
      final = this.cancelled ? 'CANCELLED' : precheck ? 'FAILED_PRECHECKS' : 'FAILED_CONTROLLER';
      reason = this.cancelled
        ? 'cancelled by the user'
        : precheck
          ? (e as Error).message
          : `the controller failed: ${(e as Error).message}`;
      this.log(reason);
      const cur = this.rec().currentTask;
      this.setTask(cur, { status: final, reason, endedAt: Date.now() });
    }
    // The job's end is visible at once; its clusters are torn down after, journaled by `cleanup` in
    // the same write, so a controller killed meanwhile finishes the teardown when it starts again.
    this.o.store.updateManagedJob(this.o.id, {
      status: final,
      reason,
      endedAt: Date.now(),
      phase: 'cleanup',
    });
    this.log(`job ${this.o.id}: ${final}${reason ? `: ${reason}` : ''}`);
    await this.cleanupAll();
    this.forgetInputs();
    this.o.store.updateManagedJob(this.o.id, { phase: 'idle' });
  }

  /**
   * An ended job needs neither its secrets (kept only for relaunches) nor the copies of its local
   * files the client uploaded: both are removed (its logs stay).
   */
  private forgetInputs(): void {
    rmSync(this.o.secretsFile, { force: true });
    for (const k of uploadKeysOf(this.o.dag, this.o.uploadsDir)) {
      rmSync(join(this.o.uploadsDir, k), { recursive: true, force: true });
    }
  }

  /** Runs task `i` to its end; resolves with how it ended. */
  private async runTask(i: number): Promise<{ status: ManagedJobStatus; reason: string | null }> {
    const task = this.taskFor(i);
    const recovery = task.jobRecovery ?? DEFAULT_RECOVERY;
    let r = this.rec();
    let t = r.tasks[i]!;
    if (isManagedTerminal(t.status)) return { status: t.status, reason: t.reason };
    let mode: 'first' | 'recover' = t.recoveryCount > 0 ? 'recover' : 'first';

    // A restarted controller: where was this task?
    if (r.phase === 'cleanup' && t.cluster) {
      // A recovery keeps the cluster's name for the next launch.
      await this.teardown(i, { keepName: t.status === 'RECOVERING' });
      r = this.rec();
      t = r.tasks[i]!;
    }
    let watching = r.phase === 'running' && t.cluster !== null && t.clusterJobId !== null;
    if (r.phase === 'launching' && t.cluster) watching = await this.adoptOrClean(i);

    for (;;) {
      if (this.cancelled) return this.endCancelled(i);
      if (!watching) {
        const launched = await this.launchTask(i, task, mode);
        if (launched !== 'ok') return launched;
      }
      watching = false;
      const w = await this.watch(i);
      t = this.rec().tasks[i]!;
      if (w.kind === 'cancelled') return this.endCancelled(i);
      if (w.kind === 'succeeded') {
        await this.finishRunSegment(i);
        this.setTask(
          i,
          { status: 'SUCCEEDED', endedAt: Date.now(), reason: null, exitCode: 0 },
          { phase: 'cleanup' },
        );
        return { status: 'SUCCEEDED', reason: null };
      }
      if (w.kind === 'failed') {
        const code = w.exitCode;
        const byCode = code !== null && recovery.recoverOnExitCodes.includes(code);
        const byCount = !byCode && t.restartsOnErrors < recovery.maxRestartsOnErrors;
        await this.finishRunSegment(i);
        if (!byCode && !byCount) {
          this.setTask(
            i,
            { status: w.status, reason: w.reason, exitCode: code, endedAt: Date.now() },
            { phase: 'cleanup' },
          );
          return { status: w.status, reason: w.reason };
        }
        const why = byCode
          ? `exit code ${code} is in recover_on_exit_codes`
          : `restart ${t.restartsOnErrors + 1} of ${recovery.maxRestartsOnErrors} (max_restarts_on_errors)`;
        this.log(`task ${i}: ${w.reason}; restarting: ${why}`);
        // Counted and journaled in one write (phase cleanup): a restarted controller tears the old
        // cluster down and launches again, without counting this recovery twice.
        this.setTask(
          i,
          {
            status: 'RECOVERING',
            reason: `${w.reason}; ${why}`,
            exitCode: code,
            recoveryCount: t.recoveryCount + 1,
            restartsOnErrors: t.restartsOnErrors + (byCount ? 1 : 0),
          },
          { phase: 'cleanup' },
        );
      } else {
        await this.finishRunSegment(i);
        this.log(`task ${i}: preempted: ${w.reason}`);
        this.setTask(
          i,
          { status: 'RECOVERING', reason: w.reason, recoveryCount: t.recoveryCount + 1 },
          { phase: 'cleanup' },
        );
      }
      await this.teardown(i, { keepName: true });
      mode = 'recover';
    }
  }

  /** Task `i` with what the controller adds: its secrets and SkyPilot's task id variables. */
  private taskFor(i: number): Task {
    const base = this.o.dag.tasks[i]!;
    const r = this.rec();
    const ids = this.o.dag.tasks.map((_, k) => managedTaskId(r.submittedAt, r.name, this.o.id, k));
    const values = readJson<Array<Record<string, string>>>(this.o.secretsFile, [])[i] ?? {};
    const missing = Object.keys(base.secrets).filter((k) => values[k] === undefined);
    if (missing.length > 0) {
      throw new UserError(
        `the values of secret${missing.length > 1 ? 's' : ''} ${missing.join(', ')} are gone from the controller`,
      );
    }
    return {
      ...base,
      envs: { ...base.envs, SKYPILOT_TASK_ID: ids[i]!, SKYPILOT_TASK_IDS: ids.join('\n') },
      secrets: { ...base.secrets, ...values },
    };
  }

  private clusterName(i: number): string {
    const r = this.rec();
    return managedClusterName(this.o.dag.tasks[i]?.name ?? r.name, this.o.id, i, this.o.dag.tasks.length);
  }

  /**
   * Launches task `i` on a new cluster. The first launch tries the place the chain plan chose, then
   * anywhere; a recovery tries the strategy's places (FAILOVER: the region it was in first;
   * EAGER_NEXT_REGION: anywhere but that region first), then anywhere, again and again with backoff
   * until it is up or the job is cancelled.
   */
  private async launchTask(
    i: number,
    task: Task,
    mode: 'first' | 'recover',
  ): Promise<'ok' | { status: ManagedJobStatus; reason: string }> {
    const name = this.clusterName(i);
    const t0 = this.rec().tasks[i]!;
    this.setTask(
      i,
      {
        status: mode === 'first' ? 'STARTING' : 'RECOVERING',
        cluster: name,
        clusterJobId: null,
        logStream: null,
      },
      { phase: 'launching' },
    );
    const recovery = task.jobRecovery ?? DEFAULT_RECOVERY;
    const last = parseInfra(t0.infra);
    const preferred = this.o.request.preferred[i] ?? null;
    type Step = { label: string; task: Task; avoid?: BlocklistEntry[] };
    const steps: Step[] = [];
    if (mode === 'first') {
      if (preferred)
        steps.push({
          label: `${preferred.cloud}/${preferred.region} (the plan's choice)`,
          task: pin(task, preferred),
        });
    } else if (last && recovery.strategy === 'FAILOVER') {
      steps.push({ label: `${last.cloud}/${last.region} (where it ran)`, task: pin(task, last) });
    } else if (last && recovery.strategy === 'EAGER_NEXT_REGION') {
      steps.push({
        label: `anywhere but ${last.cloud}/${last.region}`,
        task,
        avoid: [
          {
            cloud: last.cloud,
            region: last.region,
            reason: 'EAGER_NEXT_REGION: the region it was preempted in',
          },
        ],
      });
    }
    steps.push({ label: 'any place that fits', task });

    let delay = this.o.backoffMs.initial;
    for (;;) {
      let lastError: unknown = null;
      for (const s of steps) {
        if (this.cancelled) return this.endCancelled(i);
        try {
          await this.launchOnce(i, name, s.task, s.avoid, s.label);
          return 'ok';
        } catch (e) {
          if (this.cancelled) return this.endCancelled(i);
          lastError = e;
          this.log(`task ${i}: launch on ${s.label} failed: ${(e as Error).message}`);
          // Whatever that attempt left (an INIT record, open intents) goes before the next.
          await this.teardown(i, { keepName: true });
        }
      }
      const msg = (lastError as Error | null)?.message ?? 'unknown error';
      // Nothing fits the task anywhere (no cloud it may use is enabled here, a bucket is gone...):
      // waiting does not change that, on a recovery either.
      if (mode === 'first' || lastError instanceof UserError) {
        // The task as given cannot run (nothing fits, a bad bucket...) or no place had capacity.
        // A failure that is not skyhop's kind of error is a bug: the controller's, not the cloud's.
        const status: ManagedJobStatus =
          lastError instanceof UserError
            ? 'FAILED_PRECHECKS'
            : lastError instanceof SkyhopError
              ? 'FAILED_NO_RESOURCE'
              : 'FAILED_CONTROLLER';
        this.setTask(i, { status, reason: msg, endedAt: Date.now() }, { phase: 'idle' });
        return { status, reason: msg };
      }
      this.setTask(i, {
        status: 'RECOVERING',
        reason: `no place yet (${msg}); retrying in ${Math.round(delay / 1000)} s`,
      });
      try {
        await sleep(delay, this.cancel.signal);
      } catch {
        return this.endCancelled(i);
      }
      delay = Math.min(delay * 2, this.o.backoffMs.max);
    }
  }

  private async launchOnce(
    i: number,
    name: string,
    task: Task,
    avoid: BlocklistEntry[] | undefined,
    label: string,
  ) {
    // Journaled before every try (a failed try's teardown leaves the phase idle): a controller killed
    // during this launch adopts or removes the cluster when it starts again, and never launches beside it.
    this.setTask(i, { cluster: name, clusterJobId: null }, { phase: 'launching' });
    const { launch } = await import('../sdk/launch.js');
    const clouds = this.o.request.clouds
      .map((c) => this.o.cloudsByName.get(c))
      .filter((c): c is Cloud => c !== undefined);
    if (clouds.length === 0) {
      throw new UserError(
        `none of the clouds this job may use (${this.o.request.clouds.join(', ')}) is enabled on the controller`,
      );
    }
    this.log(`task ${i}: launching ${name} on ${label}`);
    const dag: Dag = { tasks: [task], edges: [], ...(this.o.dag.name ? { name: this.o.dag.name } : {}) };
    const res = await launch({
      dag,
      cluster: name,
      clouds,
      target: this.o.request.target,
      detach: true,
      store: this.o.store,
      signal: this.cancel.signal,
      avoid,
      keepBuckets: true,
      backoffMs: this.o.backoffMs,
      onStep: (m) => this.log(`task ${i}: ${m}`),
    });
    const rec = this.o.store.getCluster(name);
    if (!rec || res.jobId === null)
      throw new CloudError(`cluster ${name} was launched but its record is missing`);
    this.runningOn(i, rec, res.jobId);
  }

  /** Task `i` runs as agent job `jobId` on cluster `rec` (journaled: phase `running`). */
  private runningOn(i: number, rec: ClusterRecord, jobId: number): void {
    const now = Date.now();
    const t = this.rec().tasks[i]!;
    this.setTask(
      i,
      {
        status: 'RUNNING',
        clusterJobId: jobId,
        clusterSince: rec.launchedAt,
        clusterHourly: rec.hourlyPrice * rec.resources.numNodes,
        infra: [rec.cloud, rec.region, rec.zone].filter(Boolean).join('/'),
        resources: describeResources(rec.resources),
        startedAt: t.startedAt ?? now,
        runningSince: now,
        reason: null,
      },
      { phase: 'running' },
    );
  }

  /**
   * A controller that died mid-launch: the cluster is adopted when its agent already has our job,
   * else whatever exists of it is torn down and the launch starts again.
   */
  private async adoptOrClean(i: number): Promise<boolean> {
    const t = this.rec().tasks[i]!;
    const name = t.cluster!;
    const rec = this.o.store.getCluster(name);
    if (rec?.status === 'UP') {
      // A job still INIT was being submitted when the controller stopped: its spec may be incomplete,
      // and the agent fails it; the cluster is launched again instead.
      const q = (await this.agentQueue(name).catch(() => null))?.filter((j) => j.status !== 'INIT');
      if (q && q.length > 0) {
        const jobId = Math.max(...q.map((j) => j.id));
        this.log(`task ${i}: adopting ${name} (its agent runs job ${jobId})`);
        this.runningOn(i, rec, jobId);
        return true;
      }
    }
    this.log(`task ${i}: ${name} was being launched when the controller stopped; removing what exists of it`);
    await this.teardown(i, { keepName: true });
    return false;
  }

  /** Watches task `i`'s cluster and agent job until it ends, is preempted, or is cancelled. */
  private async watch(i: number): Promise<Watched> {
    const t = this.rec().tasks[i]!;
    const name = t.cluster!;
    const jobId = t.clusterJobId!;
    const rec = this.o.store.getCluster(name);
    if (!rec) return { kind: 'preempted', reason: `the record of ${name} is gone` };
    this.streamLogs(i, name, jobId);
    let lost = 0;
    let ended = false;
    // Settles once, when the log stream ends (with the job, or with the connection).
    let streamEnd: Promise<void> | null = this.logsDone.then(() => {
      streamEnd = null;
    });
    try {
      for (;;) {
        if (this.cancelled) return { kind: 'cancelled' };
        // Both asked at once; the cloud's answer is acted on as soon as it comes: the agent of a
        // preempted node answers only when its check gives up (the runner waits patiently for an
        // sshd that may be coming up), and that must not delay the recovery.
        const nodesP = cloudOf(rec)
          .provider(rec.region)
          .queryInstances(name)
          .then(
            (n) => n,
            () => null,
          );
        const agentP = this.agentJob(name, jobId).then(
          (job) => ({ ok: true as const, job }),
          (e: Error) => ({ ok: false as const, error: e.message }),
        );
        const nodes = await nodesP;
        if (this.cancelled) return { kind: 'cancelled' };
        if (nodes !== null) {
          const running = nodes.filter((n) => n.status === 'running').length;
          if (running < rec.resources.numNodes) {
            const states = [...new Set(nodes.map((n) => n.status))].join(', ') || 'no instances';
            return {
              kind: 'preempted',
              reason: `${running} of ${rec.resources.numNodes} node(s) of ${name} running (the cloud says: ${states})`,
            };
          }
        }
        const agent = await agentP;
        if (this.cancelled) return { kind: 'cancelled' };
        if (agent.ok) {
          lost = 0;
          const j = agent.job;
          if (j === null)
            return { kind: 'preempted', reason: `the agent on ${name} no longer has job ${jobId}` };
          if (j.status === 'SUCCEEDED' || j.status === 'FAILED' || j.status === 'FAILED_SETUP') {
            // The stream ends by itself with the job's last output; wait for it (bounded).
            ended = true;
            await Promise.race([this.logsDone, sleep(LOG_DRAIN_MS)]);
          }
          if (j.status === 'SUCCEEDED') return { kind: 'succeeded' };
          if (j.status === 'FAILED' || j.status === 'FAILED_SETUP') {
            const code = j.exitCode;
            return {
              kind: 'failed',
              status: j.status,
              exitCode: code,
              reason: `${j.status === 'FAILED_SETUP' ? 'setup' : 'the job'} failed${code !== null ? ` with exit code ${code}` : ''}${j.reason ? ` (${j.reason})` : ''}`,
            };
          }
          if (j.status === 'CANCELLED') {
            // Not by us (we tear the cluster down instead): the agent died under it, or someone
            // cancelled it on the cluster. The code did not finish; run it again elsewhere.
            return {
              kind: 'preempted',
              reason: `job ${jobId} on ${name} was cancelled on the cluster (${j.reason ?? 'no reason given'})`,
            };
          }
        } else if (++lost >= LOST_CONTACT_POLLS) {
          return { kind: 'preempted', reason: `lost contact with the agent on ${name}: ${agent.error}` };
        }
        try {
          // The log stream ends with the job: look again at once then, not at the next poll.
          await Promise.race([sleep(this.o.pollMs, this.cancel.signal), ...(streamEnd ? [streamEnd] : [])]);
        } catch {
          return { kind: 'cancelled' };
        }
      }
    } finally {
      if (!ended) this.logs?.abort();
      this.logs = null;
    }
  }

  /** The agent's record of job `id` on cluster `name` (null: the agent has no such job). */
  private agentJob(name: string, id: number): Promise<JobRecord | null> {
    return this.withTimeout(async () => {
      const rec = this.o.store.getCluster(name);
      if (!rec) throw new Error(`the record of ${name} is gone`);
      const head = headRunner(rec);
      try {
        return await getJob(head, id);
      } finally {
        await head.close();
      }
    });
  }

  private async agentQueue(name: string): Promise<JobRecord[]> {
    const { clusterQueue } = await import('../sdk/jobs.js');
    return this.withTimeout(() => clusterQueue(this.o.store, name));
  }

  private async withTimeout<T>(fn: () => Promise<T>): Promise<T> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), AGENT_TIMEOUT_MS);
    try {
      return await Promise.race([
        fn(),
        new Promise<never>((_, reject) =>
          ac.signal.addEventListener('abort', () =>
            reject(new Error(`no answer in ${AGENT_TIMEOUT_MS / 1000} s`)),
          ),
        ),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Copies the running job's output into the managed job's log, until the attempt ends. The log is
   * journaled: where this attempt's part of it starts (its header line included) is in the task's
   * row before anything is written, so a restarted controller, which follows the agent's log from
   * its start again, appends only the bytes that are not there yet.
   */
  private streamLogs(i: number, name: string, jobId: number): void {
    const rec = this.o.store.getCluster(name);
    if (!rec) return;
    const ac = new AbortController();
    this.logs = ac;
    const t = this.rec().tasks[i]!;
    const of = `${name}#${jobId}`;
    const size = fileSize(this.o.files.runLog);
    let skip = 0;
    if (t.logStream?.of === of && t.logStream.from <= size) skip = size - t.logStream.from;
    else this.setTask(i, { logStream: { of, from: size } });
    const put = (text: string): void => {
      let b = Buffer.from(text);
      if (skip >= b.length) {
        skip -= b.length;
        return;
      }
      if (skip > 0) {
        b = b.subarray(skip);
        skip = 0;
      }
      this.o.files.appendRun(b);
    };
    if (t.recoveryCount > 0 || i > 0) {
      put(
        `(skyhop) task ${i} (${t.name}) on ${name}${t.recoveryCount > 0 ? `, recovery ${t.recoveryCount}` : ''}:\n`,
      );
    }
    this.logsDone = followJob(this.o.store, rec, jobId, {
      follow: true,
      signal: ac.signal,
      onOutput: put,
    }).then(
      () => {},
      () => {
        // The cluster went away mid-stream (preemption) or the attempt ended: the watch decides.
      },
    );
  }

  /** Adds the running time and cost of the current cluster to the task's totals. */
  private async finishRunSegment(i: number): Promise<void> {
    const t = this.rec().tasks[i]!;
    const now = Date.now();
    this.setTask(i, {
      runMs: taskRunMs(t, now),
      runningSince: null,
    });
  }

  /**
   * Tears down task `i`'s cluster (journaled: phase `cleanup` first) and adds what it cost. With
   * `keepName` the task keeps its cluster name for the next launch.
   */
  private async teardown(i: number, o: { keepName?: boolean } = {}): Promise<void> {
    const t = this.rec().tasks[i]!;
    const name = t.cluster;
    if (!name) return;
    // Its cost is counted up to now, in the same write as the journal (a controller restarted later
    // does not bill the time it was down).
    this.setTask(
      i,
      { cost: taskCostSoFar(t, Date.now()), clusterSince: null, clusterHourly: null },
      { phase: 'cleanup' },
    );
    this.logs?.abort();
    const { store } = this.o;
    if (store.getCluster(name) || store.openIntents(name).length > 0) {
      this.log(`task ${i}: tearing down ${name}`);
      const { down } = await import('../sdk/lifecycle.js');
      // Retried: a teardown that fails (the cloud's API unreachable) must not leave the cluster.
      for (let attempt = 0; ; attempt++) {
        try {
          // A recovery keeps the task's buckets (`persistent: false` ones hold its checkpoints too);
          // they go when the task is done with its cluster (SkyPilot: at the job's cleanup).
          await down(store, name, {
            onStep: (m) => this.log(`task ${i}: ${m}`),
            keepBuckets: o.keepName === true,
          });
          break;
        } catch (e) {
          this.log(`task ${i}: teardown of ${name} failed: ${(e as Error).message}; retrying`);
          await sleep(Math.min(1000 * 2 ** attempt, 30_000));
        }
      }
    }
    if (!o.keepName && store.storageUses().some((u) => u.cluster === name)) {
      // Buckets kept by a recovery whose cluster is gone by now (no record left for `down`).
      const { releaseStorage } = await import('../storage/index.js');
      await releaseStorage(store, name, { onStep: (m) => this.log(`task ${i}: ${m}`) }).catch((e: Error) =>
        this.log(`task ${i}: the buckets of ${name} could not be released: ${e.message}`),
      );
    }
    this.setTask(
      i,
      {
        clusterJobId: null,
        ...(o.keepName ? {} : { cluster: null }),
      },
      { phase: 'idle' },
    );
  }

  private async endCancelled(i: number): Promise<{ status: ManagedJobStatus; reason: string }> {
    const reason = 'cancelled by the user';
    this.setTask(i, { status: 'CANCELLING', reason });
    await this.finishRunSegment(i);
    await this.teardown(i);
    this.setTask(i, { status: 'CANCELLED', reason, endedAt: Date.now() });
    return { status: 'CANCELLED', reason };
  }

  /** Every task's cluster torn down (a restarted controller finishing an ended job's cleanup). */
  private async cleanupAll(): Promise<void> {
    const r = this.rec();
    for (let i = 0; i < r.tasks.length; i++) if (r.tasks[i]!.cluster) await this.teardown(i);
  }
}

/** `cloud/region[/zone]` → its parts. */
function parseInfra(infra: string | null): { cloud: string; region: string } | null {
  if (!infra) return null;
  const [cloud, region] = infra.split('/');
  return cloud && region ? { cloud, region } : null;
}

/** The task with every alternative pinned to `place` (alternatives on other clouds dropped). */
function pin(task: Task, place: { cloud: string; region: string }): Task {
  const alts = task.resources
    .filter(
      (r) =>
        (r.cloud === undefined || r.cloud === place.cloud) &&
        (r.region === undefined || r.region === place.region),
    )
    .map((r) => ({ ...r, cloud: place.cloud, region: place.region }));
  return alts.length > 0 ? { ...task, resources: alts } : task;
}
