/**
 * The store tests' two backends: SQLite (a temp SKYHOP_HOME) and PostgreSQL (SKYHOP_DB set to a fresh
 * database of one throwaway server per test file, test/helpers/postgres.ts). A semantic test runs in
 * a `describe` per backend:
 *
 *   for (const backend of BACKENDS) describe(backend, backendSuite(backend), () => { ... tempState(backend) ... });
 */
import { join } from 'node:path';
import { after } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { type PgServer, postgresMissing, startPostgres } from '../../helpers/postgres.js';
import { tempHome } from './helpers.js';

/** The store implementations the semantic tests run against. */
export type Backend = 'sqlite' | 'postgres';
export const BACKENDS: readonly Backend[] = ['sqlite', 'postgres'];

let server: Promise<PgServer> | null = null;

/** One PostgreSQL per test file's process (started on first use; stopped by `usePostgres`'s after). */
export function sharedPostgres(): Promise<PgServer> {
  server ??= startPostgres();
  return server;
}

/**
 * The options of the `describe` of a backend: the postgres one skips, saying why, where
 * PostgreSQL is not installed (never under CI=true, where it fails instead).
 */
export function backendSuite(backend: Backend): { skip?: string } {
  if (backend === 'sqlite') return {};
  const missing = postgresMissing();
  return missing ? { skip: missing } : {};
}

// The server stops after the file's tests.
after(async () => {
  if (server) await (await server).stop();
  server = null;
});

export interface StateEnv {
  backend: Backend;
  home: string;
  /** The database URL (postgres), or null (sqlite: `home`/state.db). */
  url: string | null;
  /** Runs SQL (literals inline, no parameters) on the test's database, outside any store. */
  exec(sql: string): Promise<Array<Record<string, unknown>>>;
  cleanup(): void;
}

/**
 * A temp SKYHOP_HOME (tempHome) and, for postgres, SKYHOP_DB set to a fresh database of the shared
 * server, so `openStore()` opens that backend; `cleanup` puts the environment back.
 */
export async function tempState(backend: Backend): Promise<StateEnv> {
  const t = tempHome();
  const saved = process.env.SKYHOP_DB;
  let url: string | null = null;
  if (backend === 'postgres') {
    url = await (await sharedPostgres()).createDatabase();
    process.env.SKYHOP_DB = url;
  } else {
    delete process.env.SKYHOP_DB;
  }
  return {
    backend,
    home: t.home,
    url,
    async exec(sql: string) {
      if (url !== null) {
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        try {
          const r = await c.query(sql);
          return (Array.isArray(r) ? r.at(-1) : r)?.rows ?? [];
        } finally {
          await c.end();
        }
      }
      const db = new Database(join(t.home, 'state.db'));
      try {
        const st = db.prepare(sql);
        if (st.reader) return st.all() as Array<Record<string, unknown>>;
        st.run();
        return [];
      } finally {
        db.close();
      }
    },
    cleanup() {
      if (saved === undefined) delete process.env.SKYHOP_DB;
      else process.env.SKYHOP_DB = saved;
      t.cleanup();
    },
  };
}
