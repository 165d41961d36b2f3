/**
 * controllerResources: the config file's `jobs.controller.resources` checked as a task's
 * `resources:` is, with errors at file:line:col in the config file.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { emptyConfig } from '../../../src/config/config.js';
import { effectiveConfig, parseConfigText } from '../../../src/config/index.js';
import { controllerResources, resourcesToString } from '../../../src/task/index.js';
import { UserError } from '../../../src/util/errors.js';
import { testKnown } from './helpers.js';

const known = testKnown();
const cfg = (resources: string) =>
  parseConfigText(`jobs:\n  controller:\n    resources:\n${resources}`, 'c.yaml');

function error(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof UserError, String(e));
    return e.message;
  }
  assert.fail('expected a UserError');
}

describe('controllerResources', () => {
  test('none given: null', () => {
    assert.equal(controllerResources(emptyConfig(null), known), null);
    assert.equal(controllerResources(parseConfigText('jobs: {controller: {autostop: 5}}\n', 'c.yaml')), null);
  });

  test('one mapping: one alternative, names spelt as the catalog spells them', () => {
    const r = controllerResources(
      cfg('      infra: AWS/US-EAST-1\n      cpus: 2+\n      disk_size: 100\n'),
      known,
    );
    assert.deepEqual(r?.map(resourcesToString), ['aws/us-east-1 2+ vCPUs disk 100 GiB']);
    // Without catalog knowledge: the shape only.
    assert.deepEqual(controllerResources(cfg('      infra: aws/nowhere\n'))?.map(resourcesToString), [
      'aws/nowhere',
    ]);
  });

  test('any_of / ordered: every alternative', () => {
    const r = controllerResources(
      cfg('      cpus: 2\n      ordered:\n        - infra: aws/us-west-2\n        - infra: aws/us-east-1\n'),
      known,
    );
    assert.deepEqual(r?.map(resourcesToString), ['aws/us-west-2 2 vCPUs', 'aws/us-east-1 2 vCPUs']);
  });

  test('the same checks and messages as a task, at the config file line', () => {
    assert.equal(
      error(() => controllerResources(cfg('      cpu: 4\n'), known)),
      "c.yaml:4:7: jobs.controller.resources: unknown field 'cpu' (did you mean 'cpus'?)",
    );
    assert.equal(
      error(() => controllerResources(cfg('      infra: aws/us-east-9\n'), known)),
      "c.yaml:4:14: jobs.controller.resources.infra: unknown region 'us-east-9' for aws (did you mean 'us-east-1' or 'us-west-2'?)",
    );
    assert.equal(
      error(() => controllerResources(cfg('      any_of:\n        - instance_type: m6i.larg\n'), known)),
      "c.yaml:5:26: jobs.controller.resources.any_of[0].instance_type: unknown instance type 'm6i.larg' (did you mean 'm6i.large'?)",
    );
    assert.equal(
      error(() => controllerResources(cfg('      cpus: many\n'), known)),
      'c.yaml:4:13: jobs.controller.resources.cpus: expected a number like 4 or "4+", got "many"',
    );
    assert.equal(
      error(() => controllerResources(cfg('      any_of:\n        - any_of: []\n'), known)),
      "c.yaml:5:11: jobs.controller.resources.any_of[0]: 'any_of' cannot be nested inside any_of or ordered",
    );
    assert.equal(
      error(() => controllerResources(cfg('      accelerator_args: {}\n'), known)),
      "c.yaml:4:7: jobs.controller.resources: field 'accelerator_args' is not supported by skyhop (TPU settings; no TPU cloud is available)",
    );
  });

  test('ports: an error, as SkyPilot takes none for its controller', () => {
    assert.equal(
      error(() => controllerResources(cfg('      ports: 8080\n'), known)),
      'c.yaml:4:7: jobs.controller.resources.ports: the jobs controller opens no ports; leave ports out (as in SkyPilot)',
    );
    assert.match(
      error(() => controllerResources(cfg('      any_of:\n        - cpus: 2\n        - ports: 80\n'), known)),
      /^c\.yaml:6:11: jobs\.controller\.resources\.any_of\[1\]\.ports: the jobs controller opens no ports/,
    );
  });

  test('job_recovery there: read, then ignored with a warning', () => {
    const warnings: string[] = [];
    const r = controllerResources(cfg('      cpus: 2\n      job_recovery: FAILOVER\n'), known, warnings);
    assert.equal(r?.length, 1);
    assert.deepEqual(warnings, [
      'c.yaml:5:21: jobs.controller.resources.job_recovery: ignored; job_recovery applies to managed jobs, not to their controller',
    ]);
  });

  test('an alternative on a cloud skyhop lacks: left out with a warning, as for a task', () => {
    const warnings: string[] = [];
    const r = controllerResources(
      cfg('      any_of:\n        - infra: azure\n        - infra: aws\n'),
      known,
      warnings,
    );
    assert.deepEqual(r?.map(resourcesToString), ['aws']);
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0],
      /^c\.yaml:5:18: jobs\.controller\.resources\.any_of\[0\]\.infra: skyhop has no cloud 'azure'/,
    );
  });

  test('through effectiveConfig: positions kept', () => {
    const eff = effectiveConfig({}, cfg('      cpu: 4\n'));
    assert.match(
      error(() => controllerResources(eff, known)),
      /^c\.yaml:4:7: /,
    );
  });

  test('a config built in code: checked all the same', () => {
    const c = emptyConfig(null);
    c.jobs.controller.resources = { cpus: '4+', infra: 'aws' };
    assert.deepEqual(controllerResources(c, known)?.map(resourcesToString), ['aws 4+ vCPUs']);
    c.jobs.controller.resources = { cpu: 4 };
    assert.match(
      error(() => controllerResources(c, known)),
      /jobs\.controller\.resources: unknown field 'cpu'/,
    );
  });
});
