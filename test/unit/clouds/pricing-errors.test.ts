// Egress pricing, failover classification and the not-yet-built providers of the catalog clouds.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProvisioningUnavailableError } from '../../../src/clouds/errors.js';
import { tieredEgressPerGb } from '../../../src/clouds/feasible.js';
import { getCloud } from '../../../src/clouds/registry.js';
import { classify } from '../../../src/provision/classify.js';
import { CloudError, UserError } from '../../../src/util/errors.js';

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-9, `${a} != ${b}`);
const total = (cloud: string, gb: number) => getCloud(cloud).egressCostPerGb(gb) * gb;

describe('egress', () => {
  test('tiers bill each GB at its tier rate', () => {
    const tiers = [
      [10, 0],
      [20, 1],
      [Number.POSITIVE_INFINITY, 0.5],
    ] as const;
    assert.equal(tieredEgressPerGb(0, tiers), 0);
    assert.equal(tieredEgressPerGb(-3, tiers), 0);
    assert.equal(tieredEgressPerGb(10, tiers), 0);
    close(tieredEgressPerGb(20, tiers), 0.5);
    close(tieredEgressPerGb(40, tiers) * 40, 10 + 10);
  });

  test('AWS: 1 GB free, $0.09 to 10 TB, $0.085 to 50 TB, $0.07 to 150 TB, $0.05 beyond', () => {
    assert.equal(total('aws', 1), 0);
    close(total('aws', 101), 100 * 0.09);
    close(total('aws', 10 * 1024), (10 * 1024 - 1) * 0.09);
    close(total('aws', 20 * 1024), (10 * 1024 - 1) * 0.09 + 10 * 1024 * 0.085);
    close(
      total('aws', 200 * 1024),
      (10 * 1024 - 1) * 0.09 + 40 * 1024 * 0.085 + 100 * 1024 * 0.07 + 50 * 1024 * 0.05,
    );
    assert.ok(
      getCloud('aws').egressCostPerGb(100 * 1024) < getCloud('aws').egressCostPerGb(1024),
      'cheaper per GB in bulk',
    );
  });

  test('GCP: $0.12 to 1 TB, $0.11 to 10 TB, $0.08 beyond; never cheaper for more data', () => {
    close(total('gcp', 100), 12);
    close(total('gcp', 1024), 1024 * 0.12);
    close(total('gcp', 2048), 1024 * 0.12 + 1024 * 0.11);
    close(total('gcp', 20 * 1024), 1024 * 0.12 + 9 * 1024 * 0.11 + 10 * 1024 * 0.08);
    assert.ok(total('gcp', 1100) > total('gcp', 1024));
  });

  test('Lambda and RunPod egress is free; FluffyCloud charges a flat $0.02/GB', () => {
    assert.equal(total('lambda', 5000), 0);
    assert.equal(total('runpod', 5000), 0);
    close(total('fluffycloud', 5000), 100);
    assert.equal(getCloud('fluffycloud').egressCostPerGb(0), 0);
  });
});

// Each cloud's classifyError maps its own API's errors (undefined: not one of them); `classify` (the
// failover loop's) decides what every cloud shares, then asks the cloud.
describe('failover classification', () => {
  const ec2 = (name: string, message = '') => Object.assign(new Error(message), { name });
  test('AWS by EC2 error code', () => {
    const aws = getCloud('aws');
    assert.equal(aws.classifyError(ec2('InsufficientInstanceCapacity')), 'zone');
    assert.equal(aws.classifyError({ Code: 'VcpuLimitExceeded' }), 'region');
    assert.equal(aws.classifyError(ec2('AuthFailure')), 'cloud');
    assert.equal(aws.classifyError(ec2('RequestLimitExceeded')), 'retry');
    assert.equal(aws.classifyError(ec2('InvalidParameterValue')), 'fatal');
    // Not AWS's own: the shared rules decide.
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    assert.equal(aws.classifyError(reset), undefined);
    assert.equal(classify(aws, reset), 'retry');
    assert.equal(aws.classifyError(new UserError('bad disk size')), undefined);
    assert.equal(classify(aws, new UserError('bad disk size')), 'fatal');
    assert.equal(aws.classifyError(new Error('something odd')), undefined);
    assert.equal(classify(aws, new Error('something odd')), 'zone');
  });

  test('GCP by error reason; the global GPU quota blocks the whole cloud', () => {
    const gcp = getCloud('gcp');
    assert.equal(gcp.classifyError({ code: 'ZONE_RESOURCE_POOL_EXHAUSTED', message: 'no' }), 'zone');
    assert.equal(
      gcp.classifyError({ code: 'QUOTA_EXCEEDED', message: "Quota 'NVIDIA_A100_GPUS' exceeded" }),
      'region',
    );
    assert.equal(
      gcp.classifyError({ code: 'QUOTA_EXCEEDED', message: "Quota 'GPUS_ALL_REGIONS' exceeded" }),
      'cloud',
    );
    assert.equal(gcp.classifyError({ code: 'rateLimitExceeded' }), 'retry');
    assert.equal(gcp.classifyError({ status: 403, message: 'forbidden' }), 'cloud');
    assert.equal(gcp.classifyError({ status: 400, message: 'bad' }), 'fatal');
  });

  test('Lambda (no zones: capacity is per region), RunPod, FluffyCloud', () => {
    const lambda = getCloud('lambda');
    assert.equal(
      lambda.classifyError({ code: 'instance-operations/launch/insufficient-capacity' }),
      'region',
    );
    assert.equal(lambda.classifyError({ code: 'global/invalid-api-key' }), 'cloud');
    assert.equal(lambda.classifyError({ code: 'global/invalid-parameters' }), 'fatal');
    assert.equal(classify(lambda, { status: 503 }), 'retry');
    // Unknown: the zone tried, which for a cloud without zones is the region (provision/blocklist.ts).
    assert.equal(classify(lambda, new Error('?')), 'zone');
    const runpod = getCloud('runpod');
    assert.equal(
      runpod.classifyError(
        new Error('There are no longer any instances available with the requested specifications.'),
      ),
      'zone',
    );
    assert.equal(runpod.classifyError(new Error('Unauthorized request')), 'cloud');
    assert.equal(classify(runpod, { status: 429 }), 'retry');
    const fluffy = getCloud('fluffycloud');
    // FluffyCloud's own table (capacity -> region, quota -> cloud) is tested in test/unit/fluffycloud.
    assert.equal(fluffy.classifyError({ code: 'capacity', status: 503 }), 'region');
    assert.equal(fluffy.classifyError({ code: 'quota', status: 403 }), 'cloud');
    assert.equal(fluffy.classifyError({ code: 'Unauthorized', status: 401 }), 'cloud');
    assert.equal(fluffy.classifyError({ code: 'Internal', status: 500 }), 'retry');
    assert.equal(fluffy.classifyError({ code: 'BadRequest', status: 400 }), 'fatal');
  });
});

describe('providers', () => {
  test('provisioning is not built yet: a CloudError that says so, classified as blocking the cloud', () => {
    for (const [name, shown] of [
      ['gcp', 'GCP'],
      ['lambda', 'Lambda'],
      ['runpod', 'RunPod'],
    ] as const) {
      const cloud = getCloud(name);
      let err: unknown;
      try {
        cloud.provider('r1');
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof CloudError && err instanceof ProvisioningUnavailableError, name);
      assert.equal(
        (err as Error).message,
        `provisioning on ${shown} is not available in skyhop yet; \`skyhop optimize\` plans for it`,
      );
      assert.equal((err as CloudError).exitCode, 2);
      assert.equal(classify(cloud, err), 'cloud');
    }
  });
});
