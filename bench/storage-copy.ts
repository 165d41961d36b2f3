/**
 * Storage COPY to a node: `mountStorage` (src/storage/node.ts) copying a bucket onto a local-cloud
 * node, against a plain `rclone copy` of the same bucket on the same machine (rclone's default
 * flags), in the same run, alternating, into fresh folders each time. Two buckets on a real
 * moto_server (loopback): one 1 GiB file, and 10,000 small files (4 KiB each).
 * Usage: node --import tsx bench/storage-copy.ts [runs]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalProvider } from '../src/clouds/local/provider.js';
import type { StorageMount } from '../src/core/storage.js';
import { makeRunner } from '../src/runtime/index.js';
import { COPY_FLAGS, mountStorage } from '../src/storage/node.js';
import { startS3, storageUnavailable } from '../test/unit/storage/s3env.js';
import { printRows, type Row, summarize } from './lib.js';

const RUNS = Number(process.argv[2] ?? 5);
const why = storageUnavailable();
if (why) {
  console.log(`\n### Storage: COPY to a node\n\nskipped: ${why}`);
  process.exit(0);
}

const root = mkdtempSync(join(tmpdir(), 'skyhop-bench-storage-'));
process.env.SKYHOP_HOME = join(root, 'skyhop');
mkdirSync(process.env.SKYHOP_HOME);
const s3 = await startS3();
const provider = new LocalProvider(process.env.SKYHOP_HOME);
try {
  // The buckets.
  const one = join(root, 'one');
  mkdirSync(one);
  spawnSync('sh', ['-c', `head -c ${1 << 30} /dev/urandom > ${join(one, 'big.bin')}`]);
  await s3.rclone('mkdir', 't:bench-one');
  await s3.rclone('copy', one, 't:bench-one');
  rmSync(one, { recursive: true, force: true });
  const many = join(root, 'many');
  if (process.env.STORAGE_BENCH_ONLY !== 'one') {
    for (let d = 0; d < 100; d++) {
      mkdirSync(join(many, `d${d}`), { recursive: true });
      for (let f = 0; f < 100; f++)
        writeFileSync(join(many, `d${d}`, `f${f}.txt`), Buffer.alloc(4096, d + f));
    }
    await s3.rclone('mkdir', 't:bench-many');
    await s3.rclone('copy', many, 't:bench-many', '--timeout', '30s');
    rmSync(many, { recursive: true, force: true });
  }

  const [node] = await provider.runInstances({
    cluster: 'bench',
    numNodes: 1,
    instanceType: 'local',
    region: 'local',
    zone: null,
    useSpot: false,
    accelerators: null,
  });
  const runner = makeRunner(node.connection);
  const sm = (bucket: string): StorageMount => ({
    bucket,
    prefix: '',
    store: 's3',
    mode: 'COPY',
    create: false,
    persistent: true,
  });
  let n = 0;
  const time = async (fn: (dest: string) => Promise<void> | void): Promise<number> => {
    const dest = join(root, `dest${n++}`);
    const t = process.hrtime.bigint();
    await fn(dest);
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    rmSync(dest, { recursive: true, force: true });
    return ms;
  };
  const rows: Row[] = [];
  const only = process.env.STORAGE_BENCH_ONLY; // 'one' or 'many': one of the two buckets
  for (const [label, bucket] of [
    ['1 GiB, one file', 'bench-one'],
    ['10,000 files of 4 KiB', 'bench-many'],
  ] as const) {
    if (only && bucket !== `bench-${only}`) continue;
    const ours: number[] = [];
    const plain: number[] = [];
    const flagged: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const a = () =>
        time(async (dest) => {
          await mountStorage([node], [runner], { [dest]: sm(bucket) }, s3.access);
        });
      const b = () =>
        time(async (dest) => {
          await s3.rclone('copy', `t:${bucket}`, dest);
        });
      const c = () =>
        time(async (dest) => {
          await s3.rclone('copy', `t:${bucket}`, dest, ...COPY_FLAGS);
        });
      if (i % 2 === 0) {
        ours.push(await a());
        plain.push(await b());
        flagged.push(await c());
      } else {
        flagged.push(await c());
        plain.push(await b());
        ours.push(await a());
      }
    }
    rows.push(summarize(`${label}: mountStorage COPY`, ours, 'ms', 'within 10% of plain'));
    rows.push(summarize(`${label}: plain rclone copy`, plain, 'ms'));
    rows.push(summarize(`${label}: plain rclone copy with skyhop's flags`, flagged, 'ms'));
  }
  await runner.close();
  printRows(`Storage: COPY to a node (${cpus().length} CPUs, ${cpus()[0]?.model ?? ''})`, rows);
} finally {
  await provider.terminateInstances('bench').catch(() => {});
  await s3.stop();
  rmSync(root, { recursive: true, force: true });
}
