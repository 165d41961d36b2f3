/**
 * `status --refresh` (src/sdk/lifecycle.ts refresh) decides from facts: each cluster's lock (a
 * second, real process holds it), the journal's open intents and whether the processes that wrote
 * them still run (real processes, alive or exited), and the cloud's answer (the real local cloud).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import Database from 'better-sqlite3';
import type { ClusterSpec } from '../../../src/core/cluster.js';
import { refresh } from '../../../src/sdk/lifecycle.js';
import { openStore, type Store } from '../../../src/state/index.js';
import { processStartTime } from '../../../src/state/process.js';
import { spawnFixture } from '../state/helpers.js';

let root: string;
let home: string;
let store: Store;
const saved = { SKYHOP_HOME: process.env.SKYHOP_HOME, HOME: process.env.HOME };
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'skyhop-refresh-'));
  home = join(root, 'home');
  process.env.SKYHOP_HOME = home;
  process.env.HOME = root;
  store = openStore();
});
afterEach(() => {
  store.close();
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  rmSync(root, { recursive: true, force: true });
});

function spec(cluster: string): ClusterSpec {
  return {
    cluster,
    numNodes: 1,
    instanceType: 'local',
    region: 'local',
    zone: null,
    useSpot: false,
    accelerators: null,
  };
}

/** An INIT local cluster just recorded by a launch (launchedAt: now). */
function initCluster(name: string): void {
  const now = Date.now();
  store.upsertCluster({
    name,
    cloud: 'local',
    region: 'local',
    zone: null,
    status: 'INIT',
    resources: {
      instanceType: 'local',
      accelerators: null,
      useSpot: false,
      vcpus: 2,
      memoryGiB: 4,
      numNodes: 1,
    },
    nodes: [],
    launchedAt: now,
    statusUpdatedAt: now,
    hourlyPrice: 0,
    autostop: null,
    headIp: null,
    spec: spec(name),
  });
}

/** A journal intent written by `pid` (with its start time, as the store records a writer). */
function intentOf(cluster: string, pid: number): number {
  const id = store.journalIntent({
    cluster,
    cloud: 'local',
    region: 'local',
    zone: null,
    numNodes: 1,
    spec: spec(cluster),
  });
  const db = new Database(store.path);
  try {
    db.prepare('UPDATE intents SET pid = ?, pid_start = ? WHERE id = ?').run(pid, processStartTime(pid), id);
  } finally {
    db.close();
  }
  return id;
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  assert.ok(r.pid);
  return r.pid;
}

test('a launch that died a moment ago left an INIT record and no instances: forgotten at once (no clock heuristic)', async () => {
  initCluster('crashed');
  intentOf('crashed', deadPid());
  const changes = await refresh(store);
  assert.deepEqual(
    changes.map((c) => [c.cluster, c.from, c.to]),
    [['crashed', 'INIT', null]],
  );
  assert.match(changes[0].note, /a launch that did not finish \(pid \d+\) left no instances/);
  assert.equal(store.getCluster('crashed'), null);
  assert.deepEqual(store.openIntents(), []);
});

test('a cluster locked by another live process is skipped, with a note naming it', async () => {
  initCluster('busy');
  const holder = spawnFixture('lock.ts', [home, 'busy', 'hold']);
  try {
    await holder.waitFor('LOCKED');
    const changes = await refresh(store, ['busy']);
    assert.equal(changes.length, 1);
    assert.match(
      changes[0].note,
      new RegExp(`^skipped: in use by pid ${holder.child.pid} \\(fixture hold busy\\)$`),
    );
    assert.equal(store.getCluster('busy')?.status, 'INIT', 'untouched');
  } finally {
    holder.child.stdin?.write('release\n');
    await holder.exited;
  }
  // Released: now it is refreshed (no instances, no live launch: forgotten).
  const changes = await refresh(store, ['busy']);
  assert.deepEqual(
    changes.map((c) => c.to),
    [null],
  );
});

test('an open intent of a live process is a launch in progress: its cluster and its orphan intents are left alone', async () => {
  const child = spawnFixture('lock.ts', [home, 'unrelated', 'hold']);
  try {
    await child.waitFor('LOCKED');
    const pid = child.child.pid!;
    initCluster('launching');
    intentOf('launching', pid);
    const orphan = intentOf('orphan', pid);
    const deadOrphan = intentOf('gone-orphan', deadPid());
    const changes = await refresh(store);
    const byName = Object.fromEntries(changes.map((c) => [c.cluster, c]));
    assert.match(byName.launching.note, new RegExp(`^skipped: pid ${pid} is launching it$`));
    assert.ok(store.getCluster('launching'));
    const open = store.openIntents().map((i) => i.id);
    assert.ok(open.includes(orphan), 'the live launch keeps its intent');
    assert.ok(!open.includes(deadOrphan), 'a dead launch that left nothing is resolved');
  } finally {
    child.child.stdin?.write('release\n');
    await child.exited;
  }
});
