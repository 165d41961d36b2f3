/** The managed jobs of the state (schema v5): the controller's rows, written before each step it takes. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { newManagedTask, openStore, SCHEMA_VERSION } from '../../../src/state/index.js';
import { BACKENDS, backendSuite, type StateEnv, tempState } from './backends.js';

let t: StateEnv;

const input = (name: string, tasks = [newManagedTask('t0')]) => ({
  name,
  user: 'u',
  tasks,
  dag: JSON.stringify({ tasks: [] }),
  request: JSON.stringify({ clouds: ['local'], preferred: [null] }),
});

for (const backend of BACKENDS) {
  describe(backend, backendSuite(backend), () => {
    beforeEach(async () => {
      t = await tempState(backend);
    });
    afterEach(() => t.cleanup());

    // SQLite's own migrations (PostgreSQL's start at the final shape: postgres.test.ts).
    if (backend === 'sqlite')
      test('a v4 database gains the managed_jobs table, its clusters and buckets kept', () => {
        const s = openStore();
        s.putStorage({
          name: 'b1',
          store: 's3',
          region: 'us-east-1',
          endpoint: null,
          source: null,
          createdBySkyhop: false,
          persistent: true,
          status: 'READY',
        });
        s.close();
        const path = join(t.home, 'state.db');
        const db = new Database(path);
        db.exec(
          'DROP TABLE api_audit; DROP TABLE api_request_log; DROP TABLE api_requests; DROP TABLE api_tokens; DROP TABLE api_users; DROP TABLE owners; DROP TABLE managed_jobs; PRAGMA user_version = 4;',
        );
        db.close();
        const s2 = openStore();
        assert.deepEqual(s2.listManagedJobs(), []);
        assert.equal(s2.getStorage('b1')?.status, 'READY');
        s2.close();
        const db2 = new Database(path, { readonly: true });
        assert.equal(db2.pragma('user_version', { simple: true }), SCHEMA_VERSION);
        db2.close();
      });

    test('insert, read back, update a task and the phase; ids grow; newest first', () => {
      const s = openStore();
      const a = s.insertManagedJob(input('a'));
      const b = s.insertManagedJob(input('b', [newManagedTask('x'), newManagedTask('y')]));
      assert.ok(b > a);
      const r = s.getManagedJob(a);
      assert.ok(r);
      assert.equal(r.status, 'PENDING');
      assert.equal(r.phase, 'idle');
      assert.equal(r.cancelRequested, false);
      assert.deepEqual(s.managedJobInput(a), { dag: input('a').dag, request: input('a').request });
      assert.deepEqual(
        s.listManagedJobs().map((j) => j.name),
        ['b', 'a'],
      );
      const tasks = r.tasks.map((x) => ({ ...x, status: 'RUNNING' as const, cluster: 'a-1' }));
      assert.equal(s.updateManagedJob(a, { status: 'RUNNING', phase: 'running', tasks }), true);
      const r2 = s.getManagedJob(a)!;
      assert.equal(r2.status, 'RUNNING');
      assert.equal(r2.phase, 'running');
      assert.equal(r2.tasks[0]!.cluster, 'a-1');
      assert.equal(s.updateManagedJob(999, { status: 'RUNNING' }), false);
      assert.equal(s.getManagedJob(999), null);
    });

    test('unfinished: not ended, or ended with its teardown pending (phase cleanup)', () => {
      const s = openStore();
      const a = s.insertManagedJob(input('a'));
      const b = s.insertManagedJob(input('b'));
      const c = s.insertManagedJob(input('c'));
      s.updateManagedJob(b, { status: 'SUCCEEDED', phase: 'cleanup' });
      s.updateManagedJob(c, { status: 'FAILED', phase: 'idle' });
      assert.deepEqual(
        s.unfinishedManagedJobs().map((j) => j.id),
        [a, b],
      );
    });

    test('cancel requests mark only unfinished jobs, by id or all', () => {
      const s = openStore();
      const a = s.insertManagedJob(input('a'));
      const b = s.insertManagedJob(input('b'));
      const c = s.insertManagedJob(input('c'));
      s.updateManagedJob(c, { status: 'CANCELLED' });
      assert.deepEqual(s.requestManagedCancel([b, c]), [b]);
      assert.equal(s.getManagedJob(b)!.cancelRequested, true);
      assert.equal(s.getManagedJob(a)!.cancelRequested, false);
      assert.deepEqual(s.requestManagedCancel('all'), [a, b]);
    });

    test('an unreadable tasks column is a clear error naming the job', async () => {
      const s = openStore();
      const a = s.insertManagedJob(input('a'));
      s.close();
      await t.exec(`UPDATE managed_jobs SET tasks = '{not json' WHERE id = ${a}`);
      assert.throws(() => openStore().getManagedJob(a), /managed job '1' has an unreadable tasks/);
    });
  });
}
