/**
 * The config file's `serve:` section: `serve.controller.resources` / `autostop` (as the jobs
 * controller's) and skyhop's timings of the serve controller, their defaults, and errors at
 * file:line:col.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfigText } from '../../../src/config/index.js';
import { emptyConfig, SERVE_CONTROLLER_DEFAULTS } from '../../../src/config/config.js';
import { controllerResources } from '../../../src/task/controller.js';
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

describe('serve.controller in the config file', () => {
  test("defaults: SkyPilot's timings (probe every 10 s, decide every 20 s, a 60 s QPS window), autostop after 10 idle minutes", () => {
    assert.deepEqual(SERVE_CONTROLLER_DEFAULTS, {
      probeIntervalSeconds: 10,
      decisionIntervalSeconds: 20,
      qpsWindowSeconds: 60,
    });
    const defaults = {
      controller: {
        resources: null,
        autostop: { idleMinutes: 10, down: false },
        ...SERVE_CONTROLLER_DEFAULTS,
      },
    };
    assert.deepEqual(emptyConfig(null).serve, defaults);
    assert.deepEqual(cfg('serve:\n').serve, defaults);
    assert.deepEqual(cfg('serve: {controller: {}}\n').warnings, []);
  });

  test('timings, resources and autostop read; resources checked as a task resources (no ports)', () => {
    const c = cfg(
      [
        'serve:',
        '  controller:',
        '    resources:',
        '      cloud: local',
        '    autostop: 30m',
        '    probe_interval_seconds: 0.5',
        '    decision_interval_seconds: 1',
        '    qps_window_seconds: 3',
        '',
      ].join('\n'),
    );
    assert.deepEqual(c.serve.controller, {
      resources: { cloud: 'local' },
      autostop: { idleMinutes: 30, down: false },
      probeIntervalSeconds: 0.5,
      decisionIntervalSeconds: 1,
      qpsWindowSeconds: 3,
    });
    assert.deepEqual(
      controllerResources(c, undefined, [], 'serve')?.map((r) => r.cloud),
      ['local'],
    );
    const ports = cfg('serve:\n  controller:\n    resources:\n      ports: 8080\n');
    assert.throws(
      () => controllerResources(ports, undefined, [], 'serve'),
      /c\.yaml:4:7: serve\.controller\.resources\.ports: the serve controller's resources take no ports/,
    );
  });

  test('mistakes: a misspelt key with the nearest one, a bad number, high_availability warned', () => {
    assert.match(
      error('serve:\n  controller:\n    probe_interval_second: 1\n'),
      /c\.yaml:3:5: serve\.controller: unknown setting 'probe_interval_second' .*did you mean 'probe_interval_seconds'/,
    );
    assert.match(
      error('serve:\n  controller:\n    qps_window_seconds: 0\n'),
      /c\.yaml:3:25: serve\.controller\.qps_window_seconds: expected a number of seconds above 0/,
    );
    assert.match(
      cfg('serve:\n  controller:\n    high_availability: true\n').warnings.join('\n'),
      /c\.yaml:3:5: serve\.controller\.high_availability: ignored; skyhop's serve controller has no high-availability mode/,
    );
  });
});
