// Buckets on local-cloud nodes (src/storage/node.ts) with real parts: moto_server S3, rclone, FUSE
// mounts, the real agent, and the local cloud's teardown unmounting what its nodes mounted.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  readdirSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { installAgent, submitJob } from '../../../src/agent/client.js';
import type { ClusterInfoFile } from '../../../src/agent/types.js';
import { LocalProvider } from '../../../src/clouds/local/provider.js';
import type { ClusterSpec, NodeInfo } from '../../../src/core/cluster.js';
import type { StorageMount } from '../../../src/core/storage.js';
import { makeRunner } from '../../../src/runtime/index.js';
import type { CommandRunner } from '../../../src/runtime/types.js';
import { mountId, mountStorage } from '../../../src/storage/node.js';
import { UserError } from '../../../src/util/errors.js';
import { buildAgent, jobState, runLog, waitTerminal } from '../agent/cluster.js';
import {
  cmdlinesWith,
  filesWith,
  fuseMountsUnder,
  type S3Env,
  startS3,
  storageUnavailable,
} from './s3env.js';

const skip = storageUnavailable();
if (skip && process.env.CI === 'true') throw new Error(`storage tests cannot run under CI=true: ${skip}`);

const savedHome = process.env.SKYHOP_HOME;

function spec(cluster: string, numNodes = 1): ClusterSpec {
  return {
    cluster,
    numNodes,
    instanceType: 'local',
    region: 'local',
    zone: null,
    useSpot: false,
    accelerators: null,
  };
}

function sm(bucket: string, mode: StorageMount['mode'], prefix = ''): StorageMount {
  return { bucket, prefix, store: 's3', mode, create: false, persistent: true };
}

function homeOf(n: NodeInfo): string {
  return n.connection.kind === 'local' ? n.connection.home : '';
}

/** A runner whose commands see only `binDir` on PATH (a node without some programs). */
function withPath(inner: CommandRunner, binDir: string): CommandRunner {
  return {
    connection: inner.connection,
    run: (cmd, o = {}) => inner.run(cmd, { ...o, env: { ...o.env, PATH: binDir } }),
    upload: (a, b, o) => inner.upload(a, b, o),
    syncDir: (a, b, o) => inner.syncDir(a, b, o),
    close: () => inner.close(),
  };
}

/** A folder of links to every program of this machine but `without`. */
function binsWithout(dir: string, without: string[]): string {
  mkdirSync(dir, { recursive: true });
  for (const d of ['/usr/local/bin', '/usr/bin', '/bin', '/usr/sbin', '/sbin']) {
    let names: string[] = [];
    try {
      names = readdirSync(d);
    } catch {
      continue;
    }
    for (const n of names) {
      if (without.includes(n) || existsSync(join(dir, n))) continue;
      try {
        symlinkSync(join(d, n), join(dir, n));
      } catch {
        // duplicate
      }
    }
  }
  return dir;
}

/** What the agent test helpers read of a cluster: its head's agent folder. */
function agentOf(head: NodeInfo): Parameters<typeof jobState>[0] {
  return { agentDir: join(homeOf(head), '.skyhop', 'agent') } as Parameters<typeof jobState>[0];
}

describe('storage on local-cloud nodes', { skip: skip ?? false }, () => {
  let s3: S3Env;
  let root = '';
  let provider: LocalProvider;
  const clusters = new Set<string>();
  const runners: CommandRunner[] = [];

  const launch = async (name: string, n = 1) => {
    const nodes = await provider.runInstances(spec(name, n));
    clusters.add(name);
    const rs = nodes.map((x) => makeRunner(x.connection));
    runners.push(...rs);
    return { nodes, runners: rs };
  };

  before(async () => {
    s3 = await startS3();
    root = mkdtempSync(join(tmpdir(), 'skyhop-storage-local-'));
    process.env.SKYHOP_HOME = join(root, 'skyhop');
    mkdirSync(process.env.SKYHOP_HOME);
    provider = new LocalProvider(process.env.SKYHOP_HOME);
  });
  after(async () => {
    for (const r of runners) await r.close();
    for (const c of clusters) await provider.terminateInstances(c);
    const left = fuseMountsUnder(root);
    await s3?.stop();
    rmSync(root, { recursive: true, force: true });
    if (savedHome === undefined) delete process.env.SKYHOP_HOME;
    else process.env.SKYHOP_HOME = savedHome;
    assert.deepEqual(left, [], 'the cloud teardown unmounted everything');
  });

  test('COPY: a tree with nested folders and a 200 MiB file is on the node before setup; the config is 0600', async () => {
    await s3.rclone('mkdir', 't:tree');
    const src = join(s3.dir, 'tree');
    mkdirSync(join(src, 'a', 'b', 'c'), { recursive: true });
    writeFileSync(join(src, 'top.txt'), 'top\n');
    writeFileSync(join(src, 'a', 'one.txt'), 'one\n');
    writeFileSync(join(src, 'a', 'b', 'c', 'deep.txt'), 'deep\n');
    const big = Buffer.alloc(200 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i, i);
    writeFileSync(join(src, 'a', 'big.bin'), big);
    await s3.rclone('copy', src, 't:tree/data');
    rmSync(src, { recursive: true, force: true });

    const { nodes, runners: rs } = await launch('cp', 2);
    const dests = nodes.map((_, i) => join(root, `copy${i}`));
    // Local nodes share this machine's disk: one path per node here.
    for (let i = 0; i < nodes.length; i++) {
      await mountStorage([nodes[i]], [rs[i]], { [dests[i]]: sm('tree', 'COPY', 'data') }, s3.access);
    }
    for (const d of dests) {
      assert.equal(readFileSync(join(d, 'top.txt'), 'utf8'), 'top\n');
      assert.equal(readFileSync(join(d, 'a', 'one.txt'), 'utf8'), 'one\n');
      assert.equal(readFileSync(join(d, 'a', 'b', 'c', 'deep.txt'), 'utf8'), 'deep\n');
      const got = readFileSync(join(d, 'a', 'big.bin'));
      assert.equal(got.length, big.length);
      assert.equal(
        createHash('sha256').update(got).digest('hex'),
        createHash('sha256').update(big).digest('hex'),
      );
    }
    for (const n of nodes) {
      const conf = join(homeOf(n), '.skyhop', 'storage', 'rclone.conf');
      assert.equal(statSync(conf).mode & 0o777, 0o600);
      assert.match(readFileSync(conf, 'utf8'), /secret_access_key = /);
      assert.equal(statSync(join(homeOf(n), '.skyhop', 'storage')).mode & 0o777, 0o700);
    }
  });

  test('MOUNT: a job writes a checkpoint, a second cluster mounting the bucket reads it; the same mount is kept on a reused cluster, another bucket replaces it', async () => {
    await s3.rclone('mkdir', 't:ckpt');
    const a = await launch('wr');
    const pathA = join(root, 'ckpt-a');
    await mountStorage(a.nodes, a.runners, { [pathA]: sm('ckpt', 'MOUNT', 'run1') }, s3.access);
    assert.deepEqual(fuseMountsUnder(pathA), [pathA]);
    const w = await a.runners[0].run(
      `mkdir -p ${pathA}/step1 && head -c 3000000 /dev/urandom > ${pathA}/step1/model.pt && echo ok > ${pathA}/step1/done && sha256sum ${pathA}/step1/model.pt`,
    );
    assert.equal(w.code, 0, w.stderr);
    const sum = w.stdout.split(' ')[0];
    // Uploaded promptly after close (write-back 0s): the flush script waits for it.
    const f = await a.runners[0].run('bash ~/.skyhop/storage/flush.sh 60');
    assert.equal(f.code, 0, f.stdout + f.stderr);
    assert.match(await s3.rclone('lsf', '-R', 't:ckpt'), /run1\/step1\/model\.pt/);

    const b = await launch('rd');
    const pathB = join(root, 'ckpt-b');
    await mountStorage(b.nodes, b.runners, { [pathB]: sm('ckpt', 'MOUNT', 'run1') }, s3.access);
    const r = await b.runners[0].run(`sha256sum ${pathB}/step1/model.pt && cat ${pathB}/step1/done`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split(' ')[0], sum);
    assert.match(r.stdout, /ok/);

    // Reused cluster: the same mount is kept (same rclone), another bucket at the path replaces it.
    const rclonePids = () =>
      cmdlinesWith(pathB).filter((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'rclone');
    const before = rclonePids();
    assert.equal(before.length, 1);
    await mountStorage(b.nodes, b.runners, { [pathB]: sm('ckpt', 'MOUNT', 'run1') }, s3.access);
    assert.deepEqual(rclonePids(), before);
    await s3.rclone('mkdir', 't:other');
    await s3.rclone('touch', 't:other/marker.txt');
    await mountStorage(b.nodes, b.runners, { [pathB]: sm('other', 'MOUNT') }, s3.access);
    assert.deepEqual(fuseMountsUnder(pathB), [pathB]);
    assert.ok(existsSync(join(pathB, 'marker.txt')));
    assert.ok(!existsSync(join(pathB, 'step1')));
    assert.notDeepEqual(rclonePids(), before);
  });

  test('a 2-node local cluster: a bucket at an absolute path is mounted once (the nodes share the disk), one under ~/ on every node', async () => {
    await s3.rclone('mkdir', 't:shared');
    await s3.rclone('touch', 't:shared/hello.txt');
    const c = await launch('two', 2);
    const abs = join(root, 'shared');
    await mountStorage(
      c.nodes,
      c.runners,
      { [abs]: sm('shared', 'MOUNT'), '~/own': sm('shared', 'MOUNT') },
      s3.access,
    );
    assert.deepEqual(fuseMountsUnder(abs), [abs], 'one mount at the shared path, no race between the nodes');
    for (const [i, n] of c.nodes.entries()) {
      const r = await c.runners[i].run(`ls ${abs} && ls ~/own`);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /hello\.txt\n.*hello\.txt/s);
      assert.deepEqual(fuseMountsUnder(join(homeOf(n), 'own')), [join(homeOf(n), 'own')]);
    }
    await provider.terminateInstances('two');
    clusters.delete('two');
    assert.deepEqual(fuseMountsUnder(abs), [], 'the teardown unmounts the shared path too');
  });

  test('MOUNT_CACHED through the real agent: the object is in the bucket when the job is SUCCEEDED; no secret in any command line or log', async () => {
    await s3.rclone('mkdir', 't:cached');
    const c = await launch('ag', 2);
    const paths = [join(root, 'cached0'), join(root, 'cached1')];
    for (let i = 0; i < 2; i++) {
      await mountStorage(
        [c.nodes[i]],
        [c.runners[i]],
        { [paths[i]]: sm('cached', 'MOUNT_CACHED', `r${i}`) },
        s3.access,
      );
    }
    // While the mounts are up: the key is in no command line of this machine.
    assert.deepEqual(cmdlinesWith(s3.secret), []);

    const bundle = await buildAgent(root);
    const info: ClusterInfoFile = {
      name: 'ag',
      cloud: 'local',
      region: 'local',
      nodes: c.nodes.map((n, r) => ({ rank: r, ip: n.internalIp, connection: n.connection })),
      perNode: { cpus: 2, memoryGiB: 4, accelerators: null },
      autostop: null,
      agentPath: '~/.skyhop/agent/agent.cjs',
      nodePath: process.execPath,
    };
    await installAgent(c.runners[0], info, bundle);
    // 20 MiB per node, written just before the job ends: with a 1 s write-back it is not uploaded yet
    // when the run exits, so SUCCEEDED means the agent waited for it.
    const id = await submitJob(c.runners[0], {
      name: 'ckpt',
      run: `d=${join(root, 'cached')}$SKYPILOT_NODE_RANK; head -c 20000000 /dev/urandom > $d/out.bin; echo written`,
      envs: {},
      secrets: {},
      numNodes: 2,
      demand: { cpus: 0.5, accelerators: null },
      workdir: false,
      flushStorage: true,
    });
    const st = await waitTerminal(agentOf(c.nodes[0]), id, 60_000);
    assert.equal(st.status, 'SUCCEEDED', `${st.reason} ${runLog(agentOf(c.nodes[0]), id)}`);
    const listing = await s3.rclone('lsl', 't:cached');
    assert.match(listing, /20000000 .* r0\/out\.bin/);
    assert.match(listing, /20000000 .* r1\/out\.bin/);

    // A job without storage pays nothing: no flush line in its log.
    const id2 = await submitJob(c.runners[0], {
      name: 'plain',
      run: 'echo plain',
      envs: {},
      secrets: {},
      numNodes: 1,
      demand: { cpus: 0.5, accelerators: null },
      workdir: false,
    });
    const st2 = await waitTerminal(agentOf(c.nodes[0]), id2, 60_000);
    assert.equal(st2.status, 'SUCCEEDED');
    assert.ok(jobState(agentOf(c.nodes[0]), id2));

    // Secrets: never in a command line, nor in a log or record skyhop or rclone wrote on the nodes.
    assert.deepEqual(cmdlinesWith(s3.secret), []);
    for (const n of c.nodes) {
      const leaks = filesWith(
        homeOf(n),
        s3.secret,
        (p) => p.endsWith('/.skyhop/storage/rclone.conf') || p.includes('/cache/'),
      );
      assert.deepEqual(leaks, []);
    }
  });

  test('MOUNT: a checkpoint saved the usual way (write a temp file, rename it) reaches the bucket; a file rclone gave up on fails the flush with its reason', async () => {
    await s3.rclone('mkdir', 't:renames');
    const c = await launch('rn');
    const p = join(root, 'renames');
    await mountStorage(c.nodes, c.runners, { [p]: sm('renames', 'MOUNT') }, s3.access);
    for (let i = 1; i <= 3; i++) {
      const w = await c.runners[0].run(`echo ${i} > ${p}/step.tmp && mv ${p}/step.tmp ${p}/step`);
      assert.equal(w.code, 0, w.stderr);
    }
    const f = await c.runners[0].run('bash ~/.skyhop/storage/flush.sh 60');
    assert.equal(f.code, 0, f.stdout + f.stderr);
    assert.equal((await s3.rclone('cat', 't:renames/step')).trim(), '3');
    assert.doesNotMatch(await s3.rclone('lsf', 't:renames'), /step\.tmp/);

    // A dirty cache entry whose upload rclone reported failed and never retries: the flush stops
    // after the stall window (2 s here, 30 s by default) with rclone's reason, instead of waiting
    // out its 30-minute limit.
    const id = mountId(p);
    const store = join(homeOf(c.nodes[0]), '.skyhop', 'storage');
    const meta = join(store, 'cache', id, 'vfsMeta', 'skyhop', 'renames', 'ghost.bin');
    mkdirSync(dirname(meta), { recursive: true });
    writeFileSync(meta, '{\n\t"Size": 3,\n\t"Dirty": true\n}\n');
    appendFileSync(
      join(store, `mount-${id}.log`),
      '2026/12/07 04:34:43 ERROR : ghost.bin: corrupted on transfer: md5 hash differ "" vs "abc"\n',
    );
    const stuck = await c.runners[0].run('bash ~/.skyhop/storage/flush.sh 600 2');
    assert.equal(stuck.code, 1, stuck.stdout + stuck.stderr);
    assert.match(
      stuck.stdout,
      /renames: 1 file\(s\) not uploaded to renames: ghost\.bin: corrupted on transfer/,
    );
    rmSync(meta);
  });

  test('a failed flush (rclone gone, data not uploaded) makes the job FAILED naming the mount', async () => {
    await s3.rclone('mkdir', 't:lost');
    const c = await launch('fl');
    const p = join(root, 'lost');
    await mountStorage(c.nodes, c.runners, { [p]: sm('lost', 'MOUNT_CACHED') }, s3.access);
    const bundle = await buildAgent(root);
    const info: ClusterInfoFile = {
      name: 'fl',
      nodes: [{ rank: 0, ip: c.nodes[0].internalIp, connection: c.nodes[0].connection }],
      perNode: { cpus: 2, memoryGiB: 4, accelerators: null },
      autostop: null,
      agentPath: '~/.skyhop/agent/agent.cjs',
      nodePath: process.execPath,
    };
    await installAgent(c.runners[0], info, bundle);
    // The job writes a file, then kills the rclone daemon before its 1 s write-back has uploaded it.
    const id = await submitJob(c.runners[0], {
      name: 'lose',
      run: `echo data > ${p}/f.txt && pkill -KILL -f -- '[r]clone --config .* mount skyhop:lost ${p} '; sleep 0.2`,
      envs: {},
      secrets: {},
      numNodes: 1,
      demand: { cpus: 0.5, accelerators: null },
      workdir: false,
      flushStorage: true,
    });
    const st = await waitTerminal(agentOf(c.nodes[0]), id, 60_000);
    assert.equal(st.status, 'FAILED');
    assert.match(
      st.reason ?? '',
      /uploading to storage failed on node rank 0: .*lost: 1 file\(s\) not uploaded to lost and its rclone is not running/,
    );
    // The dead FUSE mount is removed by the cloud's teardown (after()).
  });

  test('a missing bucket: one clear line naming the mount and node, nothing left mounted', async () => {
    const c = await launch('nb', 2);
    const ok = join(root, 'nb-ok');
    const bad = join(root, 'nb-bad');
    await s3.rclone('mkdir', 't:exists');
    const mounts = { [ok]: sm('exists', 'MOUNT'), [bad]: sm('no-such-bucket', 'MOUNT') };
    const err = await mountStorage(c.nodes.slice(0, 1), c.runners.slice(0, 1), mounts, s3.access).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof UserError, String(err));
    const msg = (err as Error).message;
    assert.equal(msg.split('\n').length, 1, msg);
    assert.match(
      msg,
      /^file_mounts\[".*nb-bad"\]: cannot mount s3:\/\/no-such-bucket on node rank 0 of nb: the bucket or folder does not exist/,
    );
    assert.deepEqual(fuseMountsUnder(ok), []);
    assert.deepEqual(fuseMountsUnder(bad), []);
    assert.equal(readdirSync(join(homeOf(c.nodes[0]), '.skyhop', 'storage', 'mounts')).length, 0);

    const cerr = await mountStorage(
      c.nodes.slice(1),
      c.runners.slice(1),
      { [join(root, 'nb-copy')]: sm('nope', 'COPY') },
      s3.access,
    ).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(cerr instanceof UserError);
    assert.match(
      (cerr as Error).message,
      /^file_mounts\[".*nb-copy"\]: cannot copy s3:\/\/nope on node rank 1 of nb: the bucket or folder does not exist/,
    );
  });

  test('rclone or FUSE missing (and no apt-get to install it): one clear line, nothing mounted', async () => {
    await s3.rclone('mkdir', 't:fzb');
    const c = await launch('nf');
    const p = join(root, 'nf');
    const noRclone = withPath(c.runners[0], binsWithout(join(root, 'bin-nr'), ['rclone', 'apt-get']));
    await assert.rejects(
      mountStorage(c.nodes, [noRclone], { [p]: sm('fzb', 'MOUNT') }, s3.access),
      (e: Error) => {
        assert.ok(e instanceof UserError);
        assert.equal(
          e.message,
          'storage: cannot mount buckets on node rank 0 of nf: rclone is not installed and the node has no apt-get to install it',
        );
        return true;
      },
    );
    const noFuse = withPath(
      c.runners[0],
      binsWithout(join(root, 'bin-nf'), ['fusermount', 'fusermount3', 'apt-get']),
    );
    await assert.rejects(
      mountStorage(c.nodes, [noFuse], { [p]: sm('fzb', 'MOUNT') }, s3.access),
      (e: Error) => {
        assert.ok(e instanceof UserError);
        assert.equal(
          e.message,
          'storage: cannot mount buckets on node rank 0 of nf: fuse3 is not installed and the node has no apt-get to install it',
        );
        return true;
      },
    );
    assert.deepEqual(fuseMountsUnder(p), []);
    // Present: quiet and fast (no install step).
    const steps: string[] = [];
    await mountStorage(c.nodes, c.runners, { [p]: sm('fzb', 'MOUNT') }, s3.access, {
      onStep: (m) => steps.push(m),
    });
    assert.ok(!steps.some((s) => s.includes('installing')), steps.join('\n'));
    assert.deepEqual(fuseMountsUnder(p), [p]);
    assert.ok(existsSync(join(homeOf(c.nodes[0]), '.skyhop', 'storage', 'mounts', mountId(p))));
  });

  test("the local cloud stop unmounts its nodes' buckets (no dead FUSE mount left)", async () => {
    await s3.rclone('mkdir', 't:stb');
    const c = await launch('st');
    const p = join(root, 'st');
    await mountStorage(c.nodes, c.runners, { [p]: sm('stb', 'MOUNT_CACHED') }, s3.access);
    assert.deepEqual(fuseMountsUnder(p), [p]);
    await provider.stopInstances('st');
    assert.deepEqual(fuseMountsUnder(p), []);
  });
});
