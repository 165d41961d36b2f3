/**
 * AWS passes the conformance kit with the real AWS SDK v3 against moto_server (the EC2 emulator) on a
 * loopback port, up to "instances running with IPs": moto's instances are not real hosts, so the SSH
 * steps are skipped with that reason. Capacity errors are INJECTED (moto cannot run out of capacity):
 * the proxy in test/helpers/moto.ts answers RunInstances with EC2's InsufficientInstanceCapacity error.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createCloud } from '../../src/clouds/aws/index.js';
import { type MotoHandle, motoMissing, startMoto } from '../helpers/moto.js';
import { conformance } from './kit.js';

const missing = motoMissing();
const ENV = ['HOME', 'SKYHOP_HOME', 'SKYHOP_AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'];
const saved: Record<string, string | undefined> = {};
let moto: MotoHandle;
let dir = '';

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
      for (const k of ENV) saved[k] = process.env[k];
      dir = mkdtempSync(join(tmpdir(), 'skyhop-conf-aws-'));
      mkdirSync(join(dir, 'home'));
      process.env.HOME = join(dir, 'home');
      process.env.SKYHOP_HOME = join(dir, 'skyhop');
      process.env.AWS_ACCESS_KEY_ID = 'testing';
      process.env.AWS_SECRET_ACCESS_KEY = 'testing';
      moto = await startMoto();
      process.env.SKYHOP_AWS_ENDPOINT_URL = moto.endpoint;
      return createCloud();
    },
    async teardown() {
      await moto?.stop();
      for (const k of ENV) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
      rmSync(dir, { recursive: true, force: true });
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
