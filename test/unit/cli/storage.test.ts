/**
 * `skyhop storage ls` and `skyhop storage delete`, run from source in a child process against a real
 * moto_server: the table, confirmation, created vs external buckets, unknown names, and that neither
 * `--help`, `storage --help` nor `storage ls` loads the AWS SDK (a resolve hook records every module).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { openStore } from '../../../src/state/index.js';
import { checkBucket, createBucket } from '../../../src/storage/buckets.js';
import { type S3Handle, s3Client } from '../../../src/storage/s3.js';
import { type MotoEnv, motoEnv, motoMissing } from '../../helpers/moto.js';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const skip = motoMissing();

const HOOKS = `
import { appendFileSync } from 'node:fs';
let out = '';
export function initialize(data) { out = data.out; }
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(out, r.url + '\\n');
  return r;
}
`;

describe('skyhop storage (CLI, moto)', { skip: skip ?? false }, () => {
  let env: MotoEnv;
  let h: S3Handle;
  let register = '';
  let trace = '';
  before(async () => {
    env = await motoEnv('skyhop-cli-storage-');
    h = await s3Client();
    const hooks = join(env.dir, 'hooks.mjs');
    trace = join(env.dir, 'trace.txt');
    writeFileSync(hooks, HOOKS);
    register = join(env.dir, 'register.mjs');
    writeFileSync(
      register,
      `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)}, { data: { out: ${JSON.stringify(trace)} } });\n`,
    );
  });
  after(async () => {
    h?.client.destroy();
    await env?.close();
  });

  function cli(args: string[]): { code: number | null; stdout: string; stderr: string; sdk: string[] } {
    rmSync(trace, { force: true });
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--import', register, 'src/cli/main.ts', ...args],
      {
        cwd: ROOT,
        encoding: 'utf8',
        // moto itself, not the proxy: the proxy runs in this process, which spawnSync blocks.
        env: { ...process.env, CI: 'true', SKYHOP_AWS_ENDPOINT_URL: env.moto.motoEndpoint },
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 60_000,
      },
    );
    const urls = existsSync(trace) ? readFileSync(trace, 'utf8').split('\n') : [];
    return {
      code: r.status,
      stdout: r.stdout,
      stderr: r.stderr,
      sdk: urls.filter((u) => u.includes('/@aws-sdk/')),
    };
  }

  test('--help, storage --help and an empty storage ls load no AWS SDK', () => {
    for (const args of [['--help'], ['storage', '--help'], ['storage', 'ls']]) {
      const r = cli(args);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.sdk, [], args.join(' '));
    }
    assert.equal(cli(['storage', 'ls']).stdout, 'No storage.\n');
    assert.match(cli(['--help']).stdout, /storage/);
  });

  test('ls shows the table; delete needs -y without a terminal; created ones are deleted, external ones forgotten', async () => {
    const store = openStore();
    const base = { store: 's3' as const, region: 'us-east-1', endpoint: env.moto.endpoint };
    store.putStorage({
      ...base,
      name: 'cli-made',
      source: '/home/me/data',
      createdBySkyhop: true,
      persistent: true,
      status: 'READY',
    });
    store.putStorage({
      ...base,
      name: 'cli-ext',
      source: 's3://cli-ext',
      createdBySkyhop: false,
      persistent: true,
      status: 'READY',
    });
    store.addStorageUse({ name: 'cli-made', cluster: 'gone-cluster', path: '/d', mode: 'MOUNT' });
    store.close();
    await createBucket(h, 'cli-made');
    await createBucket(h, 'cli-ext');

    const ls = cli(['storage', 'ls']);
    assert.equal(ls.code, 0, ls.stderr);
    const lines = ls.stdout.trimEnd().split('\n');
    assert.match(lines[0], /^NAME\s+STORE\s+SOURCE\s+CREATED\s+STATUS\s+CLUSTERS$/);
    assert.match(lines[1], /^cli-ext\s+S3\s+s3:\/\/cli-ext\s+\d+s ago\s+READY\s+-$/);
    assert.match(lines[2], /^cli-made\s+S3\s+\/home\/me\/data\s+\d+s ago\s+READY\s+-$/);

    const noYes = cli(['storage', 'delete', 'cli-made']);
    assert.equal(noYes.code, 1);
    assert.match(noYes.stderr, /needs confirmation.*add -y/);

    const typo = cli(['storage', 'delete', '-y', 'cli-mde']);
    assert.equal(typo.code, 1);
    assert.match(typo.stderr, /storage 'cli-mde' not found \(did you mean 'cli-made'\?\)/);

    const del = cli(['storage', 'delete', '-y', 'cli-made', 'cli-ext']);
    assert.equal(del.code, 0, del.stderr);
    assert.match(del.stdout, /Deleted s3:\/\/cli-made and its objects/);
    assert.match(del.stdout, /Forgot s3:\/\/cli-ext: skyhop did not create it/);
    assert.deepEqual(await checkBucket(h, 'cli-made'), { state: 'missing' });
    assert.deepEqual(await checkBucket(h, 'cli-ext'), { state: 'exists' });
    assert.equal(cli(['storage', 'ls']).stdout, 'No storage.\n');

    const none = cli(['storage', 'delete']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /give the names of the buckets to delete, or -a/);
  });
});
