/**
 * What every part of the team server shares: its home, its database (the product's `Store` and the
 * server's `ApiStore`, SQLite or PostgreSQL), who a token belongs to, a user's view of the store, and
 * the audit log.
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  type ApiStore,
  type ApiUserRow,
  openApiStore,
  openStore,
  type Store,
  scopeStore,
} from '../state/index.js';

export interface ApiUser {
  name: string;
  role: 'admin' | 'user';
}

export interface ServerContext {
  /** The server's SKYHOP_HOME (keys, local clusters, uploads). */
  readonly home: string;
  /** The PostgreSQL URL the server and its workers use, or null for the home's SQLite file. */
  readonly dbUrl: string | null;
  /** This server instance: `<host>:<pid>:<random>` (requests record which server runs them). */
  readonly serverId: string;
  readonly host: string;
  readonly api: ApiStore;
  readonly store: Store;
  authenticate(token: string | undefined): ApiUser | null;
  storeFor(user: ApiUser): Store;
  audit(user: ApiUser | string, action: string, target: string | null, outcome?: string | null): void;
  close(): void;
}

/** A token: `sky_` and 32 random bytes (base64url). Only its hash is stored. */
export function newToken(): string {
  return `sky_${randomBytes(32).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Adds a user (or a fresh token for an existing one) and returns the token, printed once. */
export function issueToken(
  api: ApiStore,
  name: string,
  role: 'admin' | 'user',
): { token: string; created: boolean } {
  const existing = api.getUser(name);
  if (!existing) api.addUser(name, role);
  else if (existing.role !== role) api.setRole(name, role);
  const token = newToken();
  api.addToken(name, hashToken(token));
  return { token, created: !existing };
}

export async function createContext(o: { home: string; dbUrl: string | null }): Promise<ServerContext> {
  if (o.dbUrl) process.env.SKYHOP_DB = o.dbUrl;
  else delete process.env.SKYHOP_DB;
  const store = openStore(o.home);
  const api = await openApiStore(o.home);
  const host = hostname();
  const serverId = `${host}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const toUser = (u: ApiUserRow): ApiUser => ({ name: u.name, role: u.role });
  return {
    home: o.home,
    dbUrl: o.dbUrl,
    serverId,
    host,
    api,
    store,
    authenticate(token) {
      if (!token || token.length > 200) return null;
      const u = api.userByTokenHash(hashToken(token));
      return u ? toUser(u) : null;
    },
    storeFor(user) {
      return scopeStore(store, user);
    },
    audit(user, action, target, outcome = null) {
      api.audit(typeof user === 'string' ? user : user.name, action, target, outcome);
    },
    close() {
      api.close();
      store.close();
    },
  };
}
