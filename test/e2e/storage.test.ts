/**
 * Storage end to end through the built CLI: buckets on moto's S3 (over real HTTP, through the test
 * proxy that can deny a bucket), mounted or copied on local-cloud nodes and FluffyCloud nodes with
 * real rclone through /dev/fuse. Every bucket, mount and instance a test makes is gone at its end.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type EmulatorHandle, startEmulator } from '../helpers/fluffycloud.js';
import { type MotoHandle, startMoto } from '../helpers/moto.js';
import { cmdlinesWith, filesWith } from '../helpers/scan.js';
import { Sandbox } from './harness.js';

const SECRET = `sk-${randomBytes(12).toString('hex')}`;
const KEY_ID = `AKIA${randomBytes(8).toString('hex').toUpperCase()}`;

type S3 = typeof import('@aws-sdk/client-s3');

describe('storage end to end (moto S3, rclone on local and FluffyCloud nodes)', () => {
  let moto: MotoHandle;
  let emu: EmulatorHandle;
  let sb: Sandbox;
  let s3: InstanceType<S3['S3Client']>;
  let sdk: S3;

  before(async () => {
    moto = await startMoto();
    emu = await startEmulator({
      scenario: { users: { e2e: { api_key: 'fc-storage-key' } }, boot_delay_s: 0 },
    });
    sb = new Sandbox({
      SKYHOP_AWS_ENDPOINT_URL: moto.endpoint,
      AWS_ACCESS_KEY_ID: KEY_ID,
      AWS_SECRET_ACCESS_KEY: SECRET,
      AWS_REGION: 'us-east-1',
    });
    mkdirSync(sb.home, { recursive: true });
    emu.writeCredentials(sb.home);
    sdk = await import('@aws-sdk/client-s3');
    s3 = new sdk.S3Client({
      endpoint: moto.endpoint,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: { accessKeyId: KEY_ID, secretAccessKey: SECRET },
    });
  });
  after(async () => {
    await sb?.cleanup();
    await emu?.stop();
    s3?.destroy();
    await moto?.stop();
  });

  const file = (name: string, text: string) => {
    const p = join(sb.dir, name);
    writeFileSync(p, text);
    return p;
  };
  const exists = async (bucket: string) =>
    s3.send(new sdk.HeadBucketCommand({ Bucket: bucket })).then(
      () => true,
      () => false,
    );
  const getText = async (bucket: string, key: string) => {
    const r = await s3.send(new sdk.GetObjectCommand({ Bucket: bucket, Key: key }));
    return r.Body!.transformToString();
  };
  const clusters = async () => (await sb.run(['status'])).stdout;

  test('COPY of s3://bucket/path: a nested tree and a 200 MiB file are on the node before setup', async () => {
    await s3.send(new sdk.CreateBucketCommand({ Bucket: 'copy-src' }));
    const put = (Key: string, Body: Buffer | string) =>
      s3.send(new sdk.PutObjectCommand({ Bucket: 'copy-src', Key, Body }));
    await put('data/a.txt', 'alpha\n');
    await put('data/deep/er/b.txt', 'beta\n');
    await put('other/not-me.txt', 'outside the prefix\n');
    const big = randomBytes(200 * 1024 * 1024);
    const { Upload } = await import('@aws-sdk/lib-storage');
    await new Upload({ client: s3, params: { Bucket: 'copy-src', Key: 'data/big.bin', Body: big } }).done();
    const md5 = (await import('node:crypto')).createHash('md5').update(big).digest('hex');
    const dest = join(sb.dir, 'nodes', 'copy');
    const yaml = file(
      'copy.yaml',
      [
        'file_mounts:',
        `  ${dest}: s3://copy-src/data`,
        'setup: |',
        `  test -f ${dest}/deep/er/b.txt && echo setup-sees-it`,
        'run: |',
        `  cd ${dest} && find . -type f | sort && md5sum big.bin && cat deep/er/b.txt`,
      ].join('\n'),
    );
    const r = await sb.run(['launch', '-y', '-c', 'cp', '--cloud', 'local', '--down', yaml], {
      timeoutMs: 300_000,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /setup-sees-it/);
    assert.match(r.stdout, /\.\/a\.txt\n\.\/big\.bin\n\.\/deep\/er\/b\.txt/);
    assert.ok(r.stdout.includes(`${md5}  big.bin`), r.stdout);
    assert.equal(statSync(join(dest, 'big.bin')).size, 200 * 1024 * 1024);
    assert.doesNotMatch(r.stdout, /not-me/);
    assert.ok(await exists('copy-src'), 'a bucket skyhop did not create is never deleted');
  });

  test('MOUNT: a job on a local cluster writes a checkpoint; a job on a FluffyCloud cluster reads it', async () => {
    const src = join(sb.dir, 'ckpt-src');
    mkdirSync(join(src, 'cfg'), { recursive: true });
    writeFileSync(join(src, 'cfg', 'input.txt'), 'from the laptop\n');
    const mnt = join(sb.dir, 'nodes', 'ckpt');
    const writer = file(
      'writer.yaml',
      [
        'file_mounts:',
        `  ${mnt}:`,
        '    name: skyhop-e2e-ckpt',
        `    source: ${src}`,
        '    mode: MOUNT',
        'run: |',
        `  cat ${mnt}/cfg/input.txt`,
        `  echo step-42 > ${mnt}/checkpoint.txt`,
      ].join('\n'),
    );
    const w = await sb.run(['launch', '-y', '-c', 'writer', '--cloud', 'local', writer], {
      timeoutMs: 180_000,
    });
    assert.equal(w.code, 0, w.stderr);
    assert.match(w.stdout, /from the laptop/);
    assert.equal(
      await getText('skyhop-e2e-ckpt', 'checkpoint.txt'),
      'step-42\n',
      'in the bucket once the job ended',
    );

    const remote = `/tmp/skyhop-e2e-${randomBytes(4).toString('hex')}/ckpt`;
    const reader = file(
      'reader.yaml',
      [
        'file_mounts:',
        `  ${remote}:`,
        '    name: skyhop-e2e-ckpt',
        '    mode: MOUNT',
        `run: cat ${remote}/checkpoint.txt`,
      ].join('\n'),
    );
    const rd = await sb.run(['launch', '-y', '-c', 'reader', '--cloud', 'fluffycloud', reader], {
      timeoutMs: 180_000,
    });
    assert.equal(rd.code, 0, rd.stderr);
    assert.match(rd.stdout, /step-42/);

    const ls = await sb.run(['storage', 'ls']);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /skyhop-e2e-ckpt/);
    assert.match(ls.stdout, /reader/);
    assert.match(ls.stdout, /writer/);

    // A bucket in use by a cluster is not deleted.
    const busy = await sb.run(['storage', 'delete', '-y', 'skyhop-e2e-ckpt']);
    assert.notEqual(busy.code, 0);
    assert.match(busy.stderr, /writer|reader/);

    // stop drops the local node's mount; start mounts the bucket again.
    assert.equal((await sb.run(['stop', '-y', 'writer'])).code, 0);
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(mnt), 'stop unmounts');
    const st = await sb.run(['start', '-y', 'writer']);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stderr, /Mounting 1 bucket again/);
    const again = await sb.run(['exec', 'writer', `cat ${mnt}/checkpoint.txt`]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /step-42/);

    assert.equal((await sb.run(['down', '-y', 'writer', 'reader'])).code, 0);
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(mnt), 'down unmounts the local node');
    assert.ok(await exists('skyhop-e2e-ckpt'), 'persistent (the default): the bucket outlives the clusters');
    const del = await sb.run(['storage', 'delete', '-y', 'skyhop-e2e-ckpt']);
    assert.equal(del.code, 0, del.stderr);
    assert.equal(await exists('skyhop-e2e-ckpt'), false);
    assert.doesNotMatch((await sb.run(['storage', 'ls'])).stdout, /skyhop-e2e-ckpt/);
  });

  test('MOUNT_CACHED on FluffyCloud: the cache is flushed before the job counts as SUCCEEDED; no secret in argv or logs', async () => {
    const remote = `/tmp/skyhop-e2e-${randomBytes(4).toString('hex')}/cache`;
    const yaml = file(
      'cached.yaml',
      [
        'file_mounts:',
        `  ${remote}:`,
        '    name: skyhop-e2e-cached',
        '    mode: MOUNT_CACHED',
        '    persistent: false',
        'run: |',
        `  head -c 3000000 /dev/urandom > ${remote}/blob.bin`,
        `  md5sum ${remote}/blob.bin | cut -d' ' -f1 > ${remote}/blob.md5`,
        '  sleep 2',
      ].join('\n'),
    );
    const child = sb.spawn(['launch', '-y', '-c', 'cached', '--cloud', 'fluffycloud', yaml]);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    // While the mount is up and the job runs: no process shows the secret key in its argv.
    let scans = 0;
    const leaks: number[] = [];
    const scan = setInterval(() => {
      leaks.push(...cmdlinesWith(SECRET));
      scans++;
    }, 100);
    const code = await new Promise<number>((res) => child.on('close', (c) => res(c ?? 1)));
    clearInterval(scan);
    assert.ok(scans > 0);
    assert.deepEqual(leaks, [], 'no process had the secret key in its command line');
    assert.equal(code, 0, err);
    // SUCCEEDED means the bytes are in the bucket, right now.
    const md5 = (await getText('skyhop-e2e-cached', 'blob.md5')).trim();
    const obj = await s3.send(new sdk.GetObjectCommand({ Bucket: 'skyhop-e2e-cached', Key: 'blob.bin' }));
    const body = Buffer.from(await obj.Body!.transformToByteArray());
    assert.equal(body.length, 3_000_000);
    assert.equal((await import('node:crypto')).createHash('md5').update(body).digest('hex'), md5);
    const q = await sb.run(['queue', 'cached']);
    assert.match(q.stdout, /SUCCEEDED/);

    // persistent: false — the bucket skyhop created goes with the cluster.
    assert.equal((await sb.run(['down', '-y', 'cached'])).code, 0);
    assert.equal(await exists('skyhop-e2e-cached'), false, 'persistent: false is deleted on down');
    assert.doesNotMatch((await sb.run(['storage', 'ls'])).stdout, /skyhop-e2e-cached/);
    // Nothing skyhop wrote (state, logs, node homes) holds the secret key, except the 0600 credential file.
    const allowed = (p: string) => p.endsWith('/rclone.conf') && (statSync(p).mode & 0o077) === 0;
    const offenders = [
      ...filesWith(sb.skyhopHome, SECRET, allowed),
      ...filesWith(emu.dataDir, SECRET, allowed),
    ];
    assert.deepEqual(offenders, []);
    assert.ok(!out.includes(SECRET) && !err.includes(SECRET));
  });

  test("examples/checkpoint.yaml: a second run on another cloud resumes from the first run's checkpoint", async () => {
    const env = ['--env', 'BUCKET=skyhop-e2e-resume'];
    const first = await sb.run([
      'launch',
      '-y',
      '--down',
      '-c',
      'res1',
      '--cloud',
      'local',
      ...env,
      'examples/checkpoint.yaml',
    ]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /resuming at step 0/);
    assert.match(first.stdout, /step 3 saved/);
    const second = await sb.run([
      'launch',
      '-y',
      '--down',
      '-c',
      'res2',
      '--cloud',
      'fluffycloud',
      ...env,
      'examples/checkpoint.yaml',
    ]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /resuming at step 3/);
    assert.match(second.stdout, /step 6 saved/);
    assert.equal(await getText('skyhop-e2e-resume', 'step'), '6\n');
    assert.equal((await sb.run(['storage', 'delete', '-y', 'skyhop-e2e-resume'])).code, 0);
    assert.equal(await exists('skyhop-e2e-resume'), false);
  });

  test('a bad bucket name, a missing bucket and a denied bucket: one clear error each, nothing left behind', async () => {
    const mnt = join(sb.dir, 'nodes', 'err');
    const bad = file(
      'bad.yaml',
      ['file_mounts:', `  ${mnt}:`, '    name: Bad_Bucket', 'run: echo hi'].join('\n'),
    );
    const b = await sb.run(['launch', '-y', '-c', 'e1', '--cloud', 'local', bad]);
    assert.equal(b.code, 1, b.stderr);
    assert.match(b.stderr, /bad\.yaml:3:\d+: .*Bad_Bucket/);

    const missing = file(
      'missing.yaml',
      ['file_mounts:', `  ${mnt}: s3://skyhop-no-such-bucket/x`, 'run: echo hi'].join('\n'),
    );
    const m = await sb.run(['launch', '-y', '-c', 'e2', '--cloud', 'local', missing]);
    assert.notEqual(m.code, 0);
    assert.match(m.stderr, /skyhop-no-such-bucket/);
    assert.match(m.stderr, /does not exist/);

    await s3.send(new sdk.CreateBucketCommand({ Bucket: 'skyhop-denied' }));
    moto.injectS3({ bucket: 'skyhop-denied', status: 403, code: 'AccessDenied' });
    try {
      const denied = file(
        'denied.yaml',
        ['file_mounts:', `  ${mnt}: s3://skyhop-denied/x`, 'run: echo hi'].join('\n'),
      );
      const d = await sb.run(['launch', '-y', '-c', 'e3', '--cloud', 'local', denied]);
      assert.notEqual(d.code, 0);
      assert.match(d.stderr, /skyhop-denied/);
      assert.match(d.stderr, /denied/i);
      assert.equal(
        d.stderr
          .trim()
          .split('\n')
          .filter((l) => /error/i.test(l)).length <= 1,
        true,
        d.stderr,
      );
    } finally {
      moto.clearFailures();
    }
    const st = await clusters();
    assert.doesNotMatch(st, /\be[123]\b/, 'no cluster was created');
    assert.doesNotMatch(
      (await sb.run(['storage', 'ls'])).stdout,
      /Bad_Bucket|skyhop-no-such-bucket|skyhop-denied/,
    );
  });
});
