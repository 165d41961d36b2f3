/**
 * The local state store: clusters, the provisioning journal, jobs submitted, billing events and
 * per-cluster locks, in `$SKYHOP_HOME/state.db`. See types.ts for what may be stored (never secrets).
 *
 * Importing this module is cheap; the SQLite addon loads on the first `openStore`.
 */
import { resolve } from 'node:path';
import { skyhopHome } from '../util/paths.js';
import { SqliteStore } from './store.js';
import type { Store } from './types.js';

export type * from './types.js';
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
    stores.set(dir, store);
  }
  return store;
}
