/**
 * The storage API the launch and `down` call, and `storage ls/delete`, against a real moto_server:
 * prepareStorage (create + upload + record the use; missing and denied buckets are one-line errors
 * and leave nothing behind), releaseStorage (persistent false/true, shared use), listStorage,
 * deleteStorage (created vs external, in use, unknown with did-you-mean, idempotent) and the journal
 * (CREATING / DELETING rows left by a crash are finished).
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { StorageMount } from '../../../src/core/storage.js';
import type { Task } from '../../../src/core/task.js';
import { openStore, type Store } from '../../../src/state/index.js';
import { checkBucket, createBucket } from '../../../src/storage/buckets.js';
import { deleteStorage, listStorage, prepareStorage, releaseStorage } from '../../../src/storage/index.js';
import { type S3Handle, s3Client } from '../../../src/storage/s3.js';
import { UserError } from '../../../src/util/errors.js';
import { type MotoEnv, motoEnv, motoMissing } from '../../helpers/moto.js';
import { cluster } from '../state/helpers.js';

const skip = motoMissing();

function task(mounts: Record<string, Partial<StorageMount> & { bucket: string }>): Task {
  const storageMounts: Record<string, StorageMount> = {};
  for (const [p, m] of Object.entries(mounts)) {
    storageMounts[p] = { prefix: '', store: 's3', mode: 'MOUNT', create: true, persistent: true, ...m };
  }
  return {
    numNodes: 1,
    envs: {},
    secrets: {},
    fileMounts: {},
    storageMounts,
    resources: [{}] as Task['resources'],
    ordered: false,
  };
}

describe('storage API (moto)', { skip: skip ?? false }, () => {
  let env: MotoEnv;
  let h: S3Handle;
  let store: Store;
  let src = '';
  before(async () => {
    env = await motoEnv('skyhop-storage-');
    h = await s3Client();
    store = openStore();
    src = join(env.dir, 'data');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'a.txt'), 'a');
    writeFileSync(join(src, 'sub', 'b.txt'), 'bb');
  });
  after(async () => {
    store?.close();
    h?.client.destroy();
    await env?.close();
  });
  beforeEach(() => {
    env.moto.clearFailures();
    env.moto.s3Requests.length = 0;
  });
  const exists = async (b: string) => (await checkBucket(h, b)).state === 'exists';
  const up = (name: string) => store.upsertCluster(cluster(name));

  test('prepare creates a missing bucket, uploads its source, records the use; list shows it', async () => {
    await prepareStorage(
      store,
      'c1',
      task({ '/data': { bucket: 'sk-created', localSource: src, prefix: 'p' } }),
    );
    assert.ok(await exists('sk-created'));
    const puts = env.moto.s3Requests
      .filter((r) => r.op === 'PutObject')
      .map((r) => r.key)
      .sort();
    assert.deepEqual(puts, ['p/a.txt', 'p/sub/b.txt']);
    up('c1');
    const rec = listStorage(store).find((r) => r.name === 'sk-created');
    assert.ok(rec);
    assert.equal(rec.status, 'READY');
    assert.equal(rec.createdBySkyhop, true);
    assert.equal(rec.persistent, true);
    assert.equal(rec.source, src);
    assert.deepEqual(rec.clusters, ['c1']);
    // A second launch with the same data sends nothing.
    env.moto.s3Requests.length = 0;
    await prepareStorage(
      store,
      'c1',
      task({ '/data': { bucket: 'sk-created', localSource: src, prefix: 'p' } }),
    );
    assert.equal(env.moto.s3Requests.filter((r) => r.op === 'PutObject').length, 0);
  });

  test('in use: delete is refused naming the cluster; after release (persistent) it is kept, then deleted', async () => {
    await assert.rejects(
      deleteStorage(store, ['sk-created']),
      (e: Error) => e instanceof UserError && /in use by cluster c1/.test(e.message),
    );
    store.removeCluster('c1');
    assert.deepEqual(await releaseStorage(store, 'c1'), [], 'persistent: kept');
    assert.ok(await exists('sk-created'));
    assert.deepEqual(listStorage(store).find((r) => r.name === 'sk-created')?.clusters, []);
    assert.deepEqual(await deleteStorage(store, ['sk-created']), [{ name: 'sk-created', action: 'deleted' }]);
    assert.equal(await exists('sk-created'), false);
    assert.equal(store.getStorage('sk-created'), null);
  });

  test('a missing bucket without create, and a denied one: one-line errors, nothing left behind', async () => {
    await assert.rejects(
      prepareStorage(store, 'c2', task({ '/data': { bucket: 'sk-nowhere', create: false } })),
      (e: Error) =>
        e instanceof UserError &&
        e.message.startsWith("file_mounts['/data']: s3://sk-nowhere does not exist ("),
    );
    await createBucket(h, 'sk-locked');
    env.moto.injectS3({ bucket: 'sk-locked', status: 403, code: 'AccessDenied' });
    // The first mount creates its bucket, the second is denied: the first bucket is deleted again.
    await assert.rejects(
      prepareStorage(
        store,
        'c2',
        task({ '/new': { bucket: 'sk-new-then-gone', localSource: src }, '/data': { bucket: 'sk-locked' } }),
      ),
      (e: Error) =>
        e instanceof UserError &&
        e.message === "file_mounts['/data']: access to s3://sk-locked is denied (AccessDenied)",
    );
    env.moto.clearFailures();
    assert.equal(await exists('sk-new-then-gone'), false);
    assert.equal(store.getStorage('sk-new-then-gone'), null);
    assert.equal(store.getStorage('sk-locked'), null);
    assert.deepEqual(store.storageUses(), []);
  });

  test('external bucket: recorded as used, never deleted; delete only forgets it', async () => {
    await createBucket(h, 'sk-external');
    await prepareStorage(store, 'c3', task({ '/ext': { bucket: 'sk-external', create: false } }));
    up('c3');
    const rec = listStorage(store).find((r) => r.name === 'sk-external');
    assert.equal(rec?.createdBySkyhop, false);
    assert.equal(rec?.source, 's3://sk-external');
    store.removeCluster('c3');
    assert.deepEqual(await releaseStorage(store, 'c3'), []);
    assert.deepEqual(await deleteStorage(store, ['sk-external']), [
      { name: 'sk-external', action: 'forgotten' },
    ]);
    assert.ok(await exists('sk-external'), 'kept');
    assert.equal(store.getStorage('sk-external'), null);
  });

  test('persistent: false is deleted when its last cluster goes; a shared one waits for the other', async () => {
    const t = task({ '/tmp': { bucket: 'sk-scratch', persistent: false, localSource: src } });
    await prepareStorage(store, 'c4', t);
    await prepareStorage(store, 'c5', t);
    up('c4');
    up('c5');
    assert.deepEqual(listStorage(store).find((r) => r.name === 'sk-scratch')?.clusters, ['c4', 'c5']);
    store.removeCluster('c4');
    assert.deepEqual(await releaseStorage(store, 'c4'), [], 'c5 still uses it');
    assert.ok(await exists('sk-scratch'));
    store.removeCluster('c5');
    assert.deepEqual(await releaseStorage(store, 'c5'), ['sk-scratch']);
    assert.equal(await exists('sk-scratch'), false);
    assert.equal(store.getStorage('sk-scratch'), null);
    assert.deepEqual(await releaseStorage(store, 'c5'), [], 'idempotent');
  });

  test('unknown names: did-you-mean; "all" deletes what skyhop created', async () => {
    await prepareStorage(store, 'c6', task({ '/d': { bucket: 'sk-results' } }));
    store.removeStorageUse({ name: 'sk-results', cluster: 'c6', path: '/d' });
    await assert.rejects(
      deleteStorage(store, ['sk-resluts']),
      (e: Error) =>
        e instanceof UserError && /'sk-resluts' not found \(did you mean 'sk-results'\?\)/.test(e.message),
    );
    const r = await deleteStorage(store, 'all');
    assert.deepEqual(r, [{ name: 'sk-results', action: 'deleted' }]);
    assert.deepEqual(await deleteStorage(store, 'all'), []);
  });

  test('journal: a CREATING row left by a crash (before or after CreateBucket) is finished by delete', async () => {
    const base = { store: 's3' as const, region: 'us-east-1', endpoint: env.moto.endpoint, source: null };
    // Crash before CreateBucket: the row only.
    store.putStorage({
      ...base,
      name: 'sk-crash-a',
      createdBySkyhop: true,
      persistent: true,
      status: 'CREATING',
    });
    // Crash after CreateBucket, before READY.
    store.putStorage({
      ...base,
      name: 'sk-crash-b',
      createdBySkyhop: true,
      persistent: true,
      status: 'CREATING',
    });
    await createBucket(h, 'sk-crash-b');
    // Crash mid-delete: DELETING, some objects gone.
    store.putStorage({
      ...base,
      name: 'sk-crash-c',
      createdBySkyhop: true,
      persistent: true,
      status: 'READY',
    });
    await createBucket(h, 'sk-crash-c');
    await h.client.send(new h.sdk.PutObjectCommand({ Bucket: 'sk-crash-c', Key: 'k', Body: 'v' }));
    store.setStorageStatus('sk-crash-c', 'DELETING');
    // As a dead process left them.
    const db = (await import('better-sqlite3')).default(store.path);
    db.prepare("UPDATE storage SET pid = 999999999, pid_start = 'gone' WHERE name LIKE 'sk-crash-%'").run();
    db.close();
    const shown = listStorage(store).filter((r) => r.name.startsWith('sk-crash-'));
    assert.deepEqual(
      shown.map((r) => [r.name, r.status, r.interrupted]),
      [
        ['sk-crash-a', 'CREATING', true],
        ['sk-crash-b', 'CREATING', true],
        ['sk-crash-c', 'DELETING', true],
      ],
    );
    const r = await deleteStorage(store, ['sk-crash-a', 'sk-crash-b', 'sk-crash-c']);
    assert.deepEqual(
      r.map((x) => x.action),
      ['deleted', 'deleted', 'deleted'],
    );
    for (const b of ['sk-crash-a', 'sk-crash-b', 'sk-crash-c']) {
      assert.equal(await exists(b), false, b);
      assert.equal(store.getStorage(b), null, b);
    }
  });

  test('delete aborts the parts an upload killed mid-file left (S3 keeps and bills them)', async () => {
    await createBucket(h, 'sk-parts');
    store.putStorage({
      name: 'sk-parts',
      store: 's3',
      region: h.region,
      endpoint: h.endpoint ?? null,
      source: null,
      createdBySkyhop: true,
      persistent: true,
      status: 'READY',
    });
    const mpu = await h.client.send(
      new h.sdk.CreateMultipartUploadCommand({ Bucket: 'sk-parts', Key: 'big.bin' }),
    );
    await h.client.send(
      new h.sdk.UploadPartCommand({
        Bucket: 'sk-parts',
        Key: 'big.bin',
        UploadId: mpu.UploadId,
        PartNumber: 1,
        Body: Buffer.alloc(5 * 1024 * 1024, 1),
      }),
    );
    env.moto.s3Requests.length = 0;
    await deleteStorage(store, ['sk-parts']);
    assert.equal(await exists('sk-parts'), false);
    assert.equal(env.moto.s3Requests.filter((r) => r.op === 'AbortMultipartUpload').length, 1);
  });

  test('journal: releaseStorage finishes a DELETING row a crashed teardown left', async () => {
    const base = { store: 's3' as const, region: 'us-east-1', endpoint: env.moto.endpoint, source: null };
    store.putStorage({
      ...base,
      name: 'sk-crash-d',
      createdBySkyhop: true,
      persistent: false,
      status: 'DELETING',
    });
    await createBucket(h, 'sk-crash-d');
    const db = (await import('better-sqlite3')).default(store.path);
    db.prepare("UPDATE storage SET pid = 999999999, pid_start = 'gone' WHERE name = 'sk-crash-d'").run();
    db.close();
    assert.deepEqual(await releaseStorage(store, 'any'), ['sk-crash-d']);
    assert.equal(await exists('sk-crash-d'), false);
  });
});
