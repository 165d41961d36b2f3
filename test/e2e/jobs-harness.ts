/**
 * Managed jobs end to end: helpers over the built CLI (harness.ts Sandbox) for `skyhop jobs ...`.
 *
 * The jobs controller is a local-cloud cluster of the sandbox; its own $SKYHOP_HOME (its state, the
 * clusters it launched, every job's controller.log) is on its node, inside the sandbox, so a test can
 * list the controller's clusters with the CLI itself (`status --json` under that home) and show the
 * controller's log when a wait times out.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { EmulatorHandle } from '../helpers/fluffycloud.js';
import { type Run, Sandbox } from './harness.js';
import { MANAGED_TERMINAL_STATUSES } from '../../src/state/index.js';

/** A managed job as `jobs queue --json` prints it (the fields the tests read). */
export interface QueueJob {
  id: number;
  name: string;
  status: string;
  reason: string | null;
  recoveryCount: number;
  cost: number;
  tasks: Array<{
    status: string;
    infra: string | null;
    cluster: string | null;
    exitCode: number | null;
    recoveryCount: number;
    restartsOnErrors: number;
    reason: string | null;
  }>;
}

/** The states a managed job ends in (the product's own list). */
export const ENDED: ReadonlySet<string> = new Set(MANAGED_TERMINAL_STATUSES);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class JobsSandbox {
  readonly sb: Sandbox;

  constructor(extraEnv: Record<string, string> = {}) {
    this.sb = new Sandbox(extraEnv);
    mkdirSync(this.sb.home, { recursive: true });
    mkdirSync(this.sb.skyhopHome, { recursive: true });
    // A short watch interval keeps the tests quick; the controller gets this file at every `jobs launch`.
    writeFileSync(
      join(this.sb.skyhopHome, 'config.yaml'),
      'jobs:\n  controller:\n    poll_interval_seconds: 0.5\n',
    );
  }

  run(args: string[], opts: Parameters<Sandbox['run']>[1] = {}): Promise<Run> {
    return this.sb.run(args, opts);
  }

  /** Writes a file in the sandbox; its path. */
  file(name: string, text: string): string {
    const p = join(this.sb.dir, name);
    writeFileSync(p, text);
    return p;
  }

  /** `jobs launch -y -d ...`: the new job's id. */
  async launch(args: string[]): Promise<number> {
    const r = await this.run(['jobs', 'launch', '-y', '-d', ...args], { timeoutMs: 180_000 });
    assert.equal(r.code, 0, `jobs launch failed:\n${r.stderr}`);
    const m = /Managed job ID: (\d+)/.exec(r.stderr);
    assert.ok(m, r.stderr);
    return Number(m[1]);
  }

  async queue(): Promise<QueueJob[]> {
    const r = await this.run(['jobs', 'queue', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as QueueJob[];
  }

  async job(id: number): Promise<QueueJob> {
    const j = (await this.queue()).find((x) => x.id === id);
    assert.ok(j, `managed job ${id} is not in the queue`);
    return j;
  }

  /** The controller node's own $SKYHOP_HOME, or null before the controller exists. */
  controllerHome(): string | null {
    // Through a team server the controller is the (admin) user's own.
    const name = this.sb.via ? 'skyhop-jobs-controller-admin' : 'skyhop-jobs-controller';
    const base = join(this.sb.skyhopHome, 'local', 'clusters', name);
    if (!existsSync(base)) return null;
    for (const node of readdirSync(base)) {
      const h = join(base, node, 'home', '.skyhop');
      if (existsSync(join(h, 'state.db'))) return h;
    }
    return null;
  }

  /** What the controller did for job `id` (its controller.log), for failure messages. */
  controllerLog(id: number): string {
    const h = this.controllerHome();
    if (!h) return '(no controller)';
    try {
      return readFileSync(join(h, 'managed', String(id), 'controller.log'), 'utf8');
    } catch {
      return '(no controller.log)';
    }
  }

  /** The clusters the controller has launched and not yet torn down (its own `status`). */
  async controllerClusters(): Promise<Array<{ name: string; cloud: string; status: string }>> {
    const h = this.controllerHome();
    if (!h) return [];
    // Read on this machine (the controller's own state), never through the sandbox's team server.
    const r = await this.run(['status', '--json'], {
      env: { SKYHOP_HOME: h, HOME: dirname(h), SKYHOP_API_SERVER_ENDPOINT: '', SKYHOP_API_TOKEN: '' },
    });
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { clusters: Array<{ name: string; cloud: string; status: string }> })
      .clusters;
  }

  /** Polls job `id` until `ok` holds (a clear failure with the controller's log after `timeoutMs`). */
  async waitJob(
    id: number,
    ok: (j: QueueJob) => boolean,
    what: string,
    timeoutMs = 90_000,
  ): Promise<QueueJob> {
    const deadline = Date.now() + timeoutMs;
    let last: QueueJob | undefined;
    for (;;) {
      last = (await this.queue()).find((x) => x.id === id);
      if (last && ok(last)) return last;
      if (last && ENDED.has(last.status) && !ok(last)) break;
      if (Date.now() > deadline) break;
      await sleep(300);
    }
    assert.fail(
      `managed job ${id}: waited for ${what}; last seen ${JSON.stringify(last)}\ncontroller log:\n${this.controllerLog(id)}`,
    );
  }

  waitEnded(id: number, timeoutMs = 90_000): Promise<QueueJob> {
    return this.waitJob(id, (j) => ENDED.has(j.status), 'its end', timeoutMs);
  }

  /**
   * Cancels every unfinished job, waits until every job has ended and the controller has torn down
   * every cluster it launched (and the emulator, when given, has no live instance). What a test
   * leaves behind is an assertion failure.
   */
  async endAll(emu?: EmulatorHandle): Promise<void> {
    if (!this.controllerHome()) return;
    const c = await this.run(['jobs', 'cancel', '-a', '-y']);
    assert.equal(c.code, 0, c.stderr);
    const deadline = Date.now() + 120_000;
    for (;;) {
      const live = (await this.queue()).filter((j) => !ENDED.has(j.status));
      const clusters = await this.controllerClusters();
      const instances = emu ? await liveInstances(emu) : [];
      if (live.length === 0 && clusters.length === 0 && instances.length === 0) return;
      if (Date.now() > deadline) {
        assert.fail(
          `left behind: jobs ${JSON.stringify(live.map((j) => [j.id, j.status]))}, controller clusters ` +
            `${JSON.stringify(clusters.map((x) => x.name))}, FluffyCloud instances ${JSON.stringify(instances)}`,
        );
      }
      await sleep(500);
    }
  }

  /**
   * The last word of a test file: every job ended and its clusters gone (endAll), then `down -a -y`
   * (the controller), 0 clusters in the sandbox's own status, and 0 emulator instances.
   */
  async finish(emu?: EmulatorHandle): Promise<void> {
    try {
      await this.endAll(emu);
      const d = await this.run(['down', '-a', '-y'], { timeoutMs: 120_000 });
      assert.equal(d.code, 0, d.stderr);
      const s = await this.run(['status', '--json']);
      assert.deepEqual(JSON.parse(s.stdout).clusters, []);
      if (emu) assert.deepEqual(await liveInstances(emu), [], 'no FluffyCloud instance is left');
    } finally {
      await this.sb.cleanup();
    }
  }
}

/** Ids of the emulator's instances that are not terminated (every user's; admin state). */
export async function liveInstances(emu: EmulatorHandle): Promise<string[]> {
  const s = await emu.adminState();
  return Object.entries((s.instances ?? {}) as Record<string, { status: string }>)
    .filter(([, inst]) => inst.status !== 'terminated')
    .map(([id]) => id);
}

/** The emulator's live instances of cluster `cluster` (by skyhop's tag), with where they run. */
export async function clusterInstances(
  emu: EmulatorHandle,
  cluster: string,
): Promise<Array<{ id: string; status: string; region: string; zone: string | null }>> {
  const s = await emu.adminState();
  type Inst = { status: string; region: string; zone?: string | null; tags?: Record<string, string> };
  return Object.entries((s.instances ?? {}) as Record<string, Inst>)
    .filter(([, i]) => i.status !== 'terminated' && i.tags?.['skyhop-cluster'] === cluster)
    .map(([id, i]) => ({ id, status: i.status, region: i.region, zone: i.zone ?? null }));
}

/** POST /admin/instances/<id>/preempt: the instance is terminated now, status_reason `preempted`. */
export async function preempt(emu: EmulatorHandle, id: string): Promise<void> {
  const res = await fetch(`${emu.url}/admin/instances/${encodeURIComponent(id)}/preempt`, {
    method: 'POST',
    headers: { authorization: `Bearer ${emu.adminToken}` },
    signal: AbortSignal.timeout(60_000),
  });
  assert.equal(res.status, 200, await res.text());
}
