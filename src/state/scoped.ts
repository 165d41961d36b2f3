/**
 * A store seen by one user of a team server: the one place where "a user sees and touches only their
 * own clusters, jobs and buckets, an admin all of them" is decided. Everything the SDK does on the
 * server goes through `openStore()`, which returns this view when the server runs a request for a user
 * (see `index.ts`), so no SDK function needs to know about users.
 *
 * - Lists (clusters, jobs, intents, cost, buckets, bucket uses) show the user's own names; an admin's
 *   show every name.
 * - Reading or locking a name another user holds is a UserError naming the owner; so is writing it.
 * - Writing a name (a launch's intent, a cluster record, a bucket record) claims it for the user; a name
 *   whose earlier owner has nothing left under it (no cluster, no open intent; no bucket) is taken over.
 * - Names nobody claimed (made without a server) belong to admins.
 */
import { UserError } from '../util/errors.js';
import type {
  ClusterRecord,
  CostRow,
  Intent,
  IntentInput,
  JobRecord,
  LockOptions,
  OwnedKind,
  StorageInput,
  StorageRow,
  StorageUse,
  Store,
} from './types.js';

export interface StoreUser {
  name: string;
  role: 'admin' | 'user';
}

export class ForeignNameError extends UserError {}

/**
 * The controllers' cluster names (sdk/controller.ts CONTROLLER_KINDS; spelled here, as the state
 * sits below the SDK): the bare name (made without a team server) or `<name>-<user>`.
 */
export const CONTROLLER_CLUSTERS = ['skyhop-jobs-controller', 'skyhop-serve-controller'];

/** Whose controller `name` is ('' for a bare name), or null when it is no controller's name. */
function controllerUser(name: string): string | null {
  for (const c of CONTROLLER_CLUSTERS) {
    if (name === c) return '';
    if (name.startsWith(`${c}-`)) return name.slice(c.length + 1);
  }
  return null;
}

/** `store` as `user` sees it. */
export function scopeStore(store: Store, user: StoreUser): Store {
  const admin = user.role === 'admin';
  const ownerOf = (kind: OwnedKind, name: string) => store.ownerOf(kind, name);
  /** Whether the user may see `name` (an admin: everything; a user: what they own). */
  const mine = (kind: OwnedKind, name: string, owners?: Map<string, string>) =>
    admin || (owners ? owners.get(name) : ownerOf(kind, name)) === user.name;
  const refuse = (kind: OwnedKind, name: string, owner: string | null): never => {
    const what = kind === 'cluster' ? 'cluster' : 'bucket';
    throw new ForeignNameError(
      owner === null
        ? `${what} '${name}' was made without the team server and only an admin may use it; pick another name`
        : `${what} '${name}' belongs to user '${owner}'; pick another name`,
    );
  };
  const check = (kind: OwnedKind, name: string) => {
    if (admin) return;
    const owner = ownerOf(kind, name);
    if (owner === user.name) return;
    const exists = kind === 'cluster' ? clusterBusy(name) : store.getStorage(name) !== null;
    // A name nobody uses any more is free (the next write claims it).
    if (exists) refuse(kind, name, owner);
  };
  const clusterBusy = (name: string) => store.getCluster(name) !== null || store.openIntents(name).length > 0;
  const claim = (kind: OwnedKind, name: string) => {
    // Each user's controllers are named after them (sdk/controller.ts kindCluster): another user's
    // cluster by that name would stand in its way (its `jobs launch`, `serve up` refused).
    const reservedFor = kind === 'cluster' ? controllerUser(name) : null;
    if (!admin && reservedFor !== null && reservedFor !== user.name) {
      throw new ForeignNameError(
        `cluster name '${name}' is reserved for ${reservedFor ? `user '${reservedFor}'s` : "the admins'"} controller; pick another name`,
      );
    }
    const busy = kind === 'cluster' ? () => clusterBusy(name) : () => store.getStorage(name) !== null;
    const owner = store.claim(kind, name, user.name, () => !admin && busy());
    if (owner !== user.name) refuse(kind, name, owner);
  };
  const clusterOwners = () => (admin ? undefined : store.owners('cluster'));

  const own: Partial<Store> = {
    getCluster(name: string): ClusterRecord | null {
      const rec = store.getCluster(name);
      if (rec && !mine('cluster', name)) refuse('cluster', name, ownerOf('cluster', name));
      return rec;
    },
    listClusters(): ClusterRecord[] {
      const owners = clusterOwners();
      return store.listClusters().filter((c) => mine('cluster', c.name, owners));
    },
    upsertCluster(rec: ClusterRecord): void {
      claim('cluster', rec.name);
      store.upsertCluster(rec);
    },
    journalIntent(input: IntentInput): number {
      claim('cluster', input.cluster);
      return store.journalIntent(input);
    },
    openIntents(cluster?: string): Intent[] {
      const owners = clusterOwners();
      return store.openIntents(cluster).filter((i) => mine('cluster', i.cluster, owners));
    },
    listJobs(cluster?: string): JobRecord[] {
      if (cluster !== undefined) check('cluster', cluster);
      const owners = clusterOwners();
      return store.listJobs(cluster).filter((j) => mine('cluster', j.cluster, owners));
    },
    costReport(now?: number): CostRow[] {
      const owners = clusterOwners();
      return store.costReport(now).filter((r) => mine('cluster', r.cluster, owners));
    },
    async acquireClusterLock(name: string, opts: LockOptions): Promise<() => void> {
      check('cluster', name);
      return store.acquireClusterLock(name, opts);
    },
    getStorage(name: string): StorageRow | null {
      const row = store.getStorage(name);
      if (row && !mine('storage', name)) refuse('storage', name, ownerOf('storage', name));
      return row;
    },
    listStorage(): StorageRow[] {
      const owners = admin ? undefined : store.owners('storage');
      return store.listStorage().filter((s) => mine('storage', s.name, owners));
    },
    putStorage(rec: StorageInput): void {
      claim('storage', rec.name);
      store.putStorage(rec);
    },
    storageUses(name?: string): StorageUse[] {
      if (name !== undefined) check('storage', name);
      const owners = clusterOwners();
      return store.storageUses(name).filter((u) => mine('cluster', u.cluster, owners));
    },
  };
  // Methods not overridden act on names the caller already got through the checks above; they run on
  // the store itself (its own `this`).
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (Object.hasOwn(own, prop)) return own[prop as keyof Store];
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}
