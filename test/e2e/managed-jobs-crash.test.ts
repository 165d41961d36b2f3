/**
 * Crash safety of managed jobs (issue 12): "kill -9 of the controller at random points during 20 runs
 * leaves 0 leaked instances and every job in a true state". Through the built CLI, with the job
 * clusters on the FluffyCloud emulator (its instances real SSH hosts, its admin state the count of
 * what exists and the history of what existed) and the controller on the local cloud.
 *
 * Each round submits a few managed jobs of random kinds (one that succeeds, one that prints before and
 * after a pause, one whose code exits 1, one cancelled at a random moment, a spot one preempted by the
 * emulator's admin call once it runs), and kills the controller's `jobs-controller serve` process with
 * SIGKILL at random moments, or sometimes the bash loop of its agent job (which restarts it). The
 * moments come from a seeded PRNG: the seed is printed, and SKYHOP_CHAOS_SEED=<seed> replays a run.
 * After each round, when everything has settled: every job ended in the state that is true of it
 * (its output in `jobs logs` exactly), no job ever had two clusters alive at once (the emulator's
 * instance history), and no instance, no job cluster and no open provisioning intent is left.
 *
 * Two further tests kill at a chosen point: during an ended job's teardown (the restarted controller
 * must finish it), and the bash loop itself (the loop, not a client, restarts a killed `serve`; once
 * the loop is killed, a client's next `jobs queue` brings the controller back, and so does the
 * controller's own autostop, whose `stop` is refused while a job is unfinished; once idle and
 * stopped, `jobs queue --refresh` starts it).
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { seededRng } from '../../src/emulators/fluffycloud/rng.js';
import { managedClusterName } from '../../src/jobs/job.js';
import { MANAGED_TERMINAL_STATUSES } from '../../src/state/index.js';
import { type EmulatorHandle, startEmulator } from '../helpers/fluffycloud.js';
import { alive, waitFor } from '../unit/runtime/helpers.js';
import { pidsUnder, Sandbox } from './harness.js';

const ROUNDS = Number(process.env.SKYHOP_CHAOS_ROUNDS ?? 20);
const KEY = `fc-chaos-${randomInt(1 << 30)}`;
const SCENARIO = { users: { chaos: { api_key: KEY } }, boot_delay_s: 1 };
const CONTROLLER = 'skyhop-jobs-controller';
const TERMINAL: ReadonlySet<string> = new Set(MANAGED_TERMINAL_STATUSES);

const SEED = process.env.SKYHOP_CHAOS_SEED ? Number(process.env.SKYHOP_CHAOS_SEED) : randomInt(1 << 30);

/** A seeded PRNG (the emulator's), so a failing run can be replayed. */
const prng = seededRng;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Kind = 'ok' | 'twice' | 'fail' | 'cancel' | 'preempt';
const KINDS: Kind[] = ['ok', 'twice', 'fail', 'cancel', 'preempt'];
const COMMAND: Record<Kind, string> = {
  ok: 'sleep 1; echo done',
  twice: 'echo start; sleep 2; echo done',
  fail: 'echo bad; exit 1',
  cancel: 'echo waiting; sleep 600',
  preempt: 'echo start; sleep 3; echo done',
};

interface Job {
  id: number;
  kind: Kind;
  name: string;
  spot: boolean;
  /** What happened to it from outside (for the failure message). */
  events: string[];
  /** Its instance was preempted while its code ran. */
  preempted?: boolean;
}

interface QueueRow {
  id: number;
  name: string;
  status: string;
  phase: string;
  reason: string | null;
  recoveryCount: number;
  tasks: Array<{ status: string; exitCode: number | null; cluster: string | null; recoveryCount: number }>;
}

/** An instance as the emulator's admin state has it (the fields read here). */
interface Instance {
  id: string;
  status: string;
  tags?: Record<string, string>;
  created_at: string;
  terminated_at?: string;
}

interface Proc {
  pid: number;
  ppid: number;
  argv: string[];
}

describe('managed jobs: kill -9 of the controller at random points', { concurrency: false }, () => {
  const sb = new Sandbox();
  let emu: EmulatorHandle;
  const rand = prng(SEED);
  const log: string[] = [];
  const note = (line: string) => log.push(`${new Date().toISOString()} ${line}`);

  // ---- the controller's processes and state ----

  function procs(): Proc[] {
    const out: Proc[] = [];
    for (const pid of pidsUnder(sb.dir)) {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
        const ppid = Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
        if (argv.length > 0) out.push({ pid, ppid, argv });
      } catch {
        // gone
      }
    }
    return out;
  }
  /** The `jobs-controller serve` processes (node, not the shell that loops over it). */
  const servers = () =>
    procs().filter(
      (p) =>
        !/(^|\/)(ba)?sh$/.test(p.argv[0]!) &&
        p.argv.at(-2) === 'jobs-controller' &&
        p.argv.at(-1) === 'serve',
    );
  /** The agent job's bash loops that restart `serve`. */
  const loops = () =>
    procs().filter(
      (p) => /(^|\/)bash$/.test(p.argv[0]!) && p.argv.some((a) => a.includes('jobs-controller serve; rc=')),
    );

  /** The controller's own $SKYHOP_HOME (on its local node). */
  function controllerHome(): string {
    const base = join(sb.skyhopHome, 'local', 'clusters', CONTROLLER);
    const nodes = existsSync(base) ? readdirSync(base).filter((n) => existsSync(join(base, n, 'home'))) : [];
    assert.equal(nodes.length, 1, `one controller node under ${base}`);
    return join(base, nodes[0]!, 'home', '.skyhop');
  }

  function controllerDb<T>(fn: (db: Database.Database) => T): T {
    const db = new Database(join(controllerHome(), 'state.db'), { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    try {
      return fn(db);
    } finally {
      db.close();
    }
  }
  /** The controller's clusters (the job clusters it launched) and its open provisioning intents. */
  const controllerLeftovers = () =>
    controllerDb((db) => ({
      clusters: (db.prepare('SELECT name, status FROM clusters').all() as Array<{ name: string }>).map(
        (c) => c.name,
      ),
      intents: (
        db.prepare('SELECT cluster FROM intents WHERE outcome IS NULL').all() as Array<{ cluster: string }>
      ).map((i) => i.cluster),
    }));
  const dbJob = (id: number) =>
    controllerDb(
      (db) =>
        db.prepare('SELECT status, phase FROM managed_jobs WHERE id = ?').get(id) as
          | { status: string; phase: string }
          | undefined,
    );

  // ---- the emulator ----

  async function instances(): Promise<Instance[]> {
    return Object.values((await emu.adminState()).instances) as Instance[];
  }
  const liveInstances = async () => (await instances()).filter((i) => i.status !== 'terminated');
  async function preempt(id: string): Promise<boolean> {
    const res = await fetch(`${emu.url}/admin/instances/${encodeURIComponent(id)}/preempt`, {
      method: 'POST',
      headers: { authorization: `Bearer ${emu.adminToken}` },
    });
    await res.body?.cancel();
    return res.ok;
  }
  async function setRemoveDelay(ms: number): Promise<void> {
    await emu.setScenario(
      ms > 0
        ? { ...SCENARIO, failures: { rate: 0, slow_rate: 1, slow_ms: ms, calls: ['remove'], seed: 1 } }
        : SCENARIO,
    );
  }

  /**
   * No job cluster ever had two instances alive at once: per cluster name (one per job), each instance
   * was created after the one before it was terminated.
   */
  async function assertNeverTwice(): Promise<void> {
    const byCluster = new Map<string, Instance[]>();
    for (const i of await instances()) {
      const c = i.tags?.['skyhop-cluster'] ?? '(untagged)';
      byCluster.set(c, [...(byCluster.get(c) ?? []), i]);
    }
    for (const [c, list] of byCluster) {
      list.sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at));
      for (let k = 1; k < list.length; k++) {
        const prev = list[k - 1]!;
        const cur = list[k]!;
        assert.ok(
          prev.terminated_at && Date.parse(cur.created_at) >= Date.parse(prev.terminated_at),
          `cluster ${c} had two instances alive at once: ${prev.id} (${prev.created_at} .. ${prev.terminated_at ?? 'alive'}) and ${cur.id} (created ${cur.created_at})`,
        );
      }
    }
  }

  // ---- the CLI ----

  async function launch(kind: Kind, name: string, spot: boolean): Promise<number> {
    const r = await sb.run([
      'jobs',
      'launch',
      '-y',
      '-d',
      '-n',
      name,
      '--cloud',
      'fluffycloud',
      ...(spot ? ['--use-spot'] : []),
      COMMAND[kind],
    ]);
    assert.equal(r.code, 0, `jobs launch ${name}: ${r.stderr}`);
    const m = /Managed job ID: (\d+)/.exec(r.stderr);
    assert.ok(m, r.stderr);
    return Number(m[1]);
  }

  async function queue(): Promise<QueueRow[]> {
    const r = await sb.run(['jobs', 'queue', '--json']);
    assert.equal(r.code, 0, `jobs queue: ${r.stderr}`);
    return JSON.parse(r.stdout) as QueueRow[];
  }

  async function logsOf(id: number): Promise<string> {
    const r = await sb.run(['jobs', 'logs', '--no-follow', String(id)]);
    assert.equal(r.code, 0, `jobs logs ${id}: ${r.stderr}`);
    return r.stdout;
  }

  /** Until every job in `ids` has ended and its teardown is done; the rows. */
  async function settle(ids: number[], ms = 150_000): Promise<Map<number, QueueRow>> {
    return waitFor(
      `jobs ${ids.join(', ')} to end and be torn down`,
      async () => {
        const rows = new Map((await queue()).map((j) => [j.id, j]));
        const done = ids.every((id) => {
          const j = rows.get(id);
          return j && TERMINAL.has(j.status) && j.phase === 'idle';
        });
        if (!done) await sleep(300);
        return done ? rows : null;
      },
      ms,
    );
  }

  /** Nothing left: no instance in the emulator, no job cluster or open intent on the controller. */
  async function assertNothingLeft(): Promise<void> {
    // The job's end (phase idle) is written after its teardown; the poll only absorbs the emulator's
    // own bookkeeping.
    const left = await waitFor(
      'the emulator to have no live instance',
      async () => {
        const l = await liveInstances();
        if (l.length > 0) await sleep(200);
        return l.length === 0 ? [] : null;
      },
      60_000,
    ).catch(async () => liveInstances());
    assert.deepEqual(
      left.map((i) => `${i.id} ${i.tags?.['skyhop-cluster']} ${i.status}`),
      [],
      'instances left in the emulator',
    );
    assert.deepEqual(controllerLeftovers(), { clusters: [], intents: [] }, "the controller's leftovers");
  }

  /** The job ended as it truly did: its state and its output (else the controller's log of it). */
  async function assertTrue(job: Job, row: QueueRow): Promise<void> {
    try {
      await assertTrueOf(job, row);
    } catch (e) {
      const c = await sb.run(['jobs', 'logs', '--controller', '--no-follow', String(job.id)]);
      (e as Error).message += `\nthe controller's log of job ${job.id}:\n${c.stdout}`;
      throw e;
    }
  }

  async function assertTrueOf(job: Job, row: QueueRow): Promise<void> {
    const what = `job ${job.id} (${job.kind}${job.spot ? ', spot' : ''}; ${job.events.join('; ') || 'nothing done to it'}): ${row.status} (${row.reason ?? ''})`;
    const out = await logsOf(job.id);
    const segments = out.split(/^\(skyhop\) task 0 .*recovery \d+:\n/m);
    const recoveries = row.tasks[0]!.recoveryCount;
    switch (job.kind) {
      case 'ok':
        assert.equal(row.status, 'SUCCEEDED', what);
        assert.equal(out, 'done\n', `${what}: its output`);
        break;
      case 'twice':
        assert.equal(row.status, 'SUCCEEDED', what);
        assert.equal(out, 'start\ndone\n', `${what}: its output`);
        break;
      case 'fail':
        assert.equal(row.status, 'FAILED', what);
        assert.equal(row.tasks[0]!.exitCode, 1, what);
        assert.equal(out, 'bad\n', `${what}: its output`);
        break;
      case 'cancel':
        assert.equal(row.status, 'CANCELLED', what);
        assert.ok(out === '' || out === 'waiting\n', `${what}: its output ${JSON.stringify(out)}`);
        break;
      case 'preempt':
        assert.equal(row.status, 'SUCCEEDED', what);
        // One segment per cluster it ran on: each earlier one cut short, the last one whole.
        assert.equal(segments.length, recoveries + 1, `${what}: ${JSON.stringify(out)}`);
        for (const s of segments.slice(0, -1))
          assert.ok(s === '' || s === 'start\n', `${what}: ${JSON.stringify(out)}`);
        assert.equal(segments.at(-1), 'start\ndone\n', `${what}: ${JSON.stringify(out)}`);
        // Preempted while its code ran (3 s), so it ran again elsewhere.
        if (job.preempted) assert.ok(recoveries >= 1, `${what}: recovered after its preemption`);
        break;
    }
    if (job.kind !== 'preempt') {
      assert.equal(segments.length, 1, `${what}: no recovery header expected: ${JSON.stringify(out)}`);
    }
  }

  /** SIGKILL the serve process; resolves once one serves again (started by a loop). */
  async function killServe(why: string): Promise<{ sameLoop: boolean } | null> {
    const s = servers();
    if (s.length === 0) {
      note(`${why}: no serve process to kill`);
      return null;
    }
    for (const p of s) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {}
    }
    note(`${why}: killed serve ${s.map((p) => `${p.pid} (loop ${p.ppid})`).join(', ')}`);
    const killed = new Set(s.map((p) => p.pid));
    const next = await waitFor(
      'a serve process again',
      () => servers().find((p) => !killed.has(p.pid)),
      30_000,
    );
    return { sameLoop: s.some((p) => p.ppid === next.ppid) };
  }

  /** SIGKILL the bash loop; resolves once its serve is gone too. */
  async function killLoop(why: string): Promise<boolean> {
    const l = loops();
    if (l.length === 0) {
      note(`${why}: no loop to kill`);
      return false;
    }
    const s = servers().filter((p) => l.some((x) => x.pid === p.ppid));
    for (const p of l) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {}
    }
    note(
      `${why}: killed loop ${l.map((p) => p.pid).join(', ')} (its serve ${s.map((p) => p.pid).join(', ')})`,
    );
    // The agent ends every process of a job whose main process died: its serve goes with it.
    await waitFor('the serve of the killed loop to end', () => s.every((p) => !alive(p.pid)), 30_000);
    return true;
  }

  before(async () => {
    console.log(`managed-jobs-crash: seed ${SEED} (replay: SKYHOP_CHAOS_SEED=${SEED})`);
    mkdirSync(sb.home, { recursive: true });
    emu = await startEmulator({ scenario: SCENARIO });
    emu.writeCredentials(sb.home);
  });

  after(async () => {
    // Every job ended, every cluster (the controller's too) down, the emulator empty, even on failure.
    try {
      // SKYHOP_CHAOS_DUMP=DIR keeps the controller's logs (managed/<id>/controller.log, serve.log).
      const dump = process.env.SKYHOP_CHAOS_DUMP;
      if (dump) {
        try {
          mkdirSync(dump, { recursive: true });
          const nodeHome = join(controllerHome(), '..');
          cpSync(nodeHome, dump, {
            recursive: true,
            filter: (src) =>
              !/\.(db-wal|db-shm|cjs)$|\/(keys|local|sky_workdir|\.ssh)(\/|$)/.test(
                src.slice(nodeHome.length),
              ),
          });
          writeFileSync(join(dump, 'test.log'), log.join('\n'));
        } catch (e) {
          console.error(`dump: ${(e as Error).message}`);
        }
      }
      if (existsSync(join(sb.skyhopHome, 'state.db'))) {
        await sb.run(['jobs', 'cancel', '-a', '-y'], { timeoutMs: 60_000 }).catch(() => {});
        await waitFor(
          'every managed job to end',
          async () => (await queue()).every((j) => TERMINAL.has(j.status) && j.phase === 'idle'),
          120_000,
        ).catch((e: Error) => console.error(`cleanup: ${e.message}`));
        // Whatever job cluster a stuck controller still has goes too (its own home, keys, credentials).
        const home = (() => {
          try {
            return controllerHome();
          } catch {
            return null;
          }
        })();
        if (home) {
          // Nothing may launch meanwhile: the controller's process and its loop go first.
          for (const p of [...loops(), ...servers()]) {
            try {
              process.kill(p.pid, 'SIGKILL');
            } catch {}
          }
          await sb
            .run(['down', '-a', '-y', '--purge'], {
              env: { SKYHOP_HOME: home, HOME: join(home, '..') },
              timeoutMs: 120_000,
            })
            .catch(() => {});
        }
      }
      await sb.cleanup();
    } finally {
      const left = emu ? await liveInstances().catch(() => []) : [];
      await emu?.stop();
      if (log.length > 0 && process.env.SKYHOP_CHAOS_VERBOSE) console.log(log.join('\n'));
      assert.deepEqual(
        left.map((i) => i.id),
        [],
        `instances left in the emulator after cleanup (seed ${SEED})`,
      );
    }
  });

  /** Runs `fn`; a failure says the seed and what the test did. */
  async function replayable(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      const err = e as Error;
      err.message = `${err.message}\n(seed ${SEED}; replay with SKYHOP_CHAOS_SEED=${SEED})\n${log.slice(-40).join('\n')}`;
      throw err;
    }
  }

  test(`${ROUNDS} rounds of managed jobs with the controller killed at random moments`, async () => {
    await replayable(async () => {
      let kills = 0;
      let loopKills = 0;
      let sameLoop = 0;
      let preempted = 0;
      let jobsRun = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const n = 2 + Math.floor(rand() * 2);
        const plan = Array.from({ length: n }, (_, k) => {
          const kind = KINDS[Math.floor(rand() * KINDS.length)]!;
          return {
            kind,
            spot: kind === 'preempt' || rand() < 0.4,
            name: `r${round}-${kind}`,
            at: k === 0 ? 0 : Math.floor(rand() * 1500),
            act: Math.floor(rand() * 5000),
          };
        });
        const killAt = Array.from({ length: 1 + (rand() < 0.3 ? 1 : 0) }, () => ({
          at: Math.floor(rand() * 5000),
          loop: rand() < 0.15,
        })).sort((a, b) => a.at - b.at);
        note(
          `round ${round}: ${plan.map((p) => `${p.name}${p.spot ? '/spot' : ''}@${p.at}+${p.act}`).join(' ')}; kills at ${killAt.map((k) => `${k.at}${k.loop ? ' (loop)' : ''}`).join(', ')}`,
        );
        const t0 = Date.now();
        const jobs: Job[] = [];
        const acting = plan.map(async (p) => {
          await sleep(p.at);
          const id = await launch(p.kind, p.name, p.spot);
          const job: Job = { id, kind: p.kind, name: p.name, spot: p.spot, events: [] };
          jobs.push(job);
          note(`round ${round}: ${p.name} is job ${id}`);
          if (p.kind === 'cancel') {
            await sleep(p.act);
            const c = await sb.run(['jobs', 'cancel', '-y', String(id)]);
            assert.equal(c.code, 0, `jobs cancel ${id}: ${c.stderr}`);
            job.events.push(`cancelled after ${p.act} ms`);
          } else if (p.kind === 'preempt') {
            // Once its code runs (the controller's row says RUNNING), its instance is preempted.
            const cluster = managedClusterName(p.name, id, 0, 1);
            const inst = await waitFor(
              `job ${id} running on ${cluster}`,
              async () => {
                const i =
                  dbJob(id)?.status === 'RUNNING'
                    ? (await instances()).find(
                        (x) => x.tags?.['skyhop-cluster'] === cluster && x.status === 'running',
                      )
                    : undefined;
                if (!i) await sleep(100);
                return i;
              },
              120_000,
            );
            await sleep(p.act / 8);
            const ok = await preempt(inst.id);
            job.events.push(ok ? `instance ${inst.id} preempted` : `preempting ${inst.id} failed`);
            job.preempted = ok;
            if (ok) preempted++;
          }
        });
        const killing = (async () => {
          for (const k of killAt) {
            await sleep(Math.max(0, t0 + k.at - Date.now()));
            kills++;
            if (k.loop) {
              if (await killLoop(`round ${round}`)) {
                loopKills++;
                // Nothing serves until a client asks: the next `jobs queue` brings it back while a job
                // is unfinished (else the next round's `jobs launch` does).
                const q = await queue();
                if (q.some((j) => !TERMINAL.has(j.status) || j.phase !== 'idle'))
                  await waitFor('serve started again by `jobs queue`', () => servers().length > 0, 30_000);
                else note(`round ${round}: every job had ended; nothing to serve`);
              }
              continue;
            }
            const r = await killServe(`round ${round}`);
            if (r?.sameLoop) sameLoop++;
          }
        })();
        const results = await Promise.allSettled([...acting, killing]);
        for (const r of results) if (r.status === 'rejected') throw r.reason;
        const rows = await settle(jobs.map((j) => j.id));
        await Promise.all(jobs.map((j) => assertTrue(j, rows.get(j.id)!)));
        await assertNothingLeft();
        await assertNeverTwice();
        jobsRun += jobs.length;
        note(
          `round ${round}: ${jobs.map((j) => `${j.id}=${rows.get(j.id)!.status}/r${rows.get(j.id)!.recoveryCount}`).join(' ')}`,
        );
      }
      console.log(
        `managed-jobs-crash: ${jobsRun} jobs in ${ROUNDS} rounds; ${kills} kills (${loopKills} of the bash loop); a killed serve restarted by its own loop ${sameLoop} times; ${preempted} preemptions`,
      );
    });
  });

  test('killed while an ended job is torn down: the restarted controller finishes the teardown', async () => {
    await replayable(async () => {
      // The emulator answers removals 3 s late, so the kill lands while the instance still exists.
      await setRemoveDelay(3000);
      try {
        const id = await launch('ok', 'teardown', false);
        const cluster = managedClusterName('teardown', id, 0, 1);
        await waitFor(
          `job ${id} to succeed and be in its teardown`,
          () => {
            const j = dbJob(id);
            return j?.status === 'SUCCEEDED' && j.phase === 'cleanup';
          },
          120_000,
        );
        const during = (await liveInstances()).filter((i) => i.tags?.['skyhop-cluster'] === cluster);
        assert.equal(during.length, 1, 'the cluster still exists when the controller is killed');
        assert.equal(controllerLeftovers().clusters.includes(cluster), true);
        await killServe('teardown');
        const rows = await settle([id]);
        await assertTrue({ id, kind: 'ok', name: 'teardown', spot: false, events: [] }, rows.get(id)!);
        await assertNothingLeft();
        await assertNeverTwice();
        const serveLog = readFileSync(join(controllerHome(), 'controller', 'serve.log'), 'utf8');
        assert.match(serveLog, new RegExp(`job ${id}: resuming \\(SUCCEEDED\\)`));
      } finally {
        await setRemoveDelay(0);
      }
    });
  });

  test('the bash loop restarts a killed serve; after the loop is killed, the next `jobs queue` or the refused autostop does', async () => {
    await replayable(async () => {
      const id = await launch('twice', 'loop', false);
      await waitFor(
        `job ${id} to run`,
        async () => {
          const j = dbJob(id);
          if (j?.status !== 'RUNNING') await sleep(50);
          return j?.status === 'RUNNING';
        },
        120_000,
      );
      // No client command meanwhile: the loop brings serve back by itself.
      const r = await killServe('loop test');
      assert.deepEqual(r, { sameLoop: true }, 'the same bash loop started serve again');
      assert.equal(await killLoop('loop test'), true);
      assert.deepEqual(servers(), [], 'nothing serves once the loop is killed');
      // A client's `jobs queue` sees that nothing serves while a job is unfinished, and starts it.
      const q = await queue();
      assert.ok(q.some((j) => j.id === id));
      await waitFor('serve to be started again by `jobs queue`', () => servers().length > 0, 30_000);

      // A killed loop leaves the controller's agent idle, and its autostop runs `stop` on the cluster a
      // minute later (done here at once), the job still unfinished: the stop is refused, and looking
      // at the jobs for it starts serve again.
      assert.equal(await killLoop('loop test'), true);
      const stop = await sb.run(['stop', '-y', CONTROLLER]);
      assert.notEqual(stop.code, 0, 'the controller is not stopped while a job is unfinished');
      assert.match(stop.stderr, /still runs managed job \d+; cancel it first .* then stop it/);
      await waitFor('serve to be started again by the refused stop', () => servers().length > 0, 30_000);
      const rows = await settle([id]);
      await assertTrue({ id, kind: 'twice', name: 'loop', spot: false, events: [] }, rows.get(id)!);
      await assertNothingLeft();
      await assertNeverTwice();

      // Once idle, the controller stops (as its autostop does): `jobs queue` says so rather than "No
      // managed jobs", and `--refresh` starts it again and lists its jobs.
      const stopIdle = await sb.run(['stop', '-y', CONTROLLER]);
      assert.equal(stopIdle.code, 0, stopIdle.stderr);
      const stopped = await sb.run(['jobs', 'queue']);
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.match(stopped.stderr, /jobs controller is stopped.*jobs queue --refresh/);
      const refreshed = await sb.run(['jobs', 'queue', '--refresh', '--json']);
      assert.equal(refreshed.code, 0, refreshed.stderr);
      assert.ok(
        (JSON.parse(refreshed.stdout) as QueueRow[]).some((j) => j.id === id),
        refreshed.stdout,
      );
    });
  });
});
