/**
 * Buckets and uploads against a real moto_server (through the test proxy, which counts the S3
 * operations it forwards): create / check / delete (idempotent), a tree with nested directories and
 * a .skyignore, unchanged files never sent again, a changed file sent again, multipart above the
 * part size (ETag computed locally the same way), the access-denied injection.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { checkBucket, createBucket, deleteBucket } from '../../../src/storage/buckets.js';
import { bucketNameProblem } from '../../../src/task/storage.js';
import { type S3Handle, s3Access, s3Client } from '../../../src/storage/s3.js';
import { localEtag, uploadTree } from '../../../src/storage/upload.js';
import { UserError } from '../../../src/util/errors.js';
import { type MotoEnv, motoEnv, motoMissing } from '../../helpers/moto.js';

const skip = motoMissing();

describe('S3 buckets and uploads (moto)', { skip: skip ?? false }, () => {
  let env: MotoEnv;
  let h: S3Handle;
  let src = '';
  before(async () => {
    env = await motoEnv('skyhop-s3-');
    h = await s3Client();
    src = join(env.dir, 'src');
  });
  after(async () => {
    h?.client.destroy();
    await env?.close();
  });
  beforeEach(() => {
    env.moto.clearFailures();
    env.moto.s3Requests.length = 0;
    rmSync(src, { recursive: true, force: true });
  });

  const ops = (op: string, bucket?: string) =>
    env.moto.s3Requests.filter((r) => r.op === op && (bucket === undefined || r.bucket === bucket)).length;

  test('bucket names are checked before any request', async () => {
    assert.equal(bucketNameProblem('ok-bucket.1'), undefined);
    for (const bad of ['ab', 'Upper', 'a..b', '-x-', '192.168.1.1', 'x_y'])
      assert.ok(bucketNameProblem(bad), bad);
    await assert.rejects(
      checkBucket(h, 'Bad_Name'),
      (e: Error) => e instanceof UserError && /invalid bucket name/.test(e.message),
    );
    assert.equal(env.moto.s3Requests.length, 0);
  });

  test('create, check, delete; deleting twice is fine', async () => {
    assert.deepEqual(await checkBucket(h, 'b-life'), { state: 'missing' });
    assert.equal(await createBucket(h, 'b-life'), true);
    await createBucket(h, 'b-life'); // already owned: no error (us-east-1 answers 200 again)
    assert.deepEqual(await checkBucket(h, 'b-life'), { state: 'exists' });
    mkdirSync(src);
    for (let i = 0; i < 1100; i++) writeFileSync(join(src, `f${i}`), `x${i}`);
    const r = await uploadTree(h, src, 'b-life', 'p');
    assert.equal(r.sent, 1100);
    assert.equal(await deleteBucket(h, 'b-life'), true);
    assert.equal(ops('DeleteObjects', 'b-life'), 2, 'batches of 1000');
    assert.deepEqual(await checkBucket(h, 'b-life'), { state: 'missing' });
    assert.equal(await deleteBucket(h, 'b-life'), false, 'already gone');
  });

  test('an injected 403 reads as denied, with its code', async () => {
    await createBucket(h, 'b-denied');
    env.moto.injectS3({ bucket: 'b-denied', status: 403, code: 'AccessDenied' });
    assert.deepEqual(await checkBucket(h, 'b-denied'), { state: 'denied', code: 'AccessDenied' });
    env.moto.clearFailures();
    assert.deepEqual(await checkBucket(h, 'b-denied'), { state: 'exists' });
    await deleteBucket(h, 'b-denied');
  });

  test('a tree with nested dirs and .skyignore; unchanged files are not sent again; a changed one is', async () => {
    await createBucket(h, 'b-tree');
    mkdirSync(join(src, 'a', 'b', 'c'), { recursive: true });
    mkdirSync(join(src, 'logs'));
    mkdirSync(join(src, 'node_modules', 'x'), { recursive: true });
    writeFileSync(join(src, '.skyignore'), 'logs/\n*.tmp\n/node_modules\n');
    writeFileSync(join(src, '.gitignore'), 'a/\n'); // .skyignore wins
    writeFileSync(join(src, 'top.txt'), 'top');
    writeFileSync(join(src, 'a', 'one.txt'), 'one');
    writeFileSync(join(src, 'a', 'b', 'c', 'deep.txt'), 'deep');
    writeFileSync(join(src, 'a', 'skip.tmp'), 'no');
    writeFileSync(join(src, 'logs', 'l.txt'), 'no');
    writeFileSync(join(src, 'node_modules', 'x', 'm.js'), 'no');
    const r1 = await uploadTree(h, src, 'b-tree', 'data/v1');
    const ignoreBytes = 'logs/\n*.tmp\n/node_modules\n'.length + 'a/\n'.length;
    assert.deepEqual(r1, { sent: 5, skipped: 0, bytes: 3 + 3 + 4 + ignoreBytes });
    const keys = env.moto.s3Requests
      .filter((r) => r.op === 'PutObject')
      .map((r) => r.key)
      .sort();
    assert.deepEqual(keys, [
      'data/v1/.gitignore',
      'data/v1/.skyignore',
      'data/v1/a/b/c/deep.txt',
      'data/v1/a/one.txt',
      'data/v1/top.txt',
    ]);

    env.moto.s3Requests.length = 0;
    const r2 = await uploadTree(h, src, 'b-tree', 'data/v1');
    assert.deepEqual(r2, { sent: 0, skipped: 5, bytes: 0 });
    assert.equal(ops('PutObject') + ops('UploadPart'), 0, 'nothing sent');

    // Touched but same content: read and hashed, not sent. Changed content: sent.
    const future = new Date(Date.now() + 60_000);
    utimesSync(join(src, 'top.txt'), future, future);
    writeFileSync(join(src, 'a', 'one.txt'), 'ONE');
    env.moto.s3Requests.length = 0;
    const r3 = await uploadTree(h, src, 'b-tree', 'data/v1');
    assert.deepEqual(r3, { sent: 1, skipped: 4, bytes: 3 });
    assert.deepEqual(
      env.moto.s3Requests.filter((r) => r.op === 'PutObject').map((r) => r.key),
      ['data/v1/a/one.txt'],
    );

    // Without the manifest (another machine), the listing's ETags still spare every send.
    rmSync(join(process.env.SKYHOP_HOME as string, 'storage'), { recursive: true, force: true });
    env.moto.s3Requests.length = 0;
    const r4 = await uploadTree(h, src, 'b-tree', 'data/v1');
    assert.deepEqual(r4, { sent: 0, skipped: 5, bytes: 0 });
    assert.equal(ops('PutObject'), 0);
    await deleteBucket(h, 'b-tree');
  });

  test('a file above the part size goes multipart; its ETag is computed locally to skip it later', async () => {
    await createBucket(h, 'b-multi');
    mkdirSync(src);
    const partSize = 5 * 1024 * 1024;
    const big = Buffer.alloc(partSize * 2 + 12345);
    for (let i = 0; i < big.length; i += 4096) big[i] = i % 251;
    writeFileSync(join(src, 'big.bin'), big);
    writeFileSync(join(src, 'small.txt'), 'small');
    const r1 = await uploadTree(h, src, 'b-multi', '', { partSize });
    assert.deepEqual(r1, { sent: 2, skipped: 0, bytes: big.length + 5 });
    assert.equal(ops('CreateMultipartUpload'), 1);
    assert.equal(ops('UploadPart'), 3);
    assert.equal(ops('PutObject'), 1);
    const head = await h.client.send(new h.sdk.HeadObjectCommand({ Bucket: 'b-multi', Key: 'big.bin' }));
    assert.equal(head.ETag?.replace(/"/g, ''), await localEtag(join(src, 'big.bin'), big.length, partSize));
    rmSync(join(process.env.SKYHOP_HOME as string, 'storage'), { recursive: true, force: true });
    env.moto.s3Requests.length = 0;
    const r2 = await uploadTree(h, src, 'b-multi', '', { partSize });
    assert.deepEqual(r2, { sent: 0, skipped: 2, bytes: 0 });
    assert.equal(ops('UploadPart') + ops('PutObject'), 0);
    await deleteBucket(h, 'b-multi');
  });

  test('a single file uploads under the prefix', async () => {
    await createBucket(h, 'b-file');
    mkdirSync(src);
    writeFileSync(join(src, 'only.txt'), 'only');
    assert.deepEqual(await uploadTree(h, join(src, 'only.txt'), 'b-file', 'x'), {
      sent: 1,
      skipped: 0,
      bytes: 4,
    });
    assert.deepEqual(
      env.moto.s3Requests.filter((r) => r.op === 'PutObject').map((r) => r.key),
      ['x/only.txt'],
    );
    await deleteBucket(h, 'b-file');
  });

  test('s3Access: endpoint, region and the resolved credentials', async () => {
    const a = await s3Access();
    assert.equal(a.endpoint, env.moto.endpoint);
    assert.equal(a.region, 'us-east-1');
    assert.deepEqual(a.credentials, { accessKeyId: 'testing', secretAccessKey: 'testing' });
  });
});
