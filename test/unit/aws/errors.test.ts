/**
 * AWS failover classification of real SDK errors. moto cannot produce capacity, quota, spot or auth
 * errors, so each one is INJECTED at the HTTP boundary: the proxy in test/helpers/moto.ts answers
 * RunInstances with the EC2 XML error (the status AWS uses), and the real AWS SDK parses it into the
 * exception the provider throws. Nothing here is mocked above the HTTP layer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { classifyAwsError } from '../../../src/clouds/aws/errors.js';
import { createCloud } from '../../../src/clouds/aws/index.js';
import { AwsProvider } from '../../../src/clouds/aws/provider.js';
import { classify } from '../../../src/provision/classify.js';
import type { BlockScope } from '../../../src/core/cluster.js';
import { type MotoEnv, type MotoHandle, motoEnv, motoMissing } from '../../helpers/moto.js';

const missing = motoMissing();
if (missing) console.log(`# aws error classification tests skipped: ${missing}`);

/** [EC2 code, HTTP status AWS answers with, expected scope]. */
const CASES: Array<[string, number, BlockScope]> = [
  ['InsufficientInstanceCapacity', 500, 'zone'],
  ['Unsupported', 400, 'zone'],
  // Spot prices are per AZ: another zone may be under the maximum price.
  ['SpotMaxPriceTooLow', 400, 'zone'],
  ['InstanceLimitExceeded', 400, 'region'],
  ['VcpuLimitExceeded', 400, 'region'],
  // The spot quota is per account and region: no zone of the region can do better.
  ['MaxSpotInstanceCountExceeded', 400, 'region'],
  ['AuthFailure', 401, 'cloud'],
  ['UnauthorizedOperation', 403, 'cloud'],
  ['ExpiredToken', 400, 'cloud'],
  ['RequestExpired', 400, 'cloud'],
  ['RequestLimitExceeded', 503, 'retry'],
  ['Throttling', 400, 'retry'],
  ['InvalidParameterValue', 400, 'fatal'],
];

describe('aws error classification (errors injected by the test proxy in front of moto)', {
  skip: missing ?? false,
}, () => {
  let env: MotoEnv;
  let moto: MotoHandle;
  before(async () => {
    env = await motoEnv('skyhop-aws-err-');
    moto = env.moto;
  });
  after(() => env?.close());

  for (const [code, status, scope] of CASES) {
    test(`${code} (HTTP ${status}) -> ${scope}`, async () => {
      // One attempt: the SDK would otherwise retry throttling and 5xx on its own (tested in provider.test.ts).
      const p = new AwsProvider('us-east-1', { pollMs: 50, maxAttempts: 1 });
      const cluster = `err-${code.toLowerCase()}`;
      moto.failNext('RunInstances', code, { status });
      let err: unknown;
      try {
        await p.runInstances({
          cluster,
          numNodes: 1,
          instanceType: 't3.micro',
          region: 'us-east-1',
          zone: null,
          useSpot: code.startsWith('Spot') || code.startsWith('MaxSpot'),
          accelerators: null,
        });
      } catch (e) {
        err = e;
      } finally {
        moto.clearFailures();
      }
      assert.ok(err, 'the launch failed');
      assert.equal((err as { name?: string }).name, code, 'the SDK parsed the EC2 error code');
      assert.equal((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, status);
      assert.equal(classifyAwsError(err), scope);
      assert.deepEqual(await p.queryInstances(cluster), [], 'nothing left');
    });
  }
});

test('errors the provider raises itself carry a code that classifies them', () => {
  assert.equal(classifyAwsError({ name: 'InvalidAMIID.NotFound' }), 'region');
  assert.equal(
    classifyAwsError({ name: 'ExpiredTokenException', $metadata: { httpStatusCode: 400 } }),
    'cloud',
  );
  // A network error is no EC2 code: the failover loop's shared rules retry it.
  const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
  assert.equal(classifyAwsError(reset), undefined);
  assert.equal(classify(createCloud(), reset), 'retry');
});
