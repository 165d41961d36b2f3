/**
 * AWS passes the whole conformance kit with the real AWS SDK v3 against moto_server (the EC2 emulator) on
 * a loopback port, in "moto hosts" mode (test/helpers/moto-hosts.ts): every instance launched through the
 * test proxy is also a real SSH host on its own loopback address, and the proxy rewrites the instances'
 * addresses to those, so the unchanged provider logs in as `ubuntu` on port 22 and the SSH steps run.
 * Capacity errors are INJECTED (moto cannot run out of capacity): the proxy answers RunInstances with
 * EC2's InsufficientInstanceCapacity error.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createCloud } from '../../src/clouds/aws/index.js';
import { type MotoEnv, type MotoHandle, motoEnv, motoHostsMissing, motoMissing } from '../helpers/moto.js';
import { conformance } from './kit.js';

const missing = motoMissing() ?? motoHostsMissing();
let env: MotoEnv;
let moto: MotoHandle;

if (missing) {
  test('conformance: aws', { skip: `moto hosts are not available: ${missing}` }, () => {});
} else {
  conformance({
    name: 'aws',
    region: 'us-east-1',
    instanceType: 't3.micro',
    reachable: true,
    expectedCapacityScope: 'zone',
    async setup() {
      env = await motoEnv('skyhop-conf-aws-', { hosts: true });
      moto = env.moto;
      return createCloud();
    },
    async teardown() {
      if (!env) return;
      const hosts = env.moto.hosts;
      const errors = hosts ? [...hosts.errors] : [];
      const left = hosts ? hosts.list().filter((h) => h.state !== 'terminated') : [];
      await env.close();
      assert.equal(hosts?.running(), 0, 'close() leaves no host running');
      assert.deepEqual(errors, [], 'the moto hosts had no trouble');
      assert.deepEqual(
        left.map((h) => h.instanceId),
        [],
        'every instance the kit launched was terminated through the provider',
      );
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
