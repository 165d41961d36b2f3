/** The storage rows of the state (schema v4): the journal of buckets and the clusters that use them. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { openStore, SCHEMA_VERSION } from '../../../src/state/index.js';
import { BACKENDS, backendSuite, type StateEnv, tempState } from './backends.js';

let t: StateEnv;

const base = { store: 's3' as const, region: 'us-east-1', endpoint: null, source: '/src' };

for (const backend of BACKENDS) {
  describe(backend, backendSuite(backend), () => {
    beforeEach(async () => {
      t = await tempState(backend);
    });
    afterEach(() => t.cleanup());

    // SQLite's own migrations (PostgreSQL's start at the final shape: postgres.test.ts).
    if (backend === 'sqlite')
      test('a v3 database gains the storage tables, its clusters kept', () => {
        const s = openStore();
        s.close();
        // Back to v3 by hand: drop what v4 (and later versions) added.
        const path = join(t.home, 'state.db');
        const db = new Database(path);
        db.exec(
          'DROP TABLE api_audit; DROP TABLE api_request_log; DROP TABLE api_requests; DROP TABLE api_tokens; DROP TABLE api_users; DROP TABLE owners; DROP TABLE managed_jobs; DROP TABLE storage_uses; DROP TABLE storage; PRAGMA user_version = 3;',
        );
        db.close();
        const s2 = openStore();
        assert.deepEqual(s2.listStorage(), []);
        s2.close();
        const db2 = new Database(path, { readonly: true });
        assert.equal(db2.pragma('user_version', { simple: true }), SCHEMA_VERSION);
        db2.close();
      });

    test('put, status, uses, remove (uses go with the row)', () => {
      const s = openStore();
      s.putStorage({ ...base, name: 'b1', createdBySkyhop: true, persistent: false, status: 'CREATING' });
      const r = s.getStorage('b1');
      assert.ok(r);
      assert.equal(r.status, 'CREATING');
      assert.equal(r.pid, process.pid);
      assert.equal(r.processAlive, true);
      assert.equal(r.createdBySkyhop, true);
      assert.equal(r.persistent, false);
      assert.equal(s.setStorageStatus('b1', 'READY'), true);
      assert.equal(s.setStorageStatus('nope', 'READY'), false);
      s.addStorageUse({ name: 'b1', cluster: 'c1', path: '/d', mode: 'MOUNT' });
      s.addStorageUse({ name: 'b1', cluster: 'c1', path: '/d', mode: 'COPY' });
      s.addStorageUse({ name: 'b1', cluster: 'c2', path: '/e', mode: 'MOUNT_CACHED', prefix: 'ckpt/run1' });
      assert.deepEqual(s.storageUses('b1'), [
        { name: 'b1', cluster: 'c1', path: '/d', mode: 'COPY', prefix: '' },
        { name: 'b1', cluster: 'c2', path: '/e', mode: 'MOUNT_CACHED', prefix: 'ckpt/run1' },
      ]);
      assert.throws(() => s.addStorageUse({ name: 'unknown', cluster: 'c1', path: '/d', mode: 'MOUNT' }));
      assert.equal(s.removeStorage('b1'), true);
      assert.deepEqual(s.storageUses(), []);
      assert.equal(s.removeStorage('b1'), false);
      s.close();
    });

    test('releaseStorageUses: drops the cluster’s uses and marks only unused, skyhop-made, non-persistent buckets', () => {
      const s = openStore();
      s.putStorage({ ...base, name: 'scratch', createdBySkyhop: true, persistent: false, status: 'READY' });
      s.putStorage({ ...base, name: 'shared', createdBySkyhop: true, persistent: false, status: 'READY' });
      s.putStorage({ ...base, name: 'keep', createdBySkyhop: true, persistent: true, status: 'READY' });
      s.putStorage({ ...base, name: 'ext', createdBySkyhop: false, persistent: false, status: 'READY' });
      for (const name of ['scratch', 'shared', 'keep', 'ext']) {
        s.addStorageUse({ name, cluster: 'c1', path: `/${name}`, mode: 'MOUNT' });
      }
      s.addStorageUse({ name: 'shared', cluster: 'live', path: '/x', mode: 'MOUNT' });
      s.addStorageUse({ name: 'shared', cluster: 'stale', path: '/y', mode: 'MOUNT' });
      const marked = s.releaseStorageUses('c1', (c) => c === 'live');
      assert.deepEqual(marked, ['scratch']);
      assert.equal(s.getStorage('scratch')?.status, 'DELETING');
      assert.equal(s.getStorage('shared')?.status, 'READY');
      assert.deepEqual(
        s.storageUses().map((u) => u.cluster),
        ['live', 'stale'],
      );
      // Once 'live' is gone too, the stale use does not keep it.
      assert.deepEqual(
        s.releaseStorageUses('live', () => false),
        ['shared'],
      );
      s.close();
    });
  });
}
