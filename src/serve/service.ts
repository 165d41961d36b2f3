/**
 * One service on the serve controller (SkyServe's replica manager and autoscaler together): every
 * tick it takes up new versions and `serve down`, keeps its load balancer process alive, launches the
 * replicas the autoscaler asks for (each a cluster of its own, `<service>-<id>`, through the SDK's
 * launch path and the optimizer: any cloud the client allowed, spot where the task asks), probes each
 * replica's readiness and asks its cloud whether it still runs, tells the load balancer which replicas
 * are READY (replicas.json), and tears down what failed, was preempted or is scaled away.
 *
 * Crash safety: a replica's record (its cluster's name) is in service.json before its launch starts,
 * and its teardown is recorded (SHUTTING_DOWN) before it starts; a controller killed at any line
 * starts again and, from service.json, adopts a half-launched replica whose agent runs its job or
 * removes what exists of it, and finishes every teardown. The load balancer is a process of its own
 * (its own session): a controller's restart does not interrupt the endpoint.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import type { Cloud } from '../clouds/types.js';
import { REPLICA_TERMINAL, type ReplicaStatus, type ServiceSpec } from '../core/serve.js';
import type { Task } from '../core/task.js';
import { appendLine, readJson, writePrivate } from '../jobs/files.js';
import { probeWithSecrets } from '../task/service.js';
import { cloudOf, headRunner } from '../sdk/clusters.js';
import { isProcessAlive, processStartTime } from '../state/process.js';
import type { Store } from '../state/index.js';
import { Autoscaler, qpsOver, type ReplicaView } from './autoscaler.js';
import { readLbStats, writeReplicas } from './lb-files.js';
import {
  type ReplicaRecord,
  readService,
  readVersion,
  removeServiceData,
  secretsPath,
  type ServiceFiles,
  type ServiceRecord,
  serviceFiles,
  type VersionRecord,
  versionsOf,
  writeService,
} from './files.js';

export interface ServeTimings {
  probeMs: number;
  decisionMs: number;
  qpsWindowSeconds: number;
}

export interface ServiceRunOptions {
  home: string;
  name: string;
  store: Store;
  cloudsNow: () => Promise<Map<string, Cloud>>;
  timings: ServeTimings;
  /** The address load balancers listen on (this node's). */
  host: string;
  /** Ports other services' load balancers hold. */
  portsInUse: () => Set<number>;
  /** The CLI to start a load balancer with: `[node, skyhop.js]`. */
  cli: string[];
  log: (line: string) => void;
}

/** A replica READY once and failing its probe this long is FAILED_PROBING (SkyPilot: 180 s). */
const NOT_READY_LIMIT_MS = 180_000;
/** Requests drain this long from a replica leaving the load balancer's list before its teardown. */
const DRAIN_MS = 2_000;
/** Ended replicas kept in the record for `serve status`. */
const KEEP_ENDED = 10;
/** The load balancers' first port (SkyPilot's). */
const LB_FIRST_PORT = 30001;
const LB_LAST_PORT = 30100;
/** A launch that failed, or a replica that failed by itself, is replaced after this backoff (doubling up to the max). */
const LAUNCH_BACKOFF_MS = { initial: 1_000, max: 60_000 };
/**
 * A load balancer that dies is started again at once (within a tick); one that keeps dying soon after
 * its start (a TLS key that does not match its certificate, its port taken by another program) after
 * a backoff (1 s doubling up to 30 s, reset once one has run for 30 s), so it is not spawned every
 * tick with its log growing.
 */
const LB_BACKOFF_MS = { initial: 1_000, max: 30_000, healthy: 30_000 };
/** The most of a failed replica's output kept after its teardown (its tail). */
const REPLICA_LOG_BYTES = 1024 * 1024;
/** How long one look at a replica (cloud, probe, agent) may take. */
const CHECK_TIMEOUT_MS = 30_000;

const ALIVE: ReadonlySet<ReplicaStatus> = new Set<ReplicaStatus>([
  'PENDING',
  'PROVISIONING',
  'STARTING',
  'READY',
  'NOT_READY',
]);

export class ServiceRun {
  readonly name: string;
  private readonly o: ServiceRunOptions;
  private readonly files: ServiceFiles;
  private rec: ServiceRecord;
  private readonly versions = new Map<number, VersionRecord>();
  /** Launches and teardowns in flight, by replica id. */
  private readonly busy = new Map<number, Promise<void>>();
  private readonly checking = new Set<number>();
  private readonly lastCheck = new Map<number, number>();
  private autoscaler: Autoscaler;
  private lastDecision = 0;
  private routable: number[] = [];
  private lastReplicasFile = '';
  private nextLaunchAt = 0;
  private launchBackoff = LAUNCH_BACKOFF_MS.initial;
  private purge = false;
  /** Retired (close()): writes nothing more. */
  private closed = false;
  /** A version file seen but not readable (logged once). */
  private unreadableVersion: number | null = null;
  private readonly abort = new AbortController();
  /** When this controller last started the load balancer, and when it may start it again. */
  private lbStartedAt: number | null = null;
  private lbRestartAt: number | null = null;
  /** The wait before the next start after a quick death: 0 (the first), then 1 s, 2 s, ... 30 s. */
  private lbBackoff = 0;

  constructor(o: ServiceRunOptions, rec: ServiceRecord) {
    this.o = o;
    this.name = o.name;
    this.files = serviceFiles(o.home, o.name);
    this.rec = rec;
    this.autoscaler = new Autoscaler({ decisionIntervalSeconds: o.timings.decisionMs / 1000 });
  }

  /** Reads a service's record and starts running it (after a restart: resumes it). */
  static open(o: ServiceRunOptions): ServiceRun | null {
    const rec = readService(o.home, o.name);
    return rec ? new ServiceRun(o, rec) : null;
  }

  private log(line: string): void {
    appendLine(this.files.controllerLog, `${new Date().toISOString()} ${line}`);
  }

  private save(): void {
    if (this.closed) return;
    writeService(this.o.home, this.rec);
  }

  /**
   * Retires this run (its tick failed; the controller opens the service afresh from its files): it
   * writes nothing more, its launches in flight are aborted, and the promise settles once its work in
   * flight has, so the next run never races it (a stale service.json over the new run's, a teardown
   * while this run still launches the same cluster).
   */
  close(): Promise<void> {
    this.closed = true;
    this.abort.abort();
    return Promise.allSettled([...this.busy.values()]).then(() => undefined);
  }

  private version(v: number): VersionRecord {
    let r = this.versions.get(v);
    if (!r) {
      const read = readVersion(this.o.home, this.name, v);
      if (!read) throw new Error(`version ${v} of service ${this.name} has no file`);
      r = read;
      this.versions.set(v, r);
    }
    return r;
  }

  private spec(v = this.rec.version): ServiceSpec {
    const s = this.version(v).task.service;
    if (!s) throw new Error(`version ${v} of service ${this.name} has no service section`);
    return s;
  }

  /** Version v's readiness probe with the version's secrets filled in (they are never in the spec). */
  private probeOf(v: number): ServiceSpec['readinessProbe'] {
    const ver = this.version(v);
    const secrets = readJson<Record<string, string>>(secretsPath(this.o.home, ver.request.secretsKey), {});
    return probeWithSecrets(this.spec(v).readinessProbe, secrets);
  }

  /** The load balancer's port, as the controller chose it. */
  get lbPort(): number | null {
    return this.rec.lbPort;
  }

  /**
   * One look at the service; 'gone' once `serve down` has removed it. Quick: launches, probes and
   * teardowns run in the background and report on later ticks.
   */
  async tick(now = Date.now()): Promise<'running' | 'gone'> {
    const rec = this.rec;
    if (rec.status !== 'SHUTTING_DOWN' && rec.status !== 'FAILED_CLEANUP' && existsSync(this.files.down)) {
      this.purge = readJson<{ purge?: boolean }>(this.files.down, {}).purge === true;
      this.log(`serve down asked${this.purge ? ' (--purge)' : ''}: removing every replica`);
      rec.status = 'SHUTTING_DOWN';
      this.abort.abort();
      this.stopLoadBalancer();
      for (const r of rec.replicas)
        if (ALIVE.has(r.status)) this.shutDown(r, null, 'the service is going down', now);
      this.writeRoutable([]);
      this.save();
    }
    if (rec.status === 'SHUTTING_DOWN' || rec.status === 'FAILED_CLEANUP') return this.tickDown(now);
    this.takeNewVersion();
    if (rec.lbPort === null) await this.choosePort();
    this.ensureLoadBalancer(now);
    for (const r of rec.replicas) this.step(r, now);
    if (now - this.lastDecision >= this.o.timings.decisionMs) {
      this.lastDecision = now;
      this.decide(now);
      // The replicas it added launch now, not a tick later.
      for (const r of rec.replicas) if (r.status === 'PENDING') this.step(r, now);
    }
    this.writeRoutable(this.routable);
    this.updateStatus();
    this.trimEnded();
    this.save();
    return 'running';
  }

  /** A newer `versions/<v>.json` (serve update): new replicas get it; the autoscaler replaces the old. */
  private takeNewVersion(): void {
    const newest = versionsOf(this.o.home, this.name).pop() ?? this.rec.version;
    if (newest <= this.rec.version) return;
    let v: VersionRecord;
    try {
      v = this.version(newest);
    } catch (e) {
      // Not readable (yet): taken at a later tick; the service goes on meanwhile.
      if (this.unreadableVersion !== newest)
        this.log(`version ${newest} cannot be read (${(e as Error).message}); trying again each tick`);
      this.unreadableVersion = newest;
      return;
    }
    this.log(`version ${newest} (${v.mode} update): new replicas get it`);
    this.rec.version = newest;
    this.rec.mode = v.mode;
    if (this.rec.status === 'FAILED') this.rec.status = 'REPLICA_INIT';
    this.rec.reason = null;
    this.lastDecision = 0;
  }

  /** The first free port from 30001 on this node's address, not held by another service. */
  private async choosePort(): Promise<void> {
    const taken = this.o.portsInUse();
    for (let p = LB_FIRST_PORT; p <= LB_LAST_PORT; p++) {
      if (taken.has(p) || !(await portFree(this.o.host, p))) continue;
      this.rec.lbHost = this.o.host;
      this.rec.lbPort = p;
      this.rec.tls = this.spec().tls !== undefined;
      this.log(`load balancer: ${this.rec.tls ? 'https' : 'http'}://${this.o.host}:${p}`);
      this.save();
      return;
    }
    throw new Error(`no free port for a load balancer in ${LB_FIRST_PORT}-${LB_LAST_PORT} on ${this.o.host}`);
  }

  /**
   * The service's load balancer process, if one runs: the one lb-process.json records, else the one
   * whose pid its lb-stats.json gives (a controller killed between starting it and recording it left
   * it unrecorded: it is adopted, so it is neither doubled nor left running after `serve down`).
   */
  private runningLoadBalancer(): { pid: number; start: string | null } | null {
    const p = readJson<{ pid?: number; start?: string | null } | null>(this.files.lbProcess, null);
    if (p?.pid && isProcessAlive(p.pid, p.start ?? null)) return { pid: p.pid, start: p.start ?? null };
    const pid = readLbStats(this.files.dir)?.pid;
    if (!pid || pid === p?.pid || !isProcessAlive(pid, null)) return null;
    let argv: string[] = [];
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      return null;
    }
    const at = argv.indexOf('serve-controller');
    if (at < 0 || argv[at + 1] !== 'lb' || argv[at + 2] !== this.name) return null;
    const found = { pid, start: processStartTime(pid) };
    writePrivate(this.files.lbProcess, JSON.stringify(found));
    this.log(
      `load balancer: adopting pid ${pid} (running, not recorded: the controller stopped as it started it)`,
    );
    return found;
  }

  /** Starts the load balancer when its process is not running (first start, or it died). */
  private ensureLoadBalancer(now: number): void {
    const p = readJson<{ pid?: number; start?: string | null } | null>(this.files.lbProcess, null);
    if (this.runningLoadBalancer()) {
      if (this.lbStartedAt !== null && now - this.lbStartedAt >= LB_BACKOFF_MS.healthy) this.lbBackoff = 0;
      return;
    }
    // The one this controller started died soon after its start: the next start waits (it would
    // likely die the same way).
    if (this.lbStartedAt !== null && now - this.lbStartedAt < LB_BACKOFF_MS.healthy) {
      if (this.lbRestartAt === null) {
        this.lbRestartAt = now + this.lbBackoff;
        this.log(
          `load balancer (pid ${p?.pid ?? '?'}) exited soon after its start (load-balancer.log says why): starting it again${this.lbBackoff ? ` in ${this.lbBackoff / 1000} s` : ''}`,
        );
        this.lbBackoff = Math.min(Math.max(this.lbBackoff * 2, LB_BACKOFF_MS.initial), LB_BACKOFF_MS.max);
      }
      if (now < this.lbRestartAt) return;
    } else {
      this.lbBackoff = 0;
      if (p?.pid) this.log(`load balancer (pid ${p.pid}) is gone: starting it again`);
    }
    this.lbRestartAt = null;
    this.lbStartedAt = now;
    const out = openSync(this.files.lbLog, 'a', 0o600);
    try {
      const [node, ...args] = this.o.cli;
      const child = spawn(node!, [...args, 'serve-controller', 'lb', this.name], {
        detached: true,
        stdio: ['ignore', out, out],
      });
      child.unref();
      if (!child.pid) throw new Error('the load balancer did not start');
      writePrivate(
        this.files.lbProcess,
        JSON.stringify({ pid: child.pid, start: processStartTime(child.pid) }),
      );
      // Its replicas file is read afresh by the new process.
      this.lastReplicasFile = '';
    } finally {
      closeSync(out);
    }
  }

  private stopLoadBalancer(): void {
    const p = this.runningLoadBalancer();
    if (p) {
      try {
        process.kill(p.pid, 'SIGTERM');
      } catch {
        // Gone meanwhile.
      }
    }
  }

  /** What one replica needs now. */
  private step(r: ReplicaRecord, now: number): void {
    if (this.busy.has(r.id)) return;
    switch (r.status) {
      case 'PENDING':
        if (now >= this.nextLaunchAt) this.background(r, () => this.launchReplica(r));
        return;
      case 'PROVISIONING':
        // Only after a restart: the launch that set it died with the old process.
        this.background(r, () => this.adoptOrClean(r));
        return;
      case 'STARTING':
      case 'READY':
      case 'NOT_READY':
        if (!this.checking.has(r.id) && now - (this.lastCheck.get(r.id) ?? 0) >= this.o.timings.probeMs) {
          this.checking.add(r.id);
          this.lastCheck.set(r.id, now);
          void this.check(r).finally(() => this.checking.delete(r.id));
        }
        return;
      case 'SHUTTING_DOWN':
        if (now - (r.shutdownAt ?? 0) >= DRAIN_MS) this.background(r, () => this.teardown(r));
        return;
      default:
        return;
    }
  }

  private background(r: ReplicaRecord, fn: () => Promise<void>): void {
    const p = fn()
      .catch((e: Error) => this.log(`replica ${r.id}: ${e.stack ?? e.message}`))
      .finally(() => {
        this.busy.delete(r.id);
        this.save();
      });
    this.busy.set(r.id, p);
  }

  /** Leaves the load balancer's list now; torn down after the drain (at once when the service goes). */
  private shutDown(r: ReplicaRecord, endAs: ReplicaStatus | null, reason: string, now: number): void {
    if (!ALIVE.has(r.status)) return;
    this.log(`replica ${r.id}: shutting down (${reason})`);
    r.status = 'SHUTTING_DOWN';
    r.endAs = endAs;
    r.reason = reason;
    r.shutdownAt = this.rec.status === 'SHUTTING_DOWN' ? 0 : now;
  }

  /** The task of version `v` for a replica: secrets back in, spot as the replica is, no service section. */
  private replicaTask(v: number, spot: boolean): { task: Task; target?: 'cost' | 'time' } {
    const ver = this.version(v);
    const secrets = readJson<Record<string, string>>(secretsPath(this.o.home, ver.request.secretsKey), {});
    const { service: _service, ...rest } = ver.task;
    const task: Task = {
      ...rest,
      secrets: { ...ver.task.secrets, ...secrets },
      resources: ver.task.resources.map((x) => ({ ...x, useSpot: spot && x.useSpot })),
    };
    return { task, target: ver.request.target };
  }

  private async launchReplica(r: ReplicaRecord): Promise<void> {
    r.status = 'PROVISIONING';
    r.launchedAt = Date.now();
    this.save();
    const ver = this.version(r.version);
    const byName = await this.o.cloudsNow();
    const clouds = ver.request.clouds.map((c) => byName.get(c)).filter((c): c is Cloud => c !== undefined);
    const { task, target } = this.replicaTask(r.version, r.spot);
    this.log(`replica ${r.id}: launching ${r.cluster} (version ${r.version}${r.spot ? ', spot' : ''})`);
    try {
      if (clouds.length === 0) {
        throw new Error(
          `none of the clouds this service may use (${ver.request.clouds.join(', ')}) is enabled on the controller`,
        );
      }
      const { launch } = await import('../sdk/launch.js');
      const res = await launch({
        dag: { tasks: [task], edges: [] },
        cluster: r.cluster,
        clouds,
        target,
        detach: true,
        store: this.o.store,
        signal: this.abort.signal,
        onStep: (m) => this.log(`replica ${r.id}: ${m}`),
      });
      if (r.status !== 'PROVISIONING') return;
      this.launched(r, res.jobId);
      this.launchBackoff = LAUNCH_BACKOFF_MS.initial;
    } catch (e) {
      if (r.status !== 'PROVISIONING') return;
      const why = (e as Error).message;
      this.log(`replica ${r.id}: launch failed: ${why}`);
      this.nextLaunchAt = Date.now() + this.launchBackoff;
      this.launchBackoff = Math.min(this.launchBackoff * 2, LAUNCH_BACKOFF_MS.max);
      this.shutDown(r, 'FAILED_PROVISION', `its launch failed: ${why}`, 0);
    }
  }

  /** The replica's cluster is up and its job submitted: STARTING (probed from now on). */
  private launched(r: ReplicaRecord, jobId: number | null): void {
    const c = this.o.store.getCluster(r.cluster);
    if (!c) throw new Error(`cluster ${r.cluster} was launched but its record is missing`);
    const head = c.nodes.find((n) => n.role === 'head') ?? c.nodes[0];
    const ip = head?.externalIp ?? head?.internalIp;
    r.jobId = jobId;
    r.cloud = c.cloud;
    r.region = c.region;
    r.zone = c.zone;
    r.instanceType = c.resources.instanceType;
    r.url = ip ? `http://${ip}:${this.spec(r.version).port}` : null;
    r.status = 'STARTING';
    r.startedAt = Date.now();
    r.reason = null;
    this.log(
      `replica ${r.id}: up on ${[c.cloud, c.region, c.zone].filter(Boolean).join('/')} at ${r.url}; waiting for its readiness probe`,
    );
  }

  /** After a restart, a replica whose launch was in flight: adopted if its job runs, else removed and replaced. */
  private async adoptOrClean(r: ReplicaRecord): Promise<void> {
    const c = this.o.store.getCluster(r.cluster);
    if (c?.status === 'UP') {
      const { clusterQueue } = await import('../sdk/jobs.js');
      const q = (await withTimeout(clusterQueue(this.o.store, r.cluster)).catch(() => null))?.filter(
        (j) => j.status !== 'INIT',
      );
      if (q && q.length > 0) {
        this.log(
          `replica ${r.id}: adopting ${r.cluster} (its agent runs job ${Math.max(...q.map((j) => j.id))})`,
        );
        this.launched(r, Math.max(...q.map((j) => j.id)));
        return;
      }
    }
    this.log(`replica ${r.id}: ${r.cluster} was being launched when the controller stopped; removing it`);
    this.shutDown(r, null, 'its launch was cut short by a controller restart', 0);
  }

  /** Asks the cloud whether the replica still runs, then probes it; on failure, asks its agent why. */
  private async check(r: ReplicaRecord): Promise<void> {
    const c = this.o.store.getCluster(r.cluster);
    if (!c) {
      this.shutDown(r, r.spot ? 'PREEMPTED' : 'FAILED', `the record of ${r.cluster} is gone`, Date.now());
      return;
    }
    const nodes = await withTimeout(cloudOf(c).provider(c.region).queryInstances(r.cluster)).catch(
      () => null,
    );
    if (!ALIVE.has(r.status)) return;
    if (nodes !== null) {
      const running = nodes.filter((n) => n.status === 'running').length;
      if (running < c.resources.numNodes) {
        const states = [...new Set(nodes.map((n) => n.status))].join(', ') || 'no instances';
        const why = `${running} of ${c.resources.numNodes} node(s) running (the cloud says: ${states})`;
        this.shutDown(r, r.spot ? 'PREEMPTED' : 'FAILED', why, Date.now());
        return;
      }
    }
    const spec = this.spec(r.version);
    const ok = r.url !== null && (await probe(r.url, { readinessProbe: this.probeOf(r.version) }));
    if (!ALIVE.has(r.status)) return;
    const now = Date.now();
    if (ok) {
      if (r.status !== 'READY') this.log(`replica ${r.id}: READY`);
      this.launchBackoff = LAUNCH_BACKOFF_MS.initial;
      r.status = 'READY';
      r.readyAt = now;
      r.notReadySince = null;
      r.reason = null;
      // The load balancer learns of it now, not at the next tick.
      this.writeRoutable(this.routable);
      return;
    }
    const ended = await this.jobEnded(r);
    if (!ALIVE.has(r.status)) return;
    if (ended) {
      this.shutDown(r, 'FAILED', ended, now);
    } else if (r.status === 'STARTING') {
      if (now - (r.startedAt ?? now) > spec.readinessProbe.initialDelaySeconds * 1000) {
        this.shutDown(
          r,
          'FAILED_INITIAL_DELAY',
          `not ready within initial_delay_seconds (${spec.readinessProbe.initialDelaySeconds} s)`,
          now,
        );
      }
    } else if (r.status === 'READY') {
      this.log(`replica ${r.id}: NOT_READY (its probe failed)`);
      r.status = 'NOT_READY';
      r.notReadySince = now;
      r.reason = 'its readiness probe fails';
    } else if (now - (r.notReadySince ?? now) > NOT_READY_LIMIT_MS) {
      this.shutDown(
        r,
        'FAILED_PROBING',
        `its readiness probe failed for ${NOT_READY_LIMIT_MS / 1000} s`,
        now,
      );
    }
  }

  /** Why the replica's job is no longer running, or null while it runs (or its agent does not answer). */
  private async jobEnded(r: ReplicaRecord): Promise<string | null> {
    if (r.jobId === null) return null;
    const c = this.o.store.getCluster(r.cluster);
    if (!c) return null;
    const { getJob } = await import('../agent/client.js');
    const head = headRunner(c);
    try {
      const j = await withTimeout(getJob(head, r.jobId));
      if (j === null) return `the agent on ${r.cluster} no longer has job ${r.jobId}`;
      if (
        j.status === 'PENDING' ||
        j.status === 'INIT' ||
        j.status === 'SETTING_UP' ||
        j.status === 'RUNNING'
      ) {
        return null;
      }
      const code = j.exitCode !== null && j.exitCode !== undefined ? ` with exit code ${j.exitCode}` : '';
      return `its ${j.status === 'FAILED_SETUP' ? 'setup' : 'run'} ended (${j.status}${code})`;
    } catch {
      return null;
    } finally {
      await head.close();
    }
  }

  /** Tears the replica's cluster down (whatever exists of it); then marks it as asked, or forgets it. */
  private async teardown(r: ReplicaRecord): Promise<void> {
    const { store } = this.o;
    if (store.getCluster(r.cluster) || store.openIntents(r.cluster).length > 0) {
      await this.saveOutput(r);
      this.log(`replica ${r.id}: tearing down ${r.cluster}`);
      const { down } = await import('../sdk/lifecycle.js');
      let last: Error | null = null;
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          await down(store, r.cluster, { onStep: (m) => this.log(`replica ${r.id}: ${m}`) });
          last = null;
          break;
        } catch (e) {
          last = e as Error;
          this.log(`replica ${r.id}: teardown failed: ${last.message}; retrying`);
          await new Promise((res) => setTimeout(res, 1000 * 2 ** attempt));
        }
      }
      if (last) {
        r.status = 'FAILED_CLEANUP';
        r.reason = `its teardown failed: ${last.message}`;
        r.endedAt = Date.now();
        return;
      }
    }
    const endAs = r.endAs;
    if (endAs === null) {
      this.rec.replicas = this.rec.replicas.filter((x) => x.id !== r.id);
      this.log(`replica ${r.id}: removed`);
      return;
    }
    r.status = endAs;
    r.endedAt = Date.now();
    this.log(`replica ${r.id}: ${endAs}${r.reason ? ` (${r.reason})` : ''}`);
    if (endAs !== 'PREEMPTED') {
      // A replica that failed by itself is replaced after a backoff (1 s, doubling up to 60 s, reset by
      // a READY one), so a service whose replicas keep crashing does not launch in a tight loop.
      this.nextLaunchAt = Date.now() + this.launchBackoff;
      this.launchBackoff = Math.min(this.launchBackoff * 2, LAUNCH_BACKOFF_MS.max);
    }
  }

  /**
   * A replica that failed (its run exited, its probe never passed...): its job's output saved in the
   * service's folder before its cluster goes, for `serve logs NAME ID`. Bounded in time and size;
   * nothing for preempted replicas (their nodes are gone) or when the whole service goes down.
   */
  private async saveOutput(r: ReplicaRecord): Promise<void> {
    const c = this.o.store.getCluster(r.cluster);
    if (!c || r.jobId === null || r.endAs === null || r.endAs === 'PREEMPTED') return;
    if (this.rec.status === 'SHUTTING_DOWN') return;
    let out = '';
    try {
      const { followJob } = await import('../sdk/jobs.js');
      await followJob(this.o.store, c, r.jobId, {
        follow: false,
        signal: AbortSignal.timeout(10_000),
        onOutput: (chunk) => {
          out = (out + chunk).slice(-REPLICA_LOG_BYTES);
        },
      });
    } catch (e) {
      out += `\n(skyhop: its output could not be read in full: ${(e as Error).message})\n`;
    }
    writePrivate(this.files.replicaLog(r.id), out);
  }

  /** The autoscaler's decision, applied. */
  private decide(now: number): void {
    if (this.rec.status === 'FAILED') {
      // Keeps what serves; launches nothing new until an update.
      this.routable = [...new Set(this.rec.replicas.map((r) => r.version))];
      return;
    }
    const spec = this.spec();
    const qps = qpsOver(readLbStats(this.files.dir)?.counts ?? [], now, this.o.timings.qpsWindowSeconds);
    const views: ReplicaView[] = this.rec.replicas.map((r) => ({
      id: r.id,
      version: r.version,
      spot: r.spot,
      status: r.status,
      launchedAt: r.launchedAt ?? now,
      wasReady: r.readyAt !== null,
    }));
    const d = this.autoscaler.decide({
      now,
      policy: spec.replicaPolicy,
      version: this.rec.version,
      mode: this.rec.mode,
      taskUsesSpot: this.version(this.rec.version).task.resources.some((x) => x.useSpot),
      qps,
      replicas: views,
    });
    if (d.failure) {
      // The newest version never got a replica READY and one failed: launching more would fail the same way.
      const last = [...this.rec.replicas].reverse().find((r) => r.version === this.rec.version && r.reason);
      this.rec.status = 'FAILED';
      this.rec.reason = `${d.failure}${last ? ` (replica ${last.id}: ${last.reason}; \`skyhop serve logs ${this.name} ${last.id}\` shows its output)` : ''}; \`skyhop serve update\` with a fix, or \`skyhop serve down\``;
      this.log(`service FAILED: ${this.rec.reason}`);
    }
    if (d.target !== this.rec.target) this.log(`target: ${d.target} replica(s) (qps ${qps.toFixed(2)})`);
    this.rec.target = d.target;
    this.rec.qps = qps;
    this.routable = d.routableVersions;
    for (const t of d.terminate) {
      const r = this.rec.replicas.find((x) => x.id === t.id);
      if (r) this.shutDown(r, null, t.reason, now);
    }
    for (const l of d.launch) {
      const id = this.rec.nextReplicaId++;
      this.rec.replicas.push(newReplica(this.name, id, this.rec.version, l.spot));
      this.log(`replica ${id}: to launch (version ${this.rec.version}${l.spot ? ', spot' : ''})`);
    }
  }

  /** replicas.json: the READY replicas of the routable versions (written when it changes). */
  private writeRoutable(versions: number[]): void {
    if (this.closed) return;
    const list = this.rec.replicas
      .filter((r) => r.status === 'READY' && r.url !== null && versions.includes(r.version))
      .map((r) => ({ id: r.id, url: r.url as string }));
    const text = JSON.stringify(list);
    if (text === this.lastReplicasFile) return;
    writeReplicas(this.files.dir, list);
    this.lastReplicasFile = text;
  }

  private updateStatus(): void {
    const rec = this.rec;
    if (rec.status === 'FAILED' || rec.status === 'SHUTTING_DOWN' || rec.status === 'FAILED_CLEANUP') return;
    if (rec.replicas.some((r) => r.status === 'READY')) rec.status = 'READY';
    else if (rec.replicas.some((r) => ALIVE.has(r.status))) rec.status = 'REPLICA_INIT';
    else
      rec.status =
        rec.target === 0 ? 'NO_REPLICA' : rec.status === 'CONTROLLER_INIT' ? 'REPLICA_INIT' : 'NO_REPLICA';
  }

  private trimEnded(): void {
    const ended = this.rec.replicas.filter(
      (r) => REPLICA_TERMINAL.has(r.status) && r.status !== 'FAILED_CLEANUP',
    );
    if (ended.length <= KEEP_ENDED) return;
    const drop = new Set(
      ended
        .sort((a, b) => (a.endedAt ?? 0) - (b.endedAt ?? 0))
        .slice(0, ended.length - KEEP_ENDED)
        .map((r) => r.id),
    );
    this.rec.replicas = this.rec.replicas.filter((r) => !drop.has(r.id));
    for (const id of drop) rmSync(this.files.replicaLog(id), { force: true });
  }

  /** `serve down`: every replica torn down, then the service's files removed (or FAILED_CLEANUP). */
  private async tickDown(now: number): Promise<'running' | 'gone'> {
    const rec = this.rec;
    if (rec.status === 'FAILED_CLEANUP' && !this.purge) {
      // Asked again (a new down.json with --purge): forget it.
      this.purge = readJson<{ purge?: boolean }>(this.files.down, {}).purge === true;
      if (!this.purge) return 'running';
    }
    for (const r of rec.replicas) this.step(r, now);
    if (this.busy.size > 0 || rec.replicas.some((r) => r.status === 'SHUTTING_DOWN')) {
      this.save();
      return 'running';
    }
    this.stopLoadBalancer();
    const left = rec.replicas.filter((r) => r.status === 'FAILED_CLEANUP');
    if (left.length > 0 && !this.purge) {
      rec.status = 'FAILED_CLEANUP';
      rec.reason = `${left.length} replica(s) could not be torn down (${left.map((r) => r.cluster).join(', ')}); \`skyhop serve down ${this.name} --purge\` forgets them`;
      this.log(rec.reason);
      this.save();
      return 'running';
    }
    this.log('removed');
    removeServiceData(this.o.home, this.name);
    rmSync(this.files.dir, { recursive: true, force: true });
    return 'gone';
  }
}

export function newReplica(service: string, id: number, version: number, spot: boolean): ReplicaRecord {
  return {
    id,
    version,
    status: 'PENDING',
    spot,
    cluster: `${service}-${id}`,
    jobId: null,
    url: null,
    cloud: null,
    region: null,
    zone: null,
    instanceType: null,
    launchedAt: null,
    startedAt: null,
    readyAt: null,
    notReadySince: null,
    shutdownAt: null,
    endAs: null,
    reason: null,
    endedAt: null,
  };
}

/** Whether nothing listens on host:port (a listen there succeeds). */
function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

async function withTimeout<T>(p: Promise<T>, ms = CHECK_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${ms / 1000} s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The readiness probe: GET (or POST with `post_data` as JSON) of the probe's path with its headers;
 * ready when it answers 2xx within `timeout_seconds`.
 */
export function probe(url: string, spec: Pick<ServiceSpec, 'readinessProbe'>): Promise<boolean> {
  const p = spec.readinessProbe;
  // The replica's address followed by the path, as SkyPilot joins them: `new URL(path, base)` would
  // take a path like `//host/x` for another host (and send it the probe's headers).
  const target = new URL(`${url.replace(/\/+$/, '')}${p.path}`);
  const body = p.postData === undefined ? undefined : JSON.stringify(p.postData);
  const headers: Record<string, string> = { ...p.headers };
  if (body !== undefined) {
    headers['content-type'] ??= 'application/json';
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolveOnce) => {
    let settled = false;
    let deadline: NodeJS.Timeout | undefined;
    const resolve = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      resolveOnce(ok);
    };
    const req = send(
      target,
      {
        method: body === undefined ? 'GET' : 'POST',
        headers,
        timeout: p.timeoutSeconds * 1000,
        agent: false,
      },
      (res) => {
        res.resume();
        res.once('end', () => resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300));
        res.once('error', () => resolve(false));
        res.once('close', () => resolve(false));
      },
    );
    // The whole answer within timeout_seconds: a body that keeps coming (a streaming path) would
    // otherwise hold the probe, and with it every later look at the replica (its cloud's too), forever.
    deadline = setTimeout(() => {
      resolve(false);
      req.destroy(new Error('timeout'));
    }, p.timeoutSeconds * 1000);
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', () => resolve(false));
    req.end(body);
  });
}
