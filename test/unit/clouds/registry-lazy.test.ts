// Importing the registry and asking which clouds are enabled parses no catalog: the catalog module writes
// a parsed cache under $SKYHOP_HOME/cache/catalogs the first time it parses one, so that folder shows it.
// (Its own process: node's test runner runs each file separately, so nothing else loaded a catalog here.)
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { sandbox } from './helpers.js';

const sb = sandbox();
after(() => sb.restore());

test('catalogs load on first use, not on import or credential checks', async () => {
  const parsed = join(process.env.SKYHOP_HOME!, 'cache', 'catalogs');
  const { allClouds, enabledClouds, getCloud } = await import('../../../src/clouds/registry.js');
  allClouds();
  await enabledClouds();
  getCloud('gcp').features;
  assert.equal(existsSync(parsed), false, 'no catalog parsed yet');
  assert.equal(getCloud('aws').catalog().cloud, 'aws');
  assert.deepEqual(
    readdirSync(parsed).map((f) => f.split('.')[0]),
    ['aws'],
    'only the catalog asked for',
  );
});
