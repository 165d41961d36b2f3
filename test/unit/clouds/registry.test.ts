// The clouds registry: the list, lookups with typo suggestions, enabled clouds, planning clouds.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import {
  allClouds,
  cloudNames,
  enabledClouds,
  getCloud,
  resolvePlanningClouds,
} from '../../../src/clouds/registry.js';
import { UserError } from '../../../src/util/errors.js';
import { type Sandbox, sandbox } from './helpers.js';

let sb: Sandbox;
beforeEach(() => {
  sb = sandbox();
});
afterEach(() => sb.restore());

function userError(re: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof UserError, `expected UserError, got ${e}`);
    assert.match((e as Error).message, re);
    return true;
  };
}

describe('registry lookups', () => {
  test('one list, in order; created once', () => {
    assert.deepEqual(cloudNames(), ['local', 'aws', 'gcp', 'lambda', 'runpod', 'fluffycloud']);
    const a = allClouds();
    const b = allClouds();
    assert.notEqual(a, b, 'a copy of the list');
    for (const [i, c] of a.entries()) assert.equal(c, b[i], 'the same cloud objects');
    a.length = 0;
    assert.equal(allClouds().length, 6, 'callers cannot change the registry');
  });

  test('getCloud finds a cloud by name, case-insensitively', () => {
    assert.equal(getCloud('aws'), allClouds()[1]);
    assert.equal(getCloud('GCP').name, 'gcp');
    assert.equal(getCloud(' FluffyCloud ').displayName, 'FluffyCloud');
  });

  test('unknown names: UserError with the nearest name and the known ones', () => {
    assert.throws(
      () => getCloud('awz'),
      userError(/^unknown cloud 'awz' \(did you mean 'aws'\?\); known clouds: local, aws, gcp/),
    );
    assert.throws(() => getCloud('gpc'), userError(/did you mean 'gcp'/));
    assert.throws(() => getCloud('lamda'), userError(/did you mean 'lambda'/));
    assert.throws(() => getCloud('fluffy-cloud'), userError(/did you mean 'fluffycloud'/));
    assert.throws(
      () => getCloud('kubernetes'),
      (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.doesNotMatch((e as Error).message, /did you mean/);
        assert.match((e as Error).message, /known clouds: local, aws, gcp, lambda, runpod, fluffycloud$/);
        return true;
      },
    );
  });

  test("each cloud's planning facts", () => {
    const facts = Object.fromEntries(
      allClouds().map((c) => [c.name, { len: c.maxClusterNameLength, features: [...c.features].sort() }]),
    );
    assert.equal(facts.aws.len, 248);
    assert.equal(facts.gcp.len, 35);
    assert.equal(facts.lambda.len, 57);
    assert.equal(facts.runpod.len, 120);
    assert.equal(facts.fluffycloud.len, 48);
    const all = [
      'autostop',
      'disk-size',
      'image-id',
      'labels',
      'multi-node',
      'ports',
      'spot',
      'stop',
      'zones',
    ];
    // 'provision': the clouds skyhop can launch on (gcp, lambda and runpod are planning-only); AWS
    // alone has a high-performance network tier (EFA); nodes that run a Docker Engine take
    // image_id: docker:<image> (aws, local, fluffycloud).
    assert.deepEqual(facts.aws.features, [...all, 'docker-image', 'network-tier-best', 'provision'].sort());
    assert.deepEqual(facts.gcp.features, all);
    assert.deepEqual(facts.lambda.features, ['autostop', 'multi-node', 'ports']);
    assert.deepEqual(facts.runpod.features, ['autostop', 'disk-size', 'image-id', 'ports', 'spot', 'zones']);
    assert.deepEqual(facts.fluffycloud.features, [
      'autostop',
      'docker-image',
      'multi-node',
      'ports',
      'provision',
      'spot',
      'zones',
    ]);
    assert.deepEqual(facts.local.features, [
      'autostop',
      'disk-size',
      'docker-image',
      'labels',
      'multi-node',
      'ports',
      'provision',
      'stop',
    ]);
  });
});

describe('enabled and planning clouds', () => {
  test('with no credentials only local is enabled', async () => {
    assert.deepEqual(
      (await enabledClouds()).map((c) => c.name),
      ['local'],
    );
    const r = await resolvePlanningClouds({});
    assert.deepEqual(
      r.clouds.map((c) => c.name),
      ['local'],
    );
    assert.equal(r.note, null);
  });

  test('credentials enable clouds (no network): lambda key file, RunPod env key', async () => {
    sb.write('.lambda_cloud/lambda_keys', 'api_key = k\n');
    sb.env({ RUNPOD_API_KEY: 'k' });
    assert.deepEqual(
      (await enabledClouds()).map((c) => c.name),
      ['local', 'lambda', 'runpod'],
    );
  });

  test('--clouds plans over the listed clouds, enabled or not, and says so', async () => {
    const r = await resolvePlanningClouds({ clouds: 'aws, gcp,aws' });
    assert.deepEqual(
      r.clouds.map((c) => c.name),
      ['aws', 'gcp'],
    );
    assert.equal(r.note, 'planning over aws, gcp (credentials not checked)');
    await assert.rejects(resolvePlanningClouds({ clouds: 'aws,gpc' }), userError(/did you mean 'gcp'/));
    await assert.rejects(resolvePlanningClouds({ clouds: ' , ' }), userError(/--clouds is empty/));
  });

  test('--all-clouds plans over every cloud a real user can plan for; it does not go with --clouds', async () => {
    // The FluffyCloud emulator is a cloud only for those who configured it (issue 10 item 9).
    const r = await resolvePlanningClouds({ allClouds: true });
    assert.deepEqual(
      r.clouds.map((c) => c.name),
      ['local', 'aws', 'gcp', 'lambda', 'runpod'],
    );
    assert.equal(
      r.note,
      'planning over every cloud: local, aws, gcp, lambda, runpod (credentials not checked)',
    );
    sb.write('.fluffycloud/credentials', 'api_key = k\nendpoint = http://127.0.0.1:9\n');
    const configured = await resolvePlanningClouds({ allClouds: true });
    assert.deepEqual(
      configured.clouds.map((c) => c.name),
      cloudNames(),
    );
    assert.match(configured.note ?? '', /runpod, fluffycloud \(credentials not checked\)$/);
    await assert.rejects(
      resolvePlanningClouds({ allClouds: true, clouds: 'aws' }),
      userError(/do not go together/),
    );
  });

  test('a pinned cloud that is not enabled: UserError naming `skyhop check`', async () => {
    await assert.rejects(
      resolvePlanningClouds({ cloud: 'aws' }),
      userError(
        /^the task asks for cloud 'aws', which is not enabled \(no AWS credentials found.*`skyhop check aws`/,
      ),
    );
    await assert.rejects(resolvePlanningClouds({ cloud: 'azure' }), userError(/unknown cloud 'azure'/));
    sb.env({ AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'x' });
    const r = await resolvePlanningClouds({ cloud: 'aws' });
    assert.deepEqual(
      r.clouds.map((c) => c.name),
      ['local', 'aws'],
    );
  });

  test('a pinned cloud with --clouds: fine when listed (credentials not needed), UserError when left out', async () => {
    const r = await resolvePlanningClouds({ cloud: 'gcp', clouds: 'gcp,aws' });
    assert.deepEqual(
      r.clouds.map((c) => c.name),
      ['gcp', 'aws'],
    );
    await assert.rejects(
      resolvePlanningClouds({ cloud: 'gcp', clouds: 'aws' }),
      userError(/asks for cloud 'gcp', which --clouds aws leaves out/),
    );
    const all = await resolvePlanningClouds({ cloud: 'lambda', allClouds: true });
    assert.equal(all.clouds.length, 5);
  });
});
