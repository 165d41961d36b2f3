/** A team server's view of the store for one user (src/state/scoped.ts): the controllers' names. */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { openStore, type Store } from '../../../src/state/index.js';
import { ForeignNameError, scopeStore } from '../../../src/state/scoped.js';
import { cluster, tempHome } from './helpers.js';

let t: ReturnType<typeof tempHome>;
let store: Store;
beforeEach(() => {
  t = tempHome();
  store = openStore(t.home);
});
afterEach(() => {
  store.close?.();
  t.cleanup();
});

test("a user cannot take another user's controller name (it would block their jobs launch / serve up)", () => {
  const mallory = scopeStore(store, { name: 'mallory', role: 'user' });
  for (const name of [
    'skyhop-serve-controller-bob',
    'skyhop-jobs-controller-bob',
    'skyhop-serve-controller',
  ]) {
    assert.throws(() => mallory.upsertCluster(cluster(name)), ForeignNameError, name);
    assert.throws(
      () =>
        mallory.journalIntent({
          cluster: name,
          cloud: 'local',
          region: 'local',
          zone: null,
          op: 'launch',
        } as never),
      ForeignNameError,
      name,
    );
    assert.equal(store.getCluster(name), null);
  }
  // Their own controllers' names, and other names, are theirs to take.
  mallory.upsertCluster(cluster('skyhop-serve-controller-mallory'));
  mallory.upsertCluster(cluster('skyhop-serve-controllers'));
  assert.equal(store.ownerOf('cluster', 'skyhop-serve-controller-mallory'), 'mallory');
  const bob = scopeStore(store, { name: 'bob', role: 'user' });
  bob.upsertCluster(cluster('skyhop-serve-controller-bob'));
  assert.equal(store.ownerOf('cluster', 'skyhop-serve-controller-bob'), 'bob');
});

test("the state's list of controller names is the SDK's (state/ cannot import sdk/, so it spells them)", async () => {
  const { CONTROLLER_CLUSTERS } = await import('../../../src/state/scoped.js');
  const { CONTROLLER_KINDS } = await import('../../../src/sdk/controller.js');
  assert.deepEqual([...CONTROLLER_CLUSTERS].sort(), CONTROLLER_KINDS.map((k) => k.cluster).sort());
});
