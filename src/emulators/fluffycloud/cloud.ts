/**
 * The emulated cloud, without HTTP: users and their SSH keys, instances and their life
 * (pending -> running -> terminated), capacity, quotas, injected failures, spot preemption, the persisted
 * state and the re-adoption of hosts after a restart. server.ts maps HTTP calls onto this class.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { EmulatorCatalog } from './catalog.js';
import { ApiError, badRequest, notFound } from './errors.js';
import {
  ensureHostKey,
  type HostSpec,
  hostAlive,
  hostLogTail,
  hostnameFor,
  killHost,
  prepareHost,
  removeHostFiles,
  startHost,
  waitForPort,
} from '../hosts.js';
import { runPrefixFor } from './hosts.js';
import { claimIp, ensureClaim, nextOffset, releaseIp } from './ipclaims.js';
import { parsePublicKey } from './keys.js';
import { type Rng, seededRng } from './rng.js';
import {
  apiKeyHash,
  type CallName,
  capacityOf,
  parseScenario,
  type Scenario,
  scenarioForState,
  sha256Hex,
} from './scenario.js';
import { type EmulatorState, type InstanceRecord, loadState, saveState } from './state.js';

/** Terminated instances stay in list_instances this long. */
export const TERMINATED_VISIBLE_MS = 10 * 60 * 1000;
/** How long a started sshd may take to accept connections before the boot counts as failed. */
const SSH_READY_TIMEOUT_MS = 20_000;

export type Failure = { kind: 'none' | 'internal' | 'timeout' | 'rate_limited'; slowMs: number };

export interface EmulatorOptions {
  dataDir: string;
  catalog: EmulatorCatalog;
  /** The scenario given at start (raw object); when absent, the one persisted in state.json, else empty. */
  scenario?: unknown;
  sshPort: number;
  sshdPath: string;
  log: (line: string) => void;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

const launchSchema = z.strictObject({
  name: z
    .string()
    .regex(NAME_RE, 'a name of 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit'),
  instance_type: z.string().min(1),
  region: z.string().min(1),
  zone: z.string().min(1).nullable().optional(),
  ssh_key_name: z.string().min(1),
  spot: z.boolean().optional(),
  tags: z.record(z.string(), z.string()).optional(),
});

const tagsSchema = z.strictObject({ tags: z.record(z.string(), z.string().nullable()) });
const sshKeySchema = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/, 'a key name of letters, digits, ".", "_", "@", "-"'),
  public_key: z.string().min(1),
});

const MAX_TAGS = 64;

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const at = issue.path.length ? issue.path.map(String).join('.') : 'body';
  throw badRequest(`${at}: ${issue.message}`);
}

function checkTags(tags: Record<string, string | null>): void {
  for (const [k, v] of Object.entries(tags)) {
    if (k.length === 0 || k.length > 128)
      throw badRequest(`tag keys are 1-128 characters: ${JSON.stringify(k)}`);
    if (v !== null && v.length > 256) throw badRequest(`tag ${k}: values are at most 256 characters`);
  }
}

const isActive = (i: InstanceRecord) => i.status !== 'terminated';

export class FluffyCloudEmulator {
  readonly dataDir: string;
  readonly runPrefix: string;
  private readonly catalog: EmulatorCatalog;
  private readonly sshPort: number;
  private readonly sshdPath: string;
  private readonly log: (line: string) => void;
  private readonly hostKey: string;
  private state: EmulatorState;
  private scenario: Scenario;
  private rng: Rng = seededRng(0);
  private keyHashes = new Map<string, string>();
  private readonly bootTimers = new Map<string, NodeJS.Timeout>();
  private readonly preemptTimers = new Map<string, NodeJS.Timeout>();
  /** In-flight host operations (start/probe) per instance. */
  private readonly hostOps = new Map<string, Promise<void>>();
  private purgeTimer: NodeJS.Timeout | null = null;
  private closed = false;
  readonly startedAt = new Date().toISOString();

  constructor(opts: EmulatorOptions) {
    this.dataDir = opts.dataDir;
    this.catalog = opts.catalog;
    this.sshPort = opts.sshPort;
    this.sshdPath = opts.sshdPath;
    this.log = opts.log;
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
    this.runPrefix = runPrefixFor(this.dataDir);
    this.hostKey = join(this.dataDir, 'host_key');
    this.state = loadState(this.dataDir);
    const raw = opts.scenario ?? this.state.scenario ?? {};
    this.scenario = parseScenario(
      raw,
      this.catalog,
      opts.scenario === undefined ? 'saved scenario' : 'scenario',
    );
    this.state.scenario = scenarioForState(this.scenario);
    this.hashKeys();
    this.reseed();
  }

  /** Generate the host key, then re-adopt or bring back the instances of the saved state. */
  async start(): Promise<void> {
    mkdirSync(this.runPrefix, { recursive: true, mode: 0o700 });
    await ensureHostKey(this.hostKey, 'fluffycloud-host');
    this.save();
    for (const inst of Object.values(this.state.instances)) this.reconcile(inst);
    this.purgeTimer = setInterval(() => this.purge(), 30_000);
    this.purgeTimer.unref();
  }

  // ---- scenario, auth and failures ---------------------------------------------------------------

  private reseed(): void {
    const seed = this.scenario.failures?.seed ?? randomBytes(4).readUInt32BE(0);
    this.rng = seededRng(seed);
  }

  setScenario(raw: unknown): void {
    this.scenario = parseScenario(raw, this.catalog, 'scenario');
    this.state.scenario = scenarioForState(this.scenario);
    this.hashKeys();
    this.reseed();
    this.save();
    for (const inst of Object.values(this.state.instances)) {
      if (inst.status === 'running') this.armPreemption(inst);
    }
  }

  private hashKeys(): void {
    this.keyHashes = new Map(Object.entries(this.scenario.users).map(([user, u]) => [apiKeyHash(u), user]));
  }

  /** The user owning this API key, or null. Keys are compared by SHA-256 (state.json keeps only those). */
  authenticate(apiKey: string): string | null {
    return this.keyHashes.get(sha256Hex(apiKey)) ?? null;
  }

  /** Draw this call's injected failure (always two draws, so the sequence depends only on the calls). */
  drawFailure(call: CallName): Failure {
    const f = this.scenario.failures;
    if (!f || (f.calls && !f.calls.includes(call))) return { kind: 'none', slowMs: 0 };
    const u = this.rng();
    const v = this.rng();
    const slowMs = v < f.slow_rate ? f.slow_ms : 0;
    if (u < f.timeout_rate) return { kind: 'timeout', slowMs };
    if (u < f.timeout_rate + f.rate_limited_rate) return { kind: 'rate_limited', slowMs };
    if (u < f.timeout_rate + f.rate_limited_rate + f.rate) return { kind: 'internal', slowMs };
    return { kind: 'none', slowMs };
  }

  // ---- catalog calls -----------------------------------------------------------------------------

  listInstanceTypes() {
    return this.catalog.types;
  }

  listRegions() {
    return [...this.catalog.regions.entries()].map(([name, zones]) => ({ name, zones }));
  }

  // ---- SSH keys ----------------------------------------------------------------------------------

  private userRecord(user: string) {
    this.state.users[user] ??= { ssh_keys: {} };
    return this.state.users[user];
  }

  addSshKey(user: string, body: unknown): { created: boolean; name: string; fingerprint: string } {
    const b = parseBody(sshKeySchema, body);
    const { publicKey, fingerprint } = parsePublicKey(b.public_key);
    const keys = this.userRecord(user).ssh_keys;
    const had = keys[b.name];
    if (had) {
      if (had.fingerprint === fingerprint) return { created: false, name: b.name, fingerprint };
      throw badRequest(
        `an SSH key named ${b.name} already exists with another key (${had.fingerprint}); delete it first or use another name`,
      );
    }
    keys[b.name] = { public_key: publicKey, fingerprint, created_at: new Date().toISOString() };
    this.save();
    return { created: true, name: b.name, fingerprint };
  }

  listSshKeys(user: string) {
    return Object.entries(this.state.users[user]?.ssh_keys ?? {})
      .map(([name, k]) => ({ name, fingerprint: k.fingerprint }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  deleteSshKey(user: string, name: string): void {
    const keys = this.state.users[user]?.ssh_keys;
    if (!keys?.[name]) throw notFound(`no SSH key named ${name}`);
    delete keys[name];
    this.save();
  }

  // ---- instances ---------------------------------------------------------------------------------

  private active(): InstanceRecord[] {
    return Object.values(this.state.instances).filter(isActive);
  }

  private own(user: string, id: string): InstanceRecord {
    const inst = this.state.instances[id];
    if (!inst || inst.user !== user) throw notFound(`no instance ${id}`);
    return inst;
  }

  /** Launch: validate, check region, quota and capacity, claim an address; the boot goes on in the background. */
  async launch(user: string, body: unknown): Promise<{ id: string }> {
    if (this.closed) throw new ApiError('internal', 'the API is shutting down; try again');
    const b = parseBody(launchSchema, body);
    const key = this.state.users[user]?.ssh_keys[b.ssh_key_name];
    if (!key)
      throw badRequest(`no SSH key named ${b.ssh_key_name}; register it with POST /v1/ssh-keys first`);
    const type = this.catalog.type(b.instance_type);
    if (!type) {
      throw badRequest(
        `unknown instance type ${b.instance_type} (known: ${this.catalog.types.map((t) => t.name).join(', ')})`,
      );
    }
    const zones = this.catalog.regions.get(b.region);
    if (!zones) {
      throw badRequest(`unknown region ${b.region} (known: ${[...this.catalog.regions.keys()].join(', ')})`);
    }
    const rs = this.scenario.regions[b.region];
    if (rs?.unavailable) {
      throw new ApiError('region_unavailable', `region ${b.region} is unavailable; try another region`);
    }
    const spot = b.spot ?? false;
    let offers = this.catalog.offers(type.name, b.region);
    if (offers.length === 0) {
      throw badRequest(
        `instance type ${type.name} is not offered in region ${b.region} (offered in ${this.catalog.regionsOf(type.name).join(', ')})`,
      );
    }
    if (spot) {
      offers = offers.filter((o) => o.spotPrice !== null);
      if (offers.length === 0) throw badRequest(`spot ${type.name} is not offered in region ${b.region}`);
    }
    const zone = b.zone ?? null;
    if (zone !== null) {
      if (!zones.includes(zone)) {
        throw badRequest(
          `zone ${zone} is not in region ${b.region} (its zones: ${zones.join(', ') || 'none'})`,
        );
      }
      if (!offers.some((o) => o.zone === zone)) {
        throw badRequest(`${spot ? 'spot ' : ''}${type.name} is not offered in zone ${zone}`);
      }
    }

    const limits = this.scenario.users[user];
    const mine = this.active().filter((i) => i.user === user);
    if (limits?.max_instances !== undefined && mine.length + 1 > limits.max_instances) {
      throw new ApiError(
        'quota',
        `instance quota exceeded for user ${user}: ${mine.length} of max_instances ${limits.max_instances} in use`,
      );
    }
    const vcpus = mine.reduce((s, i) => s + i.vcpus, 0);
    if (limits?.max_vcpus !== undefined && vcpus + type.vcpus > limits.max_vcpus) {
      throw new ApiError(
        'quota',
        `vCPU quota exceeded for user ${user}: ${vcpus} in use + ${type.vcpus} for ${type.name} > max_vcpus ${limits.max_vcpus}`,
      );
    }

    const candidates = zone !== null ? [zone] : [...new Set(offers.map((o) => o.zone))];
    const sameType = this.active().filter((i) => i.region === b.region && i.instance_type === type.name);
    const where = (zs: (string | null)[]) => {
      const named = zs.filter((z): z is string => z !== null);
      if (named.length === 0) return '';
      return named.length === 1 ? ` (zone ${named[0]})` : ` (zones ${named.join(', ')})`;
    };
    const noCapacity = (zs: (string | null)[]) =>
      new ApiError('capacity', `no capacity for ${type.name} in region ${b.region}${where(zs)}`);
    const regionCap = capacityOf(rs?.capacity, type.name);
    if (regionCap !== undefined && sameType.length >= regionCap) throw noCapacity(candidates.slice(0, 1));
    const chosen = candidates.find((z) => {
      if (z === null) return true;
      const cap = capacityOf(rs?.zones?.[z]?.capacity, type.name);
      return cap === undefined || sameType.filter((i) => i.zone === z).length < cap;
    });
    if (chosen === undefined) throw noCapacity(candidates);

    const id = `ff-${randomBytes(6).toString('hex')}`;
    const inst: InstanceRecord = {
      id,
      user,
      name: b.name,
      hostname: hostnameFor(b.name),
      instance_type: type.name,
      vcpus: type.vcpus,
      region: b.region,
      zone: chosen,
      spot,
      tags: { ...(b.tags ?? {}) },
      status: 'pending',
      ip: '',
      ssh_port: this.sshPort,
      ssh_user: 'root',
      ssh_key_name: b.ssh_key_name,
      authorized_keys: `${key.public_key}\n`,
      boot_delay_s: rs?.boot_delay_s ?? this.scenario.boot_delay_s,
      created_at: new Date().toISOString(),
      boots: 0,
    };
    checkTags(inst.tags);
    // Saved before the address is claimed: a claim always points at an instance its owner's state lists.
    this.state.instances[id] = inst;
    this.save();
    const claim = await claimIp(this.state.next_ip, this.sshPort, { dataDir: this.dataDir, id });
    if (!claim) {
      delete this.state.instances[id];
      this.save();
      throw new ApiError('capacity', `no free address left in 127.1.0.0/16 for region ${b.region}`);
    }
    this.state.next_ip = nextOffset(claim.offset);
    if (inst.status === 'terminated') {
      // Removed (or torn down) while its address was being claimed.
      releaseIp(claim.ip, { dataDir: this.dataDir, id });
      this.save();
      return { id };
    }
    inst.ip = claim.ip;
    this.save();
    this.log(
      `launch ${id} (${inst.name}, ${type.name}, ${b.region}${chosen ? `/${chosen}` : ''}) at ${inst.ip}`,
    );
    this.scheduleBoot(inst, inst.boot_delay_s * 1000);
    return { id };
  }

  async remove(user: string, id: string): Promise<{ id: string; status: 'terminated' }> {
    const inst = this.own(user, id);
    if (isActive(inst)) await this.terminate(inst, 'removed');
    return { id, status: 'terminated' };
  }

  setTags(user: string, id: string, body: unknown): { id: string; tags: Record<string, string> } {
    const inst = this.own(user, id);
    const b = parseBody(tagsSchema, body);
    if (!isActive(inst)) throw badRequest(`instance ${id} is terminated; its tags cannot change`);
    checkTags(b.tags);
    const tags = { ...inst.tags };
    for (const [k, v] of Object.entries(b.tags)) {
      if (v === null) delete tags[k];
      else tags[k] = v;
    }
    if (Object.keys(tags).length > MAX_TAGS) throw badRequest(`an instance has at most ${MAX_TAGS} tags`);
    inst.tags = tags;
    this.save();
    return { id, tags };
  }

  private view(i: InstanceRecord) {
    return {
      status: i.status,
      tags: i.tags,
      name: i.name,
      ip: i.ip,
      ssh_port: i.ssh_port,
      ssh_user: i.ssh_user,
      region: i.region,
      zone: i.zone,
      instance_type: i.instance_type,
      spot: i.spot,
      created_at: i.created_at,
      ...(i.status_reason !== undefined ? { status_reason: i.status_reason } : {}),
    };
  }

  private visible(i: InstanceRecord, now: number): boolean {
    if (isActive(i)) return true;
    return now - Date.parse(i.terminated_at ?? i.created_at) < TERMINATED_VISIBLE_MS;
  }

  listInstances(user: string) {
    const now = Date.now();
    const out: Record<string, ReturnType<FluffyCloudEmulator['view']>> = {};
    const mine = Object.values(this.state.instances).filter((i) => i.user === user && this.visible(i, now));
    mine.sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
    for (const i of mine) out[i.id] = this.view(i);
    return out;
  }

  getInstance(user: string, id: string) {
    const inst = this.own(user, id);
    if (!this.visible(inst, Date.now())) throw notFound(`no instance ${id}`);
    return { id, ...this.view(inst) };
  }

  // ---- admin -------------------------------------------------------------------------------------

  adminState() {
    const redacted = Object.fromEntries(
      Object.entries(this.scenario.users).map(([u, { api_key: _k, api_key_sha256: _h, ...v }]) => [
        u,
        { ...v, api_key: '(redacted)' },
      ]),
    );
    return {
      emulator: {
        pid: process.pid,
        data_dir: this.dataDir,
        run_dir: this.runPrefix,
        ssh_port: this.sshPort,
        started_at: this.startedAt,
      },
      next_ip: this.state.next_ip,
      users: Object.fromEntries(
        Object.entries(this.state.users).map(([u, r]) => [u, { ssh_keys: Object.keys(r.ssh_keys).sort() }]),
      ),
      instances: this.state.instances,
      scenario: { ...this.scenario, users: redacted },
    };
  }

  /** Remove every instance of every user. */
  async teardown(reason = 'teardown'): Promise<string[]> {
    const ids: string[] = [];
    await Promise.all(
      this.active().map(async (inst) => {
        ids.push(inst.id);
        await this.terminate(inst, reason);
      }),
    );
    // Hosts of already-terminated instances whose kill was interrupted by a crash.
    for (const inst of Object.values(this.state.instances)) {
      if (!isActive(inst) && hostAlive(inst.host)) await killHost(inst.host, this.spec(inst).runDir);
    }
    return ids.sort();
  }

  /** Preempt a running spot (or any running) instance now, as the scheduled preemption would. */
  async preempt(id: string): Promise<void> {
    const inst = this.state.instances[id];
    if (!inst) throw notFound(`no instance ${id}`);
    if (inst.status !== 'running') throw badRequest(`instance ${id} is ${inst.status}, not running`);
    await this.terminate(inst, 'preempted');
  }

  /** Stop timers and wait for host starts in flight; with `teardown`, remove every instance first. */
  async shutdown(opts: { teardown: boolean }): Promise<void> {
    if (opts.teardown) await this.teardown();
    this.closed = true;
    for (const t of this.bootTimers.values()) clearTimeout(t);
    for (const t of this.preemptTimers.values()) clearTimeout(t);
    this.bootTimers.clear();
    this.preemptTimers.clear();
    if (this.purgeTimer) clearInterval(this.purgeTimer);
    await Promise.allSettled([...this.hostOps.values()]);
    this.save();
    try {
      rmdirSync(this.runPrefix); // only when no host of this emulator is left
    } catch {
      // hosts still run (they outlive the API) or it is gone
    }
  }

  // ---- host life ---------------------------------------------------------------------------------

  private spec(inst: InstanceRecord): HostSpec {
    return {
      id: inst.id,
      ip: inst.ip,
      port: inst.ssh_port,
      hostname: inst.hostname,
      nodeDir: join(this.dataDir, 'nodes', inst.id),
      runDir: join(this.runPrefix, inst.id),
      hostKey: this.hostKey,
      authorizedKeys: inst.authorized_keys,
    };
  }

  private save(): void {
    saveState(this.dataDir, this.state);
  }

  private track(id: string, op: () => Promise<void>): void {
    const p = op()
      .catch((e) => this.log(`instance ${id}: ${(e as Error).message}`))
      .finally(() => {
        if (this.hostOps.get(id) === p) this.hostOps.delete(id);
      });
    this.hostOps.set(id, p);
  }

  private scheduleBoot(inst: InstanceRecord, delayMs: number): void {
    const t = setTimeout(
      () => {
        this.bootTimers.delete(inst.id);
        this.track(inst.id, () => this.bringUp(inst, 'boot'));
      },
      Math.max(0, delayMs),
    );
    this.bootTimers.set(inst.id, t);
  }

  /** Start the host of a pending instance (boot) or of a running one whose sshd died (reboot). */
  private async bringUp(inst: InstanceRecord, why: 'boot' | 'reboot'): Promise<void> {
    if (!isActive(inst) || this.closed) return;
    const spec = this.spec(inst);
    await killHost(undefined, spec.runDir); // strays of an interrupted earlier start
    prepareHost(spec, inst.boots === 0);
    let procs: InstanceRecord['host'];
    try {
      procs = await startHost(spec, this.sshdPath);
    } catch (e) {
      await this.terminate(inst, `boot_failed: ${(e as Error).message}`, true);
      return;
    }
    inst.host = procs;
    inst.boots += 1;
    this.save();
    if (!isActive(inst)) return; // removed meanwhile: terminate() kills it once this op ends
    await this.awaitSsh(inst, why);
  }

  /** Wait for the host's sshd to accept connections, then mark the instance running. */
  private async awaitSsh(inst: InstanceRecord, why: 'boot' | 'reboot' | 'adopt'): Promise<void> {
    const t0 = Date.now();
    const ok = await waitForPort(
      inst.ip,
      inst.ssh_port,
      SSH_READY_TIMEOUT_MS,
      () => hostAlive(inst.host) && isActive(inst) && !this.closed,
    );
    if (!isActive(inst) || this.closed) return;
    if (!ok) {
      const why = hostLogTail(this.spec(inst).nodeDir) || 'no log';
      await this.terminate(
        inst,
        `boot_failed: sshd on ${inst.ip}:${inst.ssh_port} did not come up (${why})`,
        true,
      );
      return;
    }
    if (inst.status === 'pending') {
      inst.status = 'running';
      inst.running_at = new Date().toISOString();
      this.save();
      this.armPreemption(inst);
    }
    this.log(
      `${why} ${inst.id}: running, ssh root@${inst.ip} -p ${inst.ssh_port} (${Date.now() - t0} ms to ssh)`,
    );
  }

  private armPreemption(inst: InstanceRecord): void {
    const old = this.preemptTimers.get(inst.id);
    if (old) clearTimeout(old);
    this.preemptTimers.delete(inst.id);
    const after = this.scenario.spot?.preempt_after_s;
    if (!inst.spot || after === undefined || after === null || inst.status !== 'running') return;
    const due = Date.parse(inst.running_at ?? new Date().toISOString()) + after * 1000;
    const t = setTimeout(
      () => {
        this.preemptTimers.delete(inst.id);
        if (inst.status !== 'running') return;
        this.log(`preempt ${inst.id} (spot, ${after} s after running)`);
        void this.terminate(inst, 'preempted').catch((e) =>
          this.log(`preempt ${inst.id}: ${(e as Error).message}`),
        );
      },
      Math.max(0, due - Date.now()),
    );
    this.preemptTimers.set(inst.id, t);
  }

  /**
   * Terminate: mark it, kill its host (and so everything on the node), release its address, delete its
   * files. `fromHostOp`: called by the instance's own host operation (which must not wait for itself).
   */
  private async terminate(inst: InstanceRecord, reason: string, fromHostOp = false): Promise<void> {
    if (isActive(inst)) {
      inst.status = 'terminated';
      inst.status_reason = reason;
      inst.terminated_at = new Date().toISOString();
      this.save();
    }
    const boot = this.bootTimers.get(inst.id);
    if (boot) clearTimeout(boot);
    this.bootTimers.delete(inst.id);
    const pre = this.preemptTimers.get(inst.id);
    if (pre) clearTimeout(pre);
    this.preemptTimers.delete(inst.id);
    if (!fromHostOp) await this.hostOps.get(inst.id);
    const spec = this.spec(inst);
    await killHost(inst.host, spec.runDir);
    if (inst.ip) releaseIp(inst.ip, { dataDir: this.dataDir, id: inst.id });
    removeHostFiles(spec);
    this.save();
    this.log(`terminate ${inst.id}: ${reason}`);
  }

  /** After a start: re-adopt a live host, bring back a dead one, resume a boot, finish a broken removal. */
  private reconcile(inst: InstanceRecord): void {
    const alive = hostAlive(inst.host);
    if (!isActive(inst)) {
      if (alive) this.track(inst.id, () => this.terminate(inst, inst.status_reason ?? 'removed', true));
      return;
    }
    if (inst.ip && !ensureClaim(inst.ip, inst.ssh_port, { dataDir: this.dataDir, id: inst.id })) {
      this.track(inst.id, () => this.terminate(inst, `host_lost: its address ${inst.ip} is taken`, true));
      return;
    }
    if (!inst.ip) {
      // Crashed between saving the launch and claiming its address: the launch never answered.
      delete this.state.instances[inst.id];
      this.save();
      return;
    }
    if (inst.status === 'running') {
      if (alive) {
        this.log(`adopt ${inst.id}: sshd pid ${inst.host!.sshd_pid} still runs`);
        this.armPreemption(inst);
      } else {
        this.log(`reboot ${inst.id}: its sshd is gone; starting it again on ${inst.ip}:${inst.ssh_port}`);
        this.track(inst.id, () => this.bringUp(inst, 'reboot'));
      }
      return;
    }
    // pending
    if (alive) {
      this.track(inst.id, () => this.awaitSsh(inst, 'adopt'));
    } else {
      const due = Date.parse(inst.created_at) + inst.boot_delay_s * 1000;
      this.scheduleBoot(inst, due - Date.now());
    }
  }

  private purge(): void {
    const now = Date.now();
    let changed = false;
    for (const [id, inst] of Object.entries(this.state.instances)) {
      if (!this.visible(inst, now) && !this.hostOps.has(id)) {
        delete this.state.instances[id];
        changed = true;
      }
    }
    if (changed) this.save();
  }
}
