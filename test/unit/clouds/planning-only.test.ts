// Issue 9 item 15: a cloud skyhop can only plan for (no 'provision' feature) is never planned on by a
// launch, while optimize still shows it. Lambda keys present: launch must not pick Lambda for A100:8.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { allClouds } from '../../../src/clouds/registry.js';
import { canProvision } from '../../../src/core/features.js';
import { planLaunch, resolveClouds } from '../../../src/sdk/plan.js';
import { UserError } from '../../../src/util/errors.js';
import { type Sandbox, sandbox } from './helpers.js';

let sb: Sandbox;
beforeEach(() => {
  sb = sandbox();
  sb.write('.lambda_cloud/lambda_keys', 'api_key = k\n');
});
afterEach(() => sb.restore());

const A100_8 = {
  tasks: [
    {
      name: 'train',
      numNodes: 1,
      envs: {},
      secrets: {},
      fileMounts: {},
      run: 'true',
      resources: [{ useSpot: false, accelerators: { name: 'A100', count: 8 } }],
      ordered: false,
    },
  ],
  edges: [],
};

describe('planning-only clouds', () => {
  test('declared once, as the absence of the provision feature', () => {
    const only = allClouds()
      .filter((c) => !canProvision(c))
      .map((c) => c.name);
    assert.deepEqual(only, ['gcp', 'lambda', 'runpod']);
  });

  test('launch plans only over clouds it can launch on; optimize still plans over Lambda', async () => {
    const launch = await resolveClouds({}, 'launch');
    assert.deepEqual(
      launch.clouds.map((c) => c.name),
      ['local'],
    );
    const plan = await resolveClouds({}, 'plan');
    assert.deepEqual(
      plan.clouds.map((c) => c.name),
      ['local', 'lambda'],
    );
    const p = await planLaunch({ dag: A100_8 as never, clouds: plan.clouds });
    assert.equal(p.tasks[0].choice.cloud, 'lambda');
    // The launch's plan never lands on Lambda: with only local left, A100:8 fits nowhere.
    await assert.rejects(
      planLaunch({ dag: A100_8 as never, clouds: launch.clouds }),
      (e: unknown) => e instanceof UserError && /nothing fits 8x A100 on local;/.test((e as Error).message),
    );
  });

  test('a task pinned to a planning-only cloud: the launch plan says it is planning only', async () => {
    const launch = await resolveClouds({}, 'launch');
    const pinned = structuredClone(A100_8);
    (pinned.tasks[0].resources[0] as Record<string, unknown>).cloud = 'lambda';
    await assert.rejects(planLaunch({ dag: pinned as never, clouds: launch.clouds }), (e: unknown) => {
      assert.ok(e instanceof UserError);
      const details = (e as UserError).details.join('\n');
      assert.match(
        details,
        /cloud lambda: planning only: skyhop cannot launch on Lambda yet; `skyhop optimize` plans for it/,
      );
      assert.match(details, /offered by aws, gcp \(planning only\), lambda \(planning only\)/);
      return true;
    });
  });

  test('launch --clouds naming a planning-only cloud is a UserError that says so', async () => {
    await assert.rejects(
      resolveClouds({ clouds: 'local,lambda' }, 'launch'),
      (e: unknown) =>
        e instanceof UserError &&
        /^lambda: planning only: skyhop cannot launch on Lambda yet; `skyhop optimize --clouds lambda` plans for it/.test(
          (e as Error).message,
        ),
    );
    // Even without credentials: enabling GCP would not make it launchable.
    await assert.rejects(
      resolveClouds({ clouds: 'gcp' }, 'launch'),
      (e: unknown) => e instanceof UserError && /gcp: planning only/.test((e as Error).message),
    );
    const ok = await resolveClouds({ clouds: 'local' }, 'launch');
    assert.deepEqual(
      ok.clouds.map((c) => c.name),
      ['local'],
    );
  });
});
