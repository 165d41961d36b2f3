/**
 * The jobs controller on another cloud (`jobs.controller.resources: {cloud: fluffycloud}`), through the
 * built CLI: skyhop is shipped to a FluffyCloud instance (a real sshd host), the credentials it needs
 * reach it as 0600 files (never in a command line), it launches the job's cluster from there, and it is
 * not torn down while it still runs a job.
 */
import assert from 'node:assert/strict';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type EmulatorHandle, startEmulator } from '../helpers/fluffycloud.js';
import { cmdlinesWith } from '../helpers/scan.js';
import { Sandbox } from './harness.js';

/** Files named `name` under `dir` (recursively). */
function findFiles(dir: string, name: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries: string[];
    try {
      entries = readdirSync(d);
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e);
      let st: ReturnType<typeof statSync>;
      try {
        st = statSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(p);
      else if (e === name) out.push(p);
    }
  };
  walk(dir);
  return out;
}

describe('managed jobs with the controller on FluffyCloud', () => {
  let emu: EmulatorHandle;
  let sb: Sandbox;

  const liveInstances = async () =>
    Object.values((await emu.adminState()).instances as Record<string, { status: string }>).filter(
      (i) => i.status !== 'terminated',
    ).length;

  before(async () => {
    emu = await startEmulator({ bootDelayS: 0 });
    sb = new Sandbox();
    emu.writeCredentials(sb.home);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(sb.skyhopHome, { recursive: true });
    writeFileSync(
      join(sb.skyhopHome, 'config.yaml'),
      'jobs:\n  controller:\n    resources:\n      cloud: fluffycloud\n    poll_interval_seconds: 0.5\n',
    );
  });
  after(async () => {
    if (sb) {
      await sb.run(['jobs', 'cancel', '-a', '-y'], { timeoutMs: 60_000 }).catch(() => {});
      for (let i = 0; i < 60; i++) {
        const q = await sb.run(['jobs', 'queue', '--json']).catch(() => null);
        const jobs = q?.code === 0 ? (JSON.parse(q.stdout) as Array<{ status: string; phase: string }>) : [];
        if (jobs.every((j) => j.phase === 'idle')) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      await sb.cleanup();
    }
    await emu?.stop();
  });

  test('a job runs from the remote controller, which got the credentials as 0600 files', async () => {
    const r = await sb.run(
      ['jobs', 'launch', '-y', '--cloud', 'fluffycloud', 'echo "hi $SKYPILOT_TASK_ID"'],
      {
        timeoutMs: 300_000,
      },
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /hi skyhop-managed-\S+_job_1-0/);
    assert.match(r.stderr, /Copying skyhop to the jobs controller/);

    const st = await sb.run(['status', '--json']);
    const ctrl = (
      JSON.parse(st.stdout) as { clusters: Array<{ name: string; cloud: string }> }
    ).clusters.find((c) => c.name === 'skyhop-jobs-controller');
    assert.equal(ctrl?.cloud, 'fluffycloud');

    // The controller node's copy of the credentials (the instance's home lies in the emulator's data dir).
    const copies = findFiles(emu.dataDir, 'credentials').filter((p) => p.includes('.fluffycloud'));
    assert.ok(copies.length >= 1, 'the credentials reached the controller');
    for (const p of copies) assert.equal(statSync(p).mode & 0o777, 0o600, p);
    const env = findFiles(emu.dataDir, 'env.json');
    for (const p of env) assert.equal(statSync(p).mode & 0o777, 0o600, p);
    assert.deepEqual(cmdlinesWith(emu.apiKey), [], 'the API key is in no command line');

    const q = JSON.parse((await sb.run(['jobs', 'queue', '--json'])).stdout) as Array<{
      status: string;
      tasks: Array<{ infra: string }>;
    }>;
    assert.equal(q[0]?.status, 'SUCCEEDED');
    assert.match(q[0]!.tasks[0]!.infra, /^fluffycloud\//);
  });

  test('the controller is not torn down while it runs a job; after cancel it is, leaving nothing', async () => {
    const l = await sb.run(
      ['jobs', 'launch', '-y', '-d', '-n', 'sleeper', '--cloud', 'fluffycloud', 'sleep 300'],
      {
        timeoutMs: 120_000,
      },
    );
    assert.equal(l.code, 0, l.stdout + l.stderr);
    const d = await sb.run(['down', '-y', 'skyhop-jobs-controller']);
    assert.notEqual(d.code, 0);
    assert.match(d.stderr, /still runs managed job 2; cancel it first/);

    // The job's cluster carries skyhop's tags, but it is the controller's: the client does not adopt it.
    const refresh = await sb.run(['status', '--refresh', '--json'], { timeoutMs: 120_000 });
    assert.equal(refresh.code, 0, refresh.stderr);
    const names = (JSON.parse(refresh.stdout) as { clusters: Array<{ name: string }> }).clusters.map(
      (c) => c.name,
    );
    assert.deepEqual(names, ['skyhop-jobs-controller']);
    const downJob = await sb.run(['down', '-y', 'sleeper-2']);
    assert.notEqual(downJob.code, 0);
    assert.match(downJob.stderr, /belongs to a managed job/);

    const c = await sb.run(['jobs', 'cancel', '-y', '-n', 'sleeper']);
    assert.equal(c.code, 0, c.stderr);
    let status = '';
    for (let i = 0; i < 120 && status !== 'CANCELLED'; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const q = JSON.parse((await sb.run(['jobs', 'queue', '--json'])).stdout) as Array<{
        id: number;
        status: string;
      }>;
      status = q.find((j) => j.id === 2)?.status ?? '';
    }
    assert.equal(status, 'CANCELLED');
    const down = await sb.run(['down', '-y', 'skyhop-jobs-controller'], { timeoutMs: 120_000 });
    assert.equal(down.code, 0, down.stderr);
    assert.equal(await liveInstances(), 0);
  });
});
