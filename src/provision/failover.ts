/**
 * The failover loop: try the optimizer's first choice; on an error the cloud classifies, block
 * that zone, region or cloud, re-optimize and try the next place, across clouds. A partial
 * creation is torn down before moving on. Every attempt is journaled before anything is created,
 * so a process killed at any line leaves a record `status --refresh` and `down` use.
 */
import type { Cloud } from '../clouds/types.js';
import type { BlocklistEntry, ClusterSpec, Launchable, NodeInfo } from '../core/cluster.js';
import type { Dag } from '../core/task.js';
import { launchReachable } from '../runtime/bootstrap.js';
import type { Store } from '../state/index.js';
import { CloudError, InterruptedError, SkyhopError } from '../util/errors.js';
import { blockEntry, firstZone, placeString } from './blocklist.js';
import { sleep } from '../util/sleep.js';

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

export interface ProvisionRequest {
  cluster: string;
  dag: Dag;
  clouds: Cloud[];
  store: Store;
  target?: 'cost' | 'time';
  retryUntilUp?: boolean;
  signal?: AbortSignal;
  events?: ProvisionEvents;
  /** Extra ClusterSpec fields (e.g. the cluster's SSH public key). */
  specExtras?: Partial<ClusterSpec>;
  /** Called after the intent is journaled, before the cloud is asked (the caller records the INIT cluster). */
  onAttempt?(l: Launchable, zone: string | null): void;
  /** Backoff for transient errors and --retry-until-up, in ms (tests shorten it). */
  backoffMs?: { initial: number; max: number };
}

export interface Provisioned {
  cloud: Cloud;
  launchable: Launchable;
  zone: string | null;
  nodes: NodeInfo[];
  attempts: Attempt[];
}

type Optimize = (
  dag: Dag,
  opts: { clouds: Cloud[]; blocklist?: BlocklistEntry[]; target?: 'cost' | 'time' },
) => { tasks: Array<{ choice: Launchable }> };

function errorText(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0].slice(0, 300);
}

/** The spec the provider gets for a launchable. */
export function specFor(cluster: string, numNodes: number, l: Launchable, zone: string | null): ClusterSpec {
  return {
    cluster,
    numNodes,
    instanceType: l.instanceType,
    region: l.region,
    zone,
    useSpot: l.useSpot,
    accelerators: l.accelerators,
    diskSize: l.request.diskSize,
    ports: l.request.ports,
    imageId: l.request.imageId,
    labels: l.request.labels,
  };
}

export async function provisionWithFailover(req: ProvisionRequest): Promise<Provisioned> {
  const { optimize } = (await import('../optimizer/index.js')) as { optimize: Optimize };
  const step = req.events?.onStep ?? (() => {});
  const backoff = req.backoffMs ?? { initial: 2000, max: 60000 };
  const numNodes = req.dag.tasks[0].numNodes;
  const attempts: Attempt[] = [];
  const blocklist: BlocklistEntry[] = [];
  let transientDelay = backoff.initial;
  let cycleDelay = backoff.initial;

  for (;;) {
    if (req.signal?.aborted) throw new InterruptedError();
    let choice: Launchable;
    try {
      choice = optimize(req.dag, { clouds: req.clouds, blocklist, target: req.target }).tasks[0].choice;
    } catch (e) {
      if (blocklist.length === 0) throw e; // infeasible from the start: the optimizer's own message says why
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
    const cloud = req.clouds.find((c) => c.name === choice.cloud)!;
    const zone = firstZone(choice);
    const place = { cloud: choice.cloud, region: choice.region, zone };
    const where = placeString(place);
    step(
      `Launching ${req.cluster} on ${where} (${choice.instanceType}${choice.useSpot ? ', spot' : ''}, $${choice.hourlyPrice.toFixed(2)}/h per node).`,
    );

    const spec = { ...specFor(req.cluster, numNodes, choice, zone), ...req.specExtras };
    const intent = req.store.journalIntent({
      cluster: req.cluster,
      cloud: choice.cloud,
      region: choice.region,
      zone,
      numNodes,
      spec,
    });
    req.onAttempt?.(choice, zone);
    let provider: ReturnType<Cloud['provider']> | null = null;
    try {
      provider = cloud.provider(choice.region);
      // Running with IPs from the provider; answering over SSH is waited for here, for every cloud.
      const p = provider;
      const nodes = await launchReachable((onRunning) => p.runInstances(spec, req.signal, onRunning), {
        signal: req.signal,
      });
      req.store.journalResolve(intent, 'created');
      attempts.push({ place: where, instanceType: choice.instanceType, outcome: 'ok' });
      return { cloud, launchable: choice, zone, nodes, attempts };
    } catch (e) {
      const interrupted = req.signal?.aborted || e instanceof InterruptedError;
      const scope = interrupted ? 'fatal' : cloud.classifyError(e);
      // Whatever this attempt created is removed before moving on (or giving up).
      try {
        if (provider) await provider.terminateInstances(req.cluster);
        req.store.journalResolve(intent, 'cleaned');
      } catch (cleanupError) {
        req.store.journalResolve(intent, 'failed');
        step(
          `Could not clean up the partial launch on ${where}: ${errorText(cleanupError)}. Run \`skyhop down ${req.cluster}\`.`,
        );
      }
      if (interrupted)
        throw new InterruptedError(`Interrupted; what ${req.cluster} had created on ${where} was removed.`);
      const msg = errorText(e);
      if (scope === 'fatal') {
        attempts.push({ place: where, instanceType: choice.instanceType, outcome: 'fatal', error: msg });
        if (e instanceof SkyhopError) throw e;
        throw new CloudError(`Failed to launch ${req.cluster} on ${where}: ${msg}`, { cause: e });
      }
      if (scope === 'retry') {
        attempts.push({ place: where, instanceType: choice.instanceType, outcome: 'retry', error: msg });
        step(`${where}: ${msg} — transient; retrying in ${(transientDelay / 1000).toFixed(1)} s.`);
        await sleep(transientDelay, req.signal);
        transientDelay = Math.min(transientDelay * 2, backoff.max);
        continue;
      }
      transientDelay = backoff.initial;
      const entry = blockEntry(scope, place, msg);
      blocklist.push(entry);
      attempts.push({
        place: where,
        instanceType: choice.instanceType,
        outcome: 'blocked',
        scope,
        error: msg,
      });
      step(`${where}: ${msg} — blocking ${placeString(entry)} and trying the next place.`);
    }
  }
}
