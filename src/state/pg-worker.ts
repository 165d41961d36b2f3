/**
 * The worker thread of the PostgreSQL bridge (pg-bridge.ts): one `pg` connection, driven by the
 * messages of the thread that started it, which waits for each answer synchronously. Built on its own
 * to dist/pg-worker.js (scripts/build.mjs).
 *
 * Every message is answered exactly once, then the shared flag is raised and the waiting thread
 * woken, also when the connection broke or the code here failed.
 */
import { type MessagePort, workerData } from 'node:worker_threads';
import pg from 'pg';

export interface WorkerData {
  port: MessagePort;
  flag: Int32Array;
}

export type Request =
  | { id: number; op: 'connect'; url: string; applicationName: string; connectTimeoutMs: number }
  | { id: number; op: 'query'; sql: string; params: unknown[] }
  | { id: number; op: 'close' };

export interface WireError {
  message: string;
  code?: string;
  detail?: string;
  /** The connection is gone (broken, ended, or never made). */
  connection?: boolean;
}

export type Reply =
  | { id: number; ok: true; rows: Record<string, unknown>[]; rowCount: number }
  | { id: number; ok: false; error: WireError };

const INT8 = 20;
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    // ms timestamps and ids are int8; they fit a double exactly.
    if (oid === INT8 && format !== 'binary') return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format);
  },
};

function main(): void {
  const { port, flag } = workerData as WorkerData;
  let client: pg.Client | null = null;
  let broken: Error | null = null;
  let current = -1;

  const answer = (reply: Reply) => {
    port.postMessage(reply);
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
  };
  const fail = (id: number, e: unknown, connection = false) => {
    const err = e as { message?: string; code?: string; detail?: string };
    answer({
      id,
      ok: false,
      error: {
        message: String(err?.message ?? e),
        ...(typeof err?.code === 'string' ? { code: err.code } : {}),
        ...(typeof err?.detail === 'string' ? { detail: err.detail } : {}),
        ...(connection ? { connection: true } : {}),
      },
    });
  };
  // Nothing may leave the waiting thread waiting: an error thrown anywhere here answers it.
  process.on('uncaughtException', (e) => {
    if (current >= 0) fail(current, e);
    current = -1;
  });

  const handle = async (m: Request) => {
    current = m.id;
    try {
      if (m.op === 'connect') {
        const c = new pg.Client({
          connectionString: m.url,
          application_name: m.applicationName,
          connectionTimeoutMillis: m.connectTimeoutMs,
          keepAlive: true,
          types,
        });
        c.on('error', (e) => {
          broken = e;
        });
        try {
          await c.connect();
        } catch (e) {
          c.end().catch(() => {});
          return fail(m.id, e, true);
        }
        client = c;
        return answer({ id: m.id, ok: true, rows: [], rowCount: 0 });
      }
      if (m.op === 'close') {
        const c = client;
        client = null;
        if (c) await c.end().catch(() => {});
        return answer({ id: m.id, ok: true, rows: [], rowCount: 0 });
      }
      if (!client) return fail(m.id, new Error('the connection is closed'), true);
      if (broken) return fail(m.id, broken, true);
      try {
        const r = await client.query({ text: m.sql, values: m.params });
        const last = Array.isArray(r) ? r[r.length - 1] : r;
        return answer({ id: m.id, ok: true, rows: last?.rows ?? [], rowCount: last?.rowCount ?? 0 });
      } catch (e) {
        const err = e as { code?: string; message?: string };
        const lost =
          broken !== null ||
          (!err.code && /connection|terminated|ECONN|EPIPE|queryable/i.test(String(err.message)));
        return fail(m.id, e, lost);
      }
    } catch (e) {
      fail(m.id, e);
    } finally {
      current = -1;
    }
  };

  // One message at a time, in order (the waiting thread sends the next only after an answer).
  port.on('message', (m: Request) => {
    void handle(m);
  });
}

main();
