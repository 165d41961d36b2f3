/**
 * Cluster lifecycle after launch: stop, start, down, autostop, and `status --refresh` (which
 * reconciles the local record with what the cloud reports, including launches that crashed
 * before they could record anything but their journal intent).
 */
import { getCloud } from '../clouds/registry.js';
import { removeClusterKey } from '../runtime/ssh-keys.js';
import type { NodeInfo } from '../core/cluster.js';
import { type ClusterRecord, type Intent, isDiskFullError, type Store } from '../state/index.js';
import { CloudError, UserError } from '../util/errors.js';
import { type SdkEvents, cloudOf, requireCluster, headRunner } from './clusters.js';
import * as agent from '../agent/client.js';
import { autostopFor } from './jobs.js';
import type { FoundCluster } from '../clouds/discover.js';
import { TAG_CLUSTER } from '../clouds/tags.js';
import { launchSpecOf, requestUser, UnreadableStateError } from '../state/index.js';
import { adoptCluster, adoptedNote, adoptedRecord, choosePlace, findClusters, otherPlaces } from './adopt.js';

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
  // The controller's own autostop lands here too: while a job is unfinished it refuses, and the
  // look at the jobs starts the controller's process again if it had died (src/sdk/managed.ts).
  if (rec.status === 'UP') await refuseBusyController(store, name, 'stop');
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

/**
 * Tears a cluster down: every place its record and its open launch attempts name; a name not on
 * record is looked for in the clouds first (adoptUnknown). When the state database turns out to be
 * damaged after nodes were removed, the error says that they were (the teardown is not undone by a
 * failure to record it).
 */
export async function down(
  store: Store,
  name: string,
  ev: SdkEvents & {
    purge?: boolean;
    /**
     * Keep the cluster's buckets (its `persistent: false` ones too) and their uses: the managed-jobs
     * controller recovering a job onto a new cluster of the same name, whose checkpoints they hold.
     */
    keepBuckets?: boolean;
  } = {},
): Promise<void> {
  const removed: string[] = [];
  try {
    await tearDown(store, name, ev, removed);
  } catch (e) {
    if (removed.length === 0 || !(e instanceof UnreadableStateError)) throw e;
    throw new UnreadableStateError(
      `${name}'s instances on ${removed.join(', ')} were removed, but skyhop could not record it: ${e.message}`,
      { cause: e },
    );
  }
}

async function tearDown(
  store: Store,
  name: string,
  ev: SdkEvents & { purge?: boolean; keepBuckets?: boolean },
  removed: string[],
): Promise<void> {
  const rec = store.getCluster(name) ?? (await adoptUnknown(store, name, ev));
  const intents = store.openIntents(name);
  if (!rec && intents.length === 0) requireCluster(store, name); // throws the usual "does not exist"
  if (rec?.status === 'UP' && !ev.purge) await refuseBusyController(store, name, 'tear down');
  // On a full disk the teardown still runs (it is what frees the space and ends the bill); what
  // skyhop records about it is best effort, and the user is told what was skipped.
  const skipped: string[] = [];
  const bookkeep = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (e) {
      if (!isDiskFullError(e)) throw e;
      skipped.push(what);
    }
  };
  let release: () => void;
  try {
    release = await store.acquireClusterLock(name, { wait: true });
  } catch (e) {
    if (!isDiskFullError(e)) throw e;
    ev.onStep?.(`The disk holding skyhop's state is full: tearing down ${name} without taking its lock.`);
    skipped.push('taking its lock');
    release = () => {};
  }
  try {
    ev.onStep?.(`Tearing down ${name}.`);
    // Every place this cluster may have instances: its record, and any launch attempt still open.
    const places = new Map<string, { cloud: string; region: string }>();
    if (rec) places.set(`${rec.cloud}/${rec.region}`, { cloud: rec.cloud, region: rec.region });
    for (const i of intents) places.set(`${i.cloud}/${i.region}`, { cloud: i.cloud, region: i.region });
    for (const p of places.values()) {
      try {
        await getCloud(p.cloud).provider(p.region).terminateInstances(name);
        removed.push(`${p.cloud}/${p.region}`);
      } catch (e) {
        if (!ev.purge) {
          throw new CloudError(
            `could not tear down ${name} on ${p.cloud}/${p.region} (${(e as Error).message.replace(/[;.]\s*$/, '')}). ` +
              `Run \`skyhop down ${name}\` again, or \`skyhop down --purge ${name}\` to forget it locally`,
            { cause: e },
          );
        }
        ev.onStep?.(
          `Could not reach ${p.cloud}/${p.region} (${(e as Error).message}); forgetting ${name} anyway (--purge).`,
        );
      }
    }
    store.retryWrites?.(); // the teardown may have freed space (a local cluster's nodes live there)
    bookkeep('closing its launch records', () => {
      for (const i of intents) store.journalResolve(i.id, 'cleaned');
    });
    removeClusterKey(name); // its nodes are gone; a relaunch under the same name gets a new key
    if (rec) {
      bookkeep('recording its end in the cost report', () => {
        if (rec.status !== 'STOPPED')
          store.recordEvent(name, 'down', Date.now(), rec.hourlyPrice, rec.resources.numNodes);
        else store.recordEvent(name, 'down', Date.now(), 0, rec.resources.numNodes);
      });
      bookkeep('removing its record', () => store.removeCluster(name));
    }
    if (!ev.keepBuckets) await releaseBuckets(store, name, ev);
  } finally {
    release();
  }
  if (skipped.length > 0) {
    const left = skipped.includes('removing its record')
      ? `; free some space, then \`skyhop status --refresh\` drops its record`
      : '';
    ev.onStep?.(
      `${name} is torn down; the disk holding skyhop's state is full, so skyhop skipped ${skipped.join(', ')}${left}.`,
    );
  }
}

/**
 * A name `down` does not know (no record, no open launch attempt): the clouds are asked for nodes
 * tagged with it (the state may have been lost or moved away); found, the cluster is adopted into the
 * state and torn down like any other; not found anywhere, a UserError says where skyhop looked.
 */
async function adoptUnknown(store: Store, name: string, ev: SdkEvents): Promise<ClusterRecord | null> {
  if (store.openIntents(name).length > 0) return null;
  ev.onStep?.(
    `${name} is not on record; asking the enabled clouds for instances tagged ${TAG_CLUSTER}=${name}.`,
  );
  const { CONTROLLER_KINDS, kindCluster, ownedClusters } = await import('./controller.js');
  for (const kind of CONTROLLER_KINDS) {
    const owned = await ownedClusters(store, kind);
    if (owned === null) {
      throw new CloudError(
        `${name} is not on record, and the ${kind.label} (${kindCluster(kind)}), which may own it, does not answer; retry when it does`,
      );
    }
    if (owned.has(name)) {
      throw new UserError(
        kind.section === 'jobs'
          ? `cluster ${name} belongs to a managed job (the jobs controller owns it); \`skyhop jobs queue -a\` shows which, \`skyhop jobs cancel\` ends it`
          : `cluster ${name} is a replica of a service (the serve controller owns it); \`skyhop serve status\` shows which, \`skyhop serve down\` ends it`,
      );
    }
  }
  const { found, problems } = await findClusters([name]);
  if (found.length === 0) {
    const why = problems.length ? ` (${problems.map((p) => p.message).join('; ')})` : '';
    const names = store.listClusters().map((c) => c.name);
    throw new UserError(
      `cluster ${JSON.stringify(name)} does not exist: it is not on record and no enabled cloud has instances ` +
        `tagged ${TAG_CLUSTER}=${name}${why}${names.length ? ` (clusters: ${names.join(', ')})` : ''}; see \`skyhop status\``,
    );
  }
  const chosen = choosePlace(found);
  const rec = adoptCluster(store, chosen);
  recordOtherPlaces(store, chosen, otherPlaces(found, chosen));
  ev.onStep?.(`${name}: ${adoptedNote(chosen)}.`);
  return rec;
}

/**
 * A name found in more than one place: the record holds one; each other place gets an open journal
 * intent, so `down` (which tears down every place of the record and of its open intents) reaches it.
 */
function recordOtherPlaces(store: Store, chosen: FoundCluster, others: readonly FoundCluster[]): void {
  for (const o of others) {
    const spec = launchSpecOf(adoptedRecord(o));
    store.journalIntent({
      cluster: chosen.name,
      cloud: o.cloud.name,
      region: o.region,
      zone: spec.zone,
      numNodes: o.nodes.length,
      spec,
    });
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

/** The holder's description, when another live process holds the cluster's lock. */
async function tryLock(store: Store, name: string): Promise<(() => void) | string> {
  try {
    return await store.acquireClusterLock(name, { wait: false });
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    const h = store.lockHolder(name);
    return h ? `pid ${h.pid} (${h.command})` : 'another process';
  }
}

/**
 * Reconcile every cluster (or the named ones) and every open journal intent with the clouds. Decided
 * from facts only: each cluster is looked at under its lock (one busy in another live process is
 * skipped, with a note), an open intent counts as a launch in progress only while the process that
 * wrote it runs (pid and start time, see state/process.ts), and the cloud's answer says what exists.
 *
 * With `adopt` (`status --refresh`), the enabled clouds are also asked for every cluster carrying
 * skyhop's tags (src/clouds/discover.ts); one the state has neither a record nor an open intent of is
 * adopted (src/sdk/adopt.ts), so a lost or emptied state database leaks nothing.
 */
export async function refresh(
  store: Store,
  names?: string[],
  opts: { adopt?: boolean } = {},
): Promise<RefreshChange[]> {
  const changes: RefreshChange[] = [];
  const wanted = (n: string) => !names?.length || names.includes(n);
  const recs = store.listClusters().filter((c) => wanted(c.name));
  await Promise.all(
    recs.map(async (rec) => {
      const lock = await tryLock(store, rec.name);
      if (typeof lock === 'string') {
        changes.push({
          cluster: rec.name,
          from: rec.status,
          to: rec.status,
          note: `skipped: in use by ${lock}`,
        });
        return;
      }
      try {
        const change = await refreshCluster(store, store.getCluster(rec.name) ?? rec);
        if (change) changes.push(change);
      } finally {
        lock();
      }
    }),
  );
  // Launches that died before recording a cluster: their intents name where to look.
  const known = new Set(store.listClusters().map((c) => c.name));
  const orphans = new Map<string, Intent[]>();
  for (const i of store.openIntents()) {
    if (known.has(i.cluster) || !wanted(i.cluster)) continue;
    orphans.set(i.cluster, [...(orphans.get(i.cluster) ?? []), i]);
  }
  for (const [cluster, intents] of orphans) {
    if (intents.some((i) => i.processAlive)) continue; // a launch in progress: it resolves its own intents
    const lock = await tryLock(store, cluster);
    if (typeof lock === 'string') {
      changes.push({ cluster, from: null, to: null, note: `skipped: in use by ${lock}` });
      continue;
    }
    try {
      for (const i of store.openIntents(cluster)) {
        if (i.processAlive) continue;
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
          note: `a launch that did not finish (pid ${i.pid}) left ${nodes.length} instance(s) on ${i.cloud}/${i.region}; \`skyhop down ${i.cluster}\` removes them`,
        });
      }
    } finally {
      lock();
    }
  }
  if (opts.adopt) changes.push(...(await adoptFromClouds(store, names)));
  return changes;
}

/** The clusters the clouds have by tag and the state knows nothing of (no record, no open intent), adopted. */
async function adoptFromClouds(store: Store, names?: string[]): Promise<RefreshChange[]> {
  const changes: RefreshChange[] = [];
  const { found, problems } = await findClusters(names);
  for (const p of problems) changes.push({ cluster: p.cloud.name, from: null, to: null, note: p.message });
  const byName = new Map<string, FoundCluster[]>();
  for (const f of found) byName.set(f.name, [...(byName.get(f.name) ?? []), f]);
  // The controllers' clusters (managed jobs', services' replicas) carry the same tags; they are theirs, not ours.
  const { CONTROLLER_KINDS, isControllerName, kindCluster, ownedClusters } = await import('./controller.js');
  // An admin of a team server sees every user's controllers: none of their clusters is adopted.
  const admin = requestUser()?.role === 'admin';
  const controllers = CONTROLLER_KINDS.flatMap((kind) =>
    admin
      ? store
          .listClusters()
          .map((c) => c.name)
          .filter((n) => isControllerName(n) && (n === kind.cluster || n.startsWith(`${kind.cluster}-`)))
          .map((n) => ({ kind, name: n }))
      : [{ kind, name: kindCluster(kind) }],
  );
  let managed: Set<string> | null = new Set<string>();
  let silent = '';
  if (byName.size > 0) {
    for (const c of controllers) {
      const theirs = await ownedClusters(store, c.kind, c.name);
      if (theirs === null) {
        managed = null;
        silent = c.name;
        break;
      }
      for (const n of theirs) managed.add(n);
    }
  }
  if (managed === null) {
    // Which of them are the controller's is unknown: adopting one would take a job's or replica's cluster.
    changes.push({
      cluster: silent,
      from: null,
      to: null,
      note: `does not answer, so clusters found by tag and not on record were left alone (they may be its)`,
    });
    return changes;
  }
  // Through a team server, a user adopts only names that are theirs (a launch of theirs that died
  // before recording its cluster): another user's cluster found by tag is neither shown nor taken.
  const user = requestUser();
  const mine = (name: string) =>
    !user || user.role === 'admin' || store.ownerOf('cluster', name) === user.name;
  for (const [name, places] of byName) {
    if (!mine(name)) continue;
    if (store.getCluster(name) || store.openIntents(name).length > 0) continue;
    if (managed.has(name)) continue;
    const lock = await tryLock(store, name);
    if (typeof lock === 'string') {
      changes.push({ cluster: name, from: null, to: null, note: `skipped: in use by ${lock}` });
      continue;
    }
    try {
      // Looked at again under the lock: a launch may have recorded it meanwhile.
      if (store.getCluster(name) || store.openIntents(name).length > 0) continue;
      const chosen = choosePlace(places);
      const rec = adoptCluster(store, chosen);
      const others = otherPlaces(places, chosen);
      recordOtherPlaces(store, chosen, others);
      const also = others.length
        ? `; it also has instances on ${others.map((o) => `${o.cloud.name}/${o.region}`).join(', ')}, which \`skyhop down ${name}\` removes too`
        : '';
      changes.push({ cluster: name, from: null, to: rec.status, note: `${adoptedNote(chosen)}${also}` });
    } finally {
      lock();
    }
  }
  return changes;
}

/** One cluster, under its lock: what the journal and the cloud say it is now. */
async function refreshCluster(store: Store, rec: ClusterRecord): Promise<RefreshChange | null> {
  const intents = store.openIntents(rec.name);
  const running = intents.find((i) => i.processAlive && i.pid !== process.pid);
  if (running) {
    // Its lock was free, yet a live process is creating its instances: leave it to that process.
    return {
      cluster: rec.name,
      from: rec.status,
      to: rec.status,
      note: `skipped: pid ${running.pid} is launching it`,
    };
  }
  const dead = intents.filter((i) => !i.processAlive);
  let nodes: NodeInfo[];
  try {
    nodes = await cloudOf(rec).provider(rec.region).queryInstances(rec.name);
  } catch (e) {
    return {
      cluster: rec.name,
      from: rec.status,
      to: rec.status,
      note: `could not query: ${(e as Error).message}`,
    };
  }
  const live = nodes.filter((n) => n.status !== 'terminated');
  if (live.length === 0) {
    store.recordEvent(
      rec.name,
      'down',
      Date.now(),
      rec.status === 'STOPPED' ? 0 : rec.hourlyPrice,
      rec.resources.numNodes,
    );
    // Gone by itself (autodown, preemption, deleted outside skyhop) or never created by a launch that
    // died: what the cloud keeps beside the instances (AWS: security group, key pair) and the
    // cluster's SSH key go too.
    await cloudOf(rec)
      .provider(rec.region)
      .terminateInstances(rec.name)
      .catch(() => {});
    removeClusterKey(rec.name);
    for (const i of dead) store.journalResolve(i.id, 'cleaned');
    store.removeCluster(rec.name);
    await releaseBuckets(store, rec.name, {});
    return {
      cluster: rec.name,
      from: rec.status,
      to: null,
      note:
        rec.status === 'INIT' && dead.length > 0
          ? `a launch that did not finish (pid ${dead[0].pid}) left no instances`
          : 'no instances left in the cloud (terminated or preempted)',
    };
  }
  // A dead launch's intent at the record's own place is covered by the record from now on (`down`
  // finds the instances through it); one elsewhere stays open for `down` to look there too.
  for (const i of dead) {
    if (i.cloud === rec.cloud && i.region === rec.region) store.journalResolve(i.id, 'failed');
  }
  const allStopped = live.every((n) => n.status === 'stopped' || n.status === 'stopping');
  const allRunning = live.length === rec.resources.numNodes && live.every((n) => n.status === 'running');
  const to: ClusterRecord['status'] = allStopped
    ? 'STOPPED'
    : allRunning && rec.status !== 'INIT'
      ? 'UP'
      : rec.status === 'UP'
        ? 'INIT'
        : rec.status;
  if (to === rec.status) {
    if (rec.status === 'INIT' && dead.length > 0) {
      return {
        cluster: rec.name,
        from: rec.status,
        to,
        note: `a launch that did not finish (pid ${dead[0].pid}) left ${live.length} instance(s); \`skyhop launch -c ${rec.name}\` finishes it, \`skyhop down ${rec.name}\` removes them`,
      };
    }
    return null;
  }
  if (to === 'STOPPED')
    store.recordEvent(rec.name, 'stop', Date.now(), rec.hourlyPrice, rec.resources.numNodes);
  store.setClusterStatus(rec.name, to);
  return {
    cluster: rec.name,
    from: rec.status,
    to,
    note: `the cloud reports ${live.map((n) => n.status).join(', ')}`,
  };
}

/**
 * After a cluster is gone: it no longer uses its buckets, and the ones skyhop created for it with
 * `persistent: false` (used by no other cluster) are deleted. A bucket that cannot be deleted now
 * is kept on record (`skyhop storage ls`) with a note; the cluster's teardown stands.
 */
async function releaseBuckets(store: Store, cluster: string, ev: SdkEvents): Promise<void> {
  if (!store.storageUses().some((u) => u.cluster === cluster)) return;
  const { releaseStorage } = await import('../storage/index.js');
  try {
    await releaseStorage(store, cluster, { onStep: ev.onStep });
  } catch (e) {
    ev.onStep?.(
      `${cluster} is torn down, but its buckets could not be released: ${(e as Error).message}; \`skyhop storage delete\` retries`,
    );
  }
}

/**
 * A controller owns the clusters of its unfinished managed jobs and its services' replicas (their
 * records live on it): tearing it down would leave them running unseen, and stopping it would leave
 * them unwatched, so `down` and `stop` refuse until they have ended.
 */
async function refuseBusyController(store: Store, name: string, verb: 'stop' | 'tear down'): Promise<void> {
  // Whose controller it is, from its name: the bare name (made without a team server) or
  // `<name>-<user>`: an admin of a team server may tear down any user's, so the check is that user's
  // controller, not the caller's own.
  const { JOBS_CONTROLLER, SERVE_CONTROLLER } = await import('./controller.js');
  const userOf = (kind: { cluster: string }): string | null =>
    name === kind.cluster
      ? ''
      : name.startsWith(`${kind.cluster}-`)
        ? name.slice(kind.cluster.length + 1)
        : null;
  const whose = (user: string) => (user && user !== process.env.SKYHOP_API_USER ? ` of user '${user}'` : '');
  const jobsUser = userOf(JOBS_CONTROLLER);
  if (jobsUser !== null) {
    const { managedQueue } = await import('./managed.js');
    const { isManagedUnfinished } = await import('../state/index.js');
    const live = (await managedQueue({ store, user: jobsUser })).filter(isManagedUnfinished).map((j) => j.id);
    if (live.length === 0) return;
    throw new UserError(
      `the jobs controller${whose(jobsUser)} still runs managed job${live.length === 1 ? '' : 's'} ${live.join(', ')}; cancel ${live.length === 1 ? 'it' : 'them'} first (\`skyhop jobs cancel -a\`), then ${verb} it`,
    );
  }
  const serveUser = userOf(SERVE_CONTROLLER);
  if (serveUser === null) return;
  const { serveStatus } = await import('./serve.js');
  const live = (await serveStatus({ store, user: serveUser })).map((s) => s.name);
  if (live.length === 0) return;
  throw new UserError(
    `the serve controller${whose(serveUser)} still runs service${live.length === 1 ? '' : 's'} ${live.join(', ')}; take ${live.length === 1 ? 'it' : 'them'} down first (\`skyhop serve down -a\`), then ${verb} it`,
  );
}
