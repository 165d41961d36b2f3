/**
 * What the storage-on-nodes tests share: a real moto_server S3 on loopback, a test-side rclone config
 * (0600, in a temp folder) to make buckets and objects and to read them back, and scans of this
 * machine for leaked secrets and left-over mounts.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Access } from '../../../src/core/storage.js';
import { type MotoHandle, motoMissing, startMoto } from '../../helpers/moto.js';

export function storageUnavailable(): string | null {
  const moto = motoMissing();
  if (moto) return moto;
  for (const bin of ['rclone', 'fusermount3']) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0)
      return `${bin} is missing: run scripts/install-deps.sh`;
  }
  try {
    readFileSync('/dev/fuse', { flag: 'r' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '/dev/fuse is missing';
  }
  return null;
}

export interface S3Env {
  moto: MotoHandle;
  access: S3Access;
  secret: string;
  dir: string;
  /**
   * rclone on this machine against moto (remote `t:`); rejects with its stderr on failure. Never
   * synchronous: moto's output is read by this process, and a blocked event loop would fill its
   * pipe and hang it.
   */
  rclone(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export async function startS3(): Promise<S3Env> {
  const moto = await startMoto();
  const dir = mkdtempSync(join(tmpdir(), 'skyhop-s3-test-'));
  const secret = `skyhopSecret${Math.random().toString(36).slice(2)}${Date.now()}`;
  const access: S3Access = {
    endpoint: moto.motoEndpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIASKYHOPTEST', secretAccessKey: secret },
  };
  const conf = join(dir, 'rclone.conf');
  writeFileSync(
    conf,
    `[t]\ntype = s3\nprovider = Other\nendpoint = ${moto.motoEndpoint}\nforce_path_style = true\nregion = us-east-1\naccess_key_id = AKIASKYHOPTEST\nsecret_access_key = ${secret}\n`,
    { mode: 0o600 },
  );
  const env = { ...process.env };
  delete env.AWS_CA_BUNDLE;
  return {
    moto,
    access,
    secret,
    dir,
    rclone(...args: string[]) {
      return new Promise<string>((resolve, reject) => {
        const child = spawn('rclone', ['--config', conf, ...args], {
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        child.stdout.setEncoding('utf8').on('data', (c: string) => {
          out += c;
        });
        child.stderr.setEncoding('utf8').on('data', (c: string) => {
          err = (err + c).slice(-8000);
        });
        child.on('error', reject);
        child.on('close', (code) =>
          code === 0 ? resolve(out) : reject(new Error(`rclone ${args.join(' ')}: ${err}`)),
        );
      });
    },
    async stop() {
      await moto.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export { cmdlinesWith, filesWith, fuseMountsUnder } from '../../helpers/scan.js';
