/**
 * The serve autoscaler: pure decisions, no I/O and no timers (time comes from `ScaleInput.now`).
 * The controller calls `decide()` every decision interval with every replica not yet removed and the
 * load balancer's QPS; it launches what `launch` says, terminates what `terminate` says, and sends
 * requests only to READY replicas of `routableVersions`.
 *
 * Modelled on SkyPilot's sky/serve/autoscalers.py (RequestRateAutoscaler and
 * FallbackRequestRateAutoscaler) and serve_utils' active versions. The rules, as implemented:
 *
 * Target (replicas wanted of the newest version)
 * - wanted = clamp(ceil(qps / target_qps_per_replica), min, max) when autoscaling, else min
 *   (a fixed `replicas: N` is min = max = N).
 * - Hysteresis as SkyPilot's: delays are counted in decision intervals, periods =
 *   floor(delay_seconds / interval_seconds). At each decision tick where wanted > target the upscale
 *   counter grows (and the downscale one is reset); the target becomes the then-wanted count once the
 *   counter reaches the upscale periods. The same downwards. A tick with wanted == target resets both.
 * - From zero (target 0, i.e. min_replicas 0 and scaled down): the first request sets the target to
 *   wanted at once, on any call (SkyPilot jumps to the computed target too: 1 for a first request, more
 *   if the window already holds more).
 * - On a new version (`serve update`) the target is set to wanted at once and the counters reset
 *   (SkyPilot's update_version does the same).
 *
 * Replicas of the newest version
 * - Alive = PENDING, PROVISIONING, STARTING, READY, NOT_READY. Launches = wanted - alive of each pool,
 *   so a replica that failed or was preempted (it is no longer alive) is replaced at the same decision:
 *   that is not a scale change and no delay applies.
 * - Spot (task asks for spot): of the target, min(base_ondemand_fallback_replicas, target) are
 *   on-demand, the rest spot. With dynamic_ondemand_fallback, one on-demand more for every wanted spot
 *   replica that is not READY (provisioning, starting, or missing because preempted); when spot
 *   replicas turn READY those extra on-demand ones are surplus and terminated. Without spot in the
 *   task every replica is on-demand.
 * - Surplus replicas are removed in SkyPilot's scale-down order: PENDING, PROVISIONING, STARTING,
 *   NOT_READY, then READY; within a status the newest first (latest launchedAt, then highest id).
 * - A decision never takes the newest version's READY count below min(target, its READY count before):
 *   a READY surplus replica whose removal would do so is kept for a later decision (this happens when
 *   the spot/on-demand split moves: e.g. target 3 → 1 with base 1, spot replicas READY and the
 *   on-demand one still STARTING; SkyPilot removes the READY spot ones at once).
 * - Terminal replicas (and SHUTTING_DOWN, UNKNOWN) are never in `terminate`: only alive ones are.
 * - Stop on unrecoverable failure (SkyPilot's latest_version_ever_ready): while no replica of the
 *   newest version has ever been READY (seen READY / NOT_READY / FAILED_PROBING by this autoscaler, or
 *   `wasReady`), a replica of it that is FAILED (its run exited) or FAILED_INITIAL_DELAY stops the
 *   autoscaler: no launch, no terminate, and `failure` says why (the service is FAILED). A version that
 *   was READY once has its lost replicas replaced for good, as SkyPilot does.
 *
 * Older versions (after `serve update`)
 * - rolling: old alive replicas kept = max(0, target - readyNew) (readyNew: READY replicas of the
 *   newest version left after this decision), the rest removed in the scale-down order (not-READY
 *   first, then older versions, then the newest). Routable: every version with a replica kept alive,
 *   plus the newest. So READY old replicas go only as READY new ones stand in for them.
 * - blue_green: old replicas are all kept and the old versions alone are routable until readyNew >=
 *   target; then the newest version alone is routable (for good: the switch is remembered) and every
 *   old alive replica is terminated. Before the switch, routable = the old versions that have a READY
 *   replica; when none has, the newest (better a partial new version than no answer; SkyPilot's
 *   active-version pick falls back the same way). Both are never routable at once.
 *
 * Capacity guarantee (both modes; tested): let R_in be the READY replicas in the input of the versions
 * routable before the decision (the previous decision's routableVersions) and R_out the READY replicas
 * left after this decision's terminations whose version is in its routableVersions. Then
 * R_out >= min(target, R_in) — except that a blue-green update before its switch routes to the old
 * versions only, where R_out = the old READY ones (all kept). Capacity is lost only to failures and
 * preemptions between decisions, never to a decision.
 *
 * Deliberate differences from SkyPilot:
 * - Blue-green switches when readyNew >= target (SkyPilot: >= min_replicas): no capacity dip at the
 *   switch.
 * - The on-demand base is capped at the target (SkyPilot keeps base on-demand replicas even when the
 *   target is lower, e.g. scaled to zero).
 * - The first decision of a (re)started controller sets the target to wanted (from the QPS the load
 *   balancer kept) instead of min_replicas.
 * - decide() may be called more often than every interval (e.g. after each probe round, to replace a
 *   lost replica or route to a new READY one sooner): a call counts as a hysteresis tick only when an
 *   interval (less 250 ms of timer jitter) passed since the last tick, so extra calls do not shorten
 *   the delays. A long gap counts as one tick (SkyPilot counts calls too).
 * - Surplus removal keeps READY capacity (the guarantee above).
 */
import type { ReplicaPolicy, ReplicaStatus, UpdateMode } from '../core/serve.js';

/** SkyPilot's AUTOSCALER_DEFAULT_DECISION_INTERVAL_SECONDS. */
export const DEFAULT_DECISION_INTERVAL_SECONDS = 20;
/** SkyPilot decides more often while the target is 0 (AUTOSCALER_NO_REPLICA_DECISION_INTERVAL_SECONDS). */
export const NO_REPLICA_DECISION_INTERVAL_SECONDS = 5;
/** SkyPilot's AUTOSCALER_QPS_WINDOW_SIZE_SECONDS: the QPS the autoscaler sees is over this many seconds. */
export const QPS_WINDOW_SECONDS = 60;

/** A call is a hysteresis tick when the interval, less this much timer jitter, passed since the last tick. */
const TICK_SLACK_MS = 250;

/** Replica states that count as a replica of the service (launching, serving, or expected back). */
export const REPLICA_ALIVE: ReadonlySet<ReplicaStatus> = new Set<ReplicaStatus>([
  'PENDING',
  'PROVISIONING',
  'STARTING',
  'READY',
  'NOT_READY',
]);

/** SkyPilot's scale_down_decision_order: earlier ones go first. */
const SCALE_DOWN_ORDER: readonly ReplicaStatus[] = [
  'PENDING',
  'PROVISIONING',
  'STARTING',
  'NOT_READY',
  'READY',
];

/** States that show a replica passed its readiness probe once. */
const WAS_READY: ReadonlySet<ReplicaStatus> = new Set<ReplicaStatus>([
  'READY',
  'NOT_READY',
  'FAILED_PROBING',
]);

/** Failures that stop the autoscaler while the version has never been READY (the app is broken). */
const UNRECOVERABLE: ReadonlySet<ReplicaStatus> = new Set<ReplicaStatus>(['FAILED', 'FAILED_INITIAL_DELAY']);

export interface ReplicaView {
  id: number;
  version: number;
  spot: boolean;
  status: ReplicaStatus;
  launchedAt: number;
  /**
   * It passed its readiness probe at least once (SkyPilot's first_ready_time). Optional: without it the
   * autoscaler goes by the statuses it saw, and a replica READY and gone between two decisions looks
   * like one that never was (which matters only to `failure`).
   */
  wasReady?: boolean;
}

export interface ScaleInput {
  /** Epoch ms. */
  now: number;
  /** Of the newest version. */
  policy: ReplicaPolicy;
  /** The newest version. */
  version: number;
  /** Of the last update. */
  mode: UpdateMode;
  /** The newest version's task asks for spot (use_spot in any alternative). */
  taskUsesSpot: boolean;
  /** Requests/s over the window (see qpsOver). */
  qps: number;
  /** Every replica not yet removed (terminal ones included). */
  replicas: ReplicaView[];
}

export interface ScaleDecision {
  /** Wanted replicas of the newest version. */
  target: number;
  /** New replicas of the newest version. */
  launch: Array<{ spot: boolean }>;
  terminate: Array<{ id: number; reason: string }>;
  /** Versions whose READY replicas get requests (until the next decision). Ascending. */
  routableVersions: number[];
  /**
   * Set when the autoscaler stopped (no launch, no terminate) because a replica of the newest version
   * failed for good before any replica of that version was READY: the service is FAILED.
   */
  failure?: string;
}

/**
 * Requests per second over the last `windowSeconds` whole seconds before `nowMs` (the second `nowMs`
 * falls in is not over yet and is left out), from the load balancer's `lb-stats.json` counts
 * ([epochSecond, count] pairs; seconds with none may be missing, a second may appear more than once).
 */
export function qpsOver(counts: Array<[number, number]>, nowMs: number, windowSeconds: number): number {
  if (!(windowSeconds > 0) || !Number.isFinite(nowMs)) return 0;
  const window = Math.floor(windowSeconds);
  if (window < 1) return 0;
  const end = Math.floor(nowMs / 1000); // exclusive
  const start = end - window;
  let sum = 0;
  for (const pair of counts) {
    if (!Array.isArray(pair)) continue;
    const [second, count] = pair;
    if (!Number.isFinite(second) || !Number.isFinite(count) || count <= 0) continue;
    if (second >= start && second < end) sum += count;
  }
  return sum / window;
}

/** min and max made sane (max >= min >= 0, integers). */
function bounds(p: ReplicaPolicy): { min: number; max: number } {
  const min = Math.max(0, Math.floor(p.minReplicas));
  const max = Math.max(min, Math.floor(p.maxReplicas));
  return { min, max };
}

function autoscales(p: ReplicaPolicy): boolean {
  const t = p.targetQpsPerReplica;
  return t !== undefined && Number.isFinite(t) && t > 0;
}

/** The replicas the load asks for, clamped to the policy (min when the policy does not autoscale). */
export function wantedReplicas(policy: ReplicaPolicy, qps: number): number {
  const { min, max } = bounds(policy);
  if (!autoscales(policy)) return min;
  const load = Number.isFinite(qps) && qps > 0 ? qps : 0;
  // The epsilon keeps 0.3 / 0.1 (= 3.0000000000000004 in floating point) at 3.
  const raw = Math.ceil(load / (policy.targetQpsPerReplica as number) - 1e-9);
  return Math.min(max, Math.max(min, raw));
}

/** Sorts replicas into the order they are removed in: not-READY first, older versions, newest first. */
export function scaleDownOrder(a: ReplicaView, b: ReplicaView): number {
  const sa = SCALE_DOWN_ORDER.indexOf(a.status);
  const sb = SCALE_DOWN_ORDER.indexOf(b.status);
  if (sa !== sb) return sa - sb;
  if (a.version !== b.version) return a.version - b.version;
  const la = Number.isFinite(a.launchedAt) ? a.launchedAt : 0;
  const lb = Number.isFinite(b.launchedAt) ? b.launchedAt : 0;
  if (la !== lb) return lb - la;
  return b.id - a.id;
}

function pickSurplus(alive: ReplicaView[], keep: number): ReplicaView[] {
  if (alive.length <= keep) return [];
  return [...alive].sort(scaleDownOrder).slice(0, alive.length - Math.max(0, keep));
}

export class Autoscaler {
  private readonly intervalSeconds: number;
  private target: number | null = null;
  private version: number | null = null;
  private upCount = 0;
  private downCount = 0;
  private lastTickAt: number | null = null;
  /** Blue-green: the newest version that became the only routable one. */
  private liveVersion = -Infinity;
  private readonly everReady = new Set<number>();

  constructor(o: { decisionIntervalSeconds?: number } = {}) {
    const s = o.decisionIntervalSeconds ?? DEFAULT_DECISION_INTERVAL_SECONDS;
    this.intervalSeconds = Number.isFinite(s) && s > 0 ? s : DEFAULT_DECISION_INTERVAL_SECONDS;
  }

  /** The target of the last decision (null before the first). */
  get currentTarget(): number | null {
    return this.target;
  }

  /**
   * How long to wait before the next decide(): the decision interval, or SkyPilot's shorter one while
   * the target is 0 (so a first request is answered sooner; the from-zero jump needs no tick).
   */
  nextDecisionSeconds(): number {
    return this.target === 0
      ? Math.min(NO_REPLICA_DECISION_INTERVAL_SECONDS, this.intervalSeconds)
      : this.intervalSeconds;
  }

  decide(i: ScaleInput): ScaleDecision {
    const policy = i.policy;
    const { min, max } = bounds(policy);
    const wanted = wantedReplicas(policy, i.qps);
    const target = this.updateTarget(i, wanted, min, max);

    const newest = i.replicas.filter((r) => r.version === i.version);
    const old = i.replicas.filter((r) => r.version !== i.version);
    if (newest.some((r) => r.wasReady || WAS_READY.has(r.status))) this.everReady.add(i.version);
    const broken = this.everReady.has(i.version)
      ? undefined
      : newest.find((r) => UNRECOVERABLE.has(r.status));

    const launch: Array<{ spot: boolean }> = [];
    const terminate = new Map<number, string>();
    const aliveNew = newest.filter((r) => REPLICA_ALIVE.has(r.status));
    const readyNewBefore = aliveNew.filter((r) => r.status === 'READY').length;

    if (!broken) {
      // The newest version: each pool to its wanted count.
      let spotWanted = 0;
      let ondemandWanted = target;
      if (i.taskUsesSpot) {
        const base = Math.min(Math.max(0, Math.floor(policy.baseOndemandFallbackReplicas)), target);
        spotWanted = target - base;
        ondemandWanted = base;
        if (policy.dynamicOndemandFallback) {
          const readySpot = aliveNew.filter((r) => r.spot && r.status === 'READY').length;
          ondemandWanted += Math.max(0, spotWanted - readySpot);
        }
      }
      for (const [spot, want] of [
        [true, spotWanted],
        [false, ondemandWanted],
      ] as const) {
        const pool = aliveNew.filter((r) => r.spot === spot);
        for (let n = pool.length; n < want; n++) launch.push({ spot });
        const kind = spot ? 'spot' : 'on-demand';
        for (const r of pickSurplus(pool, want)) {
          terminate.set(
            r.id,
            `scale down: ${want} ${kind} replica(s) of version ${i.version} wanted, ${pool.length} alive`,
          );
        }
      }
      // Keep READY capacity: never below min(target, READY before) through a decision.
      const floor = Math.min(target, readyNewBefore);
      let readyLeft = aliveNew.filter((r) => r.status === 'READY' && !terminate.has(r.id)).length;
      if (readyLeft < floor) {
        const readyGoing = aliveNew
          .filter((r) => r.status === 'READY' && terminate.has(r.id))
          .sort(scaleDownOrder)
          .reverse();
        for (const r of readyGoing) {
          if (readyLeft >= floor) break;
          terminate.delete(r.id);
          readyLeft++;
        }
      }
    }

    const readyNew = aliveNew.filter((r) => r.status === 'READY' && !terminate.has(r.id)).length;
    const aliveOld = old.filter((r) => REPLICA_ALIVE.has(r.status));
    let routableVersions: number[];

    if (i.mode === 'blue_green') {
      const switched = this.liveVersion >= i.version || (!broken && readyNew >= target);
      if (switched) {
        this.liveVersion = Math.max(this.liveVersion, i.version);
        for (const r of broken ? [] : aliveOld) {
          terminate.set(
            r.id,
            `blue-green update: version ${i.version} is live (${readyNew} READY of ${target})`,
          );
        }
        routableVersions = [i.version];
      } else {
        const oldReady = new Set(aliveOld.filter((r) => r.status === 'READY').map((r) => r.version));
        routableVersions = oldReady.size > 0 ? [...oldReady] : [i.version];
      }
    } else {
      if (!broken) {
        const keep = Math.max(0, target - readyNew);
        for (const r of pickSurplus(aliveOld, keep)) {
          terminate.set(
            r.id,
            `rolling update: version ${i.version} has ${readyNew} READY of ${target}; ${keep} old replica(s) kept`,
          );
        }
      }
      const versions = new Set<number>([i.version]);
      for (const r of aliveOld) if (!terminate.has(r.id)) versions.add(r.version);
      routableVersions = [...versions];
    }
    routableVersions.sort((a, b) => a - b);

    const decision: ScaleDecision = {
      target,
      launch,
      terminate: [...terminate].map(([id, reason]) => ({ id, reason })),
      routableVersions,
    };
    if (broken) {
      decision.failure =
        `replica ${broken.id} of version ${i.version} is ${broken.status} and no replica of that version ` +
        'was ever READY: not launching more (fix the service and `serve update` it)';
    }
    return decision;
  }

  /** The hysteresis: moves this.target towards wanted as SkyPilot's RequestRateAutoscaler does. */
  private updateTarget(i: ScaleInput, wanted: number, min: number, max: number): number {
    const intervalMs = this.intervalSeconds * 1000;
    const tick =
      this.lastTickAt === null ||
      i.now < this.lastTickAt ||
      i.now - this.lastTickAt >= intervalMs - Math.min(TICK_SLACK_MS, intervalMs / 10);
    if (tick) this.lastTickAt = i.now;

    if (this.target === null || this.version !== i.version) {
      // First decision, or `serve update`: straight to wanted (SkyPilot's update_version).
      this.version = i.version;
      this.target = wanted;
      this.upCount = this.downCount = 0;
      return this.target;
    }
    if (!autoscales(i.policy)) {
      this.target = min;
      this.upCount = this.downCount = 0;
      return this.target;
    }
    const target = Math.min(max, Math.max(min, this.target));
    this.target = target;
    if (target === 0) {
      // From zero: the first request scales up at once, on any call.
      if (wanted > 0) this.target = wanted;
      this.upCount = this.downCount = 0;
      return this.target;
    }
    if (!tick) return target;
    const upPeriods = Math.floor(Math.max(0, i.policy.upscaleDelaySeconds) / this.intervalSeconds);
    const downPeriods = Math.floor(Math.max(0, i.policy.downscaleDelaySeconds) / this.intervalSeconds);
    if (wanted > target) {
      this.upCount++;
      this.downCount = 0;
      if (this.upCount >= upPeriods) {
        this.upCount = 0;
        this.target = wanted;
      }
    } else if (wanted < target) {
      this.downCount++;
      this.upCount = 0;
      if (this.downCount >= downPeriods) {
        this.downCount = 0;
        this.target = wanted;
      }
    } else {
      this.upCount = this.downCount = 0;
    }
    return this.target;
  }
}
