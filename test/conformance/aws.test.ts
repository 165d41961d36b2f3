/**
 * AWS passes the conformance kit with the real AWS SDK v3 against moto_server (the EC2 emulator) on a
 * loopback port, up to "instances running with IPs": moto's instances are not real hosts, so the SSH
 * steps are skipped with that reason. Capacity errors are INJECTED (moto cannot run out of capacity):
 * the proxy in test/helpers/moto.ts answers RunInstances with EC2's InsufficientInstanceCapacity error.
 */
import { test } from 'node:test';
import { createCloud } from '../../src/clouds/aws/index.js';
import { type MotoEnv, type MotoHandle, motoEnv, motoMissing } from '../helpers/moto.js';
import { conformance } from './kit.js';

const missing = motoMissing();
let env: MotoEnv;
let moto: MotoHandle;

if (missing) {
  test('conformance: aws', { skip: `moto is not available: ${missing}` }, () => {});
} else {
  conformance({
    name: 'aws',
    region: 'us-east-1',
    instanceType: 't3.micro',
    reachable: { skip: "moto's instances are not real hosts" },
    expectedCapacityScope: 'zone',
    async setup() {
      env = await motoEnv('skyhop-conf-aws-');
      moto = env.moto;
      return createCloud();
    },
    async teardown() {
      await env?.close();
    },
    async injectCapacityError() {
      // Real AWS answers HTTP 500 here; the SDK retries 5xx, so every attempt gets the error.
      moto.failNext('RunInstances', 'InsufficientInstanceCapacity', {
        status: 500,
        times: Number.POSITIVE_INFINITY,
        message:
          'We currently do not have sufficient t3.micro capacity in the Availability Zone you requested.',
      });
      return async () => moto.clearFailures();
    },
  });
}
