import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type Dag,
  type ParseOptions,
  parseTaskFile,
  parseTaskText,
  resourcesToString,
  type Task,
  taskFromCommand,
} from '../../../src/task/index.js';
import { UserError } from '../../../src/util/errors.js';
import { tempDir, testKnown } from './helpers.js';

const known = testKnown();

function one(yaml: string, opts: ParseOptions = {}): Task {
  const dag = parseTaskText(yaml, 'task.yaml', opts);
  assert.equal(dag.tasks.length, 1);
  return dag.tasks[0];
}

function res(yaml: string, opts: ParseOptions = {}) {
  return one(yaml, opts).resources;
}

function throwsMessage(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof UserError, `not a UserError: ${String(e)}`);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

describe('examples', () => {
  it('hello.yaml: one task, no resources, runs anywhere', () => {
    const dag = parseTaskFile('examples/hello.yaml');
    assert.equal(dag.name, 'hello');
    assert.deepEqual(dag.edges, []);
    const t = dag.tasks[0];
    assert.equal(t.name, 'hello');
    assert.equal(t.run, 'echo hello from skyhop');
    assert.equal(t.numNodes, 1);
    assert.deepEqual(t.resources, [{ useSpot: false }]);
    assert.equal(t.ordered, false);
    assert.match(t.file ?? '', /\/examples\/hello\.yaml$/);
  });

  it('multi-node.yaml asks for 2 nodes and prints rank and IPs', () => {
    const t = parseTaskFile('examples/multi-node.yaml').tasks[0];
    assert.equal(t.numNodes, 2);
    assert.match(t.run ?? '', /SKYPILOT_NODE_RANK/);
    assert.match(t.run ?? '', /SKYPILOT_NODE_IPS/);
  });

  it('gpu.yaml asks for 8 A100s (checked against the test catalogs)', () => {
    const t = parseTaskFile('examples/gpu.yaml', { known }).tasks[0];
    assert.deepEqual(t.resources[0].accelerators, { name: 'A100', count: 8 });
  });

  it('checkpoint.yaml mounts a bucket named by its BUCKET env (--env overrides it)', () => {
    const t = parseTaskFile('examples/checkpoint.yaml', { env: ['BUCKET=ckpt-test-1'] }).tasks[0];
    const [[path, m]] = Object.entries(t.storageMounts ?? {});
    assert.match(path, /\/ckpt$/);
    assert.equal(m.bucket, 'ckpt-test-1');
    assert.equal(m.mode, 'MOUNT');
    assert.equal(m.create, true);
  });

  it('pipeline.yaml is a named 3-task chain', () => {
    const dag = parseTaskFile('examples/pipeline.yaml');
    assert.equal(dag.name, 'pipeline');
    assert.deepEqual(
      dag.tasks.map((t) => t.name),
      ['prepare', 'train', 'eval'],
    );
    assert.deepEqual(dag.edges, [
      [0, 1],
      [1, 2],
    ]);
  });
});

describe('cpus and memory', () => {
  for (const [v, want] of [
    ['4', { value: 4, orMore: false }],
    ['"4"', { value: 4, orMore: false }],
    ['4+', { value: 4, orMore: true }],
    ['0.5', { value: 0.5, orMore: false }],
  ] as const) {
    it(`cpus: ${v}`, () => {
      assert.deepEqual(res(`resources:\n  cpus: ${v}\n`)[0].cpus, want);
    });
  }
  for (const [v, want] of [
    ['16', { value: 16, orMore: false }],
    ['16+', { value: 16, orMore: true }],
    ['64GB', { value: 64, orMore: false }],
    ['1024MB+', { value: 1, orMore: true }],
    ['1TB', { value: 1024, orMore: false }],
  ] as const) {
    it(`memory: ${v}`, () => {
      assert.deepEqual(res(`resources:\n  memory: ${v}\n`)[0].memory, want);
    });
  }
});

describe('accelerators', () => {
  it('"A100" is one A100', () => {
    const r = res('resources:\n  accelerators: A100\n');
    assert.deepEqual(r, [{ useSpot: false, accelerators: { name: 'A100', count: 1 } }]);
  });

  it('"A100:8" and {A100: 8} are the same', () => {
    assert.deepEqual(
      res('resources:\n  accelerators: A100:8\n'),
      res('resources:\n  accelerators: {A100: 8}\n'),
    );
  });

  it('fractional counts are kept', () => {
    assert.deepEqual(res('resources:\n  accelerators: T4:0.5\n')[0].accelerators, { name: 'T4', count: 0.5 });
  });

  it('a list is an ordered preference', () => {
    const t = one('resources:\n  accelerators: [V100:1, A100:1]\n');
    assert.equal(t.ordered, true);
    assert.deepEqual(
      t.resources.map((r) => r.accelerators),
      [
        { name: 'V100', count: 1 },
        { name: 'A100', count: 1 },
      ],
    );
  });

  it('a list of single-entry mappings works too', () => {
    const t = one('resources:\n  accelerators:\n    - V100: 1\n    - A100: 2\n');
    assert.equal(t.ordered, true);
    assert.deepEqual(
      t.resources.map((r) => r.accelerators),
      [
        { name: 'V100', count: 1 },
        { name: 'A100', count: 2 },
      ],
    );
  });

  it('a set {A100:1, V100:1} (or a mapping of several) is unordered any_of', () => {
    for (const yaml of ['{A100:1, V100:1}', '{A100: 1, V100: 1}']) {
      const t = one(`resources:\n  accelerators: ${yaml}\n`);
      assert.equal(t.ordered, false);
      assert.deepEqual(
        t.resources.map((r) => r.accelerators),
        [
          { name: 'A100', count: 1 },
          { name: 'V100', count: 1 },
        ],
      );
    }
  });

  it("names take the catalog's spelling when known (a100 -> A100, h100-nvl -> H100-NVL)", () => {
    assert.deepEqual(res('resources:\n  accelerators: a100:8\n', { known })[0].accelerators, {
      name: 'A100',
      count: 8,
    });
    // H100-NVL is only in the common list (catalogs/common/accelerators.csv), not in a test catalog.
    assert.equal(res('resources:\n  accelerators: h100-nvl\n', { known })[0].accelerators?.name, 'H100-NVL');
  });

  it('without KnownNames the name stays as written and is not checked', () => {
    assert.equal(res('resources:\n  accelerators: MadeUp9000:2\n')[0].accelerators?.name, 'MadeUp9000');
  });

  it('`gpus` is accepted as another name for accelerators', () => {
    assert.deepEqual(res('resources:\n  gpus: A100:2\n')[0].accelerators, { name: 'A100', count: 2 });
  });

  it('an instance type whose accelerators agree is fine', () => {
    const r = res('resources:\n  instance_type: p4d.24xlarge\n  accelerators: A100:8\n', { known })[0];
    assert.equal(r.instanceType, 'p4d.24xlarge');
    assert.equal(r.cloud, 'aws', 'the cloud of an instance type offered by one cloud is filled in');
  });
});

describe('infra, cloud, region, zone', () => {
  it('infra: aws', () => {
    assert.deepEqual(res('resources:\n  infra: aws\n')[0], { useSpot: false, cloud: 'aws' });
  });

  it('infra: aws/us-east-1', () => {
    const r = res('resources:\n  infra: aws/us-east-1\n')[0];
    assert.equal(r.cloud, 'aws');
    assert.equal(r.region, 'us-east-1');
    assert.equal(r.zone, undefined);
  });

  it('infra: aws/us-east-1/us-east-1a', () => {
    const r = res('resources:\n  infra: aws/us-east-1/us-east-1a\n', { known })[0];
    assert.deepEqual([r.cloud, r.region, r.zone], ['aws', 'us-east-1', 'us-east-1a']);
  });

  it('wildcards: infra: */us-west-1 finds the cloud that has the region', () => {
    const r = res('resources:\n  infra: "*/us-west-1"\n', { known })[0];
    assert.deepEqual([r.cloud, r.region], ['lambda', 'us-west-1']);
    // us-east-1 is in two test clouds: the cloud stays open.
    const r2 = res('resources:\n  infra: "*/us-east-1"\n', { known })[0];
    assert.deepEqual([r2.cloud, r2.region], [undefined, 'us-east-1']);
  });

  it("cloud names are lower-cased ('AWS' -> 'aws'); region case follows the catalog", () => {
    const r = res('resources:\n  cloud: AWS\n  region: US-EAST-1\n', { known })[0];
    assert.deepEqual([r.cloud, r.region], ['aws', 'us-east-1']);
    assert.equal(res('resources:\n  infra: AWS\n')[0].cloud, 'aws');
  });

  it('a zone alone brings its region (and cloud)', () => {
    const r = res('resources:\n  zone: us-west-2a\n', { known })[0];
    assert.deepEqual([r.cloud, r.region, r.zone], ['aws', 'us-west-2', 'us-west-2a']);
  });

  it('cloud/region/zone as separate fields', () => {
    const r = res('resources:\n  cloud: aws\n  region: us-east-1\n  zone: us-east-1b\n', { known })[0];
    assert.deepEqual([r.cloud, r.region, r.zone], ['aws', 'us-east-1', 'us-east-1b']);
  });
});

describe('other resource fields', () => {
  it('ports: an int, a string, a range, a list (deduplicated)', () => {
    assert.deepEqual(res('resources:\n  ports: 8080\n')[0].ports, ['8080']);
    assert.deepEqual(res('resources:\n  ports: "8080"\n')[0].ports, ['8080']);
    assert.deepEqual(res('resources:\n  ports: 10000-10010\n')[0].ports, ['10000-10010']);
    assert.deepEqual(res('resources:\n  ports: [8080, 10000-10010, "8080"]\n')[0].ports, [
      '8080',
      '10000-10010',
    ]);
  });

  it('use_spot (YAML 1.1 yes/no read as booleans, as in SkyPilot)', () => {
    assert.equal(res('resources:\n  use_spot: true\n')[0].useSpot, true);
    assert.equal(res('resources:\n  use_spot: yes\n')[0].useSpot, true);
    assert.equal(res('resources:\n  use_spot: false\n')[0].useSpot, false);
  });

  it('disk_size in GiB, with units, rounded down', () => {
    assert.equal(res('resources:\n  disk_size: 256\n')[0].diskSize, 256);
    assert.equal(res('resources:\n  disk_size: 1TB\n')[0].diskSize, 1024);
    assert.equal(res('resources:\n  disk_size: 1500MB\n')[0].diskSize, 1);
  });

  it('image_id, labels (values as written), disk_tier, autostop', () => {
    const r = res(
      'resources:\n  image_id: ami-123\n  labels:\n    team: ml\n    version: 1.10\n  disk_tier: BEST\n  autostop: 2h\n',
    )[0];
    assert.equal(r.imageId, 'ami-123');
    assert.deepEqual(r.labels, { team: 'ml', version: '1.10' });
    assert.equal(r.diskTier, 'best');
    assert.deepEqual(r.autostop, { idleMinutes: 120, down: false });
  });

  it('autostop forms: true, false, minutes, mapping', () => {
    assert.deepEqual(res('resources:\n  autostop: true\n')[0].autostop, { idleMinutes: 5, down: false });
    assert.equal(res('resources:\n  autostop: false\n')[0].autostop, undefined);
    assert.deepEqual(res('resources:\n  autostop: 10\n')[0].autostop, { idleMinutes: 10, down: false });
    assert.deepEqual(res('resources:\n  autostop: {idle_minutes: 3, down: true}\n')[0].autostop, {
      idleMinutes: 3,
      down: true,
    });
  });

  it('image_id per region becomes one alternative per region', () => {
    const t = one('resources:\n  cloud: aws\n  image_id:\n    us-east-1: ami-e\n    us-west-2: ami-w\n', {
      known,
    });
    assert.deepEqual(
      t.resources.map((r) => [r.region, r.imageId]),
      [
        ['us-east-1', 'ami-e'],
        ['us-west-2', 'ami-w'],
      ],
    );
  });

  it('null fields mean "not given"', () => {
    assert.deepEqual(res('resources:\n  cpus:\n  accelerators:\nsetup:\n'), [{ useSpot: false }]);
  });
});

describe('any_of and ordered', () => {
  it('any_of entries are merged over the base fields', () => {
    const t = one(
      'resources:\n  accelerators: A100:8\n  use_spot: true\n  any_of:\n    - infra: aws/us-east-1\n    - infra: lambda\n      use_spot: false\n',
    );
    assert.equal(t.ordered, false);
    assert.deepEqual(t.resources, [
      { useSpot: true, cloud: 'aws', region: 'us-east-1', accelerators: { name: 'A100', count: 8 } },
      { useSpot: false, cloud: 'lambda', accelerators: { name: 'A100', count: 8 } },
    ]);
  });

  it('an entry with infra replaces the base cloud/region/zone', () => {
    const t = one(
      'resources:\n  infra: aws/us-east-1/us-east-1a\n  any_of:\n    - infra: lambda\n    - cpus: 4\n',
    );
    assert.deepEqual(t.resources[0], { useSpot: false, cloud: 'lambda' });
    assert.deepEqual(t.resources[1], {
      useSpot: false,
      cloud: 'aws',
      region: 'us-east-1',
      zone: 'us-east-1a',
      cpus: { value: 4, orMore: false },
    });
  });

  it('ordered keeps the order and marks the task ordered', () => {
    const t = one('resources:\n  ordered:\n    - infra: aws/us-west-2\n    - infra: aws/us-east-1\n');
    assert.equal(t.ordered, true);
    assert.deepEqual(
      t.resources.map((r) => r.region),
      ['us-west-2', 'us-east-1'],
    );
  });

  it('accelerator alternatives multiply with any_of entries (a set stays unordered)', () => {
    const t = one(
      'resources:\n  accelerators: {A100: 1, V100: 1}\n  any_of:\n    - infra: aws\n    - infra: lambda\n',
    );
    assert.equal(t.ordered, false);
    assert.deepEqual(t.resources.map(resourcesToString), [
      'aws 1x A100',
      'aws 1x V100',
      'lambda 1x A100',
      'lambda 1x V100',
    ]);
  });

  it('identical alternatives are kept once', () => {
    const t = one('resources:\n  any_of:\n    - infra: aws\n    - infra: AWS\n');
    assert.equal(t.resources.length, 1);
  });
});

describe('envs, secrets and paths', () => {
  let tmp: ReturnType<typeof tempDir>;
  let oldHome: string | undefined;
  before(() => {
    tmp = tempDir();
    oldHome = process.env.HOME;
    process.env.HOME = join(tmp.dir, 'home');
    mkdirSync(join(tmp.dir, 'home', 'models', 'small'), { recursive: true });
    mkdirSync(join(tmp.dir, 'proj', 'code'), { recursive: true });
    mkdirSync(join(tmp.dir, 'proj', 'src'), { recursive: true });
    mkdirSync(join(tmp.dir, 'proj', 'data-13b'), { recursive: true });
    writeFileSync(join(tmp.dir, 'proj', 'config.json'), '{}');
  });
  after(() => {
    if (oldHome === undefined) delete process.env.HOME;
    else process.env.HOME = oldHome;
    tmp.done();
  });

  function write(name: string, text: string): string {
    const p = join(tmp.dir, 'proj', name);
    writeFileSync(p, text);
    return p;
  }

  it('values become strings exactly as written (numbers, booleans)', () => {
    const t = one('envs:\n  A: hello\n  LR: 1e-4\n  V: 1.10\n  T: true\n  TIME: 12:30\n');
    assert.deepEqual(t.envs, { A: 'hello', LR: '1e-4', V: '1.10', T: 'true', TIME: '12:30' });
  });

  it('secrets are kept apart from envs', () => {
    const t = one('envs:\n  A: "1"\nsecrets:\n  TOKEN: abc\n');
    assert.deepEqual(t.envs, { A: '1' });
    assert.deepEqual(t.secrets, { TOKEN: 'abc' });
  });

  it('a null env must be given with --env; --env KEY=VAL and --env KEY (from the environment) both work', () => {
    const yaml = 'envs:\n  MODEL: small\n  HF_TOKEN:\nsecrets:\n  KEY:\n';
    const t = one(yaml, { env: ['HF_TOKEN=x', 'EXTRA=1'], secret: ['KEY=s'] });
    assert.deepEqual(t.envs, { MODEL: 'small', HF_TOKEN: 'x', EXTRA: '1' });
    assert.deepEqual(t.secrets, { KEY: 's' });
    process.env.SKYHOP_TEST_TOKEN_VALUE = 'from-env';
    try {
      const t2 = one('envs:\n  SKYHOP_TEST_TOKEN_VALUE:\n', { env: ['SKYHOP_TEST_TOKEN_VALUE'] });
      assert.equal(t2.envs.SKYHOP_TEST_TOKEN_VALUE, 'from-env');
    } finally {
      delete process.env.SKYHOP_TEST_TOKEN_VALUE;
    }
    throwsMessage(
      () => one('envs:\n  X:\n', { env: ['SKYHOP_TEST_SURELY_UNSET_VAR'] }),
      '--env SKYHOP_TEST_SURELY_UNSET_VAR: SKYHOP_TEST_SURELY_UNSET_VAR is not set in your environment; ' +
        'use --env SKYHOP_TEST_SURELY_UNSET_VAR=VALUE',
    );
    throwsMessage(
      () => one('secrets:\n  KEY:\n'),
      'task.yaml:2:3: secrets.KEY: no value given; set one in the file or pass --secret KEY=VALUE',
    );
  });

  it('relative paths missing from the current directory are taken beside the YAML file, with a warning each', () => {
    const p = write(
      'task.yaml',
      [
        'envs:',
        '  SIZE: 13b',
        '  SUB: code',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal env reference in YAML
        'workdir: ./${SUB}',
        'file_mounts:',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal env reference in YAML
        '  /data/$SIZE: data-${SIZE}',
        '  ~/cfg.json: config.json',
        '  /models: ~/models/small',
        '  /abs: ' + join(tmp.dir, 'proj', 'code'),
        '  /price$$: config.json',
        '',
      ].join('\n'),
    );
    const dag = parseTaskFile(p);
    const t = dag.tasks[0];
    assert.equal(t.workdir, join(tmp.dir, 'proj', 'code'));
    assert.deepEqual(t.fileMounts, {
      '/data/13b': join(tmp.dir, 'proj', 'data-13b'),
      '~/cfg.json': join(tmp.dir, 'proj', 'config.json'),
      '/models': join(tmp.dir, 'home', 'models', 'small'),
      '/abs': join(tmp.dir, 'proj', 'code'),
      '/price$': join(tmp.dir, 'proj', 'config.json'),
    });
    // Only the relative paths found beside the file warn (not ~ or absolute ones), one line each.
    assert.deepEqual(dag.warnings, [
      `${p}:4:10: workdir: './code' is not in the current directory; using ${join(tmp.dir, 'proj', 'code')} beside the task file (relative paths start from the current directory, as in SkyPilot)`,
      `${p}:6:16: file_mounts['/data/$SIZE']: 'data-13b' is not in the current directory; using ${join(tmp.dir, 'proj', 'data-13b')} beside the task file (relative paths start from the current directory, as in SkyPilot)`,
      `${p}:7:15: file_mounts['~/cfg.json']: 'config.json' is not in the current directory; using ${join(tmp.dir, 'proj', 'config.json')} beside the task file (relative paths start from the current directory, as in SkyPilot)`,
      `${p}:10:13: file_mounts['/price$$']: 'config.json' is not in the current directory; using ${join(tmp.dir, 'proj', 'config.json')} beside the task file (relative paths start from the current directory, as in SkyPilot)`,
    ]);
  });

  it('relative paths start from the current directory, as SkyPilot resolves them, even when the YAML folder has them too', () => {
    // The test runs from the repository root, which has src/; the YAML's folder has a src/ too.
    const p = write('cwd.yaml', 'workdir: src\nfile_mounts:\n  /pkg: package.json\n  /dot: .\n');
    const dag = parseTaskFile(p);
    assert.equal(dag.tasks[0].workdir, join(process.cwd(), 'src'));
    assert.deepEqual(dag.tasks[0].fileMounts, {
      '/pkg': join(process.cwd(), 'package.json'),
      '/dot': process.cwd(),
    });
    assert.equal(dag.warnings, undefined);
  });

  it('a relative path in neither place names both', () => {
    const p = write('none.yaml', 'workdir: no-such-dir\n');
    throwsMessage(
      () => parseTaskFile(p),
      `${p}:1:10: workdir: local directory 'no-such-dir' does not exist (looked for ${join(process.cwd(), 'no-such-dir')} and ${join(tmp.dir, 'proj', 'no-such-dir')})`,
    );
  });

  it('--env given to the parser changes the substitution', () => {
    const p = write('t2.yaml', 'envs:\n  SUB: nothing-here\nworkdir: $SUB\n');
    throwsMessage(() => parseTaskFile(p), /workdir: local directory 'nothing-here' does not exist/);
    assert.equal(parseTaskFile(p, { env: ['SUB=code'] }).tasks[0].workdir, join(tmp.dir, 'proj', 'code'));
  });

  it('baseDir overrides the current directory for relative paths, with no fallback', () => {
    const t = parseTaskText('workdir: src\n', '<stdin>', { baseDir: join(tmp.dir, 'proj') }).tasks[0];
    assert.equal(t.workdir, join(tmp.dir, 'proj', 'src'));
    throwsMessage(
      () => parseTaskText('workdir: code\n', join(tmp.dir, 'proj', 'x.yaml'), { baseDir: tmp.dir }),
      /looked for [^ ]+\/code\)$/,
    );
  });
});

describe('other task fields', () => {
  it('inputs/outputs with the cloud of their scheme', () => {
    const t = one('inputs:\n  s3://bucket/train: 100\noutputs:\n  gs://out/model: 2.5\n');
    assert.deepEqual(t.inputs, { location: 's3://bucket/train', sizeGb: 100, cloud: 'aws' });
    assert.deepEqual(t.outputs, { location: 'gs://out/model', sizeGb: 2.5, cloud: 'gcp' });
    assert.deepEqual(one('inputs:\n  /local/data: 1\n').inputs, { location: '/local/data', sizeGb: 1 });
  });

  it('estimated_hours, setup, run, num_nodes', () => {
    const t = one('num_nodes: 3\nestimated_hours: 1.5\nsetup: pip install x\nrun: |\n  python a.py\n');
    assert.equal(t.numNodes, 3);
    assert.equal(t.estimatedHours, 1.5);
    assert.equal(t.setup, 'pip install x');
    assert.equal(t.run, 'python a.py\n');
  });

  it('YAML 1.1 as PyYAML reads it: y/n and dates stay strings, !!set works', () => {
    const t = one(
      'name: y\nrun: n\nenvs:\n  DAY: 2024-01-01\nresources:\n  accelerators: !!set {A100:1, V100:1}\n',
    );
    assert.equal(t.name, 'y');
    assert.equal(t.run, 'n');
    assert.deepEqual(t.envs, { DAY: '2024-01-01' });
    assert.equal(t.ordered, false);
    assert.equal(t.resources.length, 2);
  });

  it('YAML anchors and merge keys work', () => {
    const t = one(
      'resources:\n  any_of:\n    - &aws {infra: aws, cpus: 4}\n    - <<: *aws\n      infra: lambda\n',
    );
    assert.deepEqual(t.resources.map(resourcesToString), ['aws 4 vCPUs', 'lambda 4 vCPUs']);
  });
});

describe('errors', () => {
  it('several problems: the first in file order is the message, the others are details', () => {
    assert.throws(
      () => parseTaskText('resources:\n  memory: lots\n  cpus: four\nnum_nodes: 0\n', 'x.yaml'),
      (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.equal(
          e.message,
          'x.yaml:2:11: resources.memory: expected a size in GiB like 16, "16+" or "64GB", got "lots"',
        );
        assert.deepEqual(e.details, [
          'also: x.yaml:3:9: resources.cpus: expected a number like 4 or "4+", got "four"',
          'also: x.yaml:4:12: num_nodes: expected a whole number of nodes, 1 or more, got 0',
        ]);
        return true;
      },
    );
  });

  it('an empty any_of list', () => {
    throwsMessage(
      () => parseTaskText('resources:\n  any_of: []\n', 'x.yaml'),
      'x.yaml:2:11: resources.any_of: expected at least one entry',
    );
  });

  it('a missing file is a UserError naming it', () => {
    throwsMessage(
      () => parseTaskFile('no/such/task.yaml'),
      'no/such/task.yaml: no such file; give the path of a task YAML',
    );
  });

  it('a typo far from every field gets no suggestion', () => {
    throwsMessage(() => parseTaskText('zzzzzz: 1\n', 't.yaml'), "t.yaml:1:1: unknown field 'zzzzzz'");
  });
});

describe('chains and DAGs', () => {
  it('several documents without a header are an unnamed chain', () => {
    const dag: Dag = parseTaskText('run: echo a\n---\nrun: echo b\n---\nrun: echo c\n', 'c.yaml');
    assert.equal(dag.name, undefined);
    assert.equal(dag.tasks.length, 3);
    assert.deepEqual(dag.edges, [
      [0, 1],
      [1, 2],
    ]);
  });

  it('empty documents are skipped', () => {
    const dag = parseTaskText('---\nrun: echo a\n---\n# nothing\n---\nrun: echo b\n', 'c.yaml');
    assert.equal(dag.tasks.length, 2);
  });

  it('depends_on builds the edges (a diamond)', () => {
    const dag = parseTaskText(
      [
        'name: dag',
        '---',
        'name: prep',
        'run: echo',
        '---',
        'name: left',
        'depends_on: prep',
        '---',
        'name: right',
        'depends_on: [prep]',
        '---',
        'name: join',
        'depends_on: [left, right]',
        'estimated_hours: 3',
        '',
      ].join('\n'),
      'd.yaml',
    );
    assert.equal(dag.name, 'dag');
    assert.deepEqual(dag.tasks[3].dependsOn, ['left', 'right']);
    assert.deepEqual(dag.edges, [
      [0, 1],
      [0, 2],
      [1, 3],
      [2, 3],
    ]);
  });

  it('with depends_on, tasks without it are roots', () => {
    const dag = parseTaskText(
      'name: a\nrun: x\n---\nname: b\nrun: y\n---\nname: c\ndepends_on: a\n',
      'd.yaml',
    );
    assert.deepEqual(dag.edges, [[0, 2]]);
  });
});

describe('taskFromCommand', () => {
  it('makes a one-task Dag that runs the command', () => {
    const dag = taskFromCommand('echo hi', { env: ['A=1'], secret: ['S=2'] });
    assert.deepEqual(dag.edges, []);
    const t = dag.tasks[0];
    assert.equal(t.run, 'echo hi');
    assert.equal(t.numNodes, 1);
    assert.deepEqual(t.envs, { A: '1' });
    assert.deepEqual(t.secrets, { S: '2' });
    assert.deepEqual(t.resources, [{ useSpot: false }]);
    assert.equal(t.file, undefined);
  });

  it('an empty command is an error', () => {
    throwsMessage(() => taskFromCommand('  '), 'the command to run is empty; give a command or a task YAML');
  });
});

describe('resourcesToString', () => {
  it('short human forms', () => {
    assert.equal(
      resourcesToString({
        cloud: 'aws',
        region: 'us-east-1',
        accelerators: { name: 'A100', count: 8 },
        useSpot: true,
      }),
      'aws/us-east-1 8x A100 spot',
    );
    assert.equal(resourcesToString({ useSpot: false }), 'any');
    assert.equal(
      resourcesToString({
        zone: 'us-east-1a',
        cpus: { value: 4, orMore: true },
        memory: { value: 16, orMore: false },
        useSpot: false,
      }),
      '*/*/us-east-1a 4+ vCPUs 16 GiB',
    );
    assert.equal(
      resourcesToString({
        cloud: 'gcp',
        instanceType: 'n2-standard-8',
        diskSize: 100,
        ports: ['80'],
        useSpot: false,
      }),
      'gcp n2-standard-8 disk 100 GiB ports 80',
    );
  });
});
