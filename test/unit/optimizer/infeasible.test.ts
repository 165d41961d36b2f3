/** Requests nothing fits: one line naming the task and request, details with the nearest offers. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Cloud } from '../../../src/clouds/types.js';
import type { Resources } from '../../../src/core/task.js';
import { UserError } from '../../../src/util/errors.js';
import { catalogClouds, mkTask, REPO, tempHome } from './helpers.js';

let env: ReturnType<typeof tempHome>;
let clouds: Cloud[];
let optimize: typeof import('../../../src/optimizer/index.js').optimize;

before(async () => {
  env = tempHome();
  clouds = await catalogClouds();
  ({ optimize } = await import('../../../src/optimizer/index.js'));
});
after(() => env.cleanup());

function failure(r: Resources, numNodes = 1): UserError {
  try {
    optimize({ tasks: [mkTask([r], { name: 'big', numNodes })], edges: [] }, { clouds });
  } catch (e) {
    assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
    assert.equal(e.exitCode, 1);
    assert.ok(!e.message.includes('\n'), 'the message is one line');
    return e;
  }
  assert.fail('expected the request to be infeasible');
}

describe('infeasible requests', () => {
  test('a count nobody offers lists the counts each cloud has', () => {
    const e = failure({ useSpot: false, accelerators: { name: 'A100', count: 3 } });
    assert.match(e.message, /^task 'big': nothing fits 3x A100 on aws, gcp, lambda, runpod, fluffycloud; /);
    assert.match(e.message, /skyhop show-gpus A100/);
    const counts = e.details.find((d) => d.startsWith('other counts of A100:'));
    assert.ok(counts, e.details.join('\n'));
    assert.match(counts, /aws 8/);
    assert.match(counts, /lambda 1, 2, 4, 8/);
    assert.match(counts, /gcp 1, 2, 4, 8/);
  });

  test('pinned to a cloud without it: where the same count is offered, with prices', () => {
    const e = failure({ useSpot: false, cloud: 'runpod', accelerators: { name: 'A100', count: 8 } });
    assert.match(e.message, /nothing fits runpod 8x A100 on runpod/);
    const same = e.details.find((d) => d.startsWith('A100:8 is offered:'));
    assert.ok(same, e.details.join('\n'));
    // Prices are the catalogs' cheapest on-demand rows (GCP: VM + its A100s).
    assert.match(same, /aws p4d\.24xlarge \(\$32\.77\/h\)/);
    assert.match(same, /gcp a2-highgpu-8g \(\$19\.42\/h\)/);
    assert.match(same, /lambda gpu_8x_a100 \(\$10\.32\/h\)/);
    assert.match(same, /fluffycloud ff\.gpu\.a100\.8/);
  });

  test('an unknown accelerator suggests close names', () => {
    const e = failure({ useSpot: false, accelerators: { name: 'A1000', count: 1 } });
    assert.match(e.message, /skyhop show-gpus --all/);
    assert.ok(
      e.details.some((d) => /close names: A100\b/.test(d)),
      e.details.join('\n'),
    );
  });

  test('a missing feature is named: spot on Lambda, several nodes on RunPod', () => {
    const spot = failure({ useSpot: true, cloud: 'lambda', accelerators: { name: 'A100', count: 8 } });
    assert.ok(
      spot.details.some((d) => d.includes('lambda (no spot)')),
      spot.details.join('\n'),
    );
    const multi = failure({ useSpot: false, cloud: 'runpod', accelerators: { name: 'H100', count: 8 } }, 2);
    assert.ok(
      multi.details.some((d) => d.includes('runpod cannot run multi-node tasks')),
      multi.details.join('\n'),
    );
  });

  test('a misspelt instance type names the closest one', () => {
    const e = failure({ useSpot: false, instanceType: 'p4d.24xlarg' });
    assert.ok(
      e.details.some((d) => d.includes('closest: p4d.24xlarge')),
      e.details.join('\n'),
    );
  });

  test('the CLI prints the line and its details on stderr and exits 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'skyhop-optinf-'));
    try {
      const file = join(dir, 'big.yaml');
      writeFileSync(file, 'name: big\nresources:\n  accelerators: A100:3\nrun: echo hi\n');
      const r = spawnSync(
        process.execPath,
        ['--import', 'tsx', join(REPO, 'src/cli/main.ts'), 'optimize', file, '--all-clouds'],
        { cwd: REPO, encoding: 'utf8', env: { ...process.env, SKYHOP_HOME: join(dir, 'home'), HOME: dir } },
      );
      assert.equal(r.status, 1, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^error: task 'big' \(big\.yaml\): nothing fits 3x A100 on /m);
      assert.match(r.stderr, /^ {2}other counts of A100: /m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
