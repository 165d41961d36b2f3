/**
 * Crash safety on the local cloud: a launch killed with SIGKILL at any point leaves nothing that
 * `status --refresh` cannot see or `down` cannot remove; Ctrl-C while logs stream detaches and the
 * job keeps running.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { pidsUnder, Sandbox, waitFor } from './harness.js';

function nodeDirs(sb: Sandbox): string[] {
  const root = join(sb.skyhopHome, 'local', 'clusters');
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((c) => readdirSync(join(root, c)).map((n) => `${c}/${n}`));
}

describe('crash safety', () => {
  const sb = new Sandbox();
  after(() => sb.cleanup());

  // Kill points: by time after start, and at each progress line the launch prints.
  const points: Array<{ label: string; afterMs?: number; onLine?: RegExp }> = [
    { label: 'at start', afterMs: 0 },
    { label: 'while loading', afterMs: 60 },
    { label: 'on "Launching"', onLine: /Launching/ },
    { label: 'on "Preparing"', onLine: /Preparing/ },
    { label: 'on "Syncing"', onLine: /Syncing/ },
    { label: 'on "submitted"', onLine: /submitted/ },
  ];
  for (const p of points) {
    test(`kill -9 ${p.label}, then down -a: nothing of the cluster is left`, async () => {
      const child = sb.spawn(['launch', '-y', '-c', 'crash', '-n', 'crashjob', 'sleep 300']);
      let err = '';
      const killed = new Promise<void>((resolve) => {
        const kill = () => {
          child.kill('SIGKILL');
          resolve();
        };
        if (p.afterMs !== undefined) setTimeout(kill, p.afterMs);
        child.stderr.on('data', (d) => {
          err += d;
          if (p.onLine?.test(err)) kill();
        });
        child.on('close', () => resolve());
      });
      await killed;
      await new Promise((r) => child.on('close', r));
      const refresh = await sb.run(['status', '--refresh', '--json']);
      assert.equal(refresh.code, 0, refresh.stderr);
      const down = await sb.run(['down', '-a', '-y']);
      assert.equal(down.code, 0, down.stderr);
      assert.deepEqual(nodeDirs(sb), [], 'node directories left behind');
      assert.deepEqual(pidsUnder(join(sb.skyhopHome, 'local')), [], 'processes left behind');
      const st = JSON.parse((await sb.run(['status', '--json'])).stdout);
      assert.deepEqual(st.clusters, []);
    });
  }

  test('Ctrl-C while logs stream detaches; the job keeps running', async () => {
    const child = sb.spawn(['launch', '-y', '-c', 'ctrlc', 'echo started; sleep 300']);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    await waitFor('the job output', () => out.includes('started'));
    child.kill('SIGINT');
    const code = await new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)));
    assert.equal(code, 130, err);
    assert.match(err, /keeps running/);
    const q = await sb.run(['queue', 'ctrlc', '--json']);
    assert.equal(JSON.parse(q.stdout).ctrlc[0].status, 'RUNNING');
    const c = await sb.run(['cancel', 'ctrlc', '--all']);
    assert.equal(c.code, 0, c.stderr);
    assert.equal((await sb.run(['down', '-y', 'ctrlc'])).code, 0);
    assert.deepEqual(pidsUnder(join(sb.skyhopHome, 'local')), []);
  });
});
