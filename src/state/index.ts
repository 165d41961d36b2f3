/**
 * The local state store: clusters, the provisioning journal, jobs submitted, billing events and
 * per-cluster locks, in `$SKYHOP_HOME/state.db`. See types.ts for what may be stored (never secrets).
 *
 * Importing this module is cheap; the SQLite addon loads on the first `openStore`.
 */
import { resolve } from 'node:path';
import { skyhopHome } from '../util/paths.js';
import { scopeStore } from './scoped.js';
import { SqliteStore } from './store.js';
import type { ApiStore } from './api.js';
import type { Store } from './types.js';

export type * from './types.js';
export type * from './api.js';
export { CONTROL_STREAMS, newRequestId, OUTPUT_STREAMS, REQUEST_TERMINAL } from './api.js';
export { DiskFullError, describeResources, isDiskFullError, launchSpecOf } from './store.js';
export { SCHEMA_VERSION } from './migrations.js';
export {
  isManagedTerminal,
  isManagedUnfinished,
  MANAGED_TERMINAL_STATUSES,
  newManagedTask,
  taskCostSoFar,
  taskRunMs,
} from './managed.js';
export { UnreadableStateError } from './store.js';
export { ForeignNameError, scopeStore, type StoreUser } from './scoped.js';

const stores = new Map<string, Store>();

/**
 * The store of `home` (default `$SKYHOP_HOME`, else ~/.skyhop), opened once per process: later calls
 * return the same object until it is closed. Opening creates the directory (0700) and the database and
 * applies pending migrations; nothing else.
 */
export function openStore(home?: string): Store {
  const dir = resolve(home ?? skyhopHome());
  let store = stores.get(dir);
  if (!store) {
    store = new SqliteStore(dir, () => stores.delete(dir));
    const user = requestUser();
    if (user) store = scopeStore(store, user);
    stores.set(dir, store);
  }
  return store;
}

/**
 * The user a team server runs this process for: the server sets SKYHOP_API_USER (and SKYHOP_API_ROLE)
 * in the environment of each request's worker; nothing else does.
 */
export function requestUser(): { name: string; role: 'admin' | 'user' } | null {
  const name = process.env.SKYHOP_API_USER;
  if (!name) return null;
  return { name, role: process.env.SKYHOP_API_ROLE === 'admin' ? 'admin' : 'user' };
}

/**
 * A team server's records (users, tokens, requests, audit) in the state database of `home` (migrated by
 * opening its store first); a connection of its own.
 */
export async function openApiStore(home?: string): Promise<ApiStore> {
  const store = openStore(home);
  const { openSqliteConnection } = await import('./store.js');
  const { SqliteApiStore } = await import('./api.js');
  return new SqliteApiStore(openSqliteConnection(store.path));
}
