// FluffyCloud's failover classification: one row per error kind (the errors are built the way the
// API client and the provider build them; the emulator tests check the client builds them so).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProvisionError, ProvisioningUnavailableError } from '../../../src/clouds/errors.js';
import { FluffyCloudApiError } from '../../../src/clouds/fluffycloud/api.js';
import { classifyFluffyCloudError } from '../../../src/clouds/fluffycloud/errors.js';
import { createCloud } from '../../../src/clouds/fluffycloud/index.js';
import { classify } from '../../../src/provision/classify.js';
import type { BlockScope } from '../../../src/core/cluster.js';
import { CloudError, InterruptedError, UserError } from '../../../src/util/errors.js';

const api = (status: number | null, code: string, message = `FluffyCloudError: ${code}`) =>
  new FluffyCloudApiError(message, { status, code, call: 'POST /v1/instances' });

// The table is what the failover loop decides for FluffyCloud (`classify`: the rules every cloud
// shares, then FluffyCloud's classifyError); the last tests show which part decides what.
describe('FluffyCloud failover classification', () => {
  const table: Array<[string, unknown, BlockScope]> = [
    [
      "capacity naming a zone -> region (the issue's rule; see errors.ts)",
      api(
        503,
        'capacity',
        'FluffyCloudError: no capacity for ff.small in region fluffy-east (zone fluffy-east-1a)',
      ),
      'region',
    ],
    [
      'capacity naming no zone -> region',
      api(503, 'capacity', 'FluffyCloudError: no capacity in fluffy-eu'),
      'region',
    ],
    ['region_unavailable -> region', api(503, 'region_unavailable'), 'region'],
    ['quota -> cloud', api(403, 'quota'), 'cloud'],
    ['unauthorized -> cloud', api(401, 'unauthorized'), 'cloud'],
    ['internal 500 -> retry', api(500, 'internal'), 'retry'],
    ['rate_limited 429 -> retry', api(429, 'rate_limited'), 'retry'],
    ['a 502 from a proxy -> retry', api(502, 'http'), 'retry'],
    ['timeout -> retry', api(null, 'timeout'), 'retry'],
    ['connection reset -> retry', api(null, 'ECONNRESET'), 'retry'],
    ['connection refused -> cloud', api(null, 'ECONNREFUSED'), 'cloud'],
    ['bad_request -> fatal', api(400, 'bad_request'), 'fatal'],
    ['not_found -> fatal', api(404, 'not_found'), 'fatal'],
    ['unknown 4xx code -> fatal', api(409, 'conflict'), 'fatal'],
    ['boot_failed -> region', new ProvisionError('region', 'boot_failed', 'x was preempted'), 'region'],
    ['boot_timeout -> region', new ProvisionError('region', 'boot_timeout', 'slow'), 'region'],
    ['ssh_unreachable -> fatal', new ProvisionError('fatal', 'ssh_unreachable', 'no ssh'), 'fatal'],
    ['cluster_conflict -> fatal', new ProvisionError('fatal', 'cluster_conflict', 'elsewhere'), 'fatal'],
    ['terminate_timeout -> retry', new ProvisionError('retry', 'terminate_timeout', 'slow'), 'retry'],
    ['UserError -> fatal', new UserError('bad request'), 'fatal'],
    ['InterruptedError -> fatal', new InterruptedError(), 'fatal'],
    ['ProvisioningUnavailableError -> cloud', new ProvisioningUnavailableError('FluffyCloud'), 'cloud'],
    ['a TypeError (a bug) -> fatal', new TypeError('x is undefined'), 'fatal'],
    // Errors of other shapes (SDK-like objects) by code and message.
    ['{code: InsufficientCapacity} -> region', { code: 'InsufficientCapacity', status: 409 }, 'region'],
    ['{code: QuotaExceeded, 403} -> cloud', { code: 'QuotaExceeded', status: 403 }, 'cloud'],
    ['{code: Unauthorized, 401} -> cloud', { code: 'Unauthorized', status: 401 }, 'cloud'],
    ['{code: Internal, 500} -> retry', { code: 'Internal', status: 500 }, 'retry'],
    ['{code: BadRequest, 400} -> fatal', { code: 'BadRequest', status: 400 }, 'fatal'],
    [
      '{code: ECONNRESET} -> retry',
      Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
      'retry',
    ],
    ['{code: ECONNREFUSED} -> cloud', Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), 'cloud'],
    ['a plain CloudError -> the zone tried (the shared default)', new CloudError('something odd'), 'zone'],
  ];
  const cloud = createCloud();
  for (const [name, e, want] of table) {
    test(name, () => assert.equal(classify(cloud, e), want));
  }

  test("FluffyCloud's classifier maps only its own errors; the shared cases are the loop's", () => {
    assert.equal(classifyFluffyCloudError(api(503, 'capacity')), 'region');
    assert.equal(classifyFluffyCloudError(api(null, 'ECONNREFUSED')), 'cloud');
    for (const e of [
      new UserError('disk_size 0 is too small'),
      new InterruptedError(),
      new ProvisioningUnavailableError('FluffyCloud'),
      new TypeError('x is undefined'),
      new CloudError('something odd'),
    ]) {
      assert.equal(classifyFluffyCloudError(e), undefined, e.name);
    }
  });

  test('the cloud uses this classifier', () => {
    assert.equal(createCloud().classifyError(api(403, 'quota')), 'cloud');
  });

  test('transient is decided by status and code', () => {
    assert.equal(api(503, 'capacity').transient, false);
    assert.equal(api(503, 'region_unavailable').transient, false);
    assert.equal(api(503, 'http').transient, true);
    assert.equal(api(500, 'internal').transient, true);
    assert.equal(api(429, 'rate_limited').transient, true);
    assert.equal(api(null, 'timeout').transient, true);
    assert.equal(api(null, 'ECONNREFUSED').transient, false);
    assert.equal(api(400, 'bad_request').transient, false);
    const e = api(403, 'quota');
    assert.ok(e instanceof CloudError);
    assert.equal(e.exitCode, 2);
  });
});
