// `skyhop check` through its CLI module function, with a temporary HOME; stdout is captured.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import check from '../../../src/cli/check.js';
import { UserError } from '../../../src/util/errors.js';
import { type Sandbox, sandbox } from './helpers.js';

const SECRET = 'lambda-secret-key-0123456789';

let sb: Sandbox;
beforeEach(() => {
  sb = sandbox();
});
afterEach(() => sb.restore());

async function run(
  args: string[],
  opts: { verbose?: boolean; json?: boolean } = {},
): Promise<{ code: number; out: string }> {
  // The command writes strings; node's test runner writes its own protocol to stdout as bytes, which
  // passes through untouched.
  const chunks: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    if (typeof chunk !== 'string')
      return (write as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
    chunks.push(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    const code = await check({ clouds: args, ...opts });
    return { code, out: chunks.join('') };
  } finally {
    process.stdout.write = write;
  }
}

describe('skyhop check', () => {
  test('one line per cloud, disabled ones with why and how to fix, and the enabled summary', async () => {
    sb.write('.lambda_cloud/lambda_keys', `api_key = ${SECRET}\n`);
    const { code, out } = await run([]);
    assert.equal(code, 0);
    assert.ok(!out.includes(SECRET), 'never prints a key');
    const lines = out.trimEnd().split('\n');
    assert.match(lines[0], /no network/);
    assert.match(out, /^ {2}Local {8}enabled {3}this machine$/m);
    assert.match(out, /^ {2}Lambda {7}enabled {3}~\/\.lambda_cloud\/lambda_keys \(api_key\)$/m);
    // Lambda's keys are found, but skyhop only plans for it: check says so (issue 9 item 15).
    assert.match(
      out,
      /lambda_keys \(api_key\)\n {25}planning only: skyhop cannot launch on Lambda yet; `skyhop optimize` plans for it\n/,
    );
    assert.match(out, /^ {2}AWS {10}disabled {2}no AWS credentials found/m);
    assert.match(out, /^ {25}fix: run `aws configure`/m);
    assert.match(out, /^ {2}GCP {10}disabled {2}no application default credentials/m);
    assert.match(out, /^ {2}RunPod {7}disabled {2}RUNPOD_API_KEY is not set/m);
    assert.match(out, /^ {2}FluffyCloud {2}disabled {2}~\/\.fluffycloud\/credentials not found$/m);
    assert.equal(lines.at(-2), 'Enabled clouds: local');
    assert.equal(lines.at(-1), 'Planning only (optimize, not launch): lambda');
    assert.equal(lines.filter((l) => /^ {2}\S/.test(l)).length, 6, 'one line per cloud');
  });

  test('named clouds only; exit 1 when one of them is not enabled', async () => {
    let r = await run(['aws']);
    assert.equal(r.code, 1);
    assert.doesNotMatch(r.out, /GCP|Local/);
    assert.match(r.out, /No cloud among these is enabled\.\n$/);
    sb.env({ AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: SECRET });
    r = await run(['AWS', 'aws']);
    assert.equal(r.code, 0);
    assert.ok(!r.out.includes(SECRET));
    assert.match(r.out, /AWS {2}enabled {3}environment \(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY\)\n/);
    assert.equal(r.out.match(/AWS {2}enabled/g)?.length, 1, 'listed once');
  });

  test('an unknown cloud is a UserError with the nearest name', async () => {
    await assert.rejects(
      run(['gpc']),
      (e: unknown) => e instanceof UserError && /did you mean 'gcp'/.test((e as Error).message),
    );
  });

  test('--json prints one JSON object', async () => {
    sb.env({ RUNPOD_API_KEY: SECRET });
    const { code, out } = await run([], { json: true });
    assert.equal(code, 0);
    assert.ok(!out.includes(SECRET));
    const j = JSON.parse(out);
    assert.deepEqual(j.enabled, ['local']);
    assert.deepEqual(j.planning_only, ['runpod']);
    assert.equal(j.verbose, false);
    assert.equal(j.clouds.length, 6);
    const runpod = j.clouds.find((c: { name: string }) => c.name === 'runpod');
    assert.deepEqual(runpod, {
      name: 'runpod',
      displayName: 'RunPod',
      enabled: true,
      launchable: false,
      source: 'environment (RUNPOD_API_KEY)',
    });
    const gcp = j.clouds.find((c: { name: string }) => c.name === 'gcp');
    assert.equal(gcp.enabled, false);
    assert.match(gcp.reason, /no application default credentials/);
    assert.match(gcp.hint, /gcloud auth application-default login/);
  });

  test('--verbose says that no identity API is called yet', async () => {
    const { out } = await run(['local'], { verbose: true });
    assert.match(out.split('\n')[0], /^--verbose: skyhop does not call cloud identity APIs yet/);
    const j = JSON.parse((await run(['local'], { verbose: true, json: true })).out);
    assert.equal(j.verbose, true);
    assert.match(j.note, /does not call cloud identity APIs yet/);
  });
});
