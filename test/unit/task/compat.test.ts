/**
 * SkyPilot task files that used to stop skyhop (issue 10): `service:`/`pool:` sections ignored by
 * launch with a warning, any_of/ordered alternatives skyhop cannot serve left out with a warning each.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyOverrides } from '../../../src/task/overrides.js';
import { parseTaskText } from '../../../src/task/index.js';
import { UserError } from '../../../src/util/errors.js';
import { testKnown } from './helpers.js';

const known = testKnown();

describe('service: and pool: sections', () => {
  it('are ignored with one warning line each; the task runs as it is', () => {
    const dag = parseTaskText(
      [
        'service:',
        '  readiness_probe: /health',
        '  replicas: 2',
        'pool:',
        '  workers: 3',
        'resources:',
        '  ports: 8080',
        'run: python -m http.server 8080',
        '',
      ].join('\n'),
      'serve.yaml',
      { known },
    );
    assert.equal(dag.tasks.length, 1);
    assert.equal(dag.tasks[0].run, 'python -m http.server 8080');
    assert.deepEqual(dag.tasks[0].resources[0].ports, ['8080']);
    assert.deepEqual(dag.warnings, [
      'serve.yaml:1:1: service: ignored; services run with skyhop serve up, so the task runs without it',
      'serve.yaml:4:1: pool: ignored; worker pools are not built in skyhop yet, so the task runs without it',
    ]);
  });

  it('a file without them has no warnings, and the overrides keep the parser warnings', () => {
    assert.equal(parseTaskText('run: ls\n', 't.yaml').warnings, undefined);
    const dag = parseTaskText('service:\n  readiness_probe: /\n  replicas: 1\nrun: ls\n', 't.yaml');
    const o = applyOverrides(dag, { cpus: '2' }, known);
    assert.deepEqual(o.warnings, dag.warnings);
    assert.equal(o.warnings?.length, 1);
  });
});

describe('alternatives skyhop cannot serve', () => {
  const yaml = [
    'resources:',
    '  any_of:',
    '    - infra: kubernetes',
    '      accelerators: A100:8',
    '    - infra: aws',
    '      accelerators: A100:8',
    '    - accelerators: TPU-v9000:8',
    '    - infra: nebius/eu-north1',
    'run: nvidia-smi',
    '',
  ].join('\n');

  it('are left out with one warning line each while others remain', () => {
    const dag = parseTaskText(yaml, 'train.yaml', { known });
    assert.deepEqual(
      dag.tasks[0].resources.map((r) => [r.cloud, r.accelerators?.name]),
      [['aws', 'A100']],
    );
    assert.deepEqual(dag.warnings, [
      "train.yaml:3:14: resources.any_of[0].infra: skyhop has no cloud 'kubernetes' (it has aws, lambda, solo); this alternative is left out",
      "train.yaml:7:21: resources.any_of[2].accelerators: no catalog knows accelerator 'TPU-v9000'; this alternative is left out",
      "train.yaml:8:14: resources.any_of[3].infra: skyhop has no cloud 'nebius' (it has aws, lambda, solo); this alternative is left out",
    ]);
  });

  it('the same after the CLI overrides (the check loadTask runs), shown once', () => {
    const parsed = parseTaskText(yaml, 'train.yaml');
    assert.equal(parsed.warnings, undefined);
    const o = applyOverrides(parsed, {}, known);
    assert.equal(o.tasks[0].resources.length, 1);
    assert.equal(o.warnings?.length, 3);
  });

  it('ordered keeps its order among what is left', () => {
    const dag = parseTaskText(
      'resources:\n  ordered:\n    - infra: azure\n    - infra: lambda\n    - infra: aws\nrun: ls\n',
      't.yaml',
      { known },
    );
    assert.equal(dag.tasks[0].ordered, true);
    assert.deepEqual(
      dag.tasks[0].resources.map((r) => r.cloud),
      ['lambda', 'aws'],
    );
    assert.equal(dag.warnings?.length, 1);
  });

  it('a misspelt cloud is still an error, not dropped', () => {
    assert.throws(
      () =>
        parseTaskText('resources:\n  any_of:\n    - infra: awz\n    - infra: lambda\nrun: ls\n', 't.yaml', {
          known,
        }),
      (e: unknown) =>
        e instanceof UserError &&
        e.message ===
          "t.yaml:3:14: resources.any_of[0].infra: unknown cloud 'awz' (did you mean 'aws'?) (skyhop knows: aws, lambda, solo)",
    );
  });

  it('when none is left the error names each', () => {
    assert.throws(
      () =>
        parseTaskText('resources:\n  any_of:\n    - infra: oci\n    - infra: azure\nrun: ls\n', 't.yaml', {
          known,
        }),
      (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.equal(
          e.message,
          "t.yaml:3:14: resources.any_of[0].infra: skyhop has no cloud 'oci' (it has aws, lambda, solo); no resource alternative is left that skyhop can serve",
        );
        assert.deepEqual(e.details, [
          "also: t.yaml:4:14: resources.any_of[1].infra: skyhop has no cloud 'azure' (it has aws, lambda, solo)",
        ]);
        return true;
      },
    );
  });

  it('a single alternative keeps its own error', () => {
    assert.throws(
      () => parseTaskText('resources:\n  infra: kubernetes\nrun: ls\n', 't.yaml', { known }),
      /resources.infra: unknown cloud 'kubernetes'/,
    );
  });
});
