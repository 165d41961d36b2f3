/**
 * Cost of loading: `skyhop --help`, `skyhop status` and `skyhop check aws` (which loads the aws cloud and
 * reads its credentials, without --verbose) never load the AWS SDK. The CLI runs from source
 * (node --import tsx) in a child process with a module resolve hook that records every module URL it
 * resolves; the test asserts no @aws-sdk URL is among them. A control run that does create an EC2
 * client shows the hook sees the SDK when it is loaded.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');

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
const REGISTER = (hooks: string, out: string) => `
import { register } from 'node:module';
register(${JSON.stringify(pathToFileURL(hooks).href)}, { data: { out: ${JSON.stringify(out)} } });
`;

describe('the AWS SDK is loaded only when AWS is used', () => {
  let dir = '';
  let register = '';
  let trace = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'skyhop-lazy-aws-'));
    mkdirSync(join(dir, 'home'));
    const hooks = join(dir, 'hooks.mjs');
    trace = join(dir, 'trace.txt');
    writeFileSync(hooks, HOOKS);
    register = join(dir, 'register.mjs');
    writeFileSync(register, REGISTER(hooks, trace));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function run(args: string[]): { code: number | null; urls: string[]; out: string } {
    rmSync(trace, { force: true });
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', register, ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      env: {
        ...process.env,
        HOME: join(dir, 'home'),
        SKYHOP_HOME: join(dir, 'skyhop'),
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
      },
      timeout: 60_000,
    });
    const urls = existsSync(trace) ? readFileSync(trace, 'utf8').split('\n').filter(Boolean) : [];
    return { code: r.status, urls, out: r.stdout + r.stderr };
  }
  const sdkUrls = (urls: string[]) => urls.filter((u) => u.includes('/@aws-sdk/'));

  for (const args of [['--help'], ['status']]) {
    test(`skyhop ${args.join(' ')}`, () => {
      const r = run(['src/cli/main.ts', ...args]);
      assert.equal(r.code, 0, r.out);
      assert.ok(
        r.urls.some((u) => u.endsWith('/src/cli/main.ts')),
        'the hook saw the CLI',
      );
      assert.deepEqual(sdkUrls(r.urls), []);
    });
  }

  test('skyhop check aws: the aws cloud is loaded, its SDK is not', () => {
    const r = run(['src/cli/main.ts', 'check', 'aws']);
    assert.ok(
      r.urls.some((u) => u.endsWith('/src/clouds/aws/index.ts')),
      `the aws cloud was loaded: ${r.out}`,
    );
    assert.ok(r.urls.some((u) => u.endsWith('/src/clouds/aws/provider.ts')));
    assert.deepEqual(sdkUrls(r.urls), []);
  });

  test('control: creating an EC2 client does load it', () => {
    const script = join(dir, 'control.mts');
    writeFileSync(
      script,
      `import { ec2Client } from ${JSON.stringify(pathToFileURL(join(ROOT, 'src/clouds/aws/ec2.ts')).href)};\n` +
        `import { createCloud } from ${JSON.stringify(pathToFileURL(join(ROOT, 'src/clouds/aws/index.ts')).href)};\n` +
        "createCloud().provider('us-east-1');\n" +
        "const { client } = await ec2Client('us-east-1');\nclient.destroy();\n",
    );
    const r = run([script]);
    assert.equal(r.code, 0, r.out);
    assert.ok(
      sdkUrls(r.urls).some((u) => u.includes('/@aws-sdk/client-ec2/')),
      'the SDK was resolved',
    );
  });
});
