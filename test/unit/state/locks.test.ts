import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { openStore, type LockHolder, type Store } from '../../../src/state/index.js';
import { describeSelf } from '../../../src/state/process.js';
import { UserError } from '../../../src/util/errors.js';
import { BACKENDS, backendSuite, type StateEnv, tempState } from './backends.js';
import { spawnFixture } from './helpers.js';

let t: StateEnv;
let s: Store;
const children: Array<ReturnType<typeof spawnFixture>> = [];

for (const backend of BACKENDS) {
  describe(backend, backendSuite(backend), () => {
    beforeEach(async () => {
      t = await tempState(backend);
      s = openStore();
    });
    afterEach(async () => {
      for (const c of children.splice(0)) {
        if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
        await c.exited;
      }
      s.close();
      t.cleanup();
    });

    function fixture(mode: string, cluster = 'dev') {
      const c = spawnFixture('lock.ts', [t.home, cluster, mode]);
      children.push(c);
      return c;
    }

    const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

    test('same process: a second acquire waits (telling onWait once) until the first is released', async () => {
      const release1 = await s.acquireClusterLock('dev', {
        wait: true,
        command: 'skyhop launch -c dev a.yaml',
      });
      assert.deepEqual(
        { ...s.lockHolder('dev'), since: 0 },
        { pid: process.pid, command: 'skyhop launch -c dev a.yaml', since: 0 },
      );
      const waits: LockHolder[] = [];
      let got = false;
      const second = s.acquireClusterLock('dev', { wait: true, onWait: (h) => waits.push(h) }).then((r) => {
        got = true;
        return r;
      });
      // Other clusters are independent.
      const other = await s.acquireClusterLock('other', { wait: false });
      await tick(300); // several polls
      assert.equal(got, false, 'the second acquire must not proceed while the lock is held');
      assert.equal(waits.length, 1);
      assert.equal(waits[0].pid, process.pid);
      assert.equal(waits[0].command, 'skyhop launch -c dev a.yaml');
      release1();
      const release2 = await second;
      assert.equal(got, true);
      assert.equal(waits.length, 1, 'onWait is called once');
      release1(); // idempotent, and does not release the lock now held by the second acquirer
      assert.equal(s.lockHolder('dev')?.pid, process.pid);
      await assert.rejects(s.acquireClusterLock('dev', { wait: false }), UserError);
      release2();
      release2();
      other();
      assert.equal(s.lockHolder('dev'), null);
      const again = await s.acquireClusterLock('dev', { wait: false });
      again();
    });

    test('wait:false names the holder; a wait with timeoutMs gives up with a clear error', async () => {
      const release = await s.acquireClusterLock('dev', {
        wait: true,
        command: 'skyhop launch -c dev task.yaml',
      });
      await assert.rejects(s.acquireClusterLock('dev', { wait: false }), (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.match(
          e.message,
          new RegExp(
            `^cluster 'dev' is in use by pid ${process.pid} \\(skyhop launch -c dev task\\.yaml\\) since \\d{4}-`,
          ),
        );
        assert.match(e.message, /wait for it to finish and retry/);
        return true;
      });
      await assert.rejects(s.acquireClusterLock('dev', { wait: true, timeoutMs: 100 }), (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.match(
          e.message,
          /^timed out after 0\.1 s waiting for cluster 'dev', in use by pid \d+ \(skyhop launch/,
        );
        return true;
      });
      release();
    });

    test('a real second process holds the lock: this one waits and proceeds only after it releases', async () => {
      const holder = fixture('hold');
      const locked = await holder.waitFor('LOCKED');
      assert.equal(locked, `LOCKED ${holder.child.pid}`);
      await assert.rejects(s.acquireClusterLock('dev', { wait: false }), (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.ok(e.message.includes(`pid ${holder.child.pid} (fixture hold dev)`), e.message);
        return true;
      });
      const waits: LockHolder[] = [];
      let got = false;
      const mine = s.acquireClusterLock('dev', { wait: true, onWait: (h) => waits.push(h) }).then((r) => {
        got = true;
        return r;
      });
      await tick(400);
      assert.equal(got, false);
      assert.deepEqual(
        waits.map((h) => [h.pid, h.command]),
        [[holder.child.pid, 'fixture hold dev']],
      );
      holder.child.stdin!.write('release\n');
      const release = await mine;
      assert.ok(existsSync(join(t.home, 'child-released')), 'acquired only after the holder released');
      assert.equal(await holder.exited, 0);
      release();
    });

    test('this process holds the lock: a real second process is refused, then waits, then proceeds', async () => {
      const release = await s.acquireClusterLock('dev', { wait: true, command: 'skyhop down dev' });
      const tryer = fixture('try');
      assert.equal(
        await tryer.waitFor('ERROR'),
        `ERROR cluster 'dev' is in use by pid ${process.pid} (skyhop down dev) since ${new Date(s.lockHolder('dev')!.since).toISOString()}; wait for it to finish and retry, or stop that process`,
      );
      assert.equal(await tryer.exited, 0);
      const waiter = fixture('wait');
      assert.equal(await waiter.waitFor('WAITING'), `WAITING ${process.pid} skyhop down dev`);
      await tick(300);
      assert.equal(waiter.lines.includes('ACQUIRED'), false);
      release();
      assert.equal(await waiter.waitFor('ACQUIRED'), 'ACQUIRED');
      assert.equal(await waiter.exited, 0);
      assert.equal(s.lockHolder('dev'), null, 'the child released it');
    });

    test('a lock whose holder died (SIGKILL, never released) is stale and taken over', async () => {
      const dier = fixture('hold-and-die');
      await dier.waitFor('LOCKED');
      assert.equal(await dier.exited, 137);
      assert.equal(s.lockHolder('dev'), null);
      const release = await s.acquireClusterLock('dev', { wait: false, command: 'skyhop status' });
      assert.equal(s.lockHolder('dev')?.command, 'skyhop status');
      release();
    });

    test('rows of holders that died are cleared (a down killed mid-way); a live holder keeps its row', async () => {
      const dier = fixture('hold-and-die', 'gone');
      await dier.waitFor('LOCKED');
      assert.equal(await dier.exited, 137);
      const live = fixture('hold', 'busy');
      await live.waitFor('LOCKED');
      const rows = async () =>
        (await t.exec('SELECT cluster FROM locks ORDER BY cluster')).map((r) => r.cluster);
      assert.deepEqual(await rows(), ['busy', 'gone']);
      assert.equal(s.clearStaleLocks(), 1);
      assert.deepEqual(await rows(), ['busy']);
      assert.equal(s.clearStaleLocks(), 0);
      assert.ok(s.lockHolder('busy'));
    });

    test('a lock recorded under this pid by an earlier process (pid reused) is stale', async () => {
      await t.exec(
        `INSERT INTO locks VALUES ('dev', 'old-token', ${process.pid}, '1', 'skyhop launch old', 1)`,
      );
      assert.equal(s.lockHolder('dev'), null);
      const release = await s.acquireClusterLock('dev', { wait: false });
      release();
    });

    test('release works after the store is closed, and locks are released when the process exits', async () => {
      const release = await s.acquireClusterLock('dev', { wait: false });
      s.close();
      s = openStore();
      assert.equal(s.lockHolder('dev')?.pid, process.pid);
      s.close();
      release();
      s = openStore();
      assert.equal(s.lockHolder('dev'), null);
      // A child that takes the lock and exits normally without calling release: the exit hook frees it.
      const c = spawnFixture('lock.ts', [t.home, 'dev', 'hold']);
      children.push(c);
      await c.waitFor('LOCKED');
      c.child.stdin!.end(); // no "release": the script ends and the process exits
      assert.equal(await c.exited, 0);
      assert.deepEqual(await t.exec("SELECT cluster FROM locks WHERE cluster = 'dev'"), []);
    });
  });
}

test('the recorded command never carries --secret values', () => {
  assert.equal(
    describeSelf([
      '/usr/bin/node',
      '/x/bin/skyhop.js',
      'launch',
      '--secret',
      'TOKEN=abc',
      '--secret=K=v',
      '-c',
      'dev',
    ]),
    'skyhop launch --secret TOKEN=*** --secret=K=*** -c dev',
  );
  assert.equal(
    describeSelf(['node', '/x/dist/cli.js', 'exec', '--secret', 'HF_TOKEN']),
    'skyhop exec --secret ***',
  );
  assert.ok(describeSelf(['node', 'a.js', 'x'.repeat(500)]).length <= 200);
});
