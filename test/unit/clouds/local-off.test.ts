/** A team server may turn the local cloud off (SKYHOP_LOCAL_CLOUD=0): not enabled, never planned on. */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { enabledClouds } from '../../../src/clouds/registry.js';
import { resolveClouds } from '../../../src/sdk/plan.js';

afterEach(() => {
  delete process.env.SKYHOP_LOCAL_CLOUD;
});

test('SKYHOP_LOCAL_CLOUD=0: the local cloud is not enabled, and a launch with no other cloud says so', async () => {
  assert.ok((await enabledClouds()).some((c) => c.name === 'local'));
  process.env.SKYHOP_LOCAL_CLOUD = '0';
  assert.ok(!(await enabledClouds()).some((c) => c.name === 'local'));
  await assert.rejects(resolveClouds({ clouds: 'local' }, 'launch'), (e: Error) =>
    /no cloud that can launch is enabled here: `skyhop check`/.test(e.message),
  );
});
