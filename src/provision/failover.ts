/**
 * The failover loop: try the next place; on an error `classify` decides what to block (a zone, a
 * region, a cloud) or whether to retry the same place, then the next place is asked for, across
 * clouds. Every attempt goes through ONE attempt function (`attemptOnce`): the intent is journaled
 * before the cloud is asked, the intent is resolved on every path, and what a failed attempt created
 * is removed before moving on, so a process killed at any line leaves a record `status --refresh`
 * and `down` use.
 *
 * Where the places come from is the caller's: a new launch re-plans after each block
 * (`plannedPlaces`, fed by the SDK's `planLaunch`); a relaunch or start of a known cluster has its
 * recorded place only (`recordedPlace`).
 */
import { resolveImageId } from '../catalog/images.js';
import type { Cloud, NodeProvider } from '../clouds/types.js';
import type { BlocklistEntry, ClusterSpec, Launchable, NodeInfo } from '../core/cluster.js';
import { launchReachable } from '../runtime/bootstrap.js';
import type { Store } from '../state/index.js';
import { CloudError, InterruptedError, SkyhopError } from '../util/errors.js';
import { sleep } from '../util/sleep.js';
import { blockEntry, firstZone, placeString } from './blocklist.js';
import { classify } from './classify.js';

export interface Attempt {
  place: string;
  instanceType: string;
  outcome: 'ok' | 'blocked' | 'retry' | 'fatal';
  scope?: string;
  error?: string;
}

export interface ProvisionEvents {
  /** A line of progress for the user: what is tried, why the launch moved on. */
  onStep?(message: string): void;
}

/** One place to try: the cloud and the whole spec it is asked for. */
export interface Place {
  cloud: Cloud;
  spec: ClusterSpec;
  /** The optimizer's choice (a new launch); null for a known cluster's recorded place. */
  launchable: Launchable | null;
  /** USD per node-hour, for the progress line; null when unknown. */
  hourlyPrice: number | null;
}

/**
 * The place to try next, given what failed so far. Throws when nothing is left: the planner's
 * UserError (nothing fits at all), or any error once something is blocked.
 */
export type NextPlace = (blocklist: readonly BlocklistEntry[]) => Promise<Place>;

/** How the cloud is asked for the nodes: runInstances, or startInstances for a stopped cluster. */
export type CreateNodes = (
  provider: NodeProvider,
  spec: ClusterSpec,
  signal?: AbortSignal,
  /** Called as each node is reported running (its reachability check starts then). */
  onRunning?: (node: NodeInfo) => void,
) => Promise<NodeInfo[]>;

export interface ProvisionRequest {
  cluster: string;
  store: Store;
  next: NextPlace;
  retryUntilUp?: boolean;
  signal?: AbortSignal;
  events?: ProvisionEvents;
  /**
   * Called after the intent is journaled, before the cloud is asked (the caller records the INIT
   * cluster). A throw ends the launch (the intent is resolved first: nothing was created).
   */
  onAttempt?(place: Place): void;
  /**
   * The cluster had nodes before this call (a known cluster): a failed attempt keeps them (they may
   * hold the user's data) instead of terminating the cluster; its intent is resolved 'failed'.
   */
  keepOnFailure?: boolean;
  /** Default: `provider.runInstances(spec, signal)`. */
  create?: CreateNodes;
  /** Backoff for transient errors and --retry-until-up, in ms (tests shorten it). */
  backoffMs?: { initial: number; max: number };
}

export interface Provisioned {
  cloud: Cloud;
  place: Place;
  zone: string | null;
  nodes: NodeInfo[];
  attempts: Attempt[];
}

function errorText(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0].slice(0, 300);
}

/** The spec the provider gets for a launchable. */
export function specFor(cluster: string, numNodes: number, l: Launchable, zone: string | null): ClusterSpec {
  const spec: ClusterSpec = {
    cluster,
    numNodes,
    instanceType: l.instanceType,
    region: l.region,
    zone,
    useSpot: l.useSpot,
    accelerators: l.accelerators,
  };
  const r = l.request;
  if (r.diskSize !== undefined) spec.diskSize = r.diskSize;
  if (r.ports !== undefined) spec.ports = r.ports;
  // A skypilot:<tag> becomes the cloud's own image in this region (planning kept only such regions).
  if (r.imageId !== undefined) spec.imageId = resolveImageId(l.cloud, r.imageId, l.region);
  if (r.dockerImage !== undefined) spec.dockerImage = r.dockerImage;
  if (r.labels !== undefined) spec.labels = r.labels;
  if (r.networkTier === 'best') spec.networkTier = 'best';
  return spec;
}

/** A new launch's places: the planner's first choice for the (single-task) DAG after the blocklist. */
export function plannedPlaces(o: {
  cluster: string;
  numNodes: number;
  clouds: Cloud[];
  plan(blocklist: BlocklistEntry[]): Promise<{ tasks: Array<{ choice: Launchable }> }>;
}): NextPlace {
  return async (blocklist) => {
    const choice = (await o.plan([...blocklist])).tasks[0].choice;
    const cloud = o.clouds.find((c) => c.name === choice.cloud);
    if (!cloud) throw new Error(`the plan chose ${choice.cloud}, which is not among the clouds given`);
    return {
      cloud,
      spec: specFor(o.cluster, o.numNodes, choice, firstZone(choice)),
      launchable: choice,
      hourlyPrice: choice.hourlyPrice,
    };
  };
}

function blocks(entry: BlocklistEntry, spec: ClusterSpec, cloud: string): boolean {
  if (entry.cloud !== cloud) return false;
  if (entry.region !== undefined && entry.region !== spec.region) return false;
  if (entry.zone !== undefined && entry.zone !== spec.zone) return false;
  return true;
}

/** A known cluster's place: its recorded spec, and nowhere else (its nodes, disks and name live there). */
export function recordedPlace(cloud: Cloud, spec: ClusterSpec, hourlyPrice: number | null): NextPlace {
  return async (blocklist) => {
    const hit = blocklist.find((b) => blocks(b, spec, cloud.name));
    if (hit) {
      throw new CloudError(
        `${spec.cluster} lives on ${placeString({ cloud: cloud.name, ...spec })}, which failed: ${hit.reason ?? 'blocked'}`,
      );
    }
    return { cloud, spec, launchable: null, hourlyPrice };
  };
}

type Outcome = { ok: true; nodes: NodeInfo[] } | { ok: false; error: unknown };

/**
 * The attempt function: journal the intent, ask the cloud, resolve the intent on every path. On a
 * failure, what the attempt created is removed (unless `keepOnFailure`) before the error is returned;
 * a cleanup that fails resolves the intent 'failed' and tells the user how to finish it.
 */
export async function attemptOnce(req: ProvisionRequest, place: Place): Promise<Outcome> {
  const step = req.events?.onStep ?? (() => {});
  const { spec, cloud } = place;
  const where = placeString({ cloud: cloud.name, region: spec.region, zone: spec.zone });
  const intent = req.store.journalIntent({
    cluster: req.cluster,
    cloud: cloud.name,
    region: spec.region,
    zone: spec.zone,
    numNodes: spec.numNodes,
    spec,
  });
  let asked = false;
  let provider: NodeProvider | null = null;
  try {
    req.onAttempt?.(place);
    if (req.signal?.aborted) throw new InterruptedError();
    provider = cloud.provider(spec.region);
    const create: CreateNodes =
      req.create ?? ((p, s, signal, onRunning) => p.runInstances(s, signal, onRunning));
    asked = true;
    // The provider returns nodes running with IPs; answering over SSH is waited for here, for every
    // cloud and every way of creating them (a node's check starts as soon as it is reported running).
    const p = provider;
    const nodes = await launchReachable((onRunning) => create(p, spec, req.signal, onRunning), {
      signal: req.signal,
    });
    req.store.journalResolve(intent, 'created');
    return { ok: true, nodes };
  } catch (error) {
    if (!asked || !provider) {
      req.store.journalResolve(intent, 'cleaned'); // the cloud was never asked: nothing to remove
    } else if (req.keepOnFailure) {
      // The cluster's nodes were there before this call: they stay, and so does its record.
      req.store.journalResolve(intent, 'failed');
    } else {
      try {
        await provider.terminateInstances(req.cluster);
        req.store.journalResolve(intent, 'cleaned');
      } catch (cleanupError) {
        req.store.journalResolve(intent, 'failed');
        step(
          `Could not clean up the partial launch of ${req.cluster} on ${where}: ${errorText(cleanupError)}. Run \`skyhop down ${req.cluster}\`.`,
        );
      }
    }
    return { ok: false, error };
  }
}

export async function provisionWithFailover(req: ProvisionRequest): Promise<Provisioned> {
  const step = req.events?.onStep ?? (() => {});
  const backoff = req.backoffMs ?? { initial: 2000, max: 60000 };
  const attempts: Attempt[] = [];
  const blocklist: BlocklistEntry[] = [];
  let transientDelay = backoff.initial;
  let cycleDelay = backoff.initial;

  for (;;) {
    if (req.signal?.aborted) throw new InterruptedError();
    let place: Place;
    try {
      place = await req.next(blocklist);
    } catch (e) {
      if (blocklist.length === 0) throw e; // nothing fits from the start: the planner's own message says why
      if (req.retryUntilUp) {
        step(
          `Every option failed; retrying all of them in ${Math.round(cycleDelay / 1000)} s (--retry-until-up).`,
        );
        await sleep(cycleDelay, req.signal);
        cycleDelay = Math.min(cycleDelay * 2, backoff.max);
        blocklist.length = 0;
        continue;
      }
      throw new CloudError(`Failed to provision ${req.cluster}: every place that fits was tried.`, {
        details: [
          ...attempts.map((a) => `${a.place} (${a.instanceType}): ${a.error ?? a.outcome}`),
          'Try other resources, another cloud (`skyhop check`), or --retry-until-up.',
        ],
      });
    }
    const { cloud, spec } = place;
    const at = { cloud: cloud.name, region: spec.region, zone: spec.zone };
    const where = placeString(at);
    const price = place.hourlyPrice === null ? '' : `, $${place.hourlyPrice.toFixed(2)}/h per node`;
    step(
      `Launching ${req.cluster} on ${where} (${spec.instanceType}${spec.useSpot ? ', spot' : ''}${price}).`,
    );

    const result = await attemptOnce(req, place);
    if (result.ok) {
      attempts.push({ place: where, instanceType: spec.instanceType, outcome: 'ok' });
      return { cloud, place, zone: spec.zone, nodes: result.nodes, attempts };
    }
    const e = result.error;
    if (req.signal?.aborted || e instanceof InterruptedError) {
      throw new InterruptedError(
        req.keepOnFailure
          ? `Interrupted while bringing ${req.cluster} up on ${where}.`
          : `Interrupted; what ${req.cluster} had created on ${where} was removed.`,
      );
    }
    const scope = classify(cloud, e);
    const msg = errorText(e);
    if (scope === 'fatal') {
      attempts.push({ place: where, instanceType: spec.instanceType, outcome: 'fatal', error: msg });
      if (e instanceof SkyhopError) throw e;
      throw new CloudError(`Failed to launch ${req.cluster} on ${where}: ${msg}`, { cause: e });
    }
    if (scope === 'retry') {
      attempts.push({ place: where, instanceType: spec.instanceType, outcome: 'retry', error: msg });
      step(`${where}: ${msg} — transient; retrying in ${(transientDelay / 1000).toFixed(1)} s.`);
      await sleep(transientDelay, req.signal);
      transientDelay = Math.min(transientDelay * 2, backoff.max);
      continue;
    }
    transientDelay = backoff.initial;
    const entry = blockEntry(scope, at, msg);
    blocklist.push(entry);
    attempts.push({ place: where, instanceType: spec.instanceType, outcome: 'blocked', scope, error: msg });
    step(`${where}: ${msg} — blocking ${placeString(entry)} and trying the next place.`);
  }
}
