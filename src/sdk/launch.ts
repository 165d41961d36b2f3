/**
 * `launch`: plan, provision with failover (or reuse / restart an existing cluster), prepare the
 * nodes, submit the task as a job and (unless detached) stream its output.
 *
 * One launch request, one attempt function: a new cluster's places come from `planLaunch` (the plan
 * the user was shown), a known cluster's from its record (the whole spec it was launched with, labels
 * included); both go through provision/failover.ts, which journals every attempt before the cloud is
 * asked, resolves it on every path and removes what a failed attempt created.
 *
 * Crash safety: the cluster lock is held from planning to job submission; Ctrl-C (the AbortSignal)
 * during provisioning removes what this launch created.
 */
import type { Cloud } from '../clouds/types.js';
import { effectiveConfig, launchSpec, loadConfig, type SkyhopConfig } from '../config/config.js';
import type { BlocklistEntry, Launchable } from '../core/cluster.js';
import {
  closeAll,
  agentBundlePath,
  runNodeSetup,
  runnersFor,
  startContainers,
  syncTaskFiles,
} from '../runtime/bootstrap.js';
import type { CommandRunner } from '../runtime/types.js';
import { launchSpecOf, openStore, type ClusterRecord, type Store } from '../state/index.js';
import type { StorageMount } from '../core/storage.js';
import type { Dag, Resources, Task } from '../core/task.js';
import { CloudError, InterruptedError, UserError } from '../util/errors.js';
import {
  type CreateNodes,
  type NextPlace,
  type Place,
  plannedPlaces,
  provisionWithFailover,
  recordedPlace,
} from '../provision/failover.js';
import { planLaunch } from './plan.js';
import {
  type SdkEvents,
  cloudOf,
  describeLaunched,
  generateClusterName,
  incompatibility,
  jobDemand,
  validateClusterName,
} from './clusters.js';
import { checkAutostop, installClusterAgent, submitTask, followJob, type JobOutcome } from './jobs.js';
import { teardownIfAutodownNow } from './teardown.js';

export interface LaunchOptions extends SdkEvents {
  dag: Dag;
  cluster?: string;
  /** Enabled clouds to choose from (the CLI resolves --cloud/--clouds). */
  clouds: Cloud[];
  target?: 'cost' | 'time';
  /** Clouds that may hold the task's inputs (egress pricing); default every registered cloud (see planLaunch). */
  dataClouds?: Cloud[];
  detach?: boolean;
  retryUntilUp?: boolean;
  signal?: AbortSignal;
  /** Called once the job is submitted (the CLI uses it for the Ctrl-C message). */
  onSubmitted?(cluster: string, jobId: number): void;
  /** Called when another process holds the cluster's lock. */
  onWait?(message: string): void;
  backoffMs?: { initial: number; max: number };
  store?: Store;
  /**
   * Extra `docker run` arguments for the nodes' containers (`image_id: docker:`), each one argv
   * element: SkyPilot's `docker.run_options`. Applied when a container is created.
   */
  dockerRunOptions?: string[];
  /**
   * Places a new cluster must not use (as if a failed attempt had blocked them): the jobs
   * controller's `EAGER_NEXT_REGION` recovery leaves the region it was preempted in this way.
   */
  avoid?: BlocklistEntry[];
  /**
   * A failed launch keeps the buckets it prepared (its `persistent: false` ones too): the jobs
   * controller's, whose task keeps its checkpoints in them until the job is done.
   */
  keepBuckets?: boolean;
}

export interface LaunchResult {
  cluster: string;
  jobId: number | null;
  /** Present unless detached. */
  outcome: JobOutcome | null;
  reused: boolean;
}

function singleTask(dag: Dag): Task {
  if (dag.tasks.length !== 1) {
    throw new UserError(
      `launch runs one task, and ${dag.name ?? 'this file'} is a pipeline of ${dag.tasks.length}; plan it with \`skyhop optimize\``,
    );
  }
  return dag.tasks[0];
}

/** Autostop is the task's `resources.autostop` (the CLI's -i/--down are overrides of it). */
export async function launch(opts: LaunchOptions): Promise<LaunchResult> {
  const store = opts.store ?? openStore();
  const task = singleTask(opts.dag);
  const name = opts.cluster ?? generateClusterName();
  validateClusterName(name);
  const step = opts.onStep ?? (() => {});

  const release = await store.acquireClusterLock(name, {
    wait: true,
    onWait: (h) =>
      opts.onWait?.(`Waiting for another skyhop process (pid ${h.pid}: ${h.command}) working on ${name}...`),
  });
  let runners: CommandRunner[] = [];
  try {
    // The containers' `docker run` options: the caller's, else the config's (`docker.run_options`, the
    // task's `config:` winning over the config file).
    const dockerRunOptions =
      opts.dockerRunOptions ?? effectiveConfig(task, await loadConfig()).docker.runOptions;
    const storage = storageMountsOf(task);
    let rec = store.getCluster(name);
    if (storage && (rec?.spec?.dockerImage || task.resources.some((r) => r.dockerImage))) {
      throw new UserError(
        'file_mounts: buckets cannot be mounted into a task container (image_id: docker:) yet; copy the data in setup, or drop image_id',
      );
    }
    if (storage) {
      // Before any instance exists: a missing or denied bucket costs nothing; buckets to create are
      // journaled in the state first, and sources are uploaded (unchanged files are not sent again).
      step(`Preparing ${plural(Object.keys(storage).length, 'bucket')} for ${name}.`);
      const { prepareStorage } = await import('../storage/index.js');
      await prepareStorage(store, name, task, { onStep: step, signal: opts.signal });
    }
    let reused = false;
    // A reused cluster takes the task's (first alternative's) autostop; a new one, its chosen alternative's.
    let autostop = task.resources[0]?.autostop;
    if (rec) {
      const why = incompatibility(rec, task);
      if (why) {
        throw new UserError(
          `cluster ${name} exists with ${describeLaunched(rec)}, but ${why}; use another name (-c) or \`skyhop down ${name}\` first`,
        );
      }
      checkAutostop(cloudFor(rec, opts.clouds), rec, autostop);
      rec = await bringUp(store, rec, { ...opts, dockerRunOptions, onStep: step });
      reused = true;
    } else {
      const made = await provisionNew(store, name, { ...opts, dockerRunOptions }, task, step).catch(
        async (e) => {
          // Nothing was launched (the failover loop removed every attempt and the record went): the
          // buckets this launch made for it with `persistent: false` go too.
          if (storage && !opts.keepBuckets && !store.getCluster(name)) {
            const { releaseStorage } = await import('../storage/index.js');
            await releaseStorage(store, name, { onStep: step }).catch(() => {});
          }
          throw e;
        },
      );
      rec = made.rec;
      autostop = made.request.autostop;
    }
    runners = runnersFor(rec.nodes);
    step(`Syncing files to ${rec.nodes.length} node${rec.nodes.length > 1 ? 's' : ''}.`);
    await syncTaskFiles(task, runners, { fileMounts: true });
    if (storage) {
      step(
        `Mounting ${plural(Object.keys(storage).length, 'bucket')} on ${plural(rec.nodes.length, 'node')}.`,
      );
      await mountBuckets(rec, runners, storage, opts.signal);
    }

    const jobId = await submitTask(store, rec, task, {
      withSetup: true,
      demand: jobDemand(task, rec),
      autostop,
    });
    opts.onSubmitted?.(name, jobId);
    release();
    if (opts.detach) return { cluster: name, jobId, outcome: null, reused };
    const outcome = await followJob(store, rec, jobId, { onOutput: opts.onOutput, signal: opts.signal });
    await teardownIfAutodownNow(store, name, opts);
    return { cluster: name, jobId, outcome, reused };
  } finally {
    release();
    await closeAll(runners);
  }
}

/** The cloud of a recorded cluster: the one of that name among `clouds` (the caller's), else the registry's. */
function cloudFor(rec: ClusterRecord, clouds: readonly Cloud[] = []): Cloud {
  return clouds.find((c) => c.name === rec.cloud) ?? cloudOf(rec);
}

type BringUpOptions = Pick<
  LaunchOptions,
  'onStep' | 'signal' | 'retryUntilUp' | 'backoffMs' | 'dockerRunOptions'
> & {
  clouds?: readonly Cloud[];
};

/**
 * A cluster on record: UP is reused (after checking the cloud still has it), STOPPED is started, INIT
 * (or UP with nodes missing) is relaunched with the spec it was launched with. Starting and relaunching
 * go through the failover loop's attempt function, pinned to the cluster's recorded place.
 */
async function bringUp(store: Store, rec: ClusterRecord, opts: BringUpOptions): Promise<ClusterRecord> {
  const step = opts.onStep ?? (() => {});
  const cloud = cloudFor(rec, opts.clouds);
  const provider = cloud.provider(rec.region);
  const live = await provider.queryInstances(rec.name);
  const running = live.filter((n) => n.status === 'running');
  if (rec.status === 'UP' && running.length === rec.resources.numNodes) {
    step(`Reusing cluster ${rec.name} (${describeLaunched(rec)}).`);
    return rec;
  }
  let create: CreateNodes | undefined;
  if (live.length > 0 && live.every((n) => n.status === 'stopped') && provider.startInstances) {
    step(`Starting stopped cluster ${rec.name}.`);
    create = (p) => {
      if (!p.startInstances) throw new Error(`${cloud.displayName}'s provider cannot start instances`);
      return p.startInstances(rec.name);
    };
  } else {
    step(`Relaunching ${rec.name} on ${rec.cloud}/${rec.region} (its nodes were not all running).`);
  }
  const { nodes } = await provisionWithFailover({
    cluster: rec.name,
    store,
    next: recordedPlace(cloud, launchSpecOf(rec), rec.hourlyPrice),
    // Nodes that exist may hold the user's data: a failed start or relaunch leaves them (and the record).
    keepOnFailure: live.length > 0,
    create,
    retryUntilUp: opts.retryUntilUp,
    signal: opts.signal,
    events: { onStep: step },
    backoffMs: opts.backoffMs,
  });
  if (create || rec.status !== 'UP')
    store.recordEvent(rec.name, 'start', Date.now(), rec.hourlyPrice, rec.resources.numNodes);
  const up = {
    ...rec,
    nodes,
    status: 'UP' as const,
    headIp: nodes[0]?.externalIp ?? nodes[0]?.internalIp ?? null,
  };
  await prepareNodes(cloud, up, opts.dockerRunOptions);
  store.setClusterNodes(rec.name, nodes);
  store.setClusterStatus(rec.name, 'UP');
  return store.getCluster(rec.name)!;
}

/** A new cluster's places with what the config asks of a launch there (src/config launchSpec). */
function withConfig(next: NextPlace, config: SkyhopConfig, task: Task): NextPlace {
  const stores = storageMountsOf(task) ? (['s3'] as const) : null;
  return async (blocklist) => {
    const place = await next(blocklist);
    const spec = launchSpec(place.spec, place.cloud.name, config);
    return { ...place, spec: stores ? { ...spec, storage: [...stores] } : spec };
  };
}

/** The task's buckets (`Task.storageMounts`), or null when it mounts none. */
function storageMountsOf(task: Task): Record<string, StorageMount> | null {
  const m = task.storageMounts;
  return m && Object.keys(m).length > 0 ? m : null;
}

/**
 * Mounts (or copies) the task's buckets on every node. Nodes launched with S3 access of their own
 * (AWS: the instance profile in the cluster's spec) get no keys, unless the store is at an endpoint
 * of its own (an S3-compatible store, moto): the instance profile's credentials are AWS's and mean
 * nothing there. Every other cloud's nodes get the client's keys, as a 0600 file.
 */
async function mountBuckets(
  rec: ClusterRecord,
  runners: readonly CommandRunner[],
  mounts: Record<string, StorageMount>,
  signal?: AbortSignal,
): Promise<void> {
  const [{ s3Access }, { mountStorage }] = await Promise.all([
    import('../storage/s3.js'),
    import('../storage/node.js'),
  ]);
  const access = await s3Access();
  const ownAccess = rec.cloud === 'aws' && rec.spec?.storage?.includes('s3') && !access.endpoint;
  await mountStorage(rec.nodes, runners, mounts, ownAccess ? { ...access, credentials: undefined } : access, {
    signal,
  });
}

/**
 * A (re)started cluster's nodes lost their FUSE mounts with their processes: its MOUNT and
 * MOUNT_CACHED buckets (recorded in the state at launch) are mounted again. COPY buckets are
 * already on the nodes' disks.
 */
async function remountBuckets(store: Store, rec: ClusterRecord, ev: SdkEvents & { signal?: AbortSignal }) {
  const uses = store.storageUses().filter((u) => u.cluster === rec.name && u.mode !== 'COPY');
  if (uses.length === 0) return;
  const mounts: Record<string, StorageMount> = {};
  for (const u of uses) {
    mounts[u.path] = {
      bucket: u.name,
      prefix: u.prefix ?? '',
      store: 's3',
      mode: u.mode,
      create: false,
      persistent: true,
    };
  }
  ev.onStep?.(`Mounting ${plural(uses.length, 'bucket')} again on ${plural(rec.nodes.length, 'node')}.`);
  const runners = runnersFor(rec.nodes);
  try {
    await mountBuckets(rec, runners, mounts, ev.signal);
  } finally {
    await closeAll(runners);
  }
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

async function provisionNew(
  store: Store,
  name: string,
  opts: LaunchOptions,
  task: Task,
  step: (m: string) => void,
): Promise<{ rec: ClusterRecord; request: Resources }> {
  const launchedAt = Date.now();
  const config = await loadConfig();
  let chosen: Place | null = null;
  try {
    const result = await provisionWithFailover({
      cluster: name,
      store,
      // The same plan the user was shown (planLaunch), re-made without each place that failed.
      next: withConfig(
        plannedPlaces({
          cluster: name,
          numNodes: task.numNodes,
          clouds: opts.clouds,
          plan: (blocklist) =>
            planLaunch({
              dag: opts.dag,
              clouds: opts.clouds,
              target: opts.target,
              blocklist: [...(opts.avoid ?? []), ...blocklist],
              dataClouds: opts.dataClouds,
            }),
        }),
        effectiveConfig(task, config),
        task,
      ),
      retryUntilUp: opts.retryUntilUp,
      signal: opts.signal,
      events: { onStep: step },
      backoffMs: opts.backoffMs,
      onAttempt: (place) => {
        validateClusterName(name, place.cloud);
        chosen = place;
        store.upsertCluster(initialRecord(place, task.numNodes, launchedAt));
      },
    });
    const l = result.place.launchable as Launchable;
    const rec: ClusterRecord = {
      ...initialRecord(result.place, task.numNodes, launchedAt),
      nodes: result.nodes,
      headIp: result.nodes[0]?.externalIp ?? result.nodes[0]?.internalIp ?? null,
    };
    store.upsertCluster(rec);
    store.recordEvent(name, 'launch', Date.now(), l.hourlyPrice, task.numNodes, {
      cloud: l.cloud,
      region: l.region,
      resources: `${task.numNodes}x ${l.instanceType}`,
    });
    step(`Preparing ${result.nodes.length} node${result.nodes.length > 1 ? 's' : ''} of ${name}.`);
    try {
      await prepareNodes(result.cloud, rec, opts.dockerRunOptions);
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      throw new CloudError(
        `cluster ${name} was created but preparing its nodes failed: ${(e as Error).message}; it is left INIT — \`skyhop launch -c ${name}\` retries, \`skyhop down ${name}\` removes it`,
        { cause: e },
      );
    }
    store.setClusterStatus(name, 'UP');
    return { rec: store.getCluster(name)!, request: l.request };
  } catch (e) {
    if (opts.signal?.aborted || e instanceof InterruptedError) {
      // Ctrl-C: remove whatever this launch created, then forget the cluster.
      const p = chosen as Place | null;
      if (p) {
        step(`Interrupted: removing what was created for ${name}.`);
        await p.cloud.provider(p.spec.region).terminateInstances(name);
        for (const i of store.openIntents(name)) store.journalResolve(i.id, 'cleaned');
        store.removeCluster(name);
      }
      throw e instanceof InterruptedError ? e : new InterruptedError();
    }
    // A failed provisioning leaves nothing behind (the failover loop cleaned each attempt).
    const r = store.getCluster(name);
    if (r && r.status === 'INIT' && r.nodes.length === 0) store.removeCluster(name);
    throw e;
  }
}

/** The INIT record of a new cluster about to be created at `place` (a planned place). */
function initialRecord(place: Place, numNodes: number, launchedAt: number): ClusterRecord {
  const l = place.launchable as Launchable;
  return {
    name: place.spec.cluster,
    cloud: l.cloud,
    region: l.region,
    zone: place.spec.zone,
    status: 'INIT',
    resources: {
      instanceType: l.instanceType,
      accelerators: l.accelerators,
      useSpot: l.useSpot,
      vcpus: l.vcpus,
      memoryGiB: l.memoryGiB,
      numNodes,
      diskSize: l.request.diskSize,
      ports: l.request.ports,
      imageId: l.request.imageId,
    },
    nodes: [],
    launchedAt,
    statusUpdatedAt: launchedAt,
    hourlyPrice: l.hourlyPrice,
    autostop: null,
    headIp: null,
    spec: place.spec,
  };
}

/** Node setup and the agent: what every (re)started cluster needs before jobs run. */
async function prepareNodes(cloud: Cloud, rec: ClusterRecord, dockerRunOptions?: string[]): Promise<void> {
  const runners = runnersFor(rec.nodes);
  try {
    await runNodeSetup(cloud, rec.nodes, runners);
    const image = rec.spec?.dockerImage;
    const containers = image
      ? await startContainers(rec.nodes, runners, { image, runOptions: dockerRunOptions })
      : undefined;
    await installClusterAgent(cloud, rec, runners[0], agentBundlePath(), containers);
  } finally {
    await closeAll(runners);
  }
}

/** `start` and friends: bring a recorded cluster (STOPPED or INIT) back UP under its lock. */
export async function relaunchExisting(
  store: Store,
  rec: ClusterRecord,
  ev: SdkEvents & Omit<BringUpOptions, 'retryUntilUp'> = {},
): Promise<ClusterRecord> {
  const release = await store.acquireClusterLock(rec.name, { wait: true });
  try {
    const fresh = store.getCluster(rec.name) ?? rec;
    const up = await bringUp(store, fresh, ev);
    await remountBuckets(store, up, ev);
    return up;
  } finally {
    release();
  }
}
