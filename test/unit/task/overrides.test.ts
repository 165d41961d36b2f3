import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  applyOverrides,
  type CliOverrides,
  type Dag,
  parseTaskFile,
  parseTaskText,
  resourcesToString,
  taskFromCommand,
} from '../../../src/task/index.js';
import { UserError } from '../../../src/util/errors.js';
import { tempDir, testKnown } from './helpers.js';

const known = testKnown();

function dag(yaml: string): Dag {
  return parseTaskText(yaml, 'task.yaml');
}

function strings(d: Dag, i = 0): string[] {
  return d.tasks[i].resources.map(resourcesToString);
}

function throwsMessage(fn: () => unknown, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof UserError, `not a UserError: ${String(e)}`);
    assert.equal(e.message, message);
    return true;
  });
}

describe('applyOverrides', () => {
  it('applies to every alternative and leaves the input unchanged', () => {
    const d = dag('resources:\n  any_of:\n    - infra: aws\n    - infra: lambda\n');
    const before = JSON.stringify(d);
    const o = applyOverrides(d, {
      cpus: '8+',
      memory: '32',
      diskSize: '100GB',
      useSpot: true,
      ports: ['80,443'],
    });
    assert.deepEqual(strings(o), [
      'aws 8+ vCPUs 32 GiB spot disk 100 GiB ports 80,443',
      'lambda 8+ vCPUs 32 GiB spot disk 100 GiB ports 80,443',
    ]);
    assert.equal(JSON.stringify(d), before);
  });

  it('-i and --down set autostop: -i replaces the idle minutes, --down the action; a stop-only cloud is refused', () => {
    const plain = dag('resources:\n  cpus: 2\n');
    assert.deepEqual(applyOverrides(plain, { down: true }).tasks[0].resources[0].autostop, {
      idleMinutes: 0,
      down: true,
    });
    assert.deepEqual(applyOverrides(plain, { idleMinutes: 7.5 }).tasks[0].resources[0].autostop, {
      idleMinutes: 7.5,
      down: false,
    });
    const fromFile = dag('resources:\n  autostop: {idle_minutes: 30, down: true}\n');
    assert.deepEqual(applyOverrides(fromFile, { idleMinutes: 5 }).tasks[0].resources[0].autostop, {
      idleMinutes: 5,
      down: true,
    });
    assert.deepEqual(
      applyOverrides(dag('resources:\n  autostop: 30\n'), { down: true }).tasks[0].resources[0].autostop,
      {
        idleMinutes: 30,
        down: true,
      },
    );
    throwsMessage(
      () => applyOverrides(dag('resources:\n  cloud: lambda\n'), { idleMinutes: 10 }, known),
      '--idle-minutes-to-autostop: lambda cannot stop instances, only tear them down; ask for autodown (--down, or autostop: {idle_minutes: 10, down: true})',
    );
    assert.equal(
      applyOverrides(dag('resources:\n  cloud: lambda\n'), { idleMinutes: 10, down: true }, known).tasks[0]
        .resources[0].autostop?.down,
      true,
    );
  });

  it('--no-use-spot turns spot off', () => {
    const o = applyOverrides(dag('resources:\n  use_spot: true\n'), { useSpot: false });
    assert.equal(o.tasks[0].resources[0].useSpot, false);
  });

  it('--gpus replaces the accelerators and drops an instance type that does not carry them', () => {
    const d = parseTaskText('resources:\n  instance_type: p3.2xlarge\n', 't.yaml', { known });
    const o = applyOverrides(d, { gpus: 'a100:8' }, known);
    assert.deepEqual(o.tasks[0].resources[0], {
      useSpot: false,
      cloud: 'aws',
      accelerators: { name: 'A100', count: 8 },
    });
    // An instance type that carries them stays.
    const d2 = parseTaskText('resources:\n  instance_type: p4d.24xlarge\n', 't.yaml', { known });
    assert.equal(
      applyOverrides(d2, { gpus: 'A100:8' }, known).tasks[0].resources[0].instanceType,
      'p4d.24xlarge',
    );
  });

  it('--gpus collapses an accelerator list into one alternative; --gpus none removes accelerators', () => {
    const d = dag('resources:\n  accelerators: [V100:1, A100:1]\n');
    assert.deepEqual(strings(applyOverrides(d, { gpus: 'H100:8' })), ['8x H100']);
    assert.deepEqual(strings(applyOverrides(d, { gpus: 'none' })), ['any']);
  });

  it('--instance-type drops accelerators the type does not carry', () => {
    const d = dag('resources:\n  accelerators: A100:8\n');
    const o = applyOverrides(d, { instanceType: 'p3.2xlarge' }, known);
    assert.deepEqual(o.tasks[0].resources[0], { useSpot: false, cloud: 'aws', instanceType: 'p3.2xlarge' });
  });

  it('--cloud clears a region and zone of another cloud; --region clears the zone; --zone brings its region', () => {
    const d = dag('resources:\n  infra: aws/us-east-1/us-east-1a\n');
    assert.deepEqual(strings(applyOverrides(d, { cloud: 'LAMBDA' }, known)), ['lambda']);
    assert.deepEqual(strings(applyOverrides(d, { region: 'us-west-2' }, known)), ['aws/us-west-2']);
    assert.deepEqual(strings(applyOverrides(d, { zone: 'us-west-2a' }, known)), ['aws/us-west-2/us-west-2a']);
    assert.deepEqual(strings(applyOverrides(d, { infra: 'lambda/us-west-1' }, known)), ['lambda/us-west-1']);
    assert.deepEqual(strings(applyOverrides(d, { infra: 'aws' })), ['aws']);
  });

  it('--num-nodes, --image-id and --name', () => {
    const o = applyOverrides(dag('name: a\nrun: x\n'), { numNodes: '4', imageId: 'ami-9', name: 'b' });
    assert.equal(o.tasks[0].numNodes, 4);
    assert.equal(o.tasks[0].resources[0].imageId, 'ami-9');
    assert.equal(o.tasks[0].name, 'b');
    assert.equal(o.name, 'b');
    // On a chain --name names the pipeline, not its tasks.
    const chain = applyOverrides(dag('name: a\nrun: x\n---\nname: c\nrun: y\n'), { name: 'p', cpus: '2' });
    assert.equal(chain.name, 'p');
    assert.deepEqual(
      chain.tasks.map((t) => t.name),
      ['a', 'c'],
    );
    assert.deepEqual([strings(chain, 0), strings(chain, 1)], [['2 vCPUs'], ['2 vCPUs']]);
    assert.deepEqual(chain.edges, [[0, 1]]);
  });

  it('--env and --secret add or replace values; KEY alone takes it from the environment', () => {
    process.env.SKYHOP_TEST_OVERRIDE_VALUE = 'from-env';
    try {
      const o = applyOverrides(taskFromCommand('echo'), {
        env: ['A=1', 'B=x=y', 'SKYHOP_TEST_OVERRIDE_VALUE'],
        secret: ['TOKEN=t'],
      });
      assert.deepEqual(o.tasks[0].envs, { A: '1', B: 'x=y', SKYHOP_TEST_OVERRIDE_VALUE: 'from-env' });
      assert.deepEqual(o.tasks[0].secrets, { TOKEN: 't' });
    } finally {
      delete process.env.SKYHOP_TEST_OVERRIDE_VALUE;
    }
  });

  it('flag errors name the flag', () => {
    const d = dag('run: x\n');
    const cases: Array<[CliOverrides, string]> = [
      [{ cpus: 'four' }, '--cpus: expected a number like 4 or "4+", got "four"'],
      [{ memory: 'lots' }, '--memory: expected a size in GiB like 16, "16+" or "64GB", got "lots"'],
      [{ numNodes: '0' }, '--num-nodes: expected a whole number of nodes, 1 or more, got "0"'],
      [{ numNodes: 'two' }, '--num-nodes: expected a whole number of nodes, 1 or more, got "two"'],
      [
        { gpus: 'A100:x' },
        '--gpus: expected an accelerator like "A100", "A100:8", a list of them or {A100: 8}, got "A100:x"',
      ],
      [{ diskSize: 'big' }, '--disk-size: expected a disk size in GiB like 256 or "256GB", got "big"'],
      [
        { ports: ['http'] },
        '--ports: expected a port like 8080, a range like "10000-10010" or a list of them, got "http"',
      ],
      [
        { infra: 'a/b/c/d' },
        '--infra: expected CLOUD[/REGION[/ZONE]] like "aws" or "aws/us-east-1", got "a/b/c/d"',
      ],
      [{ infra: 'aws', region: 'us-east-1' }, '--infra: give either --infra or --region, not both'],
      [{ cloud: 'not a cloud' }, '--cloud: expected a cloud name like "aws", got "not a cloud"'],
      [{ region: '  ' }, '--region: expected a region name, got an empty value'],
      [
        { env: ['1X=2'] },
        "--env: '1X' is not a valid variable name (letters, digits and _, not starting with a digit); use --env KEY=VALUE",
      ],
      [
        { env: ['SKYHOP_TEST_SURELY_UNSET_VAR'] },
        '--env SKYHOP_TEST_SURELY_UNSET_VAR: SKYHOP_TEST_SURELY_UNSET_VAR is not set in your environment; ' +
          'use --env SKYHOP_TEST_SURELY_UNSET_VAR=VALUE',
      ],
    ];
    for (const [o, msg] of cases) throwsMessage(() => applyOverrides(d, o), msg);
  });

  it('catalog checks after overrides name the flag that caused the problem', () => {
    const d = dag('num_nodes: 2\nrun: x\n');
    throwsMessage(
      () => applyOverrides(d, { cloud: 'k8s' }, known),
      "--cloud: unknown cloud 'k8s' (skyhop knows: aws, lambda, solo)",
    );
    throwsMessage(
      () => applyOverrides(d, { cloud: 'solo' }, known),
      'task.yaml:1:12: num_nodes: solo runs single-node clusters only, but 2 nodes are asked for',
    );
    throwsMessage(
      () => applyOverrides(dag('run: x\n'), { cloud: 'solo', numNodes: '3' }, known),
      '--num-nodes: solo runs single-node clusters only, but 3 nodes are asked for',
    );
    throwsMessage(
      () => applyOverrides(dag('resources:\n  infra: lambda\n'), { useSpot: true }, known),
      '--use-spot: lambda has no spot instances; drop use_spot or choose another cloud',
    );
    throwsMessage(
      () => applyOverrides(dag('run: x\n'), { gpus: 'A1000' }, known),
      "--gpus: unknown accelerator 'A1000' (did you mean 'A100', 'A4000' or 'A6000'?); 'skyhop show-gpus' lists them",
    );
  });

  it('a problem that stays in the file still points at its line', () => {
    const d = dag('resources:\n  use_spot: true\n');
    throwsMessage(
      () => applyOverrides(d, { cloud: 'lambda' }, known),
      'task.yaml:2:13: resources.use_spot: lambda has no spot instances; drop use_spot or choose another cloud',
    );
  });
});

describe('applyOverrides with --env redoes path substitution', () => {
  let tmp: ReturnType<typeof tempDir>;
  before(() => {
    tmp = tempDir();
    mkdirSync(join(tmp.dir, 'v1'));
    mkdirSync(join(tmp.dir, 'v2'));
  });
  after(() => tmp.done());

  it('workdir and file_mounts follow the new value', () => {
    const p = join(tmp.dir, 'task.yaml');
    writeFileSync(p, 'envs:\n  V: v1\nworkdir: $V\nfile_mounts:\n  /code/$V: $V\n');
    const d = parseTaskFile(p);
    assert.equal(d.tasks[0].workdir, join(tmp.dir, 'v1'));
    const o = applyOverrides(d, { env: ['V=v2'] });
    assert.equal(o.tasks[0].workdir, join(tmp.dir, 'v2'));
    assert.deepEqual(o.tasks[0].fileMounts, { '/code/v2': join(tmp.dir, 'v2') });
    throwsMessage(
      () => applyOverrides(d, { env: ['V=v3'] }),
      `${p}:3:10: workdir: local directory 'v3' does not exist (looked for ${join(process.cwd(), 'v3')} and ${join(tmp.dir, 'v3')})`,
    );
  });
});
