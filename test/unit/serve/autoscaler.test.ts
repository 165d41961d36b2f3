import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ReplicaPolicy, ReplicaStatus, UpdateMode } from '../../../src/core/serve.js';
import { REPLICA_TERMINAL } from '../../../src/core/serve.js';
import {
  Autoscaler,
  NO_REPLICA_DECISION_INTERVAL_SECONDS,
  qpsOver,
  REPLICA_ALIVE,
  type ReplicaView,
  type ScaleDecision,
  type ScaleInput,
  scaleDownOrder,
  wantedReplicas,
} from '../../../src/serve/autoscaler.js';

const INTERVAL = 20; // seconds
const T0 = 1_700_000_000_000;

function policy(p: Partial<ReplicaPolicy> = {}): ReplicaPolicy {
  return {
    minReplicas: 1,
    maxReplicas: 1,
    upscaleDelaySeconds: 300,
    downscaleDelaySeconds: 1200,
    baseOndemandFallbackReplicas: 0,
    dynamicOndemandFallback: false,
    ...p,
  };
}

function rep(id: number, status: ReplicaStatus, o: Partial<ReplicaView> = {}): ReplicaView {
  return { id, version: 1, spot: false, status, launchedAt: T0 + id * 1000, ...o };
}

function input(o: Partial<ScaleInput> & { replicas: ReplicaView[] }): ScaleInput {
  return {
    now: T0,
    policy: policy(),
    version: 1,
    mode: 'rolling',
    taskUsesSpot: false,
    qps: 0,
    ...o,
  };
}

const ids = (d: ScaleDecision) => d.terminate.map((t) => t.id).sort((a, b) => a - b);
const spots = (d: ScaleDecision) => d.launch.filter((l) => l.spot).length;
const ondemands = (d: ScaleDecision) => d.launch.filter((l) => !l.spot).length;

/** Calls decide() once per interval with the same replicas; returns every decision. */
function ticks(a: Autoscaler, n: number, base: ScaleInput, start = 0): ScaleDecision[] {
  const out: ScaleDecision[] = [];
  for (let k = 0; k < n; k++) out.push(a.decide({ ...base, now: base.now + (start + k) * INTERVAL * 1000 }));
  return out;
}

describe('qpsOver', () => {
  const now = 1_000_000 * 1000 + 400; // 400 ms into second 1_000_000
  const cases: Array<[string, Array<[number, number]>, number, number]> = [
    ['no counts', [], 60, 0],
    ['the current second is not over: left out', [[1_000_000, 600]], 60, 0],
    ['the last whole second counts', [[999_999, 60]], 60, 1],
    ['the window start counts', [[1_000_000 - 60, 30]], 60, 0.5],
    ['older than the window: left out', [[1_000_000 - 61, 600]], 60, 0],
    [
      'sum over the window / window seconds',
      [
        [999_990, 10],
        [999_995, 20],
        [999_999, 30],
      ],
      60,
      1,
    ],
    [
      'a second twice is summed',
      [
        [999_999, 5],
        [999_999, 5],
      ],
      10,
      1,
    ],
    ['window 0 is 0', [[999_999, 5]], 0, 0],
    ['a fractional window is floored', [[999_999, 5]], 5.9, 1],
    [
      'garbage pairs ignored',
      [
        [Number.NaN, 5],
        [999_999, Number.POSITIVE_INFINITY],
        [999_999, -3],
        [999_998, 10],
      ],
      10,
      1,
    ],
  ];
  for (const [name, counts, window, want] of cases) {
    test(name, () => assert.equal(qpsOver(counts, now, window), want));
  }
});

describe('wantedReplicas', () => {
  const cases: Array<[string, Partial<ReplicaPolicy>, number, number]> = [
    ['fixed: min, whatever the load', { minReplicas: 2, maxReplicas: 2 }, 1000, 2],
    ['ceil(qps / target)', { minReplicas: 1, maxReplicas: 10, targetQpsPerReplica: 2 }, 5, 3],
    ['exact multiple', { minReplicas: 1, maxReplicas: 10, targetQpsPerReplica: 2 }, 6, 3],
    ['floating point noise', { minReplicas: 0, maxReplicas: 10, targetQpsPerReplica: 0.1 }, 0.1 + 0.2, 3],
    ['clamped to max', { minReplicas: 1, maxReplicas: 4, targetQpsPerReplica: 1 }, 100, 4],
    ['clamped to min', { minReplicas: 2, maxReplicas: 4, targetQpsPerReplica: 1 }, 0, 2],
    ['zero load, min 0', { minReplicas: 0, maxReplicas: 4, targetQpsPerReplica: 1 }, 0, 0],
    ['one request in a minute, min 0', { minReplicas: 0, maxReplicas: 4, targetQpsPerReplica: 1 }, 1 / 60, 1],
    ['NaN load is none', { minReplicas: 0, maxReplicas: 4, targetQpsPerReplica: 1 }, Number.NaN, 0],
    ['max below min is min', { minReplicas: 3, maxReplicas: 1, targetQpsPerReplica: 1 }, 100, 3],
  ];
  for (const [name, p, qps, want] of cases) {
    test(name, () => assert.equal(wantedReplicas(policy(p), qps), want));
  }
});

describe('Autoscaler: fixed replicas', () => {
  test('launches N on-demand replicas at once, then nothing; load does not matter', () => {
    const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
    const p = policy({ minReplicas: 2, maxReplicas: 2 });
    const first = a.decide(input({ policy: p, replicas: [], qps: 500 }));
    assert.deepEqual(first, {
      target: 2,
      launch: [{ spot: false }, { spot: false }],
      terminate: [],
      routableVersions: [1],
    });
    const rs = [rep(1, 'PROVISIONING'), rep(2, 'READY')];
    for (const d of ticks(a, 100, input({ policy: p, replicas: rs, qps: 500 }), 1)) {
      assert.equal(d.target, 2);
      assert.deepEqual(d.launch, []);
      assert.deepEqual(d.terminate, []);
    }
  });

  test('a third replica (e.g. after a restart) is removed: the newest not-READY one', () => {
    const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
    const p = policy({ minReplicas: 2, maxReplicas: 2 });
    const d = a.decide(
      input({ policy: p, replicas: [rep(1, 'READY'), rep(2, 'READY'), rep(3, 'STARTING')] }),
    );
    assert.deepEqual(ids(d), [3]);
  });
});

describe('Autoscaler: hysteresis', () => {
  // Delays of 60 s (3 intervals) up and 120 s (6 intervals) down.
  const p = policy({
    minReplicas: 1,
    maxReplicas: 3,
    targetQpsPerReplica: 1,
    upscaleDelaySeconds: 60,
    downscaleDelaySeconds: 120,
  });

  test('1 → 3 → 1: up after the upscale delay, down after the downscale delay', () => {
    const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
    const one = [rep(1, 'READY')];
    assert.equal(a.decide(input({ policy: p, replicas: one, qps: 0 })).target, 1);
    // 2.5 qps wants 3: counted at ticks 1, 2, 3; the third moves the target.
    const up = ticks(a, 3, input({ policy: p, replicas: one, qps: 2.5 }), 1);
    assert.deepEqual(
      up.map((d) => d.target),
      [1, 1, 3],
    );
    assert.deepEqual(up[0].launch, []);
    assert.deepEqual(up[1].launch, []);
    assert.equal(up[2].launch.length, 2);
    const three = [rep(1, 'READY'), rep(2, 'READY'), rep(3, 'READY')];
    // Load drops to 0.5 qps (wants 1): six ticks of wanting fewer.
    const down = ticks(a, 6, input({ policy: p, replicas: three, qps: 0.5 }), 4);
    assert.deepEqual(
      down.map((d) => d.target),
      [3, 3, 3, 3, 3, 1],
    );
    for (const d of down.slice(0, 5)) assert.deepEqual(d.terminate, []);
    assert.deepEqual(ids(down[5]), [2, 3], 'the newest two go');
  });

  test('the target follows the wanted count at the moment the delay is over', () => {
    const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
    a.decide(input({ policy: p, replicas: [rep(1, 'READY')] }));
    const base = input({ policy: p, replicas: [rep(1, 'READY')] });
    const qs = [2.5, 1.5, 1.2]; // wants 3, 2, 2: all above 1
    const ds = qs.map((qps, k) => a.decide({ ...base, qps, now: T0 + (k + 1) * INTERVAL * 1000 }));
    assert.deepEqual(
      ds.map((d) => d.target),
      [1, 1, 2],
    );
  });

  test('no flapping: load that swings around the threshold never moves the target', () => {
    const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
    const rs = [rep(1, 'READY'), rep(2, 'READY')];
    a.decide(input({ policy: p, replicas: rs, qps: 2 })); // first decision: target = wanted = 2
    for (let k = 1; k <= 60; k++) {
      // wants 3, 3, 1, 3, 3, 1, ...: never 3 intervals in a row above, never 6 below
      const qps = k % 3 === 0 ? 0.5 : 2.5;
      const d = a.decide(input({ policy: p, replicas: rs, qps, now: T0 + k * INTERVAL * 1000 }));
      assert.equal(d.target, 2, `tick ${k}`);
      assert.deepEqual(d.launch, []);
      assert.deepEqual(d.terminate, []);
    }
  });

  test('a tick of steady load resets the counter', () => {
    const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
    const rs = [rep(1, 'READY')];
    a.decide(input({ policy: p, replicas: rs, qps: 1 }));
    const qs = [2.5, 2.5, 1, 2.5, 2.5, 2.5];
    const targets = qs.map(
      (qps, k) =>
        a.decide(input({ policy: p, replicas: rs, qps, now: T0 + (k + 1) * INTERVAL * 1000 })).target,
    );
    assert.deepEqual(targets, [1, 1, 1, 1, 1, 3]);
  });

  test('calls between ticks do not shorten the delay', () => {
    const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
    const rs = [rep(1, 'READY')];
    a.decide(input({ policy: p, replicas: rs, qps: 1 }));
    // One call a second for 59 s: at most 2 ticks (at 20 s and 40 s) fall in it.
    for (let s = 1; s < 60; s++) {
      const d = a.decide(input({ policy: p, replicas: rs, qps: 2.5, now: T0 + s * 1000 }));
      assert.equal(d.target, 1, `after ${s} s`);
    }
    assert.equal(a.decide(input({ policy: p, replicas: rs, qps: 2.5, now: T0 + 60_000 })).target, 3);
  });

  test('a delay shorter than the interval acts at the first tick; 0 too', () => {
    for (const delay of [0, 5, 19]) {
      const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
      const q = policy({ ...p, upscaleDelaySeconds: delay });
      a.decide(input({ policy: q, replicas: [rep(1, 'READY')], qps: 0 }));
      const d = a.decide(
        input({ policy: q, replicas: [rep(1, 'READY')], qps: 3, now: T0 + INTERVAL * 1000 }),
      );
      assert.equal(d.target, 3, `delay ${delay}`);
    }
  });

  test('clamped to max and to min', () => {
    const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
    const q = policy({ ...p, upscaleDelaySeconds: 0, downscaleDelaySeconds: 0 });
    assert.equal(a.decide(input({ policy: q, replicas: [], qps: 0 })).target, 1);
    assert.equal(a.decide(input({ policy: q, replicas: [], qps: 1e6, now: T0 + 20_000 })).target, 3);
    assert.equal(a.decide(input({ policy: q, replicas: [], qps: 0, now: T0 + 40_000 })).target, 1);
  });

  test('a new version takes the wanted count at once, without delay', () => {
    const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
    a.decide(input({ policy: p, replicas: [rep(1, 'READY')], qps: 0 }));
    const d = a.decide(
      input({ policy: p, version: 2, replicas: [rep(1, 'READY')], qps: 2.5, now: T0 + 1000 }),
    );
    assert.equal(d.target, 3);
    assert.equal(d.launch.length, 3);
  });
});

describe('Autoscaler: scale to and from zero', () => {
  const p = policy({
    minReplicas: 0,
    maxReplicas: 3,
    targetQpsPerReplica: 1,
    upscaleDelaySeconds: 300,
    downscaleDelaySeconds: 60,
  });

  test('the first request scales to 1 at once, on any call; an idle service goes to 0 after the delay', () => {
    const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
    const d0 = a.decide(input({ policy: p, replicas: [], qps: 0 }));
    assert.deepEqual(d0, { target: 0, launch: [], terminate: [], routableVersions: [1] });
    assert.equal(a.nextDecisionSeconds(), NO_REPLICA_DECISION_INTERVAL_SECONDS);
    // 3 s later (not a tick): one request in the window.
    const d1 = a.decide(input({ policy: p, replicas: [], qps: 1 / 60, now: T0 + 3000 }));
    assert.equal(d1.target, 1);
    assert.deepEqual(d1.launch, [{ spot: false }]);
    assert.equal(a.nextDecisionSeconds(), INTERVAL);
    // Idle again: 3 ticks (60 s) later, back to 0.
    const rs = [rep(1, 'READY')];
    const down = [1, 2, 3].map(
      (k) =>
        a.decide(input({ policy: p, replicas: rs, qps: 0, now: T0 + 3000 + k * INTERVAL * 1000 })).target,
    );
    assert.deepEqual(down, [1, 1, 0]);
  });

  test('from zero straight to what the window already asks for', () => {
    const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
    a.decide(input({ policy: p, replicas: [], qps: 0 }));
    const d = a.decide(input({ policy: p, replicas: [], qps: 2.5, now: T0 + 1000 }));
    assert.equal(d.target, 3);
    assert.equal(d.launch.length, 3);
  });
});

describe('Autoscaler: replacement of failed and preempted replicas', () => {
  const lost: ReplicaStatus[] = [
    'PREEMPTED',
    'FAILED',
    'FAILED_PROBING',
    'FAILED_INITIAL_DELAY',
    'FAILED_PROVISION',
    'FAILED_CLEANUP',
    'SHUTTING_DOWN',
    'UNKNOWN',
  ];
  for (const status of lost) {
    test(`${status}: replaced at the same decision, never terminated`, () => {
      const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
      const p = policy({ minReplicas: 2, maxReplicas: 4, targetQpsPerReplica: 10 });
      a.decide(input({ policy: p, replicas: [rep(1, 'READY'), rep(2, 'READY')] }));
      // 1 s later (not a tick: no hysteresis is involved).
      const d = a.decide(input({ policy: p, replicas: [rep(1, 'READY'), rep(2, status)], now: T0 + 1000 }));
      assert.equal(d.target, 2);
      assert.deepEqual(d.launch, [{ spot: false }]);
      assert.deepEqual(d.terminate, []);
    });
  }

  test('a preempted spot replica with a base on-demand: a spot one replaces it', () => {
    const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
    const p = policy({ minReplicas: 3, maxReplicas: 3, baseOndemandFallbackReplicas: 1 });
    const d0 = a.decide(input({ policy: p, taskUsesSpot: true, replicas: [] }));
    assert.equal(spots(d0), 2);
    assert.equal(ondemands(d0), 1);
    const rs = [rep(1, 'READY', { spot: true }), rep(2, 'PREEMPTED', { spot: true }), rep(3, 'READY')];
    const d1 = a.decide(input({ policy: p, taskUsesSpot: true, replicas: rs, now: T0 + 1000 }));
    assert.deepEqual(d1.launch, [{ spot: true }]);
    assert.deepEqual(d1.terminate, []);
  });

  test('dynamic fallback: on-demand stands in while spot is not READY, and goes when it is', () => {
    const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
    const p = policy({ minReplicas: 2, maxReplicas: 2, dynamicOndemandFallback: true });
    const at = (k: number) => T0 + k * 1000;
    const spot = true;
    // Fresh: 2 spot + 2 on-demand (no spot is READY yet).
    const d0 = a.decide(input({ policy: p, taskUsesSpot: spot, replicas: [] }));
    assert.equal(spots(d0), 2);
    assert.equal(ondemands(d0), 2);
    // One spot READY: one on-demand is surplus; the not-READY one goes first.
    let rs = [
      rep(1, 'READY', { spot }),
      rep(2, 'PROVISIONING', { spot }),
      rep(3, 'READY', { spot: false }),
      rep(4, 'STARTING', { spot: false }),
    ];
    let d = a.decide(input({ policy: p, taskUsesSpot: spot, replicas: rs, now: at(1) }));
    assert.deepEqual(d.launch, []);
    assert.deepEqual(ids(d), [4]);
    // Both spot READY: the last on-demand goes too.
    rs = [rep(1, 'READY', { spot }), rep(2, 'READY', { spot }), rep(3, 'READY', { spot: false })];
    d = a.decide(input({ policy: p, taskUsesSpot: spot, replicas: rs, now: at(2) }));
    assert.deepEqual(ids(d), [3]);
    // Spot 2 preempted: a spot replacement and an on-demand stand-in, at once.
    rs = [rep(1, 'READY', { spot }), rep(2, 'PREEMPTED', { spot })];
    d = a.decide(input({ policy: p, taskUsesSpot: spot, replicas: rs, now: at(3) }));
    assert.equal(spots(d), 1);
    assert.equal(ondemands(d), 1);
    assert.deepEqual(d.terminate, []);
    // The replacement spot READY (the on-demand one too): the on-demand one goes.
    rs = [rep(1, 'READY', { spot }), rep(5, 'READY', { spot }), rep(6, 'READY', { spot: false })];
    d = a.decide(input({ policy: p, taskUsesSpot: spot, replicas: rs, now: at(4) }));
    assert.deepEqual(d.launch, []);
    assert.deepEqual(ids(d), [6]);
  });

  test('base and dynamic together: base on-demand always, extra ones for spot not READY', () => {
    const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
    const p = policy({
      minReplicas: 3,
      maxReplicas: 3,
      baseOndemandFallbackReplicas: 1,
      dynamicOndemandFallback: true,
    });
    const d0 = a.decide(input({ policy: p, taskUsesSpot: true, replicas: [] }));
    assert.equal(spots(d0), 2);
    assert.equal(ondemands(d0), 3);
    const rs = [
      rep(1, 'READY', { spot: true }),
      rep(2, 'READY', { spot: true }),
      rep(3, 'READY'),
      rep(4, 'READY'),
      rep(5, 'READY'),
    ];
    const d = a.decide(input({ policy: p, taskUsesSpot: true, replicas: rs, now: T0 + 1000 }));
    assert.deepEqual(ids(d), [4, 5]);
  });

  test('the on-demand base is capped at the target', () => {
    const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
    const p = policy({ minReplicas: 1, maxReplicas: 1, baseOndemandFallbackReplicas: 3 });
    const d = a.decide(input({ policy: p, taskUsesSpot: true, replicas: [] }));
    assert.deepEqual(d.launch, [{ spot: false }]);
  });

  test('spot without fallback: every replica spot; no spot in the task: every replica on-demand', () => {
    const p = policy({ minReplicas: 2, maxReplicas: 2 });
    const d1 = new Autoscaler().decide(input({ policy: p, taskUsesSpot: true, replicas: [] }));
    assert.deepEqual(d1.launch, [{ spot: true }, { spot: true }]);
    const d2 = new Autoscaler().decide(input({ policy: p, taskUsesSpot: false, replicas: [] }));
    assert.deepEqual(d2.launch, [{ spot: false }, { spot: false }]);
  });

  test('a move of the spot/on-demand split never drops READY capacity below the target', () => {
    const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
    const p = policy({
      minReplicas: 1,
      maxReplicas: 3,
      targetQpsPerReplica: 1,
      baseOndemandFallbackReplicas: 1,
      downscaleDelaySeconds: 0,
    });
    // target 3: 2 spot READY + 1 on-demand still STARTING.
    const rs = [rep(1, 'READY', { spot: true }), rep(2, 'READY', { spot: true }), rep(3, 'STARTING')];
    assert.equal(a.decide(input({ policy: p, taskUsesSpot: true, replicas: rs, qps: 3 })).target, 3);
    // Load gone, target 1 = the on-demand base: both spot are surplus, but one stays while the
    // on-demand one is not READY.
    const d = a.decide(input({ policy: p, taskUsesSpot: true, replicas: rs, qps: 0, now: T0 + 20_000 }));
    assert.equal(d.target, 1);
    assert.deepEqual(ids(d), [2]);
    // Once it is READY, the last spot goes.
    const rs2 = [rep(1, 'READY', { spot: true }), rep(3, 'READY')];
    const d2 = a.decide(input({ policy: p, taskUsesSpot: true, replicas: rs2, qps: 0, now: T0 + 40_000 }));
    assert.deepEqual(ids(d2), [1]);
  });
});

describe('Autoscaler: which replicas a downscale removes', () => {
  const cases: Array<[string, ReplicaView[], number, number[]]> = [
    [
      'PENDING, then PROVISIONING, then STARTING, then NOT_READY, then READY',
      [rep(1, 'READY'), rep(2, 'NOT_READY'), rep(3, 'STARTING'), rep(4, 'PROVISIONING'), rep(5, 'PENDING')],
      1,
      [2, 3, 4, 5],
    ],
    ['among READY ones, the newest', [rep(1, 'READY'), rep(2, 'READY'), rep(3, 'READY')], 1, [2, 3]],
    [
      'newest by launch time, then by id',
      [
        rep(7, 'READY', { launchedAt: T0 }),
        rep(3, 'READY', { launchedAt: T0 + 5 }),
        rep(9, 'READY', { launchedAt: T0 }),
      ],
      2,
      [3],
    ],
    [
      'terminal ones are not counted and never removed',
      [rep(1, 'READY'), rep(2, 'FAILED'), rep(3, 'PREEMPTED'), rep(4, 'READY'), rep(5, 'SHUTTING_DOWN')],
      1,
      [4],
    ],
  ];
  for (const [name, rs, target, want] of cases) {
    test(name, () => {
      const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
      const d = a.decide(
        input({ policy: policy({ minReplicas: target, maxReplicas: target }), replicas: rs }),
      );
      assert.deepEqual(ids(d), want);
    });
  }

  test('scaleDownOrder: older versions before newer ones within a status', () => {
    const rs = [
      rep(1, 'READY', { version: 2 }),
      rep(2, 'READY', { version: 1 }),
      rep(3, 'STARTING', { version: 2 }),
    ];
    assert.deepEqual(
      [...rs].sort(scaleDownOrder).map((r) => r.id),
      [3, 2, 1],
    );
  });
});

describe('Autoscaler: rolling update', () => {
  const p = policy({ minReplicas: 3, maxReplicas: 3 });
  const v = (id: number, version: number, status: ReplicaStatus) => rep(id, status, { version });

  test('new replicas up to the target; old ones go as new ones are READY; both versions routable', () => {
    const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
    const old = [v(1, 1, 'READY'), v(2, 1, 'READY'), v(3, 1, 'READY')];
    assert.deepEqual(a.decide(input({ policy: p, replicas: old })).routableVersions, [1]);
    // serve update → version 2.
    let d = a.decide(input({ policy: p, version: 2, replicas: old, now: T0 + 1000 }));
    assert.equal(d.launch.length, 3);
    assert.deepEqual(d.terminate, []);
    assert.deepEqual(d.routableVersions, [1, 2]);
    // One new READY: one old goes (the newest old one).
    const n1 = [v(4, 2, 'READY'), v(5, 2, 'STARTING'), v(6, 2, 'PROVISIONING')];
    d = a.decide(input({ policy: p, version: 2, replicas: [...old, ...n1], now: T0 + 2000 }));
    assert.deepEqual(d.launch, []);
    assert.deepEqual(ids(d), [3]);
    assert.deepEqual(d.routableVersions, [1, 2]);
    // Three new READY: every old one goes, only version 2 is routable.
    const n3 = [v(4, 2, 'READY'), v(5, 2, 'READY'), v(6, 2, 'READY')];
    d = a.decide(input({ policy: p, version: 2, replicas: [old[0], old[1], ...n3], now: T0 + 3000 }));
    assert.deepEqual(ids(d), [1, 2]);
    assert.deepEqual(d.routableVersions, [2]);
    d = a.decide(input({ policy: p, version: 2, replicas: n3, now: T0 + 4000 }));
    assert.deepEqual(d, { target: 3, launch: [], terminate: [], routableVersions: [2] });
  });

  test('old not-READY replicas go before old READY ones', () => {
    const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
    const rs = [v(1, 1, 'READY'), v(2, 1, 'NOT_READY'), v(3, 1, 'READY'), v(4, 2, 'READY')];
    const d = a.decide(input({ policy: p, version: 2, replicas: rs }));
    assert.deepEqual(ids(d), [2]); // keep 3 - 1 = 2 old: the two READY ones
  });

  test('a failed new replica is replaced; no old READY replica goes for it', () => {
    const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
    const rs = [
      v(1, 1, 'READY'),
      v(2, 1, 'READY'),
      v(4, 2, 'READY'),
      v(5, 2, 'PREEMPTED'),
      v(6, 2, 'STARTING'),
    ];
    const d = a.decide(input({ policy: p, version: 2, replicas: rs }));
    assert.equal(d.launch.length, 1);
    assert.deepEqual(d.terminate, []);
  });
});

describe('Autoscaler: blue-green update', () => {
  const p = policy({ minReplicas: 2, maxReplicas: 2 });
  const v = (id: number, version: number, status: ReplicaStatus) => rep(id, status, { version });
  const mode: UpdateMode = 'blue_green';

  test('old ones alone routable until readyNew >= target; then the new one alone, old ones terminated', () => {
    const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
    const old = [v(1, 1, 'READY'), v(2, 1, 'READY')];
    a.decide(input({ policy: p, replicas: old }));
    let d = a.decide(input({ policy: p, mode, version: 2, replicas: old, now: T0 + 1000 }));
    assert.equal(d.launch.length, 2);
    assert.deepEqual(d.routableVersions, [1]);
    d = a.decide(
      input({ policy: p, mode, version: 2, replicas: [...old, v(3, 2, 'READY'), v(4, 2, 'STARTING')] }),
    );
    assert.deepEqual(d.terminate, []);
    assert.deepEqual(d.routableVersions, [1]);
    const both = [...old, v(3, 2, 'READY'), v(4, 2, 'READY')];
    d = a.decide(input({ policy: p, mode, version: 2, replicas: both, now: T0 + 3000 }));
    assert.deepEqual(ids(d), [1, 2]);
    assert.deepEqual(d.routableVersions, [2]);
    // The switch holds even when a new replica is lost afterwards (old ones still shutting down).
    const after = [v(1, 1, 'SHUTTING_DOWN'), v(2, 1, 'READY'), v(3, 2, 'READY'), v(4, 2, 'PREEMPTED')];
    d = a.decide(input({ policy: p, mode, version: 2, replicas: after, now: T0 + 4000 }));
    assert.deepEqual(d.routableVersions, [2]);
    assert.deepEqual(ids(d), [2]);
    assert.equal(d.launch.length, 1);
  });

  test('old replicas that are not READY are kept too, and never routable with new ones', () => {
    const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
    const rs = [v(1, 1, 'NOT_READY'), v(2, 1, 'READY'), v(3, 2, 'READY')];
    const d = a.decide(input({ policy: p, mode, version: 2, replicas: rs }));
    assert.deepEqual(d.terminate, []);
    assert.deepEqual(d.routableVersions, [1]);
  });

  test('no old replica READY: the new version serves what it has', () => {
    const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
    const rs = [v(1, 1, 'NOT_READY'), v(2, 1, 'PREEMPTED'), v(3, 2, 'READY')];
    const d = a.decide(input({ policy: p, mode, version: 2, replicas: rs }));
    assert.deepEqual(d.terminate, []);
    assert.deepEqual(d.routableVersions, [2]);
  });
});

describe('Autoscaler: a version that never gets READY', () => {
  test('a FAILED replica before any READY one stops launching, with a reason', () => {
    const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
    const p = policy({ minReplicas: 2, maxReplicas: 2 });
    for (const status of ['FAILED', 'FAILED_INITIAL_DELAY'] as const) {
      const d = a.decide(
        input({ policy: p, replicas: [rep(1, status), rep(2, 'STARTING'), rep(3, 'STARTING')] }),
      );
      assert.deepEqual(d.launch, []);
      assert.deepEqual(d.terminate, [], 'not even the surplus');
      assert.match(d.failure ?? '', /replica 1 of version 1 is FAILED.*never READY|was ever READY/);
    }
  });

  test('a broken update keeps the old version serving', () => {
    const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
    const p = policy({ minReplicas: 1, maxReplicas: 1 });
    const rs = [rep(1, 'READY'), rep(2, 'FAILED', { version: 2 })];
    const d = a.decide(input({ policy: p, version: 2, replicas: rs }));
    assert.deepEqual(d.launch, []);
    assert.deepEqual(d.terminate, []);
    assert.deepEqual(d.routableVersions, [1, 2]);
    assert.ok(d.failure);
  });

  test('a replica that was READY (wasReady) and then failed is replaced, even if never seen READY', () => {
    const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
    const p = policy({ minReplicas: 2, maxReplicas: 2 });
    const d = a.decide(
      input({ policy: p, replicas: [rep(1, 'FAILED', { wasReady: true }), rep(2, 'STARTING')] }),
    );
    assert.equal(d.failure, undefined);
    assert.deepEqual(d.launch, [{ spot: false }]);
  });

  test('once a replica of the version was READY, failures are replaced', () => {
    const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
    const p = policy({ minReplicas: 2, maxReplicas: 2 });
    a.decide(input({ policy: p, replicas: [rep(1, 'READY'), rep(2, 'STARTING')] }));
    const d = a.decide(input({ policy: p, replicas: [rep(1, 'FAILED'), rep(2, 'FAILED_INITIAL_DELAY')] }));
    assert.equal(d.failure, undefined);
    assert.equal(d.launch.length, 2);
  });
});

/**
 * A scripted run: a fake controller applies each decision (terminated replicas go away, launched ones
 * turn PROVISIONING, STARTING, then READY some intervals later), with load and events on a script,
 * and checks the invariants at every decision.
 */
interface SimReplica extends ReplicaView {
  readyTick: number;
}

function setStatus(r: SimReplica, status: ReplicaStatus): void {
  r.status = status;
  if (status === 'READY') r.wasReady = true;
}

interface Step {
  qps: number;
  /** A `serve update` before this decision. */
  update?: { mode: UpdateMode; policy?: ReplicaPolicy };
  /** Changes to the replicas before this decision (preemptions, probe failures...). */
  events?: (replicas: SimReplica[]) => void;
}

interface SimLog {
  tick: number;
  target: number;
  ready: number;
  alive: number;
  versions: number[];
  routable: number[];
}

function simulate(o: {
  policy: ReplicaPolicy;
  spot: boolean;
  steps: Step[];
  /** Ticks from launch to READY. */
  readyAfter: (spot: boolean, id: number) => number;
}) {
  const a = new Autoscaler({ decisionIntervalSeconds: INTERVAL });
  let replicas: SimReplica[] = [];
  let nextId = 1;
  let version = 1;
  let mode: UpdateMode = 'rolling';
  let pol = o.policy;
  let prevRoutable: number[] = [];
  let switched = true; // blue-green: the newest version is live
  const log: SimLog[] = [];

  o.steps.forEach((step, tick) => {
    const now = T0 + tick * INTERVAL * 1000;
    if (step.update) {
      version++;
      mode = step.update.mode;
      pol = step.update.policy ?? pol;
      switched = mode !== 'blue_green';
    }
    for (const r of replicas) {
      if (r.status === 'PROVISIONING') r.status = 'STARTING';
      else if (r.status === 'STARTING' && tick >= r.readyTick) setStatus(r, 'READY');
    }
    step.events?.(replicas);

    const d = a.decide({
      now,
      policy: pol,
      version,
      mode,
      taskUsesSpot: o.spot,
      qps: step.qps,
      replicas: replicas.map(({ readyTick: _, ...r }) => ({ ...r })),
    });
    const where = `tick ${tick}: ${JSON.stringify(d)} from ${JSON.stringify(replicas)}`;

    // What it may terminate: alive replicas it was given, each once.
    const byId = new Map(replicas.map((r) => [r.id, r]));
    const gone = new Set(d.terminate.map((t) => t.id));
    assert.equal(gone.size, d.terminate.length, `${where}: one terminate per replica`);
    for (const id of gone) {
      const r = byId.get(id);
      assert.ok(r && REPLICA_ALIVE.has(r.status) && !REPLICA_TERMINAL.has(r.status), `${where}: ${id} alive`);
    }
    assert.equal(d.failure, undefined, where);
    assert.ok(d.target >= pol.minReplicas && d.target <= pol.maxReplicas, `${where}: target in [min, max]`);
    assert.ok(d.routableVersions.length > 0, `${where}: something routable`);
    assert.ok(d.routableVersions.includes(version) || mode === 'blue_green', `${where}: newest routable`);

    // Capacity: READY replicas of routable versions never drop below min(target, before) through a
    // decision; before a blue-green switch, no old READY replica goes at all.
    const isReady = (r: SimReplica) => r.status === 'READY';
    const readyIn = replicas.filter((r) => isReady(r) && prevRoutable.includes(r.version)).length;
    const served = replicas.filter(
      (r) => isReady(r) && !gone.has(r.id) && d.routableVersions.includes(r.version),
    );
    if (mode === 'blue_green' && !switched) {
      const readyNew = replicas.filter((r) => r.version === version && isReady(r) && !gone.has(r.id)).length;
      const oldReady = replicas.some((r) => r.version !== version && isReady(r));
      if (readyNew >= d.target && d.routableVersions.join() === String(version)) {
        switched = true; // the switch: old ones may go now
      } else {
        for (const r of replicas) {
          if (r.version !== version && isReady(r)) assert.ok(!gone.has(r.id), `${where}: old READY kept`);
        }
        // The new version is routable before the switch only when no old replica is READY.
        if (d.routableVersions.includes(version)) assert.ok(!oldReady, `${where}: switched early`);
      }
    }
    if (!(mode === 'blue_green' && !switched)) {
      assert.ok(
        served.length >= Math.min(d.target, readyIn),
        `${where}: READY ${readyIn} → ${served.length}`,
      );
    }
    // Blue-green: old and new never served together; once live, the new version stays alone.
    if (mode === 'blue_green') {
      const sides = new Set(served.map((r) => r.version === version));
      assert.ok(sides.size <= 1, `${where}: old and new served together`);
      if (switched) assert.deepEqual(d.routableVersions, [version], where);
    }

    // Apply: terminated and terminal replicas go, launched ones start.
    replicas = replicas.filter((r) => !gone.has(r.id) && REPLICA_ALIVE.has(r.status));
    for (const l of d.launch) {
      const id = nextId++;
      replicas.push({
        id,
        version,
        spot: l.spot,
        status: 'PROVISIONING',
        launchedAt: now,
        readyTick: tick + o.readyAfter(l.spot, id),
      });
    }
    prevRoutable = d.routableVersions;
    log.push({
      tick,
      target: d.target,
      ready: replicas.filter(isReady).length,
      alive: replicas.length,
      versions: [...new Set(replicas.map((r) => r.version))].sort(),
      routable: d.routableVersions,
    });
  });
  return { log, replicas, version, policy: pol };
}

const repeat = (n: number, s: Step): Step[] => Array.from({ length: n }, () => ({ ...s }));
const preemptOne =
  (spotOnly: boolean) =>
  (rs: SimReplica[]): void => {
    const victim = rs.find((r) => r.status === 'READY' && (r.spot || !spotOnly));
    assert.ok(victim, 'a READY replica to preempt');
    victim.status = 'PREEMPTED';
  };

describe('Autoscaler: simulation', () => {
  const scaling = policy({
    minReplicas: 1,
    maxReplicas: 3,
    targetQpsPerReplica: 1,
    upscaleDelaySeconds: 60,
    downscaleDelaySeconds: 120,
  });
  // Replicas take 2 to 4 intervals to get READY, by id: updates go through partial states.
  const staggered = (_spot: boolean, id: number) => 2 + (id % 3);

  test('1 → 3 → 1 under load, a preemption, a rolling update, a blue-green update', () => {
    const steps: Step[] = [
      ...repeat(6, { qps: 0.5 }),
      ...repeat(10, { qps: 2.6 }), // up to 3 after 3 ticks
      { qps: 2.6, events: preemptOne(false) },
      ...repeat(6, { qps: 2.6 }),
      { qps: 2.6, update: { mode: 'rolling' } },
      ...repeat(10, { qps: 2.6 }),
      { qps: 2.6, update: { mode: 'blue_green' } },
      ...repeat(10, { qps: 2.6 }),
      ...repeat(12, { qps: 0.2 }), // down to 1 after 6 ticks
    ];
    const { log, replicas } = simulate({ policy: scaling, spot: false, steps, readyAfter: staggered });
    const targets = log.map((l) => l.target);
    assert.equal(targets[5], 1);
    assert.equal(targets.at(-1), 1);
    // The target went 1 → 3 once and 3 → 1 once: no flapping.
    assert.deepEqual(
      targets.filter((t, k) => k > 0 && t !== targets[k - 1]),
      [3, 1],
    );
    // The rolling update served both versions for a while, then version 2 alone.
    const rolling = log.slice(23, 34).map((l) => l.routable.join());
    assert.ok(rolling.includes('1,2') && rolling.at(-1) === '2', rolling.join(' '));
    // The blue-green one served version 2 alone, then version 3 alone.
    const bg = log.slice(34, 45).map((l) => l.routable.join());
    assert.ok(bg[0] === '2' && bg.at(-1) === '3' && !bg.includes('2,3'), bg.join(' '));
    // Ends with one READY replica of version 3 and nothing else.
    assert.deepEqual(
      replicas.map((r) => [r.version, r.status]),
      [[3, 'READY']],
    );
  });

  test('spot with base and dynamic fallback: preemptions replaced, on-demand stand-ins removed after', () => {
    const p = policy({
      minReplicas: 3,
      maxReplicas: 3,
      baseOndemandFallbackReplicas: 1,
      dynamicOndemandFallback: true,
    });
    const steps: Step[] = [
      ...repeat(8, { qps: 1 }),
      { qps: 1, events: preemptOne(true) },
      ...repeat(2, { qps: 1 }),
      { qps: 1, events: preemptOne(true) },
      ...repeat(10, { qps: 1 }),
      { qps: 1, update: { mode: 'rolling' } },
      ...repeat(12, { qps: 1 }),
    ];
    const { log, replicas } = simulate({
      policy: p,
      spot: true,
      steps,
      readyAfter: (spot, id) => (spot ? 4 : 2) + (id % 2),
    });
    // Over-provisioned while spot replicas start, back to 2 spot + 1 on-demand at the end.
    assert.ok(Math.max(...log.map((l) => l.alive)) > 3);
    assert.equal(replicas.length, 3);
    assert.ok(replicas.every((r) => r.version === 2 && r.status === 'READY'));
    assert.equal(replicas.filter((r) => r.spot).length, 2);
  });

  test('scale to zero and back on the first request', () => {
    const p = policy({
      minReplicas: 0,
      maxReplicas: 2,
      targetQpsPerReplica: 5,
      upscaleDelaySeconds: 60,
      downscaleDelaySeconds: 60,
    });
    const steps: Step[] = [...repeat(4, { qps: 0 }), ...repeat(6, { qps: 0.1 }), ...repeat(6, { qps: 0 })];
    const { log } = simulate({ policy: p, spot: false, steps, readyAfter: () => 2 });
    assert.deepEqual(
      log.map((l) => l.target),
      [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0],
    );
  });

  test('random scripts (seeded): the invariants hold, and a quiet end converges', () => {
    for (let seed = 1; seed <= 60; seed++) {
      const rnd = mulberry32(seed);
      const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
      const randomPolicy = () => {
        const min = int(0, 2);
        return policy({
          minReplicas: min,
          maxReplicas: min + int(0, 3),
          targetQpsPerReplica: rnd() < 0.8 ? 1 : undefined,
          upscaleDelaySeconds: int(0, 5) * 20,
          downscaleDelaySeconds: int(0, 8) * 20,
          baseOndemandFallbackReplicas: int(0, 2),
          dynamicOndemandFallback: rnd() < 0.5,
        });
      };
      const spot = rnd() < 0.6;
      const p = randomPolicy();
      const max = p.maxReplicas;
      let qps = rnd() * max;
      const steps: Step[] = [];
      for (let k = 0; k < 80; k++) {
        qps = Math.max(0, qps + (rnd() - 0.5) * 1.5);
        const step: Step = { qps };
        if (k > 5 && rnd() < 0.06) {
          // A `serve update`, half of them with a new replica policy.
          step.update = {
            mode: rnd() < 0.5 ? 'rolling' : 'blue_green',
            policy: rnd() < 0.5 ? randomPolicy() : undefined,
          };
        }
        const r1 = rnd();
        const r2 = int(0, 1000);
        step.events = (rs) => {
          const ready = rs.filter((r) => r.status === 'READY');
          const notReady = rs.filter((r) => r.status === 'NOT_READY');
          if (r1 < 0.15 && ready.length > 0) {
            const v = ready[r2 % ready.length];
            v.status = v.spot ? 'PREEMPTED' : 'FAILED';
          } else if (r1 < 0.25 && ready.length > 0) ready[r2 % ready.length].status = 'NOT_READY';
          else if (r1 < 0.35 && notReady.length > 0) setStatus(notReady[r2 % notReady.length], 'READY');
        };
        steps.push(step);
      }
      const endQps = qps;
      // Quiet end: the controller gives up on replicas still NOT_READY; then nothing happens.
      const giveUp = (rs: SimReplica[]) => {
        for (const r of rs) if (r.status === 'NOT_READY') r.status = 'FAILED_PROBING';
      };
      steps.push({ qps: endQps, events: giveUp }, ...repeat(40, { qps: endQps }));
      const {
        log,
        replicas,
        version,
        policy: endPolicy,
      } = simulate({
        policy: p,
        spot,
        steps,
        readyAfter: (_s, id) => 1 + (id % 4),
      });
      const last = log.at(-1) as SimLog;
      const where = `seed ${seed}: ${JSON.stringify(endPolicy)} spot=${spot} end=${JSON.stringify(last)}`;
      assert.equal(last.target, wantedReplicas(endPolicy, endQps), where);
      assert.ok(
        replicas.every((r) => r.version === version && r.status === 'READY'),
        where,
      );
      assert.equal(replicas.length, last.target, where);
      assert.deepEqual(last.routable, [version], where);
    }
  });
});

/** A small seeded PRNG (mulberry32): the random scripts are the same on every run. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
