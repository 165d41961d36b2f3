import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { autostopCommand, createCloud, explainInfeasible } from '../../../src/clouds/local/index.js';
import { detectMachine, type LocalMachine } from '../../../src/clouds/local/machine.js';
import type { Resources } from '../../../src/core/task.js';
import { UserError } from '../../../src/util/errors.js';

const saved = {
  SKYHOP_HOME: process.env.SKYHOP_HOME,
  SKYHOP_LOCAL_CPUS: process.env.SKYHOP_LOCAL_CPUS,
  SKYHOP_LOCAL_MEMORY_GB: process.env.SKYHOP_LOCAL_MEMORY_GB,
};
let dir = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'skyhop-local-cloud-'));
});
beforeEach(() => {
  process.env.SKYHOP_HOME = dir;
  // Pretend a fixed machine so the expectations do not depend on the box the tests run on.
  process.env.SKYHOP_LOCAL_CPUS = '4';
  process.env.SKYHOP_LOCAL_MEMORY_GB = '16';
});
after(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  rmSync(dir, { recursive: true, force: true });
});

const req = (r: Partial<Resources> = {}): Resources => ({ useSpot: false, ...r });

/** A machine with two H100s (for the accelerator rules; no GPU is faked in the cloud itself). */
const gpuMachine: LocalMachine = {
  cpus: 26,
  memoryGiB: 200,
  gpus: [0, 1].map((index) => ({ index, rawName: 'NVIDIA H100 80GB HBM3', name: 'H100', memoryMiB: 81559 })),
  accelerator: { name: 'H100', count: 2, memoryMiB: 81559 },
  overridden: { cpus: false, memory: false },
};

describe('local cloud', () => {
  test('identity, features and credentials', async () => {
    const c = createCloud();
    assert.equal(c.name, 'local');
    assert.equal(c.displayName, 'Local');
    assert.deepEqual([...c.features].sort(), [
      'autostop',
      'disk-size',
      'docker-image',
      'labels',
      'multi-node',
      'ports',
      'provision',
      'stop',
    ]);
    assert.equal(c.maxClusterNameLength, 64);
    assert.deepEqual(await c.checkCredentials(), { ok: true, source: 'this machine' });
    assert.equal(c.egressCostPerGb(100), 0);
    assert.equal(c.classifyError(new Error('anything')), 'fatal');
    assert.throws(() => c.provider('us-east-1'), UserError);
    assert.equal(typeof c.provider('local').runInstances, 'function');
  });

  test('a request that asks for nothing, or what the machine has, gets the one free type', () => {
    const c = createCloud();
    for (const r of [
      req(),
      req({ cloud: 'local', region: 'local', instanceType: 'local' }),
      req({ cpus: { value: 4, orMore: false } }),
      req({ cpus: { value: 2, orMore: true }, memory: { value: 16, orMore: true } }),
      req({ diskSize: 256 }),
      req({ cloud: 'local', diskSize: 256, labels: { team: 'ml' } }),
    ]) {
      const ls = c.feasibleResources(r, 3);
      assert.equal(ls.length, 1, JSON.stringify(r));
      assert.deepEqual(ls[0], {
        cloud: 'local',
        instanceType: 'local',
        region: 'local',
        zones: [],
        zone: null,
        accelerators: detectMachine().accelerator
          ? { name: detectMachine().accelerator!.name, count: detectMachine().accelerator!.count }
          : null,
        vcpus: 4,
        memoryGiB: 16,
        useSpot: false,
        hourlyPrice: 0,
        alternative: 3,
        request: r,
      });
      assert.equal(explainInfeasible(r), null);
    }
  });

  test('requests the machine cannot meet get nothing, and a one-line reason', () => {
    const c = createCloud();
    const cases: Array<[Partial<Resources>, string]> = [
      [{ cpus: { value: 8, orMore: true } }, 'cpus: 8+'],
      [{ cpus: { value: 5, orMore: false } }, 'cpus: 5'],
      [{ memory: { value: 32, orMore: true } }, 'memory: 32+'],
      [{ cloud: 'aws' }, 'cloud: aws'],
      [{ region: 'us-east-1' }, 'region: us-east-1'],
      [{ zone: 'local-a' }, 'zone: local-a'],
      [{ instanceType: 'm5.large' }, 'instance_type: m5.large'],
      [{ useSpot: true }, 'use_spot: true'],
      [{ imageId: 'ubuntu' }, 'image_id: ubuntu'],
      [{ accelerators: { name: 'NoSuchGpu', count: 1 } }, 'accelerators: NoSuchGpu:1'],
    ];
    for (const [r, asks] of cases) {
      assert.deepEqual(c.feasibleResources(req(r), 0), [], asks);
      const why = explainInfeasible(req(r));
      assert.ok(why?.startsWith('the local machine has 4 CPUs and 16 GiB of memory and '), why ?? 'null');
      assert.ok(why?.includes(`; the task asks for ${asks}`), why ?? 'null');
      assert.ok(!why?.includes('\n'));
    }
    // What local lacks is said in the words of the one features table (src/core/features.ts).
    assert.match(
      explainInfeasible(req({ useSpot: true })) ?? '',
      /use_spot: true \(local has no spot instances\)$/,
    );
    assert.equal(
      explainInfeasible(req({ cpus: { value: 8, orMore: true }, memory: { value: 64, orMore: false } }), {
        ...detectMachine(),
        gpus: [],
        accelerator: null,
      }),
      'the local machine has 4 CPUs and 16 GiB of memory and no GPUs; the task asks for cpus: 8+, memory: 64',
    );
  });

  test('accelerators must match the detected model, with a count no larger than the machine has', () => {
    assert.equal(explainInfeasible(req({ accelerators: { name: 'H100', count: 2 } }), gpuMachine), null);
    assert.equal(explainInfeasible(req({ accelerators: { name: 'h100', count: 0.5 } }), gpuMachine), null);
    assert.equal(
      explainInfeasible(req({ accelerators: { name: 'H100', count: 8 } }), gpuMachine),
      'the local machine has 26 CPUs and 200 GiB of memory and 2 H100 GPUs; the task asks for accelerators: H100:8',
    );
    assert.match(
      explainInfeasible(req({ accelerators: { name: 'A100', count: 1 } }), gpuMachine) ?? '',
      /asks for accelerators: A100:1$/,
    );
  });

  test('SKYHOP_LOCAL_CPUS makes a bigger request fit', () => {
    process.env.SKYHOP_LOCAL_CPUS = '64';
    const c = createCloud();
    const [l] = c.feasibleResources(req({ cpus: { value: 32, orMore: true } }), 0);
    assert.equal(l.vcpus, 64);
    delete process.env.SKYHOP_LOCAL_CPUS;
    const real = createCloud().feasibleResources(req(), 0);
    assert.equal(real[0].vcpus, availableParallelism());
  });

  test('the catalog has exactly one free instance type, local, in region local', () => {
    const cat = createCloud().catalog();
    assert.equal(cat.cloud, 'local');
    assert.equal(cat.source.kind, 'generated');
    assert.equal(cat.rows.length, 1);
    assert.deepEqual(cat.regions(), ['local']);
    assert.ok(cat.instanceTypeExists('local'));
    assert.deepEqual(cat.vcpusMemory('local'), { vcpus: 4, memoryGiB: 16 });
    assert.equal(cat.hourlyCost('local', { useSpot: false }), 0);
    assert.equal(cat.hourlyCost('local', { useSpot: true }), null);
    assert.deepEqual(cat.zones('local'), []);
  });

  test('autostop runs this skyhop CLI with the client SKYHOP_HOME and without the node marker', () => {
    const cmd = autostopCommand('dev', 'down');
    assert.equal(cmd.argv[0], process.execPath);
    assert.ok(cmd.argv[1].endsWith('/bin/skyhop.js') && existsSync(cmd.argv[1]), cmd.argv[1]);
    assert.deepEqual(cmd.argv.slice(2), ['down', 'dev', '-y']);
    assert.equal(cmd.env.SKYHOP_HOME, dir);
    assert.equal(cmd.env.SKYHOP_NODE_ID, '');
    assert.ok(cmd.env.PATH.length > 0 && cmd.env.HOME.length > 0);
    assert.deepEqual(createCloud().autostopCommand?.('dev', 'stop').argv.slice(2), ['stop', 'dev', '-y']);
  });
});
