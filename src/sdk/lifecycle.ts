/**
 * Cluster lifecycle after launch: stop, start, down, autostop, and `status --refresh` (which
 * reconciles the local record with what the cloud reports, including launches that crashed
 * before they could record anything but their journal intent).
 */
import { getCloud } from '../clouds/registry.js';
import { removeClusterKey } from '../runtime/ssh-keys.js';
import type { NodeInfo } from '../core/cluster.js';
import type { ClusterRecord, Store } from '../state/index.js';
import { CloudError, UserError } from '../util/errors.js';
import { type SdkEvents, cloudOf, requireCluster, headRunner } from './clusters.js';
import * as agent from '../agent/client.js';
import { autostopFor } from './jobs.js';

export async function stop(store: Store, name: string, ev: SdkEvents = {}): Promise<void> {
  const rec = requireCluster(store, name);
  const cloud = cloudOf(rec);
  const provider = cloud.provider(rec.region);
  if (!cloud.features.has('stop') || !provider.stopInstances) {
    throw new UserError(`${cloud.displayName} clusters cannot be stopped; use \`skyhop down ${name}\``);
  }
  if (rec.status === 'STOPPED') {
    ev.onStep?.(`Cluster ${name} is already stopped.`);
    return;
  }
  const release = await store.acquireClusterLock(name, { wait: true });
  try {
    ev.onStep?.(`Stopping ${name}.`);
    await provider.stopInstances(name);
    store.setClusterStatus(name, 'STOPPED');
    store.recordEvent(name, 'stop', Date.now(), rec.hourlyPrice, rec.resources.numNodes);
  } finally {
    release();
  }
}

export async function down(
  store: Store,
  name: string,
  ev: SdkEvents & { purge?: boolean } = {},
): Promise<void> {
  const rec = store.getCluster(name);
  const intents = store.openIntents(name);
  if (!rec && intents.length === 0) requireCluster(store, name); // throws the usual "does not exist"
  const release = await store.acquireClusterLock(name, { wait: true });
  try {
    ev.onStep?.(`Tearing down ${name}.`);
    // Every place this cluster may have instances: its record, and any launch attempt still open.
    const places = new Map<string, { cloud: string; region: string }>();
    if (rec) places.set(`${rec.cloud}/${rec.region}`, { cloud: rec.cloud, region: rec.region });
    for (const i of intents) places.set(`${i.cloud}/${i.region}`, { cloud: i.cloud, region: i.region });
    for (const p of places.values()) {
      try {
        await getCloud(p.cloud).provider(p.region).terminateInstances(name);
      } catch (e) {
        if (!ev.purge) {
          throw new CloudError(
            `could not tear down ${name} on ${p.cloud}/${p.region}: ${(e as Error).message}; retry, or \`skyhop down --purge ${name}\` to forget it locally`,
            { cause: e },
          );
        }
        ev.onStep?.(
          `Could not reach ${p.cloud}/${p.region} (${(e as Error).message}); forgetting ${name} anyway (--purge).`,
        );
      }
    }
    for (const i of intents) store.journalResolve(i.id, 'cleaned');
    removeClusterKey(name); // its nodes are gone; a relaunch under the same name gets a new key
    if (rec) {
      if (rec.status !== 'STOPPED')
        store.recordEvent(name, 'down', Date.now(), rec.hourlyPrice, rec.resources.numNodes);
      else store.recordEvent(name, 'down', Date.now(), 0, rec.resources.numNodes);
      store.removeCluster(name);
    }
  } finally {
    release();
  }
}

export async function start(store: Store, name: string, ev: SdkEvents = {}): Promise<ClusterRecord> {
  const rec = requireCluster(store, name);
  if (rec.status === 'UP') {
    ev.onStep?.(`Cluster ${name} is already UP.`);
    return rec;
  }
  // launch's bring-up path handles STOPPED and INIT alike.
  const { relaunchExisting } = await import('./launch.js');
  return relaunchExisting(store, rec, ev);
}

export async function setAutostop(
  store: Store,
  name: string,
  a: { idleMinutes: number; down: boolean } | null,
): Promise<void> {
  const rec = requireCluster(store, name);
  if (rec.status !== 'UP') throw new UserError(`cluster ${name} is ${rec.status}; autostop needs it UP`);
  const config = await autostopFor(cloudOf(rec), rec, a);
  const head = headRunner(rec);
  try {
    await agent.setAutostop(head, config);
  } finally {
    await head.close();
  }
  store.setAutostop(name, a);
}

export interface RefreshChange {
  cluster: string;
  from: string | null;
  to: string | null;
  note: string;
}

/** Reconcile every cluster (or the named ones) and every open journal intent with the clouds. */
export async function refresh(store: Store, names?: string[]): Promise<RefreshChange[]> {
  const changes: RefreshChange[] = [];
  const recs = store.listClusters().filter((c) => !names?.length || names.includes(c.name));
  await Promise.all(
    recs.map(async (rec) => {
      let nodes: NodeInfo[];
      try {
        nodes = await cloudOf(rec).provider(rec.region).queryInstances(rec.name);
      } catch (e) {
        changes.push({
          cluster: rec.name,
          from: rec.status,
          to: rec.status,
          note: `could not query: ${(e as Error).message}`,
        });
        return;
      }
      const live = nodes.filter((n) => n.status !== 'terminated');
      if (live.length === 0) {
        if (
          rec.status === 'INIT' &&
          store.openIntents(rec.name).length > 0 &&
          Date.now() - rec.launchedAt < 5000
        )
          return;
        store.recordEvent(
          rec.name,
          'down',
          Date.now(),
          rec.status === 'STOPPED' ? 0 : rec.hourlyPrice,
          rec.resources.numNodes,
        );
        if (rec.status !== 'INIT') {
          // Gone by itself (autodown, preemption, deleted outside skyhop): what the cloud keeps
          // beside the instances (AWS: security group, key pair) and the cluster's SSH key go too.
          await cloudOf(rec)
            .provider(rec.region)
            .terminateInstances(rec.name)
            .catch(() => {});
          removeClusterKey(rec.name);
        }
        for (const i of store.openIntents(rec.name)) store.journalResolve(i.id, 'cleaned');
        store.removeCluster(rec.name);
        changes.push({
          cluster: rec.name,
          from: rec.status,
          to: null,
          note: 'no instances left in the cloud (terminated or preempted)',
        });
        return;
      }
      const allStopped = live.every((n) => n.status === 'stopped' || n.status === 'stopping');
      const allRunning = live.length === rec.resources.numNodes && live.every((n) => n.status === 'running');
      const to = allStopped
        ? 'STOPPED'
        : allRunning && rec.status !== 'INIT'
          ? 'UP'
          : rec.status === 'UP'
            ? 'INIT'
            : rec.status;
      if (to !== rec.status) {
        if (to === 'STOPPED')
          store.recordEvent(rec.name, 'stop', Date.now(), rec.hourlyPrice, rec.resources.numNodes);
        store.setClusterStatus(rec.name, to as ClusterRecord['status']);
        changes.push({
          cluster: rec.name,
          from: rec.status,
          to,
          note: `the cloud reports ${live.map((n) => n.status).join(', ')}`,
        });
      }
    }),
  );
  // Launches that died before recording a cluster: their intents name where to look.
  const known = new Set(store.listClusters().map((c) => c.name));
  for (const i of store.openIntents()) {
    if (known.has(i.cluster) || (names?.length && !names.includes(i.cluster))) continue;
    if (isAlive(i.pid)) continue; // a launch still in progress
    const nodes = await getCloud(i.cloud)
      .provider(i.region)
      .queryInstances(i.cluster)
      .catch(() => null);
    if (nodes === null) continue;
    if (nodes.length === 0) {
      store.journalResolve(i.id, 'cleaned');
      continue;
    }
    changes.push({
      cluster: i.cluster,
      from: null,
      to: 'INIT',
      note: `a launch that did not finish left ${nodes.length} instance(s) on ${i.cloud}/${i.region}; \`skyhop down ${i.cluster}\` removes them`,
    });
  }
  return changes;
}

function isAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
