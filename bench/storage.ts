/**
 * skyhop's S3 upload (src/storage/upload.ts) against plain `rclone copy` of the same data, to the
 * same moto_server on loopback, in the same run, alternating which goes first:
 *   - 1 GiB in one file,
 *   - 1 GiB in 10,000 files,
 *   - the re-upload of the unchanged 10,000-file tree (goal < 1 s, zero objects sent).
 * Each upload goes to a fresh bucket (deleted after, untimed). skyhop runs in this process (its
 * time includes listing the bucket and writing its manifest); rclone as a process (its start-up,
 * about 50 ms, included). Data lives in a temp dir, removed after.
 *
 * Usage: node --import tsx bench/storage.ts [runs=3] [MiB=1024] [files=10000]
 *   SKYHOP_BENCH_PART_MB / SKYHOP_BENCH_CONCURRENCY / SKYHOP_BENCH_PART_CONCURRENCY tune skyhop.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBucket, deleteBucket } from '../src/storage/buckets.js';
import { type S3Handle, s3Client } from '../src/storage/s3.js';
import { type UploadOptions, uploadTree } from '../src/storage/upload.js';
import { startMoto } from '../test/helpers/moto.js';
import { printRows, type Row, summarize } from './lib.js';

const RUNS = Number(process.argv[2] ?? 3);
const MIB = Number(process.argv[3] ?? 1024);
const FILES = Number(process.argv[4] ?? 10_000);
/**
 * rclone 1.60 against moto_server now and then stops for good on a tree of thousands of files (0 CPU
 * on both sides, minutes); this skips rclone for the many-file case so skyhop's numbers still come.
 */
const SKIP_RCLONE_MANY = process.env.SKYHOP_BENCH_SKIP_RCLONE_MANY === '1';
const opts: UploadOptions = {
  ...(process.env.SKYHOP_BENCH_PART_MB
    ? { partSize: Number(process.env.SKYHOP_BENCH_PART_MB) * 2 ** 20 }
    : {}),
  ...(process.env.SKYHOP_BENCH_CONCURRENCY
    ? { concurrency: Number(process.env.SKYHOP_BENCH_CONCURRENCY) }
    : {}),
  ...(process.env.SKYHOP_BENCH_PART_CONCURRENCY
    ? { partConcurrency: Number(process.env.SKYHOP_BENCH_PART_CONCURRENCY) }
    : {}),
};

const dir = mkdtempSync(join(tmpdir(), 'skyhop-bench-storage-'));
const saved = { ...process.env };
const moto = await startMoto();
try {
  process.env.SKYHOP_HOME = join(dir, 'skyhop');
  process.env.HOME = join(dir, 'home');
  mkdirSync(process.env.HOME);
  process.env.AWS_ACCESS_KEY_ID = 'testing';
  process.env.AWS_SECRET_ACCESS_KEY = 'testing';
  for (const k of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_REGION', 'AWS_DEFAULT_REGION'])
    delete process.env[k];
  // moto itself (the proxy would add a hop for skyhop only).
  process.env.SKYHOP_AWS_ENDPOINT_URL = moto.motoEndpoint;
  const rcloneEnv: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME,
    RCLONE_CONFIG: '/dev/null',
    RCLONE_CONFIG_M_TYPE: 's3',
    RCLONE_CONFIG_M_PROVIDER: 'Other',
    RCLONE_CONFIG_M_ENDPOINT: moto.motoEndpoint,
    RCLONE_CONFIG_M_FORCE_PATH_STYLE: 'true',
    RCLONE_CONFIG_M_REGION: 'us-east-1',
    RCLONE_CONFIG_M_ACCESS_KEY_ID: 'testing',
    RCLONE_CONFIG_M_SECRET_ACCESS_KEY: 'testing',
  }; // no AWS_CA_BUNDLE: rclone refuses an http endpoint with it

  // The data: random bytes (incompressible), written once.
  const one = join(dir, 'one');
  const many = join(dir, 'many');
  mkdirSync(one);
  mkdirSync(many);
  const block = randomBytes(16 * 2 ** 20);
  const fd = openSync(join(one, 'big.bin'), 'w');
  for (let left = MIB * 2 ** 20; left > 0; left -= block.length)
    writeSync(fd, block, 0, Math.min(left, block.length));
  closeSync(fd);
  const per = Math.floor((MIB * 2 ** 20) / FILES);
  for (let i = 0; i < FILES; i++) {
    const d = join(many, `d${Math.floor(i / 500)}`);
    if (i % 500 === 0) mkdirSync(d);
    const f = openSync(join(d, `f${i}.bin`), 'w');
    writeSync(f, randomBytes(per)); // all random: moto stalls on some files made of repeated slices
    closeSync(f);
  }

  // A request idle for 15 s is retried, by both tools. Each step uses its own client, closed after:
  // idle keep-alive connections left open to moto_server make the next tool's requests stall.
  const client = async <T>(fn: (h: S3Handle) => Promise<T>): Promise<T> => {
    const h = await s3Client({ idleTimeoutMs: 15_000 });
    try {
      return await fn(h);
    } finally {
      h.client.destroy();
    }
  };
  let n = 0;
  const fresh = () =>
    client(async (h) => {
      const b = `bench-${process.pid}-${n++}`;
      await createBucket(h, b);
      return b;
    });
  const drop = (b: string) => client((h) => deleteBucket(h, b));
  const sky = async (src: string): Promise<{ ms: number; sent: number }> => {
    const b = await fresh();
    const t = process.hrtime.bigint();
    const r = await client((h) => uploadTree(h, src, b, 'data', opts));
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    await drop(b);
    return { ms, sent: r.sent };
  };
  // Asynchronous on purpose: moto logs every request to the pipe this process reads; a spawnSync
  // here would stop reading it, moto would block on a full pipe and rclone would seem to stall.
  const rcloneCopy = (src: string, b: string) =>
    new Promise<void>((resolve, reject) => {
      const c = spawn('rclone', ['copy', '--timeout', '15s', src, `m:${b}/data`], {
        env: rcloneEnv,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      c.stderr.on('data', (d) => (err = (err + d).slice(-2000)));
      c.on('error', reject);
      c.on('close', (code) =>
        code === 0 ? resolve() : reject(new Error(`rclone copy failed (${code}): ${err}`)),
      );
    });
  const rclone = async (src: string): Promise<number> => {
    const b = await fresh();
    const t = process.hrtime.bigint();
    await rcloneCopy(src, b);
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    await drop(b);
    return ms;
  };

  const rows: Row[] = [];
  const cases: Array<[string, string]> = [
    [`${MIB} MiB in 1 file`, one],
    [`${MIB} MiB in ${FILES} files`, many],
  ];
  for (const [what, src] of cases) {
    const s: number[] = [];
    const r: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      if (SKIP_RCLONE_MANY && src === many) {
        s.push((await sky(src)).ms);
        r.push(Number.NaN);
      } else if (i % 2 === 0) {
        s.push((await sky(src)).ms);
        r.push(await rclone(src));
      } else {
        r.push(await rclone(src));
        s.push((await sky(src)).ms);
      }
      console.error(`${what} run ${i + 1}: skyhop ${s[i].toFixed(0)} ms, rclone ${r[i].toFixed(0)} ms`);
    }
    rows.push(summarize(`skyhop upload, ${what}`, s));
    if (!r.some(Number.isNaN)) rows.push(summarize(`rclone copy, ${what}`, r));
  }

  // Re-upload of the unchanged tree: one real upload, then the timed ones (nothing may be sent).
  const b = await fresh();
  await client((h) => uploadTree(h, many, b, 'data', opts));
  const again: number[] = [];
  for (let i = 0; i < Math.max(RUNS, 5); i++) {
    const t = process.hrtime.bigint();
    const r = await client((h) => uploadTree(h, many, b, 'data', opts));
    again.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (r.sent !== 0) throw new Error(`re-upload of the unchanged tree sent ${r.sent} objects`);
  }
  rows.push(
    summarize(`skyhop re-upload, unchanged ${FILES}-file tree (0 objects sent)`, again, 'ms', '< 1000 ms'),
  );
  // rclone's own re-copy of the same unchanged tree (size + modtime from its listing), for scale.
  const rcAgain: number[] = [];
  if (!SKIP_RCLONE_MANY) await rcloneCopy(many, b);
  for (let i = 0; i < (SKIP_RCLONE_MANY ? 0 : Math.max(RUNS, 5)); i++) {
    const t = process.hrtime.bigint();
    await rcloneCopy(many, b);
    rcAgain.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  if (rcAgain.length) rows.push(summarize(`rclone copy again, unchanged ${FILES}-file tree`, rcAgain));
  await drop(b);
  const c = cpus();
  console.log(
    `\nMachine: ${c.length} × ${c[0]?.model ?? 'cpu'}; moto_server on loopback; skyhop options ${JSON.stringify(opts)}`,
  );
  printRows('S3 upload: skyhop vs rclone copy (moto on loopback)', rows);
} finally {
  await moto.stop();
  process.env = saved;
  rmSync(dir, { recursive: true, force: true });
}
