// Buckets on FluffyCloud nodes (src/storage/node.ts over SSH): each node is a real sshd in its own
// mount and PID namespaces (the emulator), reaching the loopback moto_server. rclone mounts live in
// the node's namespace, and go away with the node.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FluffyCloudProvider } from '../../../src/clouds/fluffycloud/provider.js';
import type { ClusterSpec, NodeInfo } from '../../../src/core/cluster.js';
import type { StorageMount } from '../../../src/core/storage.js';
import { waitReachable } from '../../../src/runtime/bootstrap.js';
import { makeRunner } from '../../../src/runtime/index.js';
import type { CommandRunner } from '../../../src/runtime/types.js';
import { mountStorage } from '../../../src/storage/node.js';
import { UserError } from '../../../src/util/errors.js';
import { baseScenario, emulatorUnavailable, type FluffyEnv, startFluffy } from '../fluffycloud/env.js';
import { waitFor } from '../runtime/helpers.js';
import { cmdlinesWith, type S3Env, startS3, storageUnavailable } from './s3env.js';

const skip = storageUnavailable() ?? emulatorUnavailable();
if (skip && process.env.CI === 'true') throw new Error(`storage tests cannot run under CI=true: ${skip}`);

function spec(cluster: string, numNodes: number): ClusterSpec {
  return {
    cluster,
    numNodes,
    instanceType: 'ff.small',
    region: 'fluffy-east',
    zone: null,
    useSpot: false,
    accelerators: null,
  };
}

function sm(bucket: string, mode: StorageMount['mode'], prefix = ''): StorageMount {
  return { bucket, prefix, store: 's3', mode, create: false, persistent: true };
}

/** rclone daemons (any namespace) serving `bucket`. */
function rclonesOf(bucket: string): number[] {
  return cmdlinesWith(`skyhop:${bucket}`).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'rclone';
    } catch {
      return false;
    }
  });
}

describe('storage on FluffyCloud nodes', { skip: skip ?? false }, () => {
  let s3: S3Env;
  let env: FluffyEnv;
  let nodes: NodeInfo[] = [];
  let runners: CommandRunner[] = [];
  const provider = () =>
    new FluffyCloudProvider('fluffy-east', { api: env.api({ retries: 6 }), pollMs: 100 });

  before(async () => {
    s3 = await startS3();
    env = await startFluffy(baseScenario());
    nodes = await provider().runInstances(spec('fs', 2));
    await waitReachable(nodes, { timeoutMs: 60_000 });
    runners = nodes.map((n) => makeRunner(n.connection));
  });
  after(async () => {
    for (const r of runners) await r.close();
    try {
      await provider().terminateInstances('fs');
    } finally {
      await env?.stop();
      await s3?.stop();
    }
  });

  test('COPY: nested folders and a 200 MiB file on every node', async () => {
    await s3.rclone('mkdir', 't:ftree');
    const src = join(s3.dir, 'ftree');
    mkdirSync(join(src, 'x', 'y'), { recursive: true });
    writeFileSync(join(src, 'x', 'y', 'deep.txt'), 'deep\n');
    const big = Buffer.alloc(200 * 1024 * 1024, 7);
    for (let i = 0; i < big.length; i += 8192) big.writeUInt32LE(i, i);
    writeFileSync(join(src, 'big.bin'), big);
    await s3.rclone('copy', src, 't:ftree');
    rmSync(src, { recursive: true, force: true });
    const want = createHash('sha256').update(big).digest('hex');
    await mountStorage(nodes, runners, { '~/data': sm('ftree', 'COPY') }, s3.access);
    for (const r of runners) {
      const res = await r.run(
        'cat ~/data/x/y/deep.txt && sha256sum ~/data/big.bin && stat -c %a ~/.skyhop/storage/rclone.conf',
      );
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stdout, /^deep\n/);
      assert.ok(res.stdout.includes(want));
      assert.match(res.stdout, /\n600\n$/);
    }
  });

  test('MOUNT_CACHED in the node namespace: writes reach the bucket after flush.sh; no secret in any command line', async () => {
    await s3.rclone('mkdir', 't:fmnt');
    await mountStorage(nodes, runners, { '/root/ckpt': sm('fmnt', 'MOUNT_CACHED', 'p') }, s3.access);
    assert.equal(rclonesOf('fmnt').length, 2);
    assert.deepEqual(cmdlinesWith(s3.secret), []);
    await Promise.all(
      runners.map(async (r, i) => {
        const res = await r.run(
          `mountpoint -q /root/ckpt && echo node${i} > /root/ckpt/n${i}.txt && bash ~/.skyhop/storage/flush.sh 60`,
        );
        assert.equal(res.code, 0, res.stdout + res.stderr);
      }),
    );
    assert.deepEqual((await s3.rclone('lsf', 't:fmnt/p')).split('\n').filter(Boolean).sort(), [
      'n0.txt',
      'n1.txt',
    ]);
    // Each node's mount lives only in its own namespace: not on this machine.
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes('/root/ckpt'));
  });

  test('a missing bucket: one clear line naming the mount and the node, nothing left mounted', async () => {
    await assert.rejects(
      mountStorage(nodes, runners, { '/root/nb': sm('fluffy-missing', 'MOUNT') }, s3.access),
      (e: Error) => {
        assert.ok(e instanceof UserError);
        assert.equal(e.message.split('\n').length, 1);
        assert.match(
          e.message,
          /^file_mounts\["\/root\/nb"\]: cannot mount s3:\/\/fluffy-missing on node rank [01] of fs: the bucket or folder does not exist/,
        );
        return true;
      },
    );
    for (const r of runners) {
      const res = await r.run('mountpoint -q /root/nb && echo mounted || echo no');
      assert.equal(res.stdout.trim(), 'no');
    }
  });

  test('removing a node ends its rclone and its mounts with it', async () => {
    assert.equal(rclonesOf('fmnt').length, 2);
    await provider().terminateInstances('fs');
    await waitFor("the nodes' rclone daemons to end", () => rclonesOf('fmnt').length === 0 || null, 30_000);
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes('skyhop:fmnt'));
  });
});
