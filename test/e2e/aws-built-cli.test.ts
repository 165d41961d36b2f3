/**
 * The AWS SDK through the BUILT CLI (dist/), on moto. The unit suites load src/ through tsx, where the
 * SDK packages come from node_modules; the bundle turns the SDK's CommonJS build into a chunk whose
 * only export is `default`, and every AWS command of the real CLI failed with "EC2Client is not a
 * constructor" while the suites stayed green. These run the same commands a user runs.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { type MotoEnv, motoEnv, motoMissing } from '../helpers/moto.js';
import { BIN, ROOT } from './harness.js';

const missing = motoMissing();
if (missing) console.log(`# built-CLI AWS tests skipped: ${missing}`);

describe('the built CLI talks to AWS (moto)', { skip: missing ?? false }, () => {
  let env: MotoEnv;
  before(async () => {
    env = await motoEnv('skyhop-aws-cli-');
  });
  after(() => env?.close());

  // Asynchronous: the moto proxy runs in this process and must keep answering while the CLI runs.
  const cli = (args: string[]) =>
    new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [BIN, ...args],
        {
          cwd: ROOT,
          encoding: 'utf8',
          timeout: 180_000,
          env: {
            ...process.env,
            SKYHOP_AWS_ENDPOINT_URL: env.moto.endpoint,
            // No Price List API on moto: a loopback address with nothing listening answers at once.
            SKYHOP_AWS_PRICING_ENDPOINT_URL: 'http://127.0.0.1:9',
          },
        },
        (err, stdout, stderr) => resolve({ status: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
      );
    });

  test('check aws --verbose calls STS and names the account', async () => {
    const r = await cli(['check', 'aws', '--verbose']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /AWS\s+enabled.*\[account \d{12} as arn:aws:/);
  });

  test('catalog update aws --from-api builds a region from EC2', async () => {
    const r = await cli(['catalog', 'update', 'aws', '--from-api', '--regions', 'us-east-1']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /not a constructor|internal error/);
    assert.match(r.stdout + r.stderr, /us-east-1: \d+ types in \d+ type\/zone rows/);
    assert.ok(env.moto.actions.includes('DescribeInstanceTypes'));
  });
});
