/**
 * The config file's `jobs:` section: `jobs.controller.resources` (kept as written), `autostop`
 * (SkyPilot's forms, `false` = never; `resources.autostop` wins) and skyhop's own
 * `poll_interval_seconds`, their defaults, and errors / warnings at file:line:col.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  effectiveConfig,
  JOBS_CONTROLLER_AUTOSTOP,
  JOBS_POLL_INTERVAL_SECONDS,
  parseConfigText,
} from '../../../src/config/index.js';
import { emptyConfig } from '../../../src/config/config.js';
import { UserError } from '../../../src/util/errors.js';

const cfg = (text: string) => parseConfigText(text, 'c.yaml');

function error(text: string): string {
  try {
    cfg(text);
  } catch (e) {
    assert.ok(e instanceof UserError, String(e));
    return e.message;
  }
  assert.fail('expected a UserError');
}

describe('jobs.controller in the config file', () => {
  test('defaults: no resources, SkyPilot controller autostop (10 idle minutes, stop), a check every second', () => {
    const defaults = {
      controller: { resources: null, autostop: { idleMinutes: 10, down: false }, pollIntervalSeconds: 1 },
    };
    assert.deepEqual(JOBS_CONTROLLER_AUTOSTOP, { idleMinutes: 10, down: false });
    assert.equal(JOBS_POLL_INTERVAL_SECONDS, 1);
    assert.deepEqual(emptyConfig(null).jobs, defaults);
    assert.deepEqual(cfg('aws: {labels: {a: b}}\n').jobs, defaults);
    assert.deepEqual(cfg('jobs:\n').jobs, defaults);
    assert.deepEqual(cfg('jobs:\n  controller:\n').jobs, defaults);
    assert.deepEqual(cfg('jobs: {controller: {}}\n').warnings, []);
  });

  test('resources kept as written; autostop and poll_interval_seconds read', () => {
    const c = cfg(
      [
        'jobs:',
        '  controller:',
        '    resources:',
        '      infra: aws/us-east-1',
        '      cpus: 4+',
        '    autostop:',
        '      idle_minutes: 30',
        '      down: true',
        '    poll_interval_seconds: 0.5',
        '',
      ].join('\n'),
    );
    assert.deepEqual(c.jobs.controller, {
      resources: { infra: 'aws/us-east-1', cpus: '4+' },
      autostop: { idleMinutes: 30, down: true },
      pollIntervalSeconds: 0.5,
    });
    assert.deepEqual(c.warnings, []);
  });

  test('autostop: false never stops; the other SkyPilot forms', () => {
    assert.equal(cfg('jobs:\n  controller:\n    autostop: false\n').jobs.controller.autostop, null);
    assert.deepEqual(cfg('jobs:\n  controller:\n    autostop: 2h\n').jobs.controller.autostop, {
      idleMinutes: 120,
      down: false,
    });
    assert.deepEqual(cfg('jobs:\n  controller:\n    autostop: 15\n').jobs.controller.autostop, {
      idleMinutes: 15,
      down: false,
    });
    // Null is "not given": the default.
    assert.deepEqual(cfg('jobs:\n  controller:\n    autostop:\n').jobs.controller.autostop, {
      idleMinutes: 10,
      down: false,
    });
  });

  test('resources.autostop wins over jobs.controller.autostop, which then warns (as SkyPilot does)', () => {
    const c = cfg(
      'jobs:\n  controller:\n    autostop: 30\n    resources:\n      autostop: {idle_minutes: 5, down: true}\n',
    );
    assert.deepEqual(c.jobs.controller.autostop, { idleMinutes: 5, down: true });
    assert.deepEqual(c.warnings, [
      'c.yaml:3:5: jobs.controller.autostop: ignored; jobs.controller.resources.autostop is also set and wins, as in SkyPilot',
    ]);
    assert.equal(
      cfg('jobs:\n  controller:\n    resources: {autostop: false}\n').jobs.controller.autostop,
      null,
    );
    assert.equal(
      error('jobs:\n  controller:\n    resources:\n      autostop: soon\n'),
      'c.yaml:4:17: jobs.controller.resources.autostop: expected true, false, idle minutes like 10 or "10m"/"2h", or {idle_minutes: 10, down: true}, got "soon"',
    );
  });

  test('the SkyPilot keys skyhop does not honour: a warning each, in file order', () => {
    const c = cfg(
      [
        'jobs:',
        '  bucket: s3://my-bucket',
        '  force_disable_cloud_bucket: true',
        '  status_check: {min_retries: 3}',
        '  controller:',
        '    consolidation_mode: true',
        '    controller_logs_gc_retention_hours: 24',
        '    task_logs_gc_retention_hours: 24',
        '',
      ].join('\n'),
    );
    assert.deepEqual(c.warnings, [
      "c.yaml:2:3: jobs.bucket: ignored; skyhop's managed jobs do not read it",
      "c.yaml:3:3: jobs.force_disable_cloud_bucket: ignored; skyhop's managed jobs do not read it",
      "c.yaml:4:3: jobs.status_check: ignored; skyhop's jobs controller checks each job every jobs.controller.poll_interval_seconds",
      "c.yaml:6:5: jobs.controller.consolidation_mode: ignored; skyhop's jobs controller has no consolidation mode",
      'c.yaml:7:5: jobs.controller.controller_logs_gc_retention_hours: ignored; skyhop does not garbage-collect managed job logs',
      'c.yaml:8:5: jobs.controller.task_logs_gc_retention_hours: ignored; skyhop does not garbage-collect managed job logs',
    ]);
  });

  test('typos in keys: the nearest key at that level', () => {
    assert.equal(
      error('jobs:\n  controler:\n    resources: {}\n'),
      "c.yaml:2:3: jobs: unknown setting 'controler' (not a SkyPilot config key) (did you mean 'controller'?)",
    );
    assert.equal(
      error('jobs:\n  controller:\n    autostp: 5\n'),
      "c.yaml:3:5: jobs.controller: unknown setting 'autostp' (not a SkyPilot config key) (did you mean 'autostop'?)",
    );
    assert.equal(
      error('jobs:\n  controller:\n    pol_interval_seconds: 5\n'),
      "c.yaml:3:5: jobs.controller: unknown setting 'pol_interval_seconds' (not a SkyPilot config key) (did you mean 'poll_interval_seconds'?)",
    );
    assert.equal(
      error('jobz:\n  controller: {}\n'),
      "c.yaml:1:1: unknown setting 'jobz' (not a SkyPilot config key) (did you mean 'jobs'?)",
    );
  });

  test('bad values at the value', () => {
    assert.equal(
      error('jobs:\n  controller:\n    poll_interval_seconds: 0\n'),
      'c.yaml:3:28: jobs.controller.poll_interval_seconds: expected a number of seconds above 0, like 1 or 0.5, got 0',
    );
    assert.match(error('jobs:\n  controller:\n    poll_interval_seconds: soon\n'), /3:28: .*got "soon"$/);
    assert.equal(
      error('jobs:\n  controller:\n    autostop: {idle_minutes: -1}\n'),
      'c.yaml:3:15: jobs.controller.autostop: autostop.idle_minutes: expected whole minutes like 10, got -1',
    );
    assert.equal(
      error('jobs:\n  controller:\n    resources: [cpus]\n'),
      "c.yaml:3:16: jobs.controller.resources: expected a mapping of resource fields (infra, cpus, ...), as a task's resources:, got a list",
    );
    assert.equal(
      error('jobs:\n  controller: 3\n'),
      'c.yaml:2:15: jobs.controller: expected a mapping of jobs controller settings (resources, autostop, ...), got 3',
    );
    assert.equal(
      error('jobs: [controller]\n'),
      'c.yaml:1:7: jobs: expected a mapping of managed jobs settings (controller, ...), got a list',
    );
  });

  test("a task's config: cannot set jobs (SkyPilot does not let it); effectiveConfig keeps the file's", () => {
    const base = cfg('jobs:\n  controller:\n    resources: {cpus: 2}\n    poll_interval_seconds: 3\n');
    const eff = effectiveConfig({ config: { docker: { runOptions: ['--x'] } } }, base);
    assert.deepEqual(eff.jobs, base.jobs);
    assert.equal(
      eff.jobs.controller.resources,
      base.jobs.controller.resources,
      'the same mapping, not a copy',
    );
  });
});
