/**
 * A synchronous PostgreSQL connection: the `pg` driver runs in a worker thread (pg-worker.ts) and the
 * calling thread waits for each answer with `Atomics.wait`, so the `Store` interface stays synchronous.
 * One connection per bridge, kept for the bridge's life: session state (advisory locks) lives on it,
 * and ends with it, also when the process dies.
 *
 * Not synckit: it keeps one worker per file for the whole process with no way to end it, and a store
 * needs a connection of its own that `close()` ends. The wait here is the same technique.
 *
 * The URL's password never appears in a message: `where` is the URL without it, and every error
 * text that crosses the bridge has it replaced.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { UserError } from '../util/errors.js';
import type { Reply, Request, WireError } from './pg-worker.js';

/** How long a statement may take before the caller gives up on the database. */
const ANSWER_TIMEOUT_MS = 120_000;
const CONNECT_TIMEOUT_MS = 10_000;

/** Whether `url` names a PostgreSQL database (SKYHOP_DB, `api start --db`). */
export function isPostgresUrl(url: string | undefined): url is string {
  return url !== undefined && /^postgres(ql)?:\/\//i.test(url);
}

/** `url` without its password (`postgresql://user@host:5432/db`), for messages and `Store.path`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    for (const k of [...u.searchParams.keys()]) if (/pass|secret|key/i.test(k)) u.searchParams.set(k, '***');
    return u.toString();
  } catch {
    // Everything between the user and the last '@' may be the password (spaces and all).
    return url.replace(/^([a-z]+:\/\/[^/@:\s]*):.*@/i, '$1@').replace(/(password=)[^&\s]*/gi, '$1***');
  }
}

/** Every form the URL's secrets may take in a message. */
function secretsOf(url: string): string[] {
  const out = new Set<string>();
  try {
    const u = new URL(url);
    if (u.password) {
      out.add(u.password);
      try {
        out.add(decodeURIComponent(u.password));
      } catch {
        // keep the raw form only
      }
    }
    for (const [k, v] of u.searchParams) if (/pass|secret|key/i.test(k) && v) out.add(v);
  } catch {
    const m = /^[a-z]+:\/\/[^/@:\s]*:(.*)@/i.exec(url);
    if (m?.[1]) out.add(m[1]);
  }
  return [...out].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
}

/** A statement the database refused (its SQLSTATE in `code`). */
export class PgError extends Error {
  readonly code: string | undefined;
  constructor(message: string, code: string | undefined) {
    super(message);
    this.name = 'PgError';
    this.code = code;
  }
}

/**
 * The worker: dist/pg-worker.js in a build; in the sources (tests run them through tsx), pg-worker.ts
 * loaded through tsx, which a worker thread does not inherit from `--import tsx` on Node 20.
 */
function workerEntry(): { entry: URL | string; eval: boolean } {
  const here = import.meta.url;
  if (/\.[cm]?ts$/.test(here)) {
    const api = import.meta.resolve('tsx/esm/api');
    const file = new URL('./pg-worker.ts', here).href;
    return {
      entry: `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(file)}); })`,
      eval: true,
    };
  }
  // Bundled: this code is in dist/cli.js, dist/sdk.js, or a chunk one folder below dist/.
  for (const rel of ['./pg-worker.js', '../pg-worker.js']) {
    const u = new URL(rel, here);
    if (existsSync(fileURLToPath(u))) return { entry: u, eval: false };
  }
  throw new Error(`pg-worker.js is missing next to ${fileURLToPath(here)}; rebuild skyhop (npm run build)`);
}

/** A request without its id (the bridge numbers them). */
type Message = Request extends infer R ? (R extends Request ? Omit<R, 'id'> : never) : never;

export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

export class PgBridge {
  /** The database, without its password. */
  readonly where: string;
  private worker: Worker | null;
  private readonly port: MessagePort;
  private readonly flag: Int32Array;
  private readonly secrets: string[];
  private next = 1;

  /** Connects (UserError when the URL is wrong or the database cannot be reached). */
  constructor(url: string) {
    this.secrets = secretsOf(url);
    this.where = redactUrl(url);
    let parsed: URL | null = null;
    try {
      parsed = new URL(url);
    } catch {
      // below
    }
    if (!parsed || !/^postgres(ql)?:$/i.test(parsed.protocol) || !parsed.hostname) {
      throw new UserError(
        `SKYHOP_DB is not a PostgreSQL URL: ${this.where}; write it as postgresql://USER:PASSWORD@HOST:PORT/DATABASE`,
      );
    }
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.flag = new Int32Array(new SharedArrayBuffer(4));
    const { entry, eval: isEval } = workerEntry();
    this.worker = new Worker(entry, {
      eval: isEval,
      workerData: { port: port2, flag: this.flag },
      transferList: [port2],
      // Of the environment, only what libpq's conventions let `pg` read (PGPASSWORD, PGSSLMODE...) and
      // HOME (~/.pgpass): never the rest of the process's secrets.
      env: Object.fromEntries(
        Object.entries(process.env).filter(
          ([k, v]) => v !== undefined && (k.startsWith('PG') || k === 'HOME'),
        ),
      ),
      stdout: false,
      stderr: false,
    });
    this.worker.unref();
    this.port.unref();
    const r = this.call({
      op: 'connect',
      url,
      applicationName: 'skyhop',
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
    });
    if (!r.ok) {
      this.terminate();
      throw this.connectError(r.error);
    }
  }

  get closed(): boolean {
    return this.worker === null;
  }

  /** Runs one statement (`$1`-style parameters) and waits for its rows. */
  query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): QueryResult<T> {
    const r = this.call({ op: 'query', sql, params });
    if (r.ok) return { rows: r.rows as T[], rowCount: r.rowCount };
    const message = this.redact(r.error.message);
    if (r.error.connection) {
      throw new UserError(
        `lost the connection to the state database ${this.where}: ${message}; check that PostgreSQL is up and retry`,
        { cause: new PgError(message, r.error.code) },
      );
    }
    throw new PgError(message, r.error.code);
  }

  /** Ends the connection (and with it this session's advisory locks). Idempotent. */
  close(): void {
    if (!this.worker) return;
    try {
      this.call({ op: 'close' }, 10_000);
    } catch {
      // the worker goes anyway
    }
    this.terminate();
  }

  private terminate(): void {
    const w = this.worker;
    this.worker = null;
    this.port.close();
    void w?.terminate();
  }

  private redact(text: string): string {
    let out = text;
    for (const s of this.secrets) out = out.split(s).join('***');
    return out;
  }

  private connectError(e: WireError): UserError {
    const why = this.redact(e.message);
    let hint = 'check SKYHOP_DB';
    if (e.code === '28P01' || e.code === '28000') hint = 'check the user and password in SKYHOP_DB';
    else if (e.code === '3D000') hint = 'create the database or fix its name in SKYHOP_DB';
    else if (/ECONNREFUSED/.test(e.message)) hint = 'is PostgreSQL running and listening there?';
    else if (/ENOTFOUND|EAI_AGAIN/.test(e.message)) hint = 'check the host name in SKYHOP_DB';
    else if (/timeout/i.test(e.message))
      hint = 'the database did not answer; check the host, port and firewall';
    return new UserError(`cannot connect to the state database ${this.where}: ${why}; ${hint}`);
  }

  private call(msg: Message, timeoutMs = ANSWER_TIMEOUT_MS): Reply {
    if (!this.worker) throw new Error(`the state store ${this.where} is closed`);
    const id = this.next++;
    Atomics.store(this.flag, 0, 0);
    this.port.postMessage({ ...msg, id } as Request);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (let m = receiveMessageOnPort(this.port); m; m = receiveMessageOnPort(this.port)) {
        const reply = m.message as Reply;
        if (reply.id === id) return reply;
        // An answer to a call that timed out earlier: dropped.
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new UserError(
          `the state database ${this.where} did not answer within ${Math.round(timeoutMs / 1000)} s; check that PostgreSQL is up and retry`,
        );
      }
      Atomics.wait(this.flag, 0, 0, Math.min(left, 1000));
      Atomics.store(this.flag, 0, 0);
    }
  }
}
