/**
 * The failover loop (src/provision/failover.ts) and its one attempt function, against a SCRIPTED
 * cloud (scripted-cloud.ts: a fake cloud, because the cloud is this unit's collaborator and must fail
 * on cue; its catalog, the optimizer, the journal and the nodes are real). Every test ends by checking
 * that no journal intent is left open: an intent is resolved on every path.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import Database from 'better-sqlite3';
import { ProvisionError, ProvisioningUnavailableError } from '../../../src/clouds/errors.js';
import type { Dag } from '../../../src/core/task.js';
import {
  type ProvisionRequest,
  plannedPlaces,
  provisionWithFailover,
  recordedPlace,
} from '../../../src/provision/failover.js';
import { planLaunch } from '../../../src/sdk/plan.js';
import { openStore, type Store } from '../../../src/state/index.js';
import { CloudError, InterruptedError, UserError } from '../../../src/util/errors.js';
import { ScriptedApiError, ScriptedCloud, scriptedDag } from './scripted-cloud.js';

let root: string;
let store: Store;
let saved: string | undefined;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'skyhop-failover-'));
  saved = process.env.SKYHOP_HOME;
  process.env.SKYHOP_HOME = join(root, 'home');
  store = openStore();
});
afterEach(async () => {
  assert.deepEqual(
    store.openIntents().map((i) => i.id),
    [],
    'every journal intent is resolved',
  );
  store.close();
  if (saved === undefined) delete process.env.SKYHOP_HOME;
  else process.env.SKYHOP_HOME = saved;
  rmSync(root, { recursive: true, force: true });
});

/** Every intent ever journaled, oldest first, with its outcome. */
function intents(): Array<{ cloud: string; zone: string | null; outcome: string | null }> {
  const db = new Database(store.path, { readonly: true });
  try {
    return db.prepare('SELECT cloud, zone, outcome FROM intents ORDER BY id').all() as Array<{
      cloud: string;
      zone: string | null;
      outcome: string | null;
    }>;
  } finally {
    db.close();
  }
}

function request(
  cluster: string,
  clouds: ScriptedCloud[],
  steps: string[],
  over: Partial<ProvisionRequest> = {},
  dag: Dag = scriptedDag(),
): ProvisionRequest {
  return {
    cluster,
    store,
    next: plannedPlaces({
      cluster,
      numNodes: 1,
      clouds,
      plan: (blocklist) => planLaunch({ dag, clouds, blocklist }),
    }),
    events: { onStep: (m) => steps.push(m) },
    backoffMs: { initial: 1, max: 2 },
    ...over,
  };
}

const noCapacity = () => new ScriptedApiError('NoCapacity', 'no capacity in this zone');
const quota = () => new ScriptedApiError('RegionQuota', 'region quota exceeded');
const runs = (c: ScriptedCloud) => c.calls.filter((x) => x.op === 'run');

test('a launch that succeeds at once: one intent, resolved created; the spec carries labels, ports and disk', async () => {
  const cloud = new ScriptedCloud();
  const steps: string[] = [];
  const r = await provisionWithFailover(request('ok1', [cloud], steps));
  assert.equal(r.zone, 'r1a');
  assert.equal(r.nodes.length, 1);
  assert.deepEqual(r.place.spec.labels, { team: 'ml', project: 'skyhop' });
  assert.deepEqual(runs(cloud)[0].spec, r.place.spec);
  assert.deepEqual(r.place.spec.ports, ['8080']);
  assert.equal(r.place.spec.diskSize, 64);
  assert.deepEqual(intents(), [{ cloud: 'scripted', zone: 'r1a', outcome: 'created' }]);
  assert.match(steps[0], /^Launching ok1 on scripted\/r1\/r1a \(s\.small, \$1\.00\/h per node\)\.$/);
  await cloud.provider('r1').terminateInstances('ok1');
});

test("the cloud's own errors block what it says (zone, then region) and the next place is planned", async () => {
  const cloud = new ScriptedCloud();
  cloud.script = [{ fail: noCapacity() }, { fail: quota() }, 'ok'];
  const steps: string[] = [];
  const r = await provisionWithFailover(request('fo1', [cloud], steps));
  assert.deepEqual(
    runs(cloud).map((c) => c.spec?.zone),
    ['r1a', 'r1b', 'r2a'],
  );
  assert.equal(r.zone, 'r2a');
  assert.deepEqual(
    r.attempts.map((a) => [a.place, a.outcome, a.scope]),
    [
      ['scripted/r1/r1a', 'blocked', 'zone'],
      ['scripted/r1/r1b', 'blocked', 'region'],
      ['scripted/r2/r2a', 'ok', undefined],
    ],
  );
  assert.deepEqual(
    intents().map((i) => i.outcome),
    ['cleaned', 'cleaned', 'created'],
  );
  assert.equal(cloud.classified, 2, 'the cloud classified its own two errors');
  assert.ok(steps.some((s) => s.includes('blocking scripted/r1/r1a and trying the next place')));
  await cloud.provider('r2').terminateInstances('fo1');
});

test("a provider's ProvisionError carries its scope; the cloud's classifier is not asked", async () => {
  const cloud = new ScriptedCloud();
  cloud.script = [{ fail: new ProvisionError('region', 'boot_timeout', 'the node never came up') }, 'ok'];
  const r = await provisionWithFailover(request('pe1', [cloud], []));
  assert.equal(r.zone, 'r2a', 'the whole region r1 was blocked');
  assert.equal(cloud.classified, 0);
  assert.deepEqual(r.attempts[0].scope, 'region');
  await cloud.provider('r2').terminateInstances('pe1');
});

test('generic errors are classified once, in the loop: UserError and bugs are fatal, a reset is retried', async () => {
  // A UserError: thrown as it is, at once.
  const c1 = new ScriptedCloud();
  const bad = new UserError('disk_size 0 is too small');
  c1.script = [{ fail: bad }];
  await assert.rejects(provisionWithFailover(request('g1', [c1], [])), (e) => e === bad);
  assert.equal(runs(c1).length, 1);

  // A bug (TypeError): one clear CloudError, no other place tried.
  const c2 = new ScriptedCloud();
  c2.script = [{ fail: new TypeError("Cannot read properties of undefined (reading 'id')") }];
  await assert.rejects(
    provisionWithFailover(request('g2', [c2], [])),
    (e) =>
      e instanceof CloudError &&
      /^Failed to launch g2 on scripted\/r1\/r1a: Cannot read properties/.test(e.message),
  );
  assert.equal(runs(c2).length, 1);

  // A connection reset is no API error of the cloud's (it says undefined): retried at the same place.
  const c3 = new ScriptedCloud();
  const steps: string[] = [];
  c3.script = [{ fail: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) }, 'ok'];
  const r = await provisionWithFailover(request('g3', [c3], steps));
  assert.deepEqual(
    runs(c3).map((c) => c.spec?.zone),
    ['r1a', 'r1a'],
  );
  assert.equal(r.attempts[0].outcome, 'retry');
  assert.ok(steps.some((s) => /transient; retrying in/.test(s)));
  assert.equal(c1.classified + c2.classified, 0, 'fatal cases never reach a cloud classifier');
  assert.equal(c3.classified, 1);
  assert.deepEqual(
    intents().map((i) => i.outcome),
    ['cleaned', 'cleaned', 'cleaned', 'created'],
  );
  await c3.provider('r1').terminateInstances('g3');
});

test('a cloud whose provisioning is not built is blocked whole; the next cloud is tried', async () => {
  const alpha = new ScriptedCloud('alpha', 1);
  const beta = new ScriptedCloud('beta', 3);
  alpha.script = [{ fail: new ProvisioningUnavailableError('Alpha') }];
  const r = await provisionWithFailover(request('pu1', [alpha, beta], []));
  assert.equal(r.cloud, beta);
  assert.equal(r.zone, 'r1a');
  assert.equal(runs(alpha).length, 1, 'no other place of alpha was tried');
  assert.deepEqual(
    intents().map((i) => [i.cloud, i.outcome]),
    [
      ['alpha', 'cleaned'],
      ['beta', 'created'],
    ],
  );
  await beta.provider('r1').terminateInstances('pu1');
});

test('a partial creation is removed before the next place is tried', async () => {
  const cloud = new ScriptedCloud();
  cloud.script = [{ fail: quota(), partial: true }, 'ok'];
  const r = await provisionWithFailover(request('pc1', [cloud], []));
  assert.deepEqual(
    cloud.calls.filter((c) => c.op !== 'query').map((c) => `${c.op}@${c.region}`),
    ['run@r1', 'terminate@r1', 'run@r2'],
  );
  assert.equal(r.nodes.length, 1);
  assert.deepEqual(
    intents().map((i) => i.outcome),
    ['cleaned', 'created'],
  );
  await cloud.provider('r2').terminateInstances('pc1');
});

test('a cleanup that fails: the intent is resolved failed and the user is told how to finish it', async () => {
  const cloud = new ScriptedCloud();
  cloud.script = [{ fail: noCapacity(), partial: true }, 'ok'];
  cloud.terminateFailures = 1;
  const steps: string[] = [];
  const r = await provisionWithFailover(request('cf1', [cloud], steps));
  assert.equal(r.zone, 'r1b');
  assert.deepEqual(
    intents().map((i) => i.outcome),
    ['failed', 'created'],
  );
  assert.ok(
    steps.some(
      (s) =>
        s ===
        'Could not clean up the partial launch of cf1 on scripted/r1/r1a: the API timed out while deleting. Run `skyhop down cf1`.',
    ),
    steps.join('\n'),
  );
  await cloud.provider('r1').terminateInstances('cf1');
});

test('Ctrl-C during a create: what it made is removed, the intent resolved, InterruptedError thrown', async () => {
  const cloud = new ScriptedCloud();
  const ac = new AbortController();
  cloud.script = [{ fail: new InterruptedError(), partial: true, before: () => ac.abort() }];
  await assert.rejects(
    provisionWithFailover(request('ic1', [cloud], [], { signal: ac.signal })),
    (e) =>
      e instanceof InterruptedError &&
      /what ic1 had created on scripted\/r1\/r1a was removed/.test(e.message),
  );
  assert.deepEqual(await cloud.provider('r1').queryInstances('ic1'), []);
  assert.deepEqual(
    intents().map((i) => i.outcome),
    ['cleaned'],
  );
  assert.equal(cloud.classified, 0);
});

test('every place failed: one CloudError listing the attempts; --retry-until-up starts over instead', async () => {
  const cloud = new ScriptedCloud();
  cloud.script = [{ fail: new ScriptedApiError('AccountBanned', 'account suspended') }];
  await assert.rejects(
    provisionWithFailover(request('ev1', [cloud], [])),
    (e) =>
      e instanceof CloudError &&
      e.message === 'Failed to provision ev1: every place that fits was tried.' &&
      e.details[0] === 'scripted/r1/r1a (s.small): account suspended',
  );

  const again = new ScriptedCloud();
  again.script = [{ fail: new ScriptedApiError('AccountBanned', 'account suspended') }, 'ok'];
  const steps: string[] = [];
  const r = await provisionWithFailover(request('ev2', [again], steps, { retryUntilUp: true }));
  assert.equal(r.zone, 'r1a');
  assert.ok(
    steps.some((s) => /^Every option failed; retrying all of them in \d+ s \(--retry-until-up\)\.$/.test(s)),
  );
  assert.deepEqual(
    intents().map((i) => i.outcome),
    ['cleaned', 'cleaned', 'created'],
  );
  await again.provider('r1').terminateInstances('ev2');
});

test('onAttempt refusing the place (a name too long for the cloud): the cloud is never asked, the intent is resolved', async () => {
  const cloud = new ScriptedCloud();
  const refusal = new UserError('cluster name too long for SCRIPTED');
  await assert.rejects(
    provisionWithFailover(
      request('oa1', [cloud], [], {
        onAttempt: () => {
          throw refusal;
        },
      }),
    ),
    (e) => e === refusal,
  );
  assert.equal(runs(cloud).length, 0);
  assert.deepEqual(
    intents().map((i) => i.outcome),
    ['cleaned'],
  );
});

test('a known cluster is tried only at its recorded place, and a failed attempt keeps its nodes', async () => {
  const cloud = new ScriptedCloud();
  const first = await provisionWithFailover(request('kn1', [cloud], []));
  const spec = first.place.spec;
  cloud.script = [{ fail: noCapacity() }];
  await assert.rejects(
    provisionWithFailover({
      cluster: 'kn1',
      store,
      next: recordedPlace(cloud, spec, 1),
      keepOnFailure: true,
      backoffMs: { initial: 1, max: 2 },
    }),
    (e) => e instanceof CloudError && /every place that fits was tried/.test(e.message),
  );
  assert.deepEqual(
    runs(cloud).map((c) => c.spec?.zone),
    ['r1a', 'r1a'],
    'no other place',
  );
  assert.equal(cloud.calls.filter((c) => c.op === 'terminate').length, 0, 'nothing terminated');
  assert.equal((await cloud.provider('r1').queryInstances('kn1')).length, 1, 'its node is still there');
  assert.deepEqual(
    intents().map((i) => i.outcome),
    ['created', 'failed'],
  );
  assert.deepEqual(runs(cloud)[1].spec, spec, 'the recorded spec, labels included');
  await cloud.provider('r1').terminateInstances('kn1');
});
