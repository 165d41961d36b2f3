import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { allClouds } from '../../../src/clouds/registry.js';
import {
  type KnownNames,
  knownNamesFromClouds,
  parseTaskText,
  resourcesToString,
} from '../../../src/task/index.js';
import { commonAcceleratorNames } from '../../../src/task/known.js';
import { UserError } from '../../../src/util/errors.js';
import { tempDir, testClouds } from './helpers.js';

describe('knownNamesFromClouds over small test clouds', () => {
  const known = knownNamesFromClouds(testClouds());

  it('lists clouds, regions, zones and instance types', () => {
    assert.deepEqual(known.clouds, ['aws', 'lambda', 'solo']);
    assert.deepEqual(known.regions('aws').sort(), ['us-east-1', 'us-west-2']);
    assert.deepEqual(known.zones('aws', 'us-east-1').sort(), ['us-east-1a', 'us-east-1b']);
    assert.deepEqual(known.zones('lambda'), []);
    assert.deepEqual(known.instanceTypes('lambda'), ['gpu_1x_a100', 'gpu_8x_a100']);
    assert.equal(known.instanceTypes().length, 6);
    assert.deepEqual(known.regions('nope'), []);
  });

  it('answers instance-type questions per cloud or across clouds', () => {
    assert.equal(known.instanceTypeExists('aws', 'p3.2xlarge'), true);
    assert.equal(known.instanceTypeExists('lambda', 'p3.2xlarge'), false);
    assert.equal(known.instanceTypeExists(undefined, 'gpu_8x_a100'), true);
    assert.deepEqual(known.acceleratorsOf(undefined, 'gpu_8x_a100'), { name: 'A100', count: 8 });
    assert.equal(known.acceleratorsOf('aws', 'm6i.large'), null);
  });

  it('maps zones to regions', () => {
    assert.equal(known.zoneRegion('aws', 'us-west-2a'), 'us-west-2');
    assert.equal(known.zoneRegion('aws', 'us-east-1z'), null);
    assert.equal(known.zoneRegion('lambda', 'us-east-1a'), null);
  });

  it('knows accelerator names from the catalogs and the common list', () => {
    const names = known.acceleratorNames();
    assert.ok(names.includes('V100'));
    assert.ok(names.includes('H100-NVL'));
    assert.ok(commonAcceleratorNames().length >= 50);
  });

  it('reports features', () => {
    assert.equal(known.cloudHasFeature?.('aws', 'spot'), true);
    assert.equal(known.cloudHasFeature?.('lambda', 'spot'), false);
    assert.equal(known.cloudHasFeature?.('solo', 'multi-node'), false);
  });
});

describe('task checks against the real registry and bundled catalogs', () => {
  let tmp: ReturnType<typeof tempDir>;
  let oldHome: string | undefined;
  let known: KnownNames;
  before(() => {
    tmp = tempDir();
    oldHome = process.env.SKYHOP_HOME;
    // Loading a catalog writes a parsed cache under SKYHOP_HOME.
    process.env.SKYHOP_HOME = tmp.dir;
    known = knownNamesFromClouds(allClouds());
  });
  after(() => {
    if (oldHome === undefined) delete process.env.SKYHOP_HOME;
    else process.env.SKYHOP_HOME = oldHome;
    tmp.done();
  });

  const ok = (yaml: string) =>
    parseTaskText(yaml, 't.yaml', { known }).tasks[0].resources.map(resourcesToString);
  const err = (yaml: string) => {
    try {
      parseTaskText(yaml, 't.yaml', { known });
    } catch (e) {
      assert.ok(e instanceof UserError);
      return e.message;
    }
    assert.fail('expected a UserError');
  };

  it('accepts common forms', () => {
    assert.deepEqual(ok('resources:\n  infra: aws/us-east-1/us-east-1a\n'), ['aws/us-east-1/us-east-1a']);
    assert.deepEqual(ok('resources:\n  infra: GCP\n  accelerators: a100:8\n'), ['gcp 8x A100']);
    assert.deepEqual(ok('resources:\n  instance_type: a2-highgpu-8g\n  accelerators: A100:8\n'), [
      'gcp a2-highgpu-8g 8x A100',
    ]);
    assert.deepEqual(ok('resources:\n  region: us-west1\n'), ['gcp/us-west1']);
    assert.deepEqual(ok('resources:\n  zone: us-central1-a\n'), ['gcp/us-central1/us-central1-a']);
  });

  it('rejects contradictions', () => {
    assert.equal(
      err('resources:\n  infra: lambda\n  use_spot: true\n'),
      't.yaml:3:13: resources.use_spot: lambda has no spot instances; drop use_spot or choose another cloud',
    );
    assert.match(
      err('resources:\n  infra: k8s\n'),
      /^t\.yaml:2:10: resources\.infra: unknown cloud 'k8s' \(skyhop knows: .*aws/,
    );
    assert.equal(
      err('resources:\n  infra: gcp/us-central1/us-east1-b\n'),
      "t.yaml:2:10: resources.infra: zone 'us-east1-b' is in region 'us-east1', not in 'us-central1'",
    );
    assert.equal(
      err('resources:\n  instance_type: a2-highgpu-8g\n  accelerators: A100:4\n'),
      "t.yaml:3:17: resources.accelerators: instance type 'a2-highgpu-8g' has A100:8, not A100:4; " +
        'give one of them or make them agree',
    );
    assert.match(
      err('resources:\n  instance_type: m6i.larg\n'),
      /unknown instance type 'm6i\.larg' \(did you mean 'm6i\.large'/,
    );
  });
});
