/**
 * The SDK launch with buckets (src/sdk/launch.ts + src/storage) on a SCRIPTED cloud whose nodes are
 * local sandboxes, against a real moto S3 and real rclone: the buckets are prepared before any
 * instance exists, the cluster's spec says its nodes use S3 (what AWS turns into an instance
 * profile), every node sees them, jobs wait for the uploads, and `down` releases them.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { launch } from '../../../src/sdk/launch.js';
import { openStore, type Store } from '../../../src/state/index.js';
import { releaseStorage } from '../../../src/storage/index.js';
import { packageRoot } from '../../../src/util/package-root.js';
import { UserError } from '../../../src/util/errors.js';
import { buildAgent } from '../agent/cluster.js';
import { ScriptedApiError, ScriptedCloud, scriptedDag } from '../provision/scripted-cloud.js';
import { fuseMountsUnder, type S3Env, startS3, storageUnavailable } from '../storage/s3env.js';

const skip = storageUnavailable();
if (skip && process.env.CI === 'true') throw new Error(`storage tests cannot run under CI=true: ${skip}`);

const KEYS = [
  'SKYHOP_HOME',
  'HOME',
  'SKYHOP_AWS_ENDPOINT_URL',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_REGION',
];
const saved = new Map(KEYS.map((k) => [k, process.env[k]]));
let root = '';
let s3: S3Env;
let store: Store;

before(async () => {
  if (skip) return;
  const dist = join(packageRoot(), 'dist');
  if (!existsSync(join(dist, 'agent.cjs'))) await buildAgent(dist);
  s3 = await startS3();
  root = mkdtempSync(join(tmpdir(), 'skyhop-sdk-storage-'));
  process.env.SKYHOP_HOME = join(root, 'home');
  process.env.HOME = root;
  process.env.SKYHOP_AWS_ENDPOINT_URL = s3.access.endpoint;
  process.env.AWS_ACCESS_KEY_ID = s3.access.credentials!.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = s3.access.credentials!.secretAccessKey;
  process.env.AWS_REGION = 'us-east-1';
  store = openStore();
});
after(async () => {
  if (skip) return;
  store.close();
  const left = fuseMountsUnder(root);
  await s3.stop();
  rmSync(root, { recursive: true, force: true });
  for (const [k, v] of saved) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  assert.deepEqual(left, []);
});

test('a 2-node launch with a COPY and a persistent:false MOUNT bucket: spec, data on every node, uploads, released after the teardown', {
  skip: skip ?? false,
}, async () => {
  await s3.rclone('mkdir', 't:sdk-in');
  const local = join(root, 'local-in');
  mkdirSync(local, { recursive: true });
  writeFileSync(join(local, 'x.txt'), 'input data\n');
  await s3.rclone('copy', local, 't:sdk-in/data');
  const copy = join(root, 'nodes', 'in');
  const ckpt = join(root, 'nodes', 'ckpt');
  const cloud = new ScriptedCloud();
  cloud.script = ['ok'];
  let out = '';
  const dag = scriptedDag(
    {},
    {
      numNodes: 2,
      storageMounts: {
        [copy]: {
          bucket: 'sdk-in',
          prefix: 'data',
          store: 's3',
          mode: 'COPY',
          create: false,
          persistent: true,
        },
        [ckpt]: {
          bucket: 'sdk-ckpt',
          prefix: '',
          store: 's3',
          mode: 'MOUNT',
          create: true,
          persistent: false,
        },
      },
      run: `cat ${copy}/x.txt && echo done > ${ckpt}/rank-$SKYPILOT_NODE_RANK.txt`,
    },
  );
  try {
    const r = await launch({ dag, cluster: 'st', clouds: [cloud], store, onOutput: (c) => (out += c) });
    assert.equal(r.outcome?.status, 'SUCCEEDED', out);
    assert.equal(out.match(/input data/g)?.length, 2, out);
    assert.deepEqual(store.getCluster('st')?.spec?.storage, ['s3'], 'the nodes are launched to use S3');
    // The job ended only after both nodes' writes were in the bucket.
    assert.deepEqual((await s3.rclone('lsf', 't:sdk-ckpt')).trim().split('\n').sort(), [
      'rank-0.txt',
      'rank-1.txt',
    ]);
    assert.deepEqual(
      store
        .storageUses()
        .map((u) => [u.name, u.cluster, u.mode])
        .sort(),
      [
        ['sdk-ckpt', 'st', 'MOUNT'],
        ['sdk-in', 'st', 'COPY'],
      ],
    );
  } finally {
    // `down` itself is the e2e suite's (it resolves clouds by name, and this one is scripted): the
    // same steps, the cloud's teardown, then the cluster's buckets released.
    await cloud.provider('r1').terminateInstances('st');
    store.removeCluster('st');
    assert.deepEqual(await releaseStorage(store, 'st'), ['sdk-ckpt']);
  }
  assert.deepEqual(fuseMountsUnder(root), []);
  await assert.rejects(s3.rclone('lsf', 't:sdk-ckpt'), 'persistent: false: deleted with the cluster');
  assert.ok(
    (await s3.rclone('lsf', '-R', 't:sdk-in')).includes('x.txt'),
    'a bucket skyhop did not create stays',
  );
  assert.deepEqual(store.storageUses(), []);
});

test('a bucket in a task container (image_id: docker:) is refused before anything is made', {
  skip: skip ?? false,
}, async () => {
  const cloud = new ScriptedCloud();
  cloud.script = ['ok'];
  const dag = scriptedDag(
    { dockerImage: 'busybox' },
    {
      storageMounts: {
        '/ckpt': {
          bucket: 'sdk-never',
          prefix: '',
          store: 's3',
          mode: 'MOUNT',
          create: true,
          persistent: true,
        },
      },
    },
  );
  await assert.rejects(
    launch({ dag, cluster: 'dk', clouds: [cloud], store }),
    (e) => e instanceof UserError && /image_id: docker:/.test(e.message),
  );
  assert.ok(!store.getCluster('dk'));
  assert.deepEqual(
    store.listStorage().filter((b) => b.name === 'sdk-never'),
    [],
  );
  await assert.rejects(s3.rclone('lsf', 't:sdk-never'));
});

test('a launch that gets no instance anywhere releases the persistent:false bucket it created', {
  skip: skip ?? false,
}, async () => {
  const cloud = new ScriptedCloud();
  cloud.script = Array.from({ length: 30 }, () => ({
    fail: new ScriptedApiError('NoCapacity', 'no capacity in this zone'),
  }));
  const dag = scriptedDag(
    {},
    {
      storageMounts: {
        [join(root, 'nodes', 'gone')]: {
          bucket: 'sdk-failed',
          prefix: '',
          store: 's3',
          mode: 'MOUNT',
          create: true,
          persistent: false,
        },
      },
    },
  );
  await assert.rejects(
    launch({ dag, cluster: 'nf', clouds: [cloud], store, backoffMs: { initial: 1, max: 2 } }),
  );
  assert.ok(!store.getCluster('nf'));
  await assert.rejects(s3.rclone('lsf', 't:sdk-failed'), 'the bucket made for the failed launch is gone');
  assert.deepEqual(
    store.listStorage().filter((b) => b.name === 'sdk-failed'),
    [],
  );
});
