/**
 * The agent daemon: the head node's job queue (see README.md in this folder for the protocol).
 *
 * One daemon per agent directory: it holds an abstract unix socket named after the directory's
 * device and inode for as long as it lives (the kernel frees it when the process dies, so there is
 * no stale lock to clean up and no race between two starters). It is the only writer of
 * `jobs/<id>/state.json` and `queue.json`. It wakes on SIGUSR1 and rescans every second anyway.
 */
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { killByMarker, killByMarkerShell } from '../runtime/procs.js';
import { containerExec } from '../runtime/docker.js';
import { makeRunner } from '../runtime/index.js';
import { shPath } from '../util/shell.js';
import type { CommandRunner } from '../runtime/types.js';
import { readJson, writeAtomic } from './files.js';
import { JobLog } from './joblog.js';
import { dirUid } from './supervisor.js';
import {
  give,
  infeasibility,
  initialFree,
  type NodeFree,
  type Placement,
  plan,
  take,
  visibleDevices,
} from './scheduler.js';
import {
  AGENT_FILES,
  AGENT_PROCESS_TITLE,
  type AutostopConfig,
  type ClusterInfoFile,
  type ClusterNodeInfo,
  DEFAULT_JOB_CPUS,
  isTerminal,
  JOB_FILES,
  JOB_MARKER,
  type JobRecord,
  STORAGE_FLUSH_SCRIPT,
  STORAGE_FLUSH_TIMEOUT_S,
  SPEC_FILE_RE,
  specFileName,
  type JobSpec,
  type JobStatus,
} from './types.js';
import { taskIdOf } from '../util/task-id.js';

const SCAN_INTERVAL_MS = 1000;
/** A spec file that does not parse for this long is a submission that died half-way. */
const INIT_TIMEOUT_MS = 60_000;
const KILL_TIMEOUT_MS = 30_000;
export const STALE_REASON = 'the cluster was stopped or the agent died';
/** The reason of a job a crashed agent left running, when its supervisor restarted it at once. */
export const AGENT_DIED_REASON =
  'the skyhop agent died while the job ran; it was restarted at once and ended the job (its processes were killed)';
/**
 * Space the daemon keeps on its disk (`reserve`, zeros) and frees when a write fails with ENOSPC, so
 * that the job states, the queue and the log's "cut short" line can still be written on a full disk.
 */
const RESERVE_BYTES = 512 * 1024;

interface Job {
  record: JobRecord;
  spec: JobSpec | null;
  placement: Placement | null;
  cancelRequested: boolean;
  /** When its directory was first seen without a spec. */
  initSeenAt?: number;
}

export function agentDir(): string {
  return join(homedir(), '.skyhop', 'agent');
}

function log(msg: string): void {
  try {
    process.stdout.write(`${new Date().toISOString()} ${msg}\n`);
  } catch {
    // agent.log cannot be written (a full disk): the daemon goes on without it
  }
}

function isDiskFull(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The shortest idle time before autostop fires, whatever the idle minutes say (see checkAutostop). */
const MIN_IDLE_MS = 3000;
export class AgentDaemon {
  readonly dir: string;
  readonly jobsDir: string;
  private info!: ClusterInfoFile;
  private infoStamp = '';
  private readonly jobs = new Map<number, Job>();
  private free: NodeFree[] = [];
  private idleSince = Date.now();
  private autostopKey = 'null';
  private autostopFired = false;
  private queueDirty = true;
  private scanTimer: NodeJS.Timeout | undefined;
  private interval: NodeJS.Timeout | undefined;
  private lock: Server | undefined;
  private uid = '';
  /** Started by the supervisor after the previous daemon died (not by a client). */
  private readonly restarted: boolean;

  constructor(dir: string = agentDir(), opts: { restarted?: boolean } = {}) {
    this.dir = dir;
    this.jobsDir = join(dir, AGENT_FILES.jobs);
    this.restarted = opts.restarted ?? false;
  }

  /** Takes the lock and starts serving; false when another daemon already serves this directory. */
  async start(): Promise<boolean> {
    mkdirSync(this.jobsDir, { recursive: true });
    process.chdir(this.dir);
    process.title = AGENT_PROCESS_TITLE;
    this.uid = dirUid(this.dir);
    const lock = createServer();
    const ok = await new Promise<boolean>((resolve, reject) => {
      lock.once('error', (e: NodeJS.ErrnoException) =>
        e.code === 'EADDRINUSE' ? resolve(false) : reject(e),
      );
      lock.listen(`\0skyhop-agent-${this.uid}`, () => resolve(true));
    });
    if (!ok) return false;
    this.lock = lock;
    this.writeFile(join(this.dir, AGENT_FILES.pid), `${process.pid}\n`);
    this.reloadInfo(true);
    log(
      `agent ${process.pid} ${this.restarted ? 'restarted by its supervisor' : 'started'} for cluster '${this.info.name}' (${this.info.nodes.length} nodes)`,
    );
    this.makeReserve();
    this.recover();
    process.on('SIGUSR1', () => this.requestScan());
    this.idleSince = Date.now();
    this.interval = setInterval(() => this.scan(), SCAN_INTERVAL_MS);
    this.scan();
    return true;
  }

  /** Stops serving (tests and SIGTERM); running jobs' processes are left to the restart recovery. */
  stop(): void {
    clearInterval(this.interval);
    clearTimeout(this.scanTimer);
    this.lock?.close();
  }

  // ---- a full disk ---------------------------------------------------------------------------

  private reservePath(): string {
    return join(this.dir, AGENT_FILES.reserve);
  }

  /** Sets the space reserve aside (when the disk has room for it; a partial one is removed). */
  private makeReserve(): void {
    try {
      if (statSync(this.reservePath()).size === RESERVE_BYTES) return;
    } catch {
      // none yet
    }
    try {
      writeFileSync(this.reservePath(), Buffer.alloc(RESERVE_BYTES), { mode: 0o600 });
    } catch (e) {
      this.freeReserve();
      log(`no space reserve on this disk (${errMsg(e)})`);
    }
  }

  /** Gives the reserve back to the disk; true when there was one. */
  private freeReserve(): boolean {
    try {
      unlinkSync(this.reservePath());
      return true;
    } catch {
      return false;
    }
  }

  /** A job's log could not be written (the disk is full): free the reserve for the bookkeeping. */
  private onLogError(id: number, e: NodeJS.ErrnoException): void {
    if (isDiskFull(e)) this.freeReserve();
    log(`job ${id}: its log stops here: ${errMsg(e)}; the job keeps running`);
  }

  /** writeAtomic, retried once after freeing the reserve when the disk is full. */
  private writeFile(path: string, data: string, mode?: number): void {
    try {
      writeAtomic(path, data, mode);
    } catch (e) {
      if (!isDiskFull(e) || !this.freeReserve()) throw e;
      log(`the disk is full: freed the space reserve to write ${path}`);
      writeAtomic(path, data, mode);
    }
  }

  /** The marker value every process of job `id` carries: unique per agent directory. */
  jobMarker(id: number): string {
    return `${this.uid}-${id}`;
  }

  requestScan(): void {
    if (this.scanTimer) return;
    this.scanTimer = setTimeout(() => {
      this.scanTimer = undefined;
      this.scan();
    }, 5);
  }

  private scan(): void {
    try {
      this.reloadInfo(false);
      this.discover();
      this.checkCancels();
      this.schedule();
      this.checkAutostop();
      this.flushQueue();
    } catch (e) {
      log(`scan failed: ${errMsg(e)}`);
    }
  }

  // ---- cluster.json ------------------------------------------------------------------------

  private reloadInfo(first: boolean): void {
    const path = join(this.dir, AGENT_FILES.cluster);
    let stamp: string;
    try {
      const st = statSync(path);
      stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch (e) {
      if (first) throw new Error(`cannot read ${path}: ${errMsg(e)}`);
      return;
    }
    if (stamp === this.infoStamp) return;
    let info: ClusterInfoFile;
    try {
      info = readJson<ClusterInfoFile>(path);
      if (!Array.isArray(info.nodes) || info.nodes.length === 0 || !info.perNode) throw new Error('no nodes');
    } catch (e) {
      if (first) throw new Error(`invalid ${path}: ${errMsg(e)}`);
      log(`ignoring invalid cluster.json: ${errMsg(e)}`);
      return;
    }
    this.infoStamp = stamp;
    info.nodes = [...info.nodes].sort((a, b) => a.rank - b.rank);
    this.info = info;
    this.free = initialFree(info.nodes.length, info.perNode);
    for (const j of this.jobs.values()) if (j.placement) take(this.free, j.placement);
    const key = JSON.stringify(info.autostop ?? null);
    if (key !== this.autostopKey) {
      this.autostopKey = key;
      this.autostopFired = false;
      this.idleSince = Date.now();
      if (!first)
        log(info.autostop ? `autostop set to ${info.autostop.idleMinutes} idle minutes` : 'autostop off');
    }
  }

  // ---- job discovery and state -------------------------------------------------------------

  private jobDir(id: number): string {
    return join(this.jobsDir, String(id));
  }

  /** Submitted job ids (from their `jobs/<id>.json` spec files). */
  private submittedIds(): number[] {
    let names: string[];
    try {
      names = readdirSync(this.jobsDir);
    } catch {
      return [];
    }
    const ids: number[] = [];
    for (const name of names) {
      const m = SPEC_FILE_RE.exec(name);
      if (m) ids.push(Number(m[1]));
    }
    return ids;
  }

  /** On start: jobs a dead agent left SETTING_UP or RUNNING failed; PENDING ones wait again. */
  private recover(): void {
    for (const id of this.submittedIds()) {
      const statePath = join(this.jobDir(id), JOB_FILES.state);
      if (!existsSync(statePath)) continue; // picked up by discover()
      let record: JobRecord;
      try {
        record = readJson<JobRecord>(statePath);
      } catch (e) {
        log(`job ${id}: unreadable state.json (${errMsg(e)}); taking it in again from its spec`);
        continue;
      }
      const job: Job = { record, spec: null, placement: null, cancelRequested: false };
      this.jobs.set(id, job);
      if (record.status === 'RUNNING' || record.status === 'SETTING_UP') {
        const nodes = (record.nodes ?? [])
          .map((r) => this.info.nodes.find((n) => n.rank === r))
          .filter((n): n is ClusterNodeInfo => !!n);
        const reason = this.restarted ? AGENT_DIED_REASON : STALE_REASON;
        this.noteInLog(id, reason);
        this.finish(job, 'FAILED', { reason });
        void this.killOnNodes(id, nodes);
      } else if (record.status === 'PENDING') {
        try {
          job.spec = readJson<JobSpec>(join(this.jobsDir, specFileName(id)));
        } catch (e) {
          this.finish(job, 'FAILED', { reason: `its spec is unreadable: ${errMsg(e)}` });
        }
      } else if (record.status === 'INIT') {
        this.jobs.delete(id); // taken in again by discover()
      }
    }
  }

  /**
   * New submissions. A spec file that does not parse yet is being written (its id is claimed
   * first): the job is INIT until it parses, and FAILED if it never does.
   */
  private discover(): void {
    for (const id of this.submittedIds()) {
      const known = this.jobs.get(id);
      if (known && known.record.status !== 'INIT') continue;
      const job = known ?? this.addInit(id);
      let spec: unknown;
      try {
        spec = JSON.parse(readFileSync(join(this.jobsDir, specFileName(id)), 'utf8'));
      } catch (e) {
        if (Date.now() - (job.initSeenAt ?? Date.now()) > INIT_TIMEOUT_MS) {
          this.finish(job, 'FAILED', { reason: `the submission did not complete (${errMsg(e)})` });
        }
        continue;
      }
      this.accept(job, spec);
    }
  }

  /** Appends a `[skyhop] ...` line to job `id`'s log (best effort). */
  private noteInLog(id: number, note: string): void {
    try {
      const jl = new JobLog(join(this.jobDir(id), JOB_FILES.log), [], (e) => this.onLogError(id, e));
      jl.emit(`[skyhop] ${note}\n`);
      jl.close();
    } catch (e) {
      log(`job ${id}: cannot append to its log: ${errMsg(e)}`);
    }
  }

  private addInit(id: number): Job {
    const job: Job = {
      record: {
        id,
        name: '',
        status: 'INIT',
        submittedAt: Date.now(),
        startedAt: null,
        endedAt: null,
        exitCode: null,
        reason: null,
        demand: { cpus: DEFAULT_JOB_CPUS, accelerators: null },
        numNodes: 1,
        user: '',
        nodes: null,
        gpus: null,
      },
      spec: null,
      placement: null,
      cancelRequested: false,
      initSeenAt: Date.now(),
    };
    this.jobs.set(id, job);
    this.queueDirty = true;
    return job;
  }

  /** A spec arrived: the job becomes PENDING, or fails at once when it can never run here. */
  private accept(job: Job, parsed: unknown): void {
    const r = job.record;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      this.finish(job, 'FAILED', { reason: 'invalid job spec: not a JSON object' });
      return;
    }
    const spec = parsed as JobSpec;
    job.spec = spec;
    r.name = typeof spec.name === 'string' ? spec.name : '';
    r.user = typeof spec.user === 'string' ? spec.user : '';
    if (typeof spec.submittedAt === 'number') r.submittedAt = spec.submittedAt;
    const cpus = spec.demand?.cpus ?? DEFAULT_JOB_CPUS;
    const acc = spec.demand?.accelerators ?? null;
    r.demand = { cpus, accelerators: acc && acc.count > 0 ? { name: acc.name, count: acc.count } : null };
    r.numNodes = spec.numNodes ?? 1;
    const why =
      typeof spec.envs !== 'object' || typeof spec.secrets !== 'object'
        ? 'invalid job spec: envs and secrets must be objects'
        : infeasibility(
            { cpus, accelerators: r.demand.accelerators, numNodes: r.numNodes },
            { name: this.info.name, nodeCount: this.info.nodes.length, perNode: this.info.perNode },
          );
    if (why) {
      this.finish(job, 'FAILED', {
        reason: why.startsWith('invalid') ? why : `job cannot run on this cluster: ${why}`,
      });
      return;
    }
    if (existsSync(join(this.jobDir(r.id), JOB_FILES.cancel))) {
      job.cancelRequested = true;
      this.finish(job, 'CANCELLED', { reason: 'cancelled before it started' });
      return;
    }
    this.setStatus(job, 'PENDING');
  }

  private setStatus(job: Job, status: JobStatus, patch: Partial<JobRecord> = {}): void {
    Object.assign(job.record, patch, { status });
    this.writeState(job);
  }

  private finish(job: Job, status: JobStatus, patch: Partial<JobRecord> = {}): void {
    this.scrubSecrets(job); // before the state says the job ended, so no reader sees an ended job with secrets on disk
    this.setStatus(job, status, { endedAt: Date.now(), ...patch });
  }

  /**
   * Secrets stay on the node only while their job may still need them: once it ends, their
   * values are removed from its spec file (the keys stay, for the record).
   */
  private scrubSecrets(job: Job): void {
    const secrets = job.spec?.secrets;
    if (!secrets || typeof secrets !== 'object' || Object.keys(secrets).length === 0) return;
    const redacted = Object.fromEntries(Object.keys(secrets).map((k) => [k, '<redacted>']));
    job.spec = { ...job.spec!, secrets: redacted };
    try {
      this.writeFile(join(this.jobsDir, specFileName(job.record.id)), `${JSON.stringify(job.spec)}\n`, 0o600);
    } catch (e) {
      log(`job ${job.record.id}: could not scrub secrets from its spec: ${errMsg(e)}`);
    }
  }

  private writeState(job: Job): void {
    this.queueDirty = true;
    try {
      mkdirSync(this.jobDir(job.record.id), { recursive: true });
      this.writeFile(join(this.jobDir(job.record.id), JOB_FILES.state), `${JSON.stringify(job.record)}\n`);
    } catch (e) {
      log(`job ${job.record.id}: cannot write state.json: ${errMsg(e)}`);
    }
    this.requestScan();
  }

  private flushQueue(): void {
    if (!this.queueDirty) return;
    const all = [...this.jobs.values()].map((j) => j.record).sort((a, b) => a.id - b.id);
    this.writeFile(join(this.dir, AGENT_FILES.queue), `${JSON.stringify(all)}\n`);
    this.queueDirty = false; // only once written: a failed write is retried on the next scan
  }

  // ---- cancel ----------------------------------------------------------------------------

  private checkCancels(): void {
    for (const job of this.jobs.values()) {
      if (job.cancelRequested || isTerminal(job.record.status)) continue;
      if (!existsSync(join(this.jobDir(job.record.id), JOB_FILES.cancel))) continue;
      job.cancelRequested = true;
      if (job.record.status === 'PENDING' || job.record.status === 'INIT') {
        this.finish(job, 'CANCELLED', { reason: 'cancelled before it started' });
      } else {
        log(`job ${job.record.id}: cancelling`);
        void this.killJob(job);
      }
    }
  }

  // ---- scheduling and execution ------------------------------------------------------------

  private schedule(): void {
    const waiting = [...this.jobs.values()].filter((j) => j.record.status === 'PENDING' && j.spec);
    if (waiting.length === 0) return;
    const starts = plan(
      this.free,
      waiting.map((j) => ({
        id: j.record.id,
        cpus: j.record.demand.cpus,
        gpus: j.record.demand.accelerators?.count ?? 0,
        numNodes: j.record.numNodes,
      })),
    );
    for (const { id, placement } of starts) {
      const job = this.jobs.get(id)!;
      take(this.free, placement);
      job.placement = placement;
      this.runJob(job, placement).catch((e) => log(`job ${id}: ${errMsg(e)}`));
    }
  }

  private async runJob(job: Job, pl: Placement): Promise<void> {
    const spec = job.spec!;
    const id = job.record.id;
    const info = this.info;
    const nodes = pl.nodes.map((p) => info.nodes[p]);
    const n = nodes.length;
    const ips = nodes.map((x) => x.ip).join('\n');
    const acc = job.record.demand.accelerators;
    const gpusPerNode = acc ? String(Math.ceil(acc.count)) : '0';
    const nodeHasGpus = (info.perNode.accelerators?.count ?? 0) > 0;
    const devices = pl.gpus.map(visibleDevices);
    // Every job's setup and run start in ~/sky_workdir, as SkyPilot's do (created when the task had no
    // workdir), so `exec` after a launch with a workdir runs where the files are.
    const cwd = '~/sky_workdir';
    const prefixes = nodes.map((x, r) =>
      n > 1 ? `(${x.rank === 0 ? 'head' : `worker${x.rank}`}, rank=${r}) ` : '',
    );
    const common: Record<string, string> = {
      ...stringRecord(spec.envs),
      ...stringRecord(spec.secrets),
      SKYPILOT_NUM_NODES: String(n),
      // A managed job's controller sets its own id, the same on every cluster it recovers to.
      SKYPILOT_TASK_ID:
        stringRecord(spec.envs).SKYPILOT_TASK_ID || taskId(job.record.submittedAt, info.name, id),
      SKYPILOT_CLUSTER_INFO: JSON.stringify({
        cluster_name: info.name,
        cloud: info.cloud ?? null,
        region: info.region ?? null,
        zone: info.zone ?? null,
        num_nodes: info.nodes.length,
      }),
      [JOB_MARKER]: this.jobMarker(id),
    };
    this.setStatus(job, spec.setup?.trim() ? 'SETTING_UP' : 'RUNNING', {
      startedAt: Date.now(),
      nodes: nodes.map((x) => x.rank),
      gpus: nodeHasGpus ? devices : null,
    });
    let jobLog: JobLog | null = null;
    let final: { status: JobStatus; patch: Partial<JobRecord> } = {
      status: 'SUCCEEDED',
      patch: { exitCode: 0 },
    };
    try {
      jobLog = new JobLog(
        join(this.jobDir(id), JOB_FILES.log),
        Object.values(stringRecord(spec.secrets)),
        (e) => this.onLogError(id, e),
      );
      const runners = nodes.map((x) => makeRunner(x.connection));
      const containers = nodes.map((x) => x.container);
      if (spec.setup?.trim()) {
        const res = await this.gang(job, runners, containers, spec.setup, cwd, jobLog, prefixes, (r) => ({
          ...common,
          SKYPILOT_SETUP_NODE_RANK: String(r),
          SKYPILOT_SETUP_NODE_IPS: ips,
          SKYPILOT_SETUP_NUM_GPUS_PER_NODE: gpusPerNode,
        }));
        if (job.cancelRequested && !res.allOk) {
          final = { status: 'CANCELLED', patch: { reason: 'cancelled during setup' } };
        } else if (res.failure) {
          const f = res.failure;
          final = {
            status: 'FAILED_SETUP',
            patch: {
              exitCode: f.code,
              reason: `setup failed on node rank ${f.rank} (exit code ${f.code})${f.error ? `: ${f.error}` : ''}`,
            },
          };
        }
        if (final.status === 'SUCCEEDED') this.setStatus(job, 'RUNNING');
      }
      if (final.status === 'SUCCEEDED' && job.cancelRequested) {
        final = { status: 'CANCELLED', patch: { reason: 'cancelled before it ran' } };
      }
      if (final.status === 'SUCCEEDED' && spec.run?.trim()) {
        const res = await this.gang(job, runners, containers, spec.run, cwd, jobLog, prefixes, (r) => {
          const env: Record<string, string> = {
            ...common,
            SKYPILOT_NODE_RANK: String(r),
            SKYPILOT_NODE_IPS: ips,
            SKYPILOT_NUM_GPUS_PER_NODE: gpusPerNode,
          };
          // GPUs the job was given on this node; '' hides a node's GPUs from jobs that asked for none.
          if (nodeHasGpus) env.CUDA_VISIBLE_DEVICES = devices[r];
          return env;
        });
        if (job.cancelRequested && !res.allOk) {
          final = { status: 'CANCELLED', patch: { reason: 'cancelled while running' } };
        } else if (res.failure) {
          const f = res.failure;
          final = {
            status: 'FAILED',
            patch: {
              exitCode: f.code,
              reason: `node rank ${f.rank} exited with code ${f.code}${f.error ? `: ${f.error}` : ''}`,
            },
          };
        }
      }
    } catch (e) {
      final = { status: 'FAILED', patch: { reason: `agent error: ${errMsg(e)}` } };
    } finally {
      // Leftover processes of the job (background children) end with it, everywhere.
      await this.killOnNodes(id, nodes).catch(() => {});
      if (spec.flushStorage) {
        // What the job wrote to mounted buckets is uploaded before the job counts as ended.
        const failed = await this.flushStorage(nodes, jobLog, prefixes);
        if (failed && final.status === 'SUCCEEDED')
          final = { status: 'FAILED', patch: { exitCode: 0, reason: failed } };
        else if (failed)
          final.patch.reason = final.patch.reason ? `${final.patch.reason}; ${failed}` : failed;
      }
      jobLog?.close(); // the log is complete before the state says the job ended
      give(this.free, pl);
      job.placement = null;
      const cut = jobLog?.truncated;
      if (cut) final.patch.reason = final.patch.reason ? `${final.patch.reason}; ${cut}` : cut;
      this.finish(job, final.status, final.patch);
    }
  }

  /**
   * Runs the storage flush script on every job node (on the host, never in a container) and waits for
   * all: null when everything is uploaded, else the reason (naming the node and the mount).
   */
  private async flushStorage(
    nodes: readonly ClusterNodeInfo[],
    jobLog: JobLog | null,
    prefixes: string[],
  ): Promise<string | null> {
    const f = shPath(STORAGE_FLUSH_SCRIPT);
    const failures = await Promise.all(
      nodes.map(async (x, r) => {
        const runner = makeRunner(x.connection);
        const stream = jobLog?.stream(prefixes[r]);
        let out = '';
        try {
          const res = await runner.run(`[ -f ${f} ] || exit 0; exec bash ${f} ${STORAGE_FLUSH_TIMEOUT_S}`, {
            timeoutMs: (STORAGE_FLUSH_TIMEOUT_S + 60) * 1000,
            onStdout: (c) => {
              out += c;
              stream?.write(c);
            },
          });
          if (res.code === 0) return null;
          const last = out
            .split('\n')
            .filter((l) => l.trim() && !l.startsWith('[skyhop]'))
            .pop();
          return `uploading to storage failed on node rank ${x.rank}: ${last ?? `exit code ${res.code}${res.stderr.trim() ? `: ${res.stderr.trim().split('\n').pop()}` : ''}`}`;
        } catch (e) {
          return `uploading to storage failed on node rank ${x.rank}: ${errMsg(e)}`;
        } finally {
          stream?.end();
          await runner.close();
        }
      }),
    );
    return failures.find((x) => x !== null) ?? null;
  }

  /** Runs `script` on every node of the job at once; the first failing rank ends the others. */
  private async gang(
    job: Job,
    runners: CommandRunner[],
    containers: ReadonlyArray<string | undefined>,
    script: string,
    cwd: string,
    jobLog: JobLog,
    prefixes: string[],
    envFor: (rank: number) => Record<string, string>,
  ): Promise<{ allOk: boolean; failure: { rank: number; code: number; error?: string } | null }> {
    let failure: { rank: number; code: number; error?: string } | null = null;
    let allOk = true;
    await Promise.all(
      runners.map(async (runner, r) => {
        const out = jobLog.stream(prefixes[r]);
        const err = jobLog.stream(prefixes[r]);
        let code: number;
        let error: string | undefined;
        try {
          // One stream, so that a job's output and errors keep their order in the log (SkyPilot does
          // the same); on the same line, so that bash's error line numbers match the user's script.
          // In a container (image_id: docker:...), the same line runs there, with the job's variables
          // forwarded by name from the runner's environment (values never in an argv).
          const dir = shPath(cwd);
          const env = envFor(r);
          // `mkdir` only when the folder is missing (otherwise it is a process per job per node).
          const line = `exec 2>&1; { [ -d ${dir} ] || mkdir -p ${dir}; } && cd ${dir} || exit 1; ${script}`;
          const c = containers[r];
          const res = await runner.run(c ? containerExec(c, Object.keys(env), line) : line, {
            env,
            onStdout: (c) => out.write(c),
            onStderr: (c) => err.write(c),
          });
          code = res.code;
        } catch (e) {
          code = 255;
          error = errMsg(e);
        }
        out.end();
        err.end();
        if (code === 0) return;
        allOk = false;
        if (!failure && !job.cancelRequested) {
          failure = { rank: r, code, error };
          if (runners.length > 1) void this.killJob(job);
        }
      }),
    );
    return { allOk, failure };
  }

  private killJob(job: Job): Promise<void> {
    const nodes = (job.record.nodes ?? [])
      .map((r) => this.info.nodes.find((x) => x.rank === r))
      .filter((x): x is ClusterNodeInfo => !!x);
    return this.killOnNodes(job.record.id, nodes);
  }

  /**
   * Kills every process of job `id` on `nodes`: in process for nodes on this machine (once), with
   * the shell snippet over each remote node's runner.
   */
  private async killOnNodes(id: number, nodes: readonly ClusterNodeInfo[]): Promise<void> {
    const marker = this.jobMarker(id);
    const tasks: Promise<unknown>[] = [];
    if (nodes.some((x) => x.connection.kind === 'local')) tasks.push(killByMarker(JOB_MARKER, marker));
    for (const x of nodes) {
      if (x.connection.kind === 'local') continue;
      tasks.push(
        (async () => {
          const runner = makeRunner(x.connection);
          try {
            await runner.run(killByMarkerShell(JOB_MARKER, marker), { timeoutMs: KILL_TIMEOUT_MS });
          } finally {
            await runner.close();
          }
        })(),
      );
    }
    const results = await Promise.allSettled(tasks);
    for (const r of results) if (r.status === 'rejected') log(`job ${id}: kill failed: ${errMsg(r.reason)}`);
  }

  // ---- autostop ----------------------------------------------------------------------------

  private checkAutostop(): void {
    const now = Date.now();
    const busy = [...this.jobs.values()].some((j) =>
      ['PENDING', 'SETTING_UP', 'RUNNING'].includes(j.record.status),
    );
    if (busy) {
      this.idleSince = now;
      this.autostopFired = false;
      return;
    }
    const cfg = this.info.autostop;
    if (!cfg || this.autostopFired || !(cfg.idleMinutes >= 0)) return;
    // At least a few idle seconds even for 0 minutes: a client still draining the last job's log (a
    // `launch --down` following its job) must not be killed mid-read by the teardown.
    if (now - this.idleSince < Math.max(cfg.idleMinutes * 60_000, MIN_IDLE_MS)) return;
    this.autostopFired = true;
    const argv = cfg.command?.argv ?? [];
    if (argv.length === 0) {
      log('autostop: idle, but the autostop command is empty');
      return;
    }
    log(`autostop: idle for ${cfg.idleMinutes} minutes; running ${argv[0]} (${cfg.down ? 'down' : 'stop'})`);
    const workers = cfg.command.workers?.trim() ? this.info.nodes.filter((x) => x.rank !== 0) : [];
    void this.runOnWorkers(cfg.command.workers ?? '', workers).then(() => this.spawnAutostop(cfg));
  }

  /** The autostop command's worker script on every worker at once; failures are logged, not fatal. */
  private async runOnWorkers(script: string, nodes: readonly ClusterNodeInfo[]): Promise<void> {
    const results = await Promise.allSettled(
      nodes.map(async (x) => {
        const runner = makeRunner(x.connection);
        try {
          const r = await runner.run(script, { timeoutMs: KILL_TIMEOUT_MS });
          if (r.code !== 0)
            log(`autostop: node rank ${x.rank}: exit code ${r.code}: ${r.stderr.trim().slice(-200)}`);
        } finally {
          await runner.close();
        }
      }),
    );
    for (const [i, r] of results.entries()) {
      if (r.status === 'rejected') log(`autostop: node rank ${nodes[i].rank}: ${errMsg(r.reason)}`);
    }
  }

  private spawnAutostop(cfg: AutostopConfig): void {
    const argv = cfg.command.argv;
    // Its own session, no node marker, none of the agent's environment: the stop it triggers
    // must not kill it.
    const env: Record<string, string> = {};
    for (const k of ['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LC_ALL', 'TZ']) {
      const v = process.env[k];
      if (v) env[k] = v;
    }
    Object.assign(env, cfg.command.env ?? {});
    delete env.SKYHOP_NODE_ID;
    delete env[JOB_MARKER];
    const fd = openSync(join(this.dir, AGENT_FILES.autostopLog), 'a', 0o600);
    try {
      const child = spawn(argv[0], argv.slice(1), {
        detached: true,
        stdio: ['ignore', fd, fd],
        env,
        cwd: homedir(),
      });
      child.on('error', (e) => log(`autostop: cannot run ${argv[0]}: ${e.message}`));
      child.unref();
    } finally {
      closeSync(fd);
    }
  }
}

function stringRecord(x: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (x && typeof x === 'object') {
    for (const [k, v] of Object.entries(x)) if (typeof v === 'string') out[k] = v;
  }
  return out;
}

/** SkyPilot's task id shape: <prefix>-<YYYY-MM-DD-HH-MM-SS-micros>_<cluster>_<job id>. */
export function taskId(submittedAt: number, cluster: string, id: number): string {
  return taskIdOf('skyhop', submittedAt, cluster, id);
}
