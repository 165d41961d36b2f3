/**
 * `image_id: docker:<image>` (SkyPilot's container images) is read apart from VM images: the task
 * runs in that container, the cloud boots its default image, and only clouds whose nodes run Docker
 * can take it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveImageId } from '../../../src/catalog/images.js';
import { getCloud } from '../../../src/clouds/registry.js';
import { missingFeatures, requiredFeatures } from '../../../src/core/features.js';
import { applyOverrides } from '../../../src/task/overrides.js';
import { parseImage } from '../../../src/task/image.js';
import type { Resources } from '../../../src/core/task.js';
import { parseTaskText, type Task } from '../../../src/task/index.js';
import { UserError } from '../../../src/util/errors.js';
import { testKnown } from './helpers.js';

const known = testKnown();

function one(yaml: string): Task {
  return parseTaskText(yaml, 'task.yaml', { known }).tasks[0];
}

function fails(yaml: string, re: RegExp): void {
  assert.throws(
    () => one(yaml),
    (e: unknown) => e instanceof UserError && re.test(e.message),
  );
}

describe('image_id: docker:<image>', () => {
  it('is the container the task runs in, not a VM image', () => {
    const r = one('resources:\n  image_id: docker:ubuntu:22.04\nrun: x\n').resources[0];
    assert.equal(r.dockerImage, 'ubuntu:22.04');
    assert.equal(r.imageId, undefined);
    assert.equal(one('resources:\n  image_id: ami-123\nrun: x\n').resources[0].imageId, 'ami-123');
    assert.equal(one('resources:\n  image_id: ami-123\nrun: x\n').resources[0].dockerImage, undefined);
  });

  it('takes registry hosts with ports, paths, tags and digests', () => {
    for (const ref of [
      'nvcr.io/nvidia/pytorch:23.10-py3',
      '127.0.0.1:5000/team/app:v1.2',
      'continuumio/miniconda3',
      `ubuntu@sha256:${'a'.repeat(64)}`,
    ]) {
      assert.deepEqual(parseImage(`docker:${ref}`), { kind: 'docker', image: ref });
    }
  });

  it('a name that is not an image reference is an error at its line', () => {
    fails('resources:\n  image_id: "docker:"\nrun: x\n', /^task\.yaml:2:\d+: .*docker: needs an image name/);
    fails('resources:\n  image_id: docker:Ubuntu\nrun: x\n', /repository names are lower case: ubuntu/);
    fails('resources:\n  image_id: docker:a b\nrun: x\n', /'a b' is not a Docker image name/);
  });

  it('a docker image given per region is an error (it runs the same everywhere)', () => {
    fails(
      'resources:\n  cloud: aws\n  image_id:\n    us-east-1: docker:ubuntu\n    us-west-2: ami-w\nrun: x\n',
      /a Docker image runs the same in every region: give image_id: docker:ubuntu/,
    );
  });

  it('a cloud whose nodes cannot run Docker is a planning error naming the field', () => {
    fails(
      'resources:\n  cloud: lambda\n  image_id: docker:ubuntu:22.04\nrun: x\n',
      /cannot run tasks in a Docker container/,
    );
  });

  it('--image-id replaces the container or the VM image, never leaving both', () => {
    const dag = parseTaskText('resources:\n  image_id: docker:ubuntu\nrun: x\n', 'task.yaml', { known });
    const vm = applyOverrides(dag, { imageId: 'ami-9' }, known).tasks[0].resources[0];
    assert.equal(vm.imageId, 'ami-9');
    assert.equal(vm.dockerImage, undefined);
    const plain = parseTaskText('resources:\n  image_id: ami-1\nrun: x\n', 'task.yaml', { known });
    const d = applyOverrides(plain, { imageId: 'docker:busybox:1' }, known).tasks[0].resources[0];
    assert.equal(d.dockerImage, 'busybox:1');
    assert.equal(d.imageId, undefined);
    assert.throws(
      () => applyOverrides(plain, { imageId: 'docker:' }, known),
      /--image-id: docker: needs an image name/,
    );
  });

  it('needs the docker-image feature: local, fluffycloud and aws have it; gcp, lambda, runpod do not', () => {
    assert.deepEqual(requiredFeatures({ dockerImage: 'ubuntu' }), ['docker-image']);
    for (const c of ['local', 'fluffycloud', 'aws']) {
      assert.deepEqual(missingFeatures({ dockerImage: 'ubuntu' }, getCloud(c)), [], c);
    }
    for (const c of ['gcp', 'lambda', 'runpod']) {
      assert.deepEqual(missingFeatures({ dockerImage: 'ubuntu' }, getCloud(c)), ['docker-image'], c);
    }
  });
});

describe('image_id: skypilot:<tag>', () => {
  const home = mkdtempSync(join(tmpdir(), 'skyhop-images-'));
  const saved = process.env.SKYHOP_HOME;
  before(() => {
    process.env.SKYHOP_HOME = home;
  });
  after(() => {
    if (saved === undefined) delete process.env.SKYHOP_HOME;
    else process.env.SKYHOP_HOME = saved;
    rmSync(home, { recursive: true, force: true });
  });
  const aws = () => getCloud('aws');
  const req = (extra: Partial<Resources>): Resources => ({ useSpot: false, ...extra });

  it('is a VM image: AWS plans only the regions where its image catalog maps the tag', () => {
    const ls = aws().feasibleResources(req({ cloud: 'aws', imageId: 'skypilot:custom-cpu-ubuntu' }), 0);
    assert.ok(ls.length > 0);
    const regions = new Set(ls.map((l) => l.region));
    assert.deepEqual(
      [...regions].filter((r) => !['us-east-1', 'us-east-2', 'us-west-1', 'us-west-2'].includes(r)),
      [],
    );
    // The nodes boot SkyPilot's AMI of that region.
    assert.equal(resolveImageId('aws', 'skypilot:custom-cpu-ubuntu', 'us-east-1'), 'ami-0e6842148a3d9982b');
    assert.equal(resolveImageId('aws', 'ami-123', 'us-east-1'), 'ami-123');
  });

  it('a tag or region the cloud has no image for is a clear planning error', () => {
    assert.throws(
      () => aws().feasibleResources(req({ cloud: 'aws', imageId: 'skypilot:custom-cpu-ubunt' }), 0),
      /AWS has no SkyPilot image skypilot:custom-cpu-ubunt \(did you mean skypilot:custom-cpu-ubuntu\?\)/,
    );
    assert.throws(
      () =>
        aws().feasibleResources(
          req({ cloud: 'aws', region: 'eu-west-1', imageId: 'skypilot:custom-gpu-ubuntu' }),
          0,
        ),
      /AWS has no image for skypilot:custom-gpu-ubuntu in eu-west-1; it has one in us-east-1, us-east-2/,
    );
    assert.throws(
      () =>
        getCloud('runpod').feasibleResources(
          req({ cloud: 'runpod', imageId: 'skypilot:custom-cpu-ubuntu' }),
          0,
        ),
      /RunPod has no SkyPilot images, so image_id: skypilot:custom-cpu-ubuntu cannot be used there/,
    );
    // Not pinned: the cloud is simply not a candidate.
    assert.deepEqual(
      getCloud('runpod').feasibleResources(req({ imageId: 'skypilot:custom-cpu-ubuntu' }), 0),
      [],
    );
  });
});
