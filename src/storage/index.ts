/**
 * Cloud storage, the client side: the buckets a task's `file_mounts` name are checked, created
 * (journaled in the state first) and filled from their local sources before any instance exists;
 * the state records which clusters use which bucket; a cluster's teardown deletes the buckets skyhop
 * created for it with `persistent: false`; `storage ls` / `storage delete` list and delete them.
 *
 * Crash safety: a bucket's row is committed `CREATING` (synchronous=FULL) before CreateBucket and
 * becomes `READY` after; a delete commits `DELETING` before the first object goes, and the row goes
 * only once DeleteBucket succeeded or the bucket is gone. A crash at any line leaves a row that
 * `storage ls` shows and `storage delete` finishes.
 *
 * The S3 SDK is loaded lazily (src/storage/s3.ts): importing this module loads none of it.
 */
import type { StorageMount, StoreKind } from '../core/storage.js';
import type { Task } from '../core/task.js';
import type { StorageRow, StorageStatus, Store } from '../state/index.js';
import { InterruptedError, UserError } from '../util/errors.js';
import { nearestNames } from '../util/suggest.js';
import { checkBucket, createBucket, deleteBucket } from './buckets.js';
import { type S3Handle, s3Client } from './s3.js';
import { dropManifest, type UploadOptions, type UploadResult, uploadTree } from './upload.js';

export { s3Access } from './s3.js';
export type { UploadOptions, UploadResult } from './upload.js';

export interface StorageEvents {
  onStep?(m: string): void;
  signal?: AbortSignal;
}

/** A bucket as `storage ls` shows it. */
export interface StorageRecord {
  name: string;
  store: StoreKind;
  region: string;
  /** The S3 endpoint (null: AWS itself). */
  endpoint: string | null;
  /** A local directory uploaded into it, or its URL for a bucket skyhop only uses. */
  source: string | null;
  /** ms since the epoch. */
  createdAt: number;
  status: StorageStatus;
  /** A CREATING/DELETING row whose process is gone (a crash): `storage delete` finishes it. */
  interrupted: boolean;
  /** Clusters that use it (that still exist, or are being launched now). */
  clusters: string[];
  createdBySkyhop: boolean;
  persistent: boolean;
}

export interface StorageDeleteResult {
  name: string;
  /** `deleted`: the bucket and its objects are gone; `forgotten`: skyhop did not create it, kept. */
  action: 'deleted' | 'forgotten';
}

const url = (m: { bucket: string; prefix?: string }) => `s3://${m.bucket}${m.prefix ? `/${m.prefix}` : ''}`;

/** Whether `cluster` counts as using a bucket: recorded in the state, or being launched right now. */
function clusterLive(store: Store, cluster: string): boolean {
  return store.getCluster(cluster) !== null || store.lockHolder(cluster) !== null;
}

function checkAbort(signal?: AbortSignal): void {
  if (signal?.aborted) throw new InterruptedError();
}

/** Options the tests and benchmarks tune; the lead's calls use the defaults. */
let uploadDefaults: UploadOptions = {};
export function setUploadDefaults(o: UploadOptions): void {
  uploadDefaults = o;
}

/**
 * Before any instance is created: for each of the task's storage mounts, checks the bucket, creates
 * it when missing and allowed (journaled), uploads its local source (unchanged files are not sent),
 * and records that `cluster` uses it. On failure, nothing this call created is left: a bucket it
 * created is deleted again, a row it added is removed.
 */
export async function prepareStorage(
  store: Store,
  cluster: string,
  task: Task,
  ev: StorageEvents = {},
): Promise<void> {
  const mounts = Object.entries(task.storageMounts ?? {});
  if (mounts.length === 0) return;
  const h = await s3Client();
  const createdBuckets: string[] = [];
  const addedRows: string[] = [];
  const addedUses: Array<{ name: string; cluster: string; path: string }> = [];
  try {
    for (const [path, m] of mounts) {
      checkAbort(ev.signal);
      await prepareOne(store, h, cluster, path, m, ev, { createdBuckets, addedRows, addedUses });
    }
  } catch (e) {
    for (const u of addedUses) store.removeStorageUse(u);
    for (const name of addedRows) {
      if (!createdBuckets.includes(name) && store.storageUses(name).length === 0) store.removeStorage(name);
    }
    for (const name of createdBuckets) {
      try {
        store.setStorageStatus(name, 'DELETING');
        ev.onStep?.(`Deleting s3://${name} again (created by this launch)`);
        await deleteBucket(h, name);
        store.removeStorage(name);
        await dropManifest(name);
      } catch {
        // The DELETING row stays: `skyhop storage ls` shows it and `skyhop storage delete` finishes it.
      }
    }
    throw e;
  } finally {
    h.client.destroy();
  }
}

async function prepareOne(
  store: Store,
  h: S3Handle,
  cluster: string,
  path: string,
  m: StorageMount,
  ev: StorageEvents,
  made: {
    createdBuckets: string[];
    addedRows: string[];
    addedUses: Array<{ name: string; cluster: string; path: string }>;
  },
): Promise<void> {
  const label = `file_mounts['${path}']`;
  let row = store.getStorage(m.bucket);
  if (row && row.status !== 'READY' && row.processAlive && row.pid !== process.pid) {
    throw new UserError(
      `${label}: s3://${m.bucket} is being ${row.status === 'CREATING' ? 'created' : 'deleted'} by pid ${row.pid}; retry when it has finished`,
    );
  }
  if (row?.status === 'DELETING') {
    throw new UserError(
      `${label}: s3://${m.bucket} was being deleted when skyhop stopped; finish with \`skyhop storage delete ${m.bucket}\`, then retry`,
    );
  }
  const found = await checkBucket(h, m.bucket, ev.signal);
  if (found.state === 'denied') {
    throw new UserError(`${label}: access to s3://${m.bucket} is denied (${found.code})`);
  }
  const base = {
    name: m.bucket,
    store: m.store,
    region: h.region,
    endpoint: h.endpoint ?? null,
  };
  if (found.state === 'missing') {
    if (!m.create)
      throw new UserError(
        `${label}: s3://${m.bucket} does not exist (check the name and AWS_REGION / the endpoint; \`name: ${m.bucket}\` instead of a URL lets skyhop create it)`,
      );
    ev.onStep?.(`Creating bucket s3://${m.bucket} (${h.region})`);
    // The journal first: the row is on disk before the bucket exists.
    store.putStorage({
      ...base,
      source: m.localSource ?? null,
      createdBySkyhop: true,
      persistent: m.persistent,
      status: 'CREATING',
    });
    made.createdBuckets.push(m.bucket);
    if (!row) made.addedRows.push(m.bucket);
    checkAbort(ev.signal);
    await createBucket(h, m.bucket, ev.signal);
    store.setStorageStatus(m.bucket, 'READY');
  } else if (!row) {
    // A bucket skyhop did not create: recorded so `storage ls` shows who uses it; never deleted.
    store.putStorage({
      ...base,
      source: m.localSource ?? `s3://${m.bucket}`,
      createdBySkyhop: false,
      persistent: true,
      status: 'READY',
    });
    made.addedRows.push(m.bucket);
  } else if (row.status === 'CREATING') {
    // Left by a crashed launch after CreateBucket: the bucket is there, so it is ready.
    store.setStorageStatus(m.bucket, 'READY');
  }
  row = store.getStorage(m.bucket);
  if (m.localSource) {
    checkAbort(ev.signal);
    ev.onStep?.(`Uploading ${m.localSource} to ${url(m)}`);
    const r: UploadResult = await uploadTree(h, m.localSource, m.bucket, m.prefix, {
      ...uploadDefaults,
      signal: ev.signal,
      onStep: ev.onStep,
    });
    ev.onStep?.(
      `${url(m)}: ${r.sent} file${r.sent === 1 ? '' : 's'} sent (${humanBytes(r.bytes)}), ${r.skipped} unchanged`,
    );
  }
  const use = { name: m.bucket, cluster, path };
  const existed = store.storageUses(m.bucket).some((u) => u.cluster === cluster && u.path === path);
  store.addStorageUse({ ...use, mode: m.mode, prefix: m.prefix });
  if (!existed) made.addedUses.push(use);
}

/**
 * After `cluster` is torn down: forgets its uses, and deletes every bucket skyhop created with
 * `persistent: false` that no other cluster uses. Also finishes deletes a crashed process left
 * (DELETING rows of dead processes). Idempotent; returns the names deleted.
 */
export async function releaseStorage(
  store: Store,
  cluster: string,
  ev: StorageEvents = {},
): Promise<string[]> {
  const marked = store.releaseStorageUses(cluster, (c) => c !== cluster && clusterLive(store, c));
  const leftovers = store
    .listStorage()
    .filter(
      (r) => r.status === 'DELETING' && !r.processAlive && r.createdBySkyhop && !marked.includes(r.name),
    )
    .map((r) => r.name);
  const names = [...marked, ...leftovers];
  if (names.length === 0) return [];
  const h = await s3Client();
  const deleted: string[] = [];
  try {
    for (const name of names) {
      checkAbort(ev.signal);
      ev.onStep?.(`Deleting bucket s3://${name} (persistent: false)`);
      if (!marked.includes(name)) store.setStorageStatus(name, 'DELETING');
      await deleteBucket(h, name, ev);
      store.removeStorage(name);
      await dropManifest(name);
      deleted.push(name);
    }
  } finally {
    h.client.destroy();
  }
  return deleted;
}

function liveClusters(store: Store, name: string): string[] {
  return [...new Set(store.storageUses(name).map((u) => u.cluster))].filter((c) => clusterLive(store, c));
}

function toRecord(store: Store, r: StorageRow): StorageRecord {
  return {
    name: r.name,
    store: r.store,
    region: r.region,
    endpoint: r.endpoint,
    source: r.source,
    createdAt: r.createdAt,
    status: r.status,
    interrupted: r.status !== 'READY' && !r.processAlive,
    clusters: liveClusters(store, r.name),
    createdBySkyhop: r.createdBySkyhop,
    persistent: r.persistent,
  };
}

/** Every bucket skyhop created or uses, by name. */
export function listStorage(store: Store): StorageRecord[] {
  return store.listStorage().map((r) => toRecord(store, r));
}

/**
 * Deletes buckets (SkyPilot's `storage delete`): one skyhop created goes with its objects; one it
 * only uses is forgotten, never deleted. Refused (before anything is done) for a bucket a cluster
 * that still exists uses, an unknown name (with did-you-mean), or a row another live process is
 * creating or deleting. Resumes CREATING and DELETING rows a crash left. Idempotent.
 */
export async function deleteStorage(
  store: Store,
  names: string[] | 'all',
  ev: StorageEvents = {},
): Promise<StorageDeleteResult[]> {
  const rows = store.listStorage();
  const known = new Map(rows.map((r) => [r.name, r]));
  const targets = names === 'all' ? rows.map((r) => r.name) : [...new Set(names)];
  const problems: string[] = [];
  for (const n of targets) {
    const r = known.get(n);
    if (!r) {
      const near = nearestNames(n, known.keys());
      problems.push(
        `storage '${n}' not found${near.length ? ` (did you mean ${near.map((x) => `'${x}'`).join(', ')}?)` : ''}`,
      );
      continue;
    }
    const users = liveClusters(store, n);
    if (users.length > 0) {
      problems.push(
        `storage '${n}' is in use by cluster${users.length > 1 ? 's' : ''} ${users.join(', ')}; ` +
          `tear ${users.length > 1 ? 'them' : 'it'} down first (\`skyhop down ${users.join(' ')}\`)`,
      );
      continue;
    }
    if (r.status !== 'READY' && r.processAlive && r.pid !== process.pid) {
      problems.push(
        `storage '${n}' is being ${r.status === 'CREATING' ? 'created' : 'deleted'} by pid ${r.pid}; retry when it has finished`,
      );
    }
  }
  if (problems.length === 1) throw new UserError(problems[0]);
  if (problems.length > 1)
    throw new UserError(`cannot delete ${problems.length} storage objects`, { details: problems });
  const out: StorageDeleteResult[] = [];
  let h: S3Handle | null = null;
  try {
    for (const n of targets) {
      checkAbort(ev.signal);
      const r = known.get(n) as StorageRow;
      if (!r.createdBySkyhop) {
        ev.onStep?.(`Forgetting s3://${n} (skyhop did not create it; the bucket and its objects are kept)`);
        store.removeStorage(n);
        await dropManifest(n);
        out.push({ name: n, action: 'forgotten' });
        continue;
      }
      h ??= await s3Client();
      ev.onStep?.(`Deleting bucket s3://${n} and its objects`);
      store.setStorageStatus(n, 'DELETING');
      await deleteBucket(h, n, ev);
      store.removeStorage(n);
      await dropManifest(n);
      out.push({ name: n, action: 'deleted' });
    }
  } finally {
    h?.client.destroy();
  }
  return out;
}

/** 1536 -> "1.5 KiB". */
function humanBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} bytes` : `${v.toFixed(1)} ${units[i]}`;
}
