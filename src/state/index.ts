/**
 * The state store: clusters, the provisioning journal, jobs submitted, billing events and
 * per-cluster locks, in `$SKYHOP_HOME/state.db` (SQLite), or in PostgreSQL when SKYHOP_DB is a
 * `postgresql://` URL (a team server's database). See types.ts for what may be stored (never secrets).
 *
 * Importing this module is cheap; the SQLite addon loads on the first `openStore`, and the
 * PostgreSQL store (with its driver's worker thread) only when SKYHOP_DB names one.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { skyhopHome } from '../util/paths.js';
import { isPostgresUrl } from './pg-bridge.js';
import { PgStore } from './pg-store.js';
import { scopeStore } from './scoped.js';
import { SqliteStore } from './store.js';
import type { ApiStore } from './api.js';
import { UserError } from '../util/errors.js';
import { redactUrl } from './pg-bridge.js';
import type { Store } from './types.js';

export type * from './types.js';
export type * from './api.js';
export { DiskFullError, describeResources, isDiskFullError, launchSpecOf } from './store.js';
export { SCHEMA_VERSION } from './migrations.js';
export { isPostgresUrl, redactUrl } from './pg-bridge.js';
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

/** The file (0600) in a home that binds it to a PostgreSQL database: `skyhop api start --db URL` writes it. */
export function dbUrlFile(home: string): string {
  return join(home, 'db.url');
}

/**
 * The PostgreSQL database the state of `home` lives in: SKYHOP_DB, else the URL the home is bound to
 * (`db.url`, written by `api start --db`, so every skyhop process of a server's home, an autostop run
 * by a cluster's agent included, finds the same database); null: SQLite in the home.
 */
export function stateDbUrl(home: string = skyhopHome()): string | null {
  let url = process.env.SKYHOP_DB;
  if (!url) {
    try {
      url = readFileSync(dbUrlFile(resolve(home)), 'utf8').trim();
    } catch {
      return null;
    }
  }
  if (!url) return null;
  if (isPostgresUrl(url)) return url;
  throw new UserError(
    `SKYHOP_DB must be a PostgreSQL URL (postgresql://USER:PASSWORD@HOST:PORT/DATABASE), got ${redactUrl(url)}; ` +
      'unset it to keep the state in $SKYHOP_HOME/state.db',
  );
}

/**
 * The store of `home` (default `$SKYHOP_HOME`, else ~/.skyhop), opened once per process: later calls
 * return the same object until it is closed. Opening creates the directory (0700) and the database and
 * applies pending migrations; nothing else. With SKYHOP_DB set, the store is that PostgreSQL database
 * (the home still holds keys, logs and caches).
 */
export function openStore(home?: string): Store {
  const dir = resolve(home ?? skyhopHome());
  const url = stateDbUrl(dir);
  const key = url === null ? dir : `${dir}\0${url}`;
  let store = stores.get(key);
  if (!store) {
    store =
      url === null
        ? new SqliteStore(dir, () => stores.delete(key))
        : new PgStore(url, dir, () => stores.delete(key));
    const user = requestUser();
    if (user) store = scopeStore(store, user);
    stores.set(key, store);
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
  const url = stateDbUrl(home);
  if (url !== null) {
    const { PgApiStore } = await import('./pg-api.js');
    return new PgApiStore(url);
  }
  const store = openStore(home);
  const { openSqliteConnection } = await import('./store.js');
  const { SqliteApiStore } = await import('./api.js');
  return new SqliteApiStore(openSqliteConnection(store.path));
}
