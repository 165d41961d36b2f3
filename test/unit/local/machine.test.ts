import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import {
  canonicalGpuName,
  describeMachine,
  detectGpus,
  detectMachine,
  findOnPath,
  gpuNameMatches,
  machineCachePath,
  parseNvidiaSmi,
} from '../../../src/clouds/local/machine.js';
import { UserError } from '../../../src/util/errors.js';

const saved = {
  SKYHOP_HOME: process.env.SKYHOP_HOME,
  PATH: process.env.PATH,
  SKYHOP_LOCAL_CPUS: process.env.SKYHOP_LOCAL_CPUS,
  SKYHOP_LOCAL_MEMORY_GB: process.env.SKYHOP_LOCAL_MEMORY_GB,
};
let dir = '';

function restoreEnv(): void {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'skyhop-local-machine-'));
});
afterEach(() => {
  restoreEnv();
});
after(() => {
  restoreEnv();
  rmSync(dir, { recursive: true, force: true });
});

function freshHome(name: string): string {
  const home = join(dir, name);
  mkdirSync(home, { recursive: true });
  process.env.SKYHOP_HOME = home;
  delete process.env.SKYHOP_LOCAL_CPUS;
  delete process.env.SKYHOP_LOCAL_MEMORY_GB;
  return home;
}

describe('machine detection', () => {
  test('reports this machine: CPUs, memory, GPUs only if nvidia-smi exists', () => {
    freshHome('real');
    const m = detectMachine();
    assert.equal(m.cpus, availableParallelism());
    assert.ok(Number.isInteger(m.cpus) && m.cpus >= 1);
    const gib = totalmem() / 2 ** 30;
    assert.ok(Math.abs(m.memoryGiB - gib) <= 0.05, `${m.memoryGiB} vs ${gib}`);
    assert.deepEqual(m.overridden, { cpus: false, memory: false });
    if (findOnPath('nvidia-smi') === null) {
      assert.deepEqual(m.gpus, []);
      assert.equal(m.accelerator, null);
      assert.match(describeMachine(m), /and no GPUs$/);
    } else {
      for (const g of m.gpus) assert.ok(g.name.length > 0);
    }
    // The detection was cached under this boot.
    const cache = JSON.parse(readFileSync(machineCachePath(), 'utf8'));
    assert.equal(cache.bootId, readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
    assert.deepEqual(cache.gpus, m.gpus);
  });

  test('SKYHOP_LOCAL_CPUS and SKYHOP_LOCAL_MEMORY_GB override the numbers', () => {
    freshHome('override');
    process.env.SKYHOP_LOCAL_CPUS = '64';
    process.env.SKYHOP_LOCAL_MEMORY_GB = '512.5';
    const m = detectMachine();
    assert.equal(m.cpus, 64);
    assert.equal(m.memoryGiB, 512.5);
    assert.deepEqual(m.overridden, { cpus: true, memory: true });
    assert.match(describeMachine(m), /^64 CPUs and 512.5 GiB of memory/);
  });

  test('a bad override is a one-line user error naming the variable', () => {
    freshHome('bad');
    for (const bad of ['0', '-2', '2.5', 'many']) {
      process.env.SKYHOP_LOCAL_CPUS = bad;
      assert.throws(
        () => detectMachine(),
        (e: unknown) => {
          assert.ok(e instanceof UserError);
          assert.match(e.message, /^SKYHOP_LOCAL_CPUS=/);
          assert.ok(!e.message.includes('\n'));
          return true;
        },
      );
    }
    delete process.env.SKYHOP_LOCAL_CPUS;
    process.env.SKYHOP_LOCAL_MEMORY_GB = 'lots';
    assert.throws(() => detectMachine(), /SKYHOP_LOCAL_MEMORY_GB/);
  });

  test('nvidia-smi is spawned once per boot, then read from the cache', () => {
    // No NVIDIA driver can run on this machine, so a stand-in `nvidia-smi` script on PATH prints
    // what a real one prints and counts its calls. Real process spawn, real cache file.
    const home = freshHome('smi');
    const bin = join(home, 'bin');
    mkdirSync(bin);
    const calls = join(home, 'calls');
    writeFileSync(
      join(bin, 'nvidia-smi'),
      `#!/bin/sh\necho x >> '${calls}'\n` +
        `printf '0, NVIDIA H100 80GB HBM3, 81559 MiB\\n1, NVIDIA H100 80GB HBM3, 81559 MiB\\n'\n`,
    );
    chmodSync(join(bin, 'nvidia-smi'), 0o755);
    process.env.PATH = `${bin}:${saved.PATH}`;
    const count = () => readFileSync(calls, 'utf8').trim().split('\n').length;

    const m1 = detectMachine();
    assert.equal(count(), 1);
    assert.deepEqual(m1.accelerator, { name: 'H100', count: 2, memoryMiB: 81559 });
    assert.equal(describeMachine(m1).endsWith('and 2 H100 GPUs'), true);
    const m2 = detectMachine();
    assert.equal(count(), 1, 'second detection must come from the cache');
    assert.deepEqual(m2.gpus, m1.gpus);

    // A cache from another boot is not trusted.
    const c = JSON.parse(readFileSync(machineCachePath(), 'utf8'));
    writeFileSync(machineCachePath(), JSON.stringify({ ...c, bootId: 'another-boot' }));
    detectGpus();
    assert.equal(count(), 2);
    // nvidia-smi gone from PATH: the cached GPUs no longer apply.
    process.env.PATH = saved.PATH;
    if (findOnPath('nvidia-smi') === null) assert.deepEqual(detectGpus(), []);
    assert.equal(count(), 2);
  });
});

describe('nvidia-smi output and GPU names', () => {
  test('parses index, name and memory; skips junk', () => {
    const gpus = parseNvidiaSmi(
      '1, NVIDIA A100-SXM4-80GB, 81920 MiB\n0, NVIDIA A100-SXM4-80GB, 81920 MiB\n\nNo devices were found\n',
    );
    assert.deepEqual(
      gpus.map((g) => [g.index, g.name, g.memoryMiB]),
      [
        [0, 'A100-80GB', 81920],
        [1, 'A100-80GB', 81920],
      ],
    );
    assert.equal(gpus[0].rawName, 'NVIDIA A100-SXM4-80GB');
    assert.deepEqual(parseNvidiaSmi('0, Tesla T4, [N/A]'), [
      { index: 0, rawName: 'Tesla T4', name: 'T4', memoryMiB: null },
    ]);
  });

  test('maps product names to catalog names', () => {
    const cases: Array<[string, string]> = [
      ['NVIDIA H100 80GB HBM3', 'H100'],
      ['NVIDIA H100 PCIe', 'H100'],
      ['NVIDIA H200', 'H200'],
      ['NVIDIA GH200 480GB', 'GH200'],
      ['NVIDIA B200', 'B200'],
      ['NVIDIA A100-SXM4-80GB', 'A100-80GB'],
      ['NVIDIA A100 80GB PCIe', 'A100-80GB'],
      ['NVIDIA A100-SXM4-40GB', 'A100'],
      ['NVIDIA A100-PCIE-40GB', 'A100'],
      ['NVIDIA A10G', 'A10G'],
      ['NVIDIA A10', 'A10'],
      ['NVIDIA L4', 'L4'],
      ['NVIDIA L40S', 'L40S'],
      ['NVIDIA L40', 'L40'],
      ['Tesla V100-SXM2-16GB', 'V100'],
      ['Tesla V100-SXM2-32GB', 'V100-32GB'],
      ['Tesla T4', 'T4'],
      ['Tesla P100-PCIE-16GB', 'P100'],
      ['Tesla K80', 'K80'],
      ['NVIDIA GeForce RTX 4090', 'RTX4090'],
      ['NVIDIA GeForce RTX 3090', 'RTX3090'],
      ['NVIDIA RTX A6000', 'RTXA6000'],
      ['NVIDIA RTX 6000 Ada Generation', 'RTX6000-Ada'],
      ['Quadro RTX 6000', 'RTX6000'],
      ['NVIDIA Some New Thing', 'Some-New-Thing'],
    ];
    for (const [raw, want] of cases) assert.equal(canonicalGpuName(raw), want, raw);
  });

  test('requested names match case-insensitively and through known aliases', () => {
    assert.ok(gpuNameMatches('h100', 'H100'));
    assert.ok(gpuNameMatches('A6000', 'RTXA6000'));
    assert.ok(!gpuNameMatches('A100', 'A100-80GB'));
    assert.ok(!gpuNameMatches('H100', 'H200'));
  });
});
