/**
 * The config file ($SKYHOP_HOME/config.yaml, SKYHOP_CONFIG) and a task's `config:`: SkyPilot's key
 * names, errors at file:line:col, warnings for keys skyhop does not honour, the task's overrides
 * (only SkyPilot's overridable keys) laid over the file, and what a launch's spec gets.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import {
  configPath,
  effectiveConfig,
  launchSpec,
  loadConfig,
  parseConfigText,
} from '../../../src/config/index.js';
import type { ClusterSpec } from '../../../src/core/cluster.js';
import { loadTask } from '../../../src/sdk/tasks.js';
import { parseTaskText } from '../../../src/task/parse.js';
import { UserError } from '../../../src/util/errors.js';

let dir: string;
const saved = {
  home: process.env.SKYHOP_HOME,
  cfg: process.env.SKYHOP_CONFIG,
  vpc: process.env.SKYHOP_AWS_VPC_ID,
};
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'skyhop-config-'));
  process.env.SKYHOP_HOME = join(dir, 'home');
  mkdirSync(process.env.SKYHOP_HOME);
  delete process.env.SKYHOP_CONFIG;
  delete process.env.SKYHOP_AWS_VPC_ID;
});
afterEach(() => {
  for (const [k, v] of [
    ['SKYHOP_HOME', saved.home],
    ['SKYHOP_CONFIG', saved.cfg],
    ['SKYHOP_AWS_VPC_ID', saved.vpc],
  ] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  rmSync(dir, { recursive: true, force: true });
});

/** The UserError `fn` throws, checked to be one. */
function userError(fn: () => unknown): UserError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof UserError, String(e));
    return e;
  }
  assert.fail('expected a UserError');
}

const FULL = `# as in SkyPilot's ~/.sky/config.yaml
aws:
  vpc_name: research
  labels:
    team: ml
    cost-center: 42
docker:
  run_options:
    - --shm-size=2g
    - -v /data:/data
nvidia_gpus:
  disable_ecc: true
`;

describe('config file', () => {
  test('none: an empty config; $SKYHOP_HOME/config.yaml is read; SKYHOP_CONFIG names another', async () => {
    const none = await loadConfig();
    assert.equal(none.file, null);
    assert.deepEqual(none.aws, { labels: {} });
    assert.deepEqual(none.docker.runOptions, []);
    assert.deepEqual(none.warnings, []);

    const home = join(process.env.SKYHOP_HOME as string, 'config.yaml');
    writeFileSync(home, FULL);
    assert.equal(configPath().path, home);
    const c = await loadConfig();
    assert.equal(c.file, home);
    assert.deepEqual(c.aws, { labels: { team: 'ml', 'cost-center': '42' }, vpcName: 'research' });
    assert.deepEqual(c.docker.runOptions, ['--shm-size=2g', '-v', '/data:/data']);
    assert.deepEqual(c.nvidiaGpus, { disableEcc: true });
    // disable_ecc is read but not acted on: said once.
    assert.deepEqual(c.warnings, [
      `${home}:12:3: nvidia_gpus.disable_ecc: ignored; skyhop does not change GPU ECC settings yet`,
    ]);

    const other = join(dir, 'other.yaml');
    writeFileSync(other, 'docker:\n  run_options: --privileged\n');
    process.env.SKYHOP_CONFIG = other;
    assert.deepEqual((await loadConfig()).docker.runOptions, ['--privileged']);
    process.env.SKYHOP_CONFIG = join(dir, 'missing.yaml');
    await assert.rejects(loadConfig(), /missing\.yaml: no such file \(SKYHOP_CONFIG names it\)/);
  });

  test('SKYHOP_AWS_VPC_ID overrides the file (a VPC id)', async () => {
    writeFileSync(join(process.env.SKYHOP_HOME as string, 'config.yaml'), FULL);
    process.env.SKYHOP_AWS_VPC_ID = 'vpc-0123';
    assert.deepEqual((await loadConfig()).aws, {
      labels: { team: 'ml', 'cost-center': '42' },
      vpcName: 'research',
      vpcId: 'vpc-0123',
    });
  });

  test('an empty file, or only comments: an empty config', () => {
    assert.deepEqual(parseConfigText('# nothing yet\n', 'c.yaml').aws, { labels: {} });
    assert.deepEqual(parseConfigText('', 'c.yaml').docker.runOptions, []);
  });

  test('errors name file:line:col and the key, with the nearest SkyPilot key', () => {
    const e = (text: string) => userError(() => parseConfigText(text, 'c.yaml')).message;
    assert.equal(
      e('aws:\n  vpcname: x\n'),
      "c.yaml:2:3: aws: unknown setting 'vpcname' (not a SkyPilot config key) (did you mean 'vpc_name'?)",
    );
    assert.equal(
      e('docker:\n  run_options: 5\n'),
      'c.yaml:2:16: docker.run_options: expected docker run options: a string or a list of strings, got 5',
    );
    assert.equal(
      e('dockr:\n  run_options: x\n'),
      "c.yaml:1:1: unknown setting 'dockr' (not a SkyPilot config key) (did you mean 'docker'?)",
    );
    assert.equal(
      e('aws:\n  labels: [a, b]\n'),
      'c.yaml:2:11: aws.labels: expected a mapping of label names to values, got a list',
    );
    assert.equal(e('- aws\n'), 'c.yaml:1:1: expected a mapping of settings (aws, docker, ...), got a list');
    assert.match(
      e('aws:\n  vpc_name: a\n  vpc_name: b\n'),
      /^c\.yaml:3:3: YAML syntax error: key 'vpc_name' appears twice/,
    );
    assert.match(e('aws:\n vpc_name: a\n  labels: {}\n'), /^c\.yaml:3:\d+: YAML syntax error/);
    assert.equal(
      e('aws:\n  labels: {a: b}\n  instance_tags: {c: d}\n'),
      'c.yaml:3:3: aws.instance_tags: give either labels or instance_tags (its old name), not both',
    );
  });

  test('SkyPilot keys skyhop does not honour: one warning line each, in file order, not an error', () => {
    const c = parseConfigText(
      [
        'kubernetes:',
        '  pod_config: {spec: {}}',
        'aws:',
        '  use_internal_ips: true',
        'jobs:',
        '  bucket: s3://b',
        '  controller: {high_availability: true}',
        'gcp:',
        '  vpc_name: x',
        'allowed_clouds: [aws, kubernetes]',
        '',
      ].join('\n'),
      'c.yaml',
    );
    assert.deepEqual(c.warnings, [
      'c.yaml:1:1: kubernetes: ignored; skyhop has no Kubernetes cloud',
      'c.yaml:4:3: aws.use_internal_ips: ignored; skyhop reaches nodes at their public IPs',
      "c.yaml:6:3: jobs.bucket: ignored; skyhop's managed jobs do not read it",
      "c.yaml:7:16: jobs.controller.high_availability: ignored; skyhop's jobs controller has no high-availability mode",
      'c.yaml:8:1: gcp: ignored; skyhop plans for GCP but does not launch there',
      'c.yaml:10:1: allowed_clouds: ignored; skyhop reads enabled clouds from credentials and --clouds, not from the config yet',
    ]);
  });
});

const task = (text: string) => parseTaskText(text, 'task.yaml', { baseDir: dir });

describe("a task's config:", () => {
  test('docker.run_options and nvidia_gpus.disable_ecc override the file; the task wins', () => {
    const base = parseConfigText(FULL, 'c.yaml');
    const t = task('config:\n  docker:\n    run_options: --ipc=host\nrun: echo\n').tasks[0];
    assert.deepEqual(t.config, { docker: { runOptions: ['--ipc=host'] } });
    const eff = effectiveConfig(t, base);
    assert.deepEqual(eff.docker.runOptions, ['--ipc=host']);
    assert.deepEqual(eff.nvidiaGpus, { disableEcc: true });
    assert.deepEqual(eff.aws.labels, { team: 'ml', 'cost-center': '42' });
    // No config: in the task: the file's.
    assert.deepEqual(effectiveConfig(task('run: echo\n').tasks[0], base).docker.runOptions, [
      '--shm-size=2g',
      '-v',
      '/data:/data',
    ]);
    // The base is not changed by a merge.
    assert.deepEqual(base.docker.runOptions, ['--shm-size=2g', '-v', '/data:/data']);
  });

  test('run options are split into docker run words as a shell would, quotes grouping; nothing is run', () => {
    const t = task(
      'config:\n  docker:\n    run_options:\n      - --label from=task\n      - -v "/a b:/c" --env X=$HOME;ls\nrun: echo\n',
    ).tasks[0];
    assert.deepEqual(t.config?.docker?.runOptions, [
      '--label',
      'from=task',
      '-v',
      '/a b:/c',
      '--env',
      'X=$HOME;ls',
    ]);
  });

  test('a key SkyPilot does not let a task override is an error saying where it belongs', () => {
    const e = userError(() => task('config:\n  aws:\n    vpc_name: x\nrun: echo\n'));
    assert.match(
      e.message,
      /^task\.yaml:2:3: config: 'aws' cannot be set in a task's config: as in SkyPilot, a task overrides only docker\.run_options, nvidia_gpus\.disable_ecc and some kubernetes, gcp and ssh settings; set it in the config file \(.*config\.yaml\)$/,
    );
    const jobs = userError(() => task('config:\n  jobs:\n    controller: {}\n')).message;
    assert.match(jobs, /^task\.yaml:2:3: config: 'jobs' cannot be set in a task's config/);
  });

  test('unknown keys: did you mean; kubernetes/gcp keys: a warning each in dag.warnings', () => {
    assert.equal(
      userError(() => task('config:\n  docker:\n    run_option: x\n')).message,
      "task.yaml:3:5: config.docker: unknown field 'run_option' (did you mean 'run_options'?)",
    );
    const dag = task(
      'config:\n  kubernetes:\n    pod_config: {}\n  gcp:\n    enable_gvnic: true\nrun: echo\n',
    );
    assert.deepEqual(dag.warnings, [
      'task.yaml:2:3: config.kubernetes: ignored; skyhop has no Kubernetes cloud',
      'task.yaml:4:3: config.gcp: ignored; skyhop plans for GCP but does not launch there',
    ]);
  });

  test('loadTask adds the config file warnings and fails on an error in it', async () => {
    const file = join(dir, 'task.yaml');
    writeFileSync(file, 'run: echo\n');
    const cfg = join(process.env.SKYHOP_HOME as string, 'config.yaml');
    writeFileSync(cfg, 'kubernetes: {}\n');
    const dag = await loadTask(file, {}, { clouds: [] });
    assert.deepEqual(dag.warnings, [`${cfg}:1:1: kubernetes: ignored; skyhop has no Kubernetes cloud`]);
    writeFileSync(cfg, 'aws:\n  vpc: x\n');
    await assert.rejects(loadTask(file, {}, { clouds: [] }), /config\.yaml:2:3: aws: unknown setting 'vpc'/);
  });
});

describe('launchSpec', () => {
  const spec: ClusterSpec = {
    cluster: 'c',
    numNodes: 1,
    instanceType: 'm6i.large',
    region: 'us-east-1',
    zone: null,
    useSpot: false,
    accelerators: null,
    labels: { team: 'infra' },
  };

  test('AWS: the VPC by name (or by id from SKYHOP_AWS_VPC_ID), labels under the task labels', () => {
    const c = parseConfigText(FULL, 'c.yaml');
    assert.deepEqual(launchSpec(spec, 'aws', c), {
      ...spec,
      labels: { team: 'infra', 'cost-center': '42' },
      vpc: { name: 'research' },
    });
    c.aws.vpcId = 'vpc-1';
    assert.deepEqual(launchSpec(spec, 'aws', c).vpc, { id: 'vpc-1' });
  });

  test('other clouds: unchanged; an empty config changes nothing', () => {
    const c = parseConfigText(FULL, 'c.yaml');
    assert.deepEqual(launchSpec(spec, 'fluffycloud', c), spec);
    assert.deepEqual(launchSpec(spec, 'aws', parseConfigText('', 'c.yaml')), spec);
  });
});
