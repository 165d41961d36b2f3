/**
 * `resources.job_recovery` (and its old name `spot_recovery`): every form SkyPilot takes, errors at
 * the key or value at fault, the alias's warning, and alternatives that must agree.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyOverrides, parseJobRecovery, parseTaskText, type Task } from '../../../src/task/index.js';
import { UserError } from '../../../src/util/errors.js';
import { testKnown } from './helpers.js';

const known = testKnown();

function parse(yaml: string) {
  return parseTaskText(yaml, 'task.yaml', { known });
}

function one(yaml: string): Task {
  return parse(yaml).tasks[0];
}

function error(yaml: string): string {
  try {
    parse(yaml);
  } catch (e) {
    assert.ok(e instanceof UserError, `not a UserError: ${String(e)}`);
    return e.message;
  }
  assert.fail('no error');
}

const recovery = (strategy: string, maxRestartsOnErrors = 0, recoverOnExitCodes: number[] = []) => ({
  strategy,
  maxRestartsOnErrors,
  recoverOnExitCodes,
});

describe('job_recovery: the forms SkyPilot takes', () => {
  it('a strategy name in any case', () => {
    assert.deepEqual(one('resources:\n  job_recovery: FAILOVER\n').jobRecovery, recovery('FAILOVER'));
    assert.deepEqual(
      one('resources:\n  job_recovery: eager_next_region\n').jobRecovery,
      recovery('EAGER_NEXT_REGION'),
    );
  });

  it('none, null and nothing: not given', () => {
    for (const v of ['none', 'NONE', 'null', '']) {
      const t = one(`resources:\n  cpus: 2\n  job_recovery: ${v}\n`);
      assert.equal(t.jobRecovery, undefined, v);
      assert.equal(Object.hasOwn(t, 'jobRecovery'), false, v);
    }
    assert.equal(one('run: echo hi\n').jobRecovery, undefined);
  });

  it('a mapping; a missing (or null, or none) strategy is SkyPilot default, EAGER_NEXT_REGION', () => {
    assert.deepEqual(
      one(
        'resources:\n  job_recovery:\n    strategy: failover\n    max_restarts_on_errors: 3\n    recover_on_exit_codes: [33, 34]\n',
      ).jobRecovery,
      recovery('FAILOVER', 3, [33, 34]),
    );
    assert.deepEqual(
      one('resources:\n  job_recovery: {max_restarts_on_errors: 1}\n').jobRecovery,
      recovery('EAGER_NEXT_REGION', 1),
    );
    assert.deepEqual(
      one('resources:\n  job_recovery: {strategy: null, recover_on_exit_codes: 7}\n').jobRecovery,
      recovery('EAGER_NEXT_REGION', 0, [7]),
    );
    assert.deepEqual(
      one('resources:\n  job_recovery: {strategy: none, max_restarts_on_errors: 2}\n').jobRecovery,
      recovery('EAGER_NEXT_REGION', 2),
    );
    assert.deepEqual(one('resources:\n  job_recovery: {}\n').jobRecovery, recovery('EAGER_NEXT_REGION'));
    assert.deepEqual(
      one('resources:\n  job_recovery: {recover_on_exit_codes: []}\n').jobRecovery,
      recovery('EAGER_NEXT_REGION'),
    );
  });

  it('the resources themselves are unchanged by it', () => {
    const t = one('resources:\n  cpus: 2\n  job_recovery: FAILOVER\n');
    assert.deepEqual(t.resources, one('resources:\n  cpus: 2\n').resources);
  });

  it('CLI overrides keep it', () => {
    const dag = applyOverrides(parse('resources:\n  job_recovery: FAILOVER\n'), { cpus: '2' }, known);
    assert.deepEqual(dag.tasks[0].jobRecovery, recovery('FAILOVER'));
  });

  it('parseJobRecovery reads the same values without YAML (for flags)', () => {
    assert.deepEqual(parseJobRecovery('Failover'), recovery('FAILOVER'));
    assert.equal(parseJobRecovery('none'), undefined);
    assert.throws(() => parseJobRecovery('SPOT'), /unknown strategy 'SPOT'/);
  });
});

describe('job_recovery: errors at the key or value at fault', () => {
  it('a strategy typo: did you mean', () => {
    assert.equal(
      error('resources:\n  job_recovery: EAGER_NEXT_REGON\n'),
      "task.yaml:2:17: resources.job_recovery: unknown strategy 'EAGER_NEXT_REGON' (did you mean 'EAGER_NEXT_REGION'?) (SkyPilot's strategies: FAILOVER, EAGER_NEXT_REGION)",
    );
    assert.equal(
      error('resources:\n  job_recovery:\n    strategy: FAILOVERR\n'),
      "task.yaml:3:15: resources.job_recovery.strategy: unknown strategy 'FAILOVERR' (did you mean 'FAILOVER'?) (SkyPilot's strategies: FAILOVER, EAGER_NEXT_REGION)",
    );
  });

  it('a key typo points at the key', () => {
    assert.equal(
      error('resources:\n  job_recovery:\n    strategy: FAILOVER\n    recover_on_exit_code: 3\n'),
      "task.yaml:4:5: resources.job_recovery.recover_on_exit_code: unknown field 'recover_on_exit_code' (did you mean 'recover_on_exit_codes'?) (job_recovery takes strategy, max_restarts_on_errors, recover_on_exit_codes)",
    );
  });

  it('bad values', () => {
    assert.equal(
      error('resources:\n  job_recovery: {max_restarts_on_errors: -1}\n'),
      'task.yaml:2:42: resources.job_recovery.max_restarts_on_errors: expected a whole number, 0 or more, got -1',
    );
    assert.match(
      error('resources:\n  job_recovery: {max_restarts_on_errors: 1.5}\n'),
      /max_restarts_on_errors: expected a whole number, 0 or more, got 1\.5$/,
    );
    assert.match(
      error('resources:\n  job_recovery: {max_restarts_on_errors: true}\n'),
      /max_restarts_on_errors: expected a whole number, 0 or more, got true$/,
    );
    assert.equal(
      error('resources:\n  job_recovery: {recover_on_exit_codes: 300}\n'),
      'task.yaml:2:41: resources.job_recovery.recover_on_exit_codes: expected an exit code from 0 to 255 or a list of them, got 300',
    );
    assert.equal(
      error('resources:\n  job_recovery:\n    recover_on_exit_codes:\n      - 3\n      - 3\n'),
      'task.yaml:5:9: resources.job_recovery.recover_on_exit_codes[1]: exit code 3 is listed twice',
    );
    assert.equal(
      error('resources:\n  job_recovery: [FAILOVER]\n'),
      'task.yaml:2:17: resources.job_recovery: expected a strategy (FAILOVER or EAGER_NEXT_REGION), none, or a mapping {strategy, max_restarts_on_errors, recover_on_exit_codes}, got a list',
    );
    assert.match(
      error('resources:\n  job_recovery: {strategy: 3}\n'),
      /^task\.yaml:2:28: resources\.job_recovery\.strategy: expected a strategy \(FAILOVER or EAGER_NEXT_REGION\), got 3$/,
    );
  });

  it('a misspelt field name gets the nearest resource field', () => {
    assert.equal(
      error('resources:\n  job_recovry: FAILOVER\n'),
      "task.yaml:2:3: resources: unknown field 'job_recovry' (did you mean 'job_recovery'?)",
    );
  });
});

describe('spot_recovery, the old name', () => {
  it('works, with one warning line', () => {
    const dag = parse('resources:\n  use_spot: true\n  spot_recovery: failover\n');
    assert.deepEqual(dag.tasks[0].jobRecovery, recovery('FAILOVER'));
    assert.deepEqual(dag.warnings, [
      'task.yaml:3:3: resources.spot_recovery: spot_recovery is the old name of job_recovery (SkyPilot deprecates it); it works, but write job_recovery',
    ]);
  });

  it('both in one mapping: an error at spot_recovery', () => {
    assert.equal(
      error('resources:\n  spot_recovery: FAILOVER\n  job_recovery: FAILOVER\n'),
      'task.yaml:2:3: resources.spot_recovery: give either job_recovery or spot_recovery (its old name), not both',
    );
  });

  it('errors inside it name it', () => {
    assert.match(
      error('resources:\n  spot_recovery: {stratgy: FAILOVER}\n'),
      /^task\.yaml:2:19: resources\.spot_recovery\.stratgy: unknown field 'stratgy' \(did you mean 'strategy'\?\)/,
    );
  });
});

describe('job_recovery with any_of / ordered', () => {
  it('at the top level: every alternative shares it', () => {
    const t = one('resources:\n  job_recovery: FAILOVER\n  any_of:\n    - infra: aws\n    - infra: lambda\n');
    assert.equal(t.resources.length, 2);
    assert.deepEqual(t.jobRecovery, recovery('FAILOVER'));
  });

  it('in every alternative, the same (exit codes in any order)', () => {
    const t = one(
      [
        'resources:',
        '  ordered:',
        '    - infra: aws',
        '      job_recovery: {strategy: FAILOVER, recover_on_exit_codes: [1, 2]}',
        '    - infra: lambda',
        '      job_recovery: {strategy: failover, recover_on_exit_codes: [2, 1]}',
        '',
      ].join('\n'),
    );
    assert.deepEqual(t.jobRecovery, recovery('FAILOVER', 0, [1, 2]));
  });

  it('alternatives that disagree: an error naming both', () => {
    assert.equal(
      error(
        'resources:\n  any_of:\n    - infra: aws\n      job_recovery: FAILOVER\n    - infra: lambda\n      job_recovery: EAGER_NEXT_REGION\n',
      ),
      'task.yaml:6:21: resources.any_of[1].job_recovery: differs between alternatives: resources.any_of[0] recovers with FAILOVER, resources.any_of[1] with EAGER_NEXT_REGION; as in SkyPilot, every alternative must recover the same way: give job_recovery once, next to any_of/ordered',
    );
  });

  it('one alternative without it: points at the one that has it', () => {
    assert.equal(
      error('resources:\n  any_of:\n    - infra: aws\n      job_recovery: FAILOVER\n    - infra: lambda\n'),
      'task.yaml:4:21: resources.any_of[0].job_recovery: differs between alternatives: resources.any_of[0] recovers with FAILOVER, resources.any_of[1] with none; as in SkyPilot, every alternative must recover the same way: give job_recovery once, next to any_of/ordered',
    );
  });

  it('an alternative overriding the top level with none disagrees', () => {
    assert.match(
      error(
        'resources:\n  job_recovery: FAILOVER\n  any_of:\n    - infra: aws\n    - infra: lambda\n      job_recovery: none\n',
      ),
      /^task\.yaml:6:21: resources\.any_of\[1\]\.job_recovery: differs between alternatives: resources\.any_of\[0\] recovers with FAILOVER, resources\.any_of\[1\] with none;/,
    );
  });
});
