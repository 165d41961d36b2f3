/**
 * The SDK launch (src/sdk/launch.ts) end to end against a SCRIPTED cloud (test/unit/provision/
 * scripted-cloud.ts: a fake cloud, because the cloud is this unit's collaborator and must fail on cue).
 * Around it everything is real: planLaunch and the optimizer, the state store and its journal, nodes
 * that are local sandboxes, the agent bundle (dist/agent.cjs, built here if missing) and the job.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import Database from 'better-sqlite3';
import { launch, relaunchExisting } from '../../../src/sdk/launch.js';
import { openStore, type Store } from '../../../src/state/index.js';
import { packageRoot } from '../../../src/util/package-root.js';
import { CloudError } from '../../../src/util/errors.js';
import { buildAgent } from '../agent/cluster.js';
import { ScriptedApiError, ScriptedCloud, scriptedDag } from '../provision/scripted-cloud.js';

let root: string;
let store: Store;
const saved = { SKYHOP_HOME: process.env.SKYHOP_HOME, HOME: process.env.HOME };
const clusters: Array<[ScriptedCloud, string]> = [];

before(async () => {
  // The launch installs the real agent bundle; `npm test` builds it first, a lone run builds it here.
  const dist = join(packageRoot(), 'dist');
  if (!existsSync(join(dist, 'agent.cjs'))) await buildAgent(dist);
});
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'skyhop-sdk-launch-'));
  process.env.SKYHOP_HOME = join(root, 'home');
  process.env.HOME = root;
  store = openStore();
});
afterEach(async () => {
  for (const [cloud, name] of clusters.splice(0)) await cloud.provider('r1').terminateInstances(name);
  assert.deepEqual(
    store.openIntents().map((i) => i.id),
    [],
    'every journal intent is resolved',
  );
  store.close();
  rmSync(root, { recursive: true, force: true });
});
after(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

function outcomes(): Array<string | null> {
  const db = new Database(store.path, { readonly: true });
  try {
    return (
      db.prepare('SELECT outcome FROM intents ORDER BY id').all() as Array<{ outcome: string | null }>
    ).map((r) => r.outcome);
  } finally {
    db.close();
  }
}

const backoffMs = { initial: 1, max: 2 };
const noCapacity = () => new ScriptedApiError('NoCapacity', 'no capacity in this zone');
const LABELS = { team: 'ml', project: 'skyhop' };

/** A launch the test cleans up after. */
async function launchOn(cloud: ScriptedCloud, name: string, o: Partial<Parameters<typeof launch>[0]> = {}) {
  clusters.push([cloud, name]);
  let out = '';
  const r = await launch({
    dag: scriptedDag(),
    cluster: name,
    clouds: [cloud],
    store,
    backoffMs,
    onOutput: (c) => {
      out += c;
    },
    ...o,
  });
  return { r, out };
}

test('a new launch fails over to the next planned place, records the whole spec and runs the job', async () => {
  const cloud = new ScriptedCloud();
  cloud.script = [{ fail: noCapacity() }, 'ok'];
  const { r, out } = await launchOn(cloud, 'sdk1');
  assert.equal(r.reused, false);
  assert.equal(r.outcome?.status, 'SUCCEEDED');
  assert.match(out, /hello from 0/);
  const rec = store.getCluster('sdk1')!;
  assert.equal(rec.status, 'UP');
  assert.equal(rec.zone, 'r1b');
  assert.deepEqual(rec.spec?.labels, LABELS);
  assert.deepEqual(rec.spec?.ports, ['8080']);
  assert.equal(rec.spec?.diskSize, 64);
  assert.deepEqual(outcomes(), ['cleaned', 'created']);
});

test('relaunch of a known cluster goes through the attempt function with its recorded spec: labels kept', async () => {
  const cloud = new ScriptedCloud();
  await launchOn(cloud, 'sdk2', { detach: true });
  // Its node goes away behind skyhop's back (a preemption, a deletion in the console).
  await cloud.provider('r1').terminateInstances('sdk2');
  // Launched again by name with a task that asks for none of the first one's extras.
  const plain = scriptedDag(
    { labels: undefined, ports: undefined, diskSize: undefined },
    { run: 'echo again' },
  );
  const { r, out } = await launchOn(cloud, 'sdk2', { dag: plain });
  assert.equal(r.reused, true);
  assert.equal(r.outcome?.status, 'SUCCEEDED');
  assert.match(out, /again/);
  const runs = cloud.calls.filter((c) => c.op === 'run');
  assert.equal(runs.length, 2);
  assert.deepEqual(runs[1].spec, runs[0].spec, 'the relaunch asks for exactly what the launch did');
  assert.deepEqual(runs[1].spec?.labels, LABELS);
  assert.deepEqual(outcomes(), ['created', 'created']);
  assert.equal(store.getCluster('sdk2')!.status, 'UP');
});

test('a relaunch that fails: its intent is resolved, the record stays, one clear error', async () => {
  const cloud = new ScriptedCloud();
  await launchOn(cloud, 'sdk3', { detach: true });
  await cloud.provider('r1').terminateInstances('sdk3');
  cloud.script = [{ fail: noCapacity(), partial: true }];
  await assert.rejects(
    launchOn(cloud, 'sdk3', { detach: true }),
    (e) =>
      e instanceof CloudError &&
      e.message === 'Failed to provision sdk3: every place that fits was tried.' &&
      e.details[0] === 'scripted/r1/r1a (s.small): no capacity in this zone',
  );
  // Nothing was there before the relaunch, so what it created was removed.
  assert.deepEqual(await cloud.provider('r1').queryInstances('sdk3'), []);
  assert.deepEqual(outcomes(), ['created', 'cleaned']);
  assert.ok(store.getCluster('sdk3'), 'the record stays for `down` and a later launch');
});

test('start of a stopped cluster is journaled like a launch; a failed start keeps the stopped nodes', async () => {
  const cloud = new ScriptedCloud();
  await launchOn(cloud, 'sdk4', { detach: true });
  const provider = cloud.provider('r1');
  assert.ok(provider.stopInstances);
  await provider.stopInstances('sdk4');
  store.setClusterStatus('sdk4', 'STOPPED');

  cloud.script = [{ fail: new ScriptedApiError('RegionQuota', 'region quota exceeded') }];
  await assert.rejects(
    relaunchExisting(store, store.getCluster('sdk4')!, { clouds: [cloud], backoffMs }),
    (e) => e instanceof CloudError,
  );
  assert.equal(cloud.calls.filter((c) => c.op === 'terminate').length, 0, 'its nodes (and disks) are kept');
  assert.deepEqual(
    (await cloud.provider('r1').queryInstances('sdk4')).map((n) => n.status),
    ['stopped'],
  );
  assert.equal(store.getCluster('sdk4')!.status, 'STOPPED');

  const up = await relaunchExisting(store, store.getCluster('sdk4')!, { clouds: [cloud], backoffMs });
  assert.equal(up.status, 'UP');
  assert.deepEqual(
    cloud.calls.filter((c) => c.op === 'run' || c.op === 'start').map((c) => c.op),
    ['run', 'start', 'start'],
  );
  assert.deepEqual(outcomes(), ['created', 'failed', 'created']);
});
