import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { openStore, type Store } from '../../../src/state/index.js';
import { BACKENDS, backendSuite, type StateEnv, tempState } from './backends.js';
import { cluster } from './helpers.js';

const H = 3_600_000;
const T0 = 1_700_000_000_000;
const meta = { cloud: 'aws', region: 'us-east-1', resources: '2x m5.large' };

let t: StateEnv;
let s: Store;

function near(actual: number, expected: number) {
  assert.ok(Math.abs(actual - expected) < 1e-9, `${actual} != ${expected}`);
}

for (const backend of BACKENDS) {
  describe(backend, backendSuite(backend), () => {
    beforeEach(async () => {
      t = await tempState(backend);
      s = openStore();
    });
    afterEach(() => {
      s.close();
      t.cleanup();
    });

    test('launch, stop after 1 h, start, down after 30 min: billed 1.5 h', () => {
      s.recordEvent('dev', 'launch', T0, 0.5, 2, meta);
      s.recordEvent('dev', 'stop', T0 + H, 0.5, 2);
      s.recordEvent('dev', 'start', T0 + 5 * H, 0.5, 2);
      s.recordEvent('dev', 'down', T0 + 5.5 * H, 0.5, 2);
      const rows = s.costReport(T0 + 100 * H);
      assert.deepEqual(rows, [
        {
          cluster: 'dev',
          cloud: 'aws',
          region: 'us-east-1',
          resources: '2x m5.large',
          status: 'terminated',
          launchedAt: T0,
          endedAt: T0 + 5.5 * H,
          durationMs: 1.5 * H,
          cost: 1.5 * 0.5 * 2,
          hourlyPrice: 0.5,
          numNodes: 2,
        },
      ]);
    });

    test('a live cluster is billed up to now; a stopped one up to its stop', () => {
      s.recordEvent('live', 'launch', T0, 2, 1, meta);
      s.recordEvent('parked', 'launch', T0 + H, 1, 4, meta);
      s.recordEvent('parked', 'stop', T0 + 3 * H, 1, 4);
      const at3 = s.costReport(T0 + 3 * H);
      const at10 = s.costReport(T0 + 10 * H);
      const pick = (rows: typeof at3, name: string) => rows.find((r) => r.cluster === name)!;
      assert.equal(pick(at3, 'live').status, 'live');
      assert.equal(pick(at3, 'live').durationMs, 3 * H);
      near(pick(at3, 'live').cost, 6);
      near(pick(at10, 'live').cost, 20);
      assert.equal(pick(at10, 'live').endedAt, null);
      assert.equal(pick(at10, 'parked').status, 'stopped');
      assert.equal(pick(at10, 'parked').durationMs, 2 * H);
      near(pick(at10, 'parked').cost, 2 * 1 * 4);
      // Newest launch first.
      assert.deepEqual(
        at10.map((r) => r.cluster),
        ['parked', 'live'],
      );
    });

    test('a name launched again after down is a second row; torn-down clusters stay in the report', () => {
      s.upsertCluster(cluster('dev', { cloud: 'gcp', region: 'us-central1' }));
      s.recordEvent('dev', 'launch', T0, 1, 1); // meta from the cluster record
      s.recordEvent('dev', 'down', T0 + 2 * H, 1, 1);
      s.removeCluster('dev');
      s.recordEvent('dev', 'launch', T0 + 10 * H, 3, 2, {
        cloud: 'aws',
        region: 'eu-west-1',
        resources: '2x g5.xlarge',
      });
      s.recordEvent('dev', 'stop', T0 + 10.25 * H, 3, 2);
      const rows = s.costReport(T0 + 20 * H);
      assert.equal(rows.length, 2);
      const [second, first] = rows;
      assert.deepEqual(
        [first.cloud, first.region, first.resources, first.status, first.durationMs],
        ['gcp', 'us-central1', '2x p3.2xlarge[V100:1]', 'terminated', 2 * H],
      );
      near(first.cost, 2);
      assert.deepEqual([second.cloud, second.status, second.durationMs], ['aws', 'stopped', 0.25 * H]);
      near(second.cost, 0.25 * 3 * 2);
    });

    test('each running interval is charged at the price and node count it started with', () => {
      s.recordEvent('dev', 'launch', T0, 1, 1, meta);
      s.recordEvent('dev', 'stop', T0 + H, 1, 1);
      // Restarted after a resize: 3 nodes at 2 USD.
      s.recordEvent('dev', 'start', T0 + 2 * H, 2, 3);
      s.recordEvent('dev', 'down', T0 + 4 * H, 2, 3);
      const [row] = s.costReport(T0 + 9 * H);
      assert.equal(row.durationMs, 3 * H);
      near(row.cost, 1 * 1 * 1 + 2 * 2 * 3);
      assert.equal(row.numNodes, 3);
      assert.equal(row.hourlyPrice, 2);
    });

    test('out-of-sequence events do not double-bill', () => {
      s.recordEvent('dev', 'launch', T0, 1, 1, meta);
      s.recordEvent('dev', 'launch', T0 + H, 1, 1, meta); // relaunch of a running cluster: meter already on
      s.recordEvent('dev', 'start', T0 + 1.5 * H, 1, 1);
      s.recordEvent('dev', 'stop', T0 + 2 * H, 1, 1);
      s.recordEvent('dev', 'stop', T0 + 3 * H, 1, 1); // already stopped
      s.recordEvent('dev', 'launch', T0 + 4 * H, 1, 1, meta); // launch of a stopped cluster restarts it
      s.recordEvent('dev', 'down', T0 + 5 * H, 1, 1);
      s.recordEvent('dev', 'down', T0 + 6 * H, 1, 1); // nothing left to tear down
      const rows = s.costReport(T0 + 9 * H);
      assert.equal(rows.length, 1);
      assert.equal(rows[0].durationMs, 3 * H);
      near(rows[0].cost, 3);
      // Events recorded out of time order are billed in time order.
      s.recordEvent('late', 'down', T0 + 2 * H, 1, 1);
      s.recordEvent('late', 'launch', T0, 1, 1, meta);
      const late = s.costReport(T0 + 9 * H).find((r) => r.cluster === 'late')!;
      assert.equal(late.status, 'terminated');
      assert.equal(late.durationMs, 2 * H);
    });

    test('an empty store has an empty report; bad numbers are refused', () => {
      assert.deepEqual(s.costReport(), []);
      assert.throws(() => s.recordEvent('dev', 'launch', Number.NaN, 1, 1), /finite/);
    });
  });
}
