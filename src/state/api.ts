/**
 * A team server's own records (schema v7): users, their tokens (only hashes), requests (a command run
 * for a user) with their output, and the audit log. Synchronous like `Store`, with two
 * implementations: SQLite (the `api_*` tables of `state.db`) and PostgreSQL (`pg-api.ts`).
 *
 * Never stored: a token itself, a request's secret flag values (the server redacts argv before it
 * gets here), cloud credentials.
 */
import { randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';

export type ApiRole = 'admin' | 'user';
export type RequestStatus = 'PENDING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
export const REQUEST_TERMINAL: ReadonlySet<RequestStatus> = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);

export interface ApiUserRow {
  name: string;
  role: ApiRole;
  createdAt: number;
}

export interface RequestRow {
  id: string;
  user: string;
  /** The command's name (`launch`, `status`, `jobs launch`...). */
  command: string;
  /** The argv as given (secret values redacted). */
  argv: string[];
  status: RequestStatus;
  /** The server instance that runs it, the machine and its worker process. */
  server: string | null;
  host: string | null;
  pid: number | null;
  pidStart: number | null;
  exitCode: number | null;
  error: string | null;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
}

export type RequestPatch = Partial<
  Pick<
    RequestRow,
    'status' | 'server' | 'host' | 'pid' | 'pidStart' | 'exitCode' | 'error' | 'startedAt' | 'endedAt'
  >
>;

export type LogStream = 'out' | 'err' | 'in' | 'sig';
export const OUTPUT_STREAMS: readonly LogStream[] = ['out', 'err'];
export const CONTROL_STREAMS: readonly LogStream[] = ['in', 'sig'];

export interface LogChunk {
  seq: number;
  stream: LogStream;
  data: string;
}

export interface AuditRow {
  id: number;
  at: number;
  user: string;
  action: string;
  target: string | null;
  outcome: string | null;
}

export interface ApiStore {
  addUser(name: string, role: ApiRole): void;
  getUser(name: string): ApiUserRow | null;
  listUsers(): ApiUserRow[];
  /** False when no such user. Their tokens go with them. */
  removeUser(name: string): boolean;
  setRole(name: string, role: ApiRole): boolean;
  addToken(user: string, hash: string): void;
  /** The live (not revoked) token's user. */
  userByTokenHash(hash: string): ApiUserRow | null;
  /** Revokes every live token of `user`; how many. */
  revokeTokens(user: string): number;

  createRequest(r: Pick<RequestRow, 'id' | 'user' | 'command' | 'argv' | 'createdAt'>): void;
  updateRequest(id: string, patch: RequestPatch): boolean;
  /**
   * Ends a request unless it has ended already (one statement): true when this call ended it. The
   * worker, its server and a restarted server may all try; the first wins.
   */
  finishRequest(id: string, patch: RequestPatch & { status: RequestStatus }): boolean;
  getRequest(id: string): RequestRow | null;
  /** Newest first; one user's or (null) everyone's. */
  listRequests(user: string | null, limit: number): RequestRow[];
  /** Requests not ended, oldest first. */
  unfinishedRequests(): RequestRow[];
  /**
   * Appends a chunk: the command's output ('out', 'err') or what the client sends it ('in': stdin,
   * 'sig': a signal name such as SIGINT). Sequence numbers grow across all requests.
   */
  appendLog(id: string, stream: LogStream, data: string): void;
  /** Chunks of `streams` after `afterSeq`, in order. */
  readLog(id: string, afterSeq: number, limit: number, streams: readonly LogStream[]): LogChunk[];

  audit(user: string, action: string, target: string | null, outcome: string | null): void;
  listAudit(limit: number): AuditRow[];
  close(): void;
}

/** A request id: short, random, safe in a URL and a file name. */
export function newRequestId(): string {
  return randomBytes(9).toString('base64url').replace(/[-_]/g, 'x');
}

interface RequestDbRow {
  id: string;
  user: string;
  command: string;
  argv: string;
  status: RequestStatus;
  server: string | null;
  host: string | null;
  pid: number | null;
  pid_start: number | null;
  exit_code: number | null;
  error: string | null;
  created_at: number;
  started_at: number | null;
  ended_at: number | null;
}

export function toRequest(r: RequestDbRow): RequestRow {
  let argv: string[] = [];
  try {
    argv = JSON.parse(r.argv) as string[];
  } catch {
    // an unreadable argv reads as empty; the command's name is still there
  }
  return {
    id: r.id,
    user: r.user,
    command: r.command,
    argv,
    status: r.status,
    server: r.server,
    host: r.host,
    pid: r.pid === null ? null : Number(r.pid),
    pidStart: r.pid_start === null ? null : Number(r.pid_start),
    exitCode: r.exit_code === null ? null : Number(r.exit_code),
    error: r.error,
    createdAt: Number(r.created_at),
    startedAt: r.started_at === null ? null : Number(r.started_at),
    endedAt: r.ended_at === null ? null : Number(r.ended_at),
  };
}

/** The columns of a RequestPatch, in the order `patchSql` names them. */
export const PATCH_COLUMNS: Record<keyof RequestPatch, string> = {
  status: 'status',
  server: 'server',
  host: 'host',
  pid: 'pid',
  pidStart: 'pid_start',
  exitCode: 'exit_code',
  error: 'error',
  startedAt: 'started_at',
  endedAt: 'ended_at',
};

/** `col = ?, col = ?` and its values, for the patch's defined fields. */
export function patchSql(patch: RequestPatch): { set: string; values: unknown[] } {
  const cols: string[] = [];
  const values: unknown[] = [];
  for (const [k, col] of Object.entries(PATCH_COLUMNS)) {
    const v = patch[k as keyof RequestPatch];
    if (v === undefined) continue;
    cols.push(`${col} = ?`);
    values.push(v);
  }
  return { set: cols.join(', '), values };
}

export function toUser(r: { name: string; role: string; created_at: number }): ApiUserRow {
  return { name: r.name, role: r.role === 'admin' ? 'admin' : 'user', createdAt: Number(r.created_at) };
}

/** The `api_*` tables of a SQLite state database (its own connection; `openStore` migrated it). */
export class SqliteApiStore implements ApiStore {
  constructor(private readonly db: Database.Database) {}

  addUser(name: string, role: ApiRole): void {
    this.db
      .prepare('INSERT INTO api_users (name, role, created_at) VALUES (?, ?, ?)')
      .run(name, role, Date.now());
  }
  getUser(name: string): ApiUserRow | null {
    const r = this.db.prepare('SELECT * FROM api_users WHERE name = ?').get(name) as
      | { name: string; role: string; created_at: number }
      | undefined;
    return r ? toUser(r) : null;
  }
  listUsers(): ApiUserRow[] {
    return (this.db.prepare('SELECT * FROM api_users ORDER BY name').all() as never[]).map(toUser);
  }
  removeUser(name: string): boolean {
    return this.db.prepare('DELETE FROM api_users WHERE name = ?').run(name).changes > 0;
  }
  setRole(name: string, role: ApiRole): boolean {
    return this.db.prepare('UPDATE api_users SET role = ? WHERE name = ?').run(role, name).changes > 0;
  }
  addToken(user: string, hash: string): void {
    this.db
      .prepare('INSERT INTO api_tokens (hash, user, created_at) VALUES (?, ?, ?)')
      .run(hash, user, Date.now());
  }
  userByTokenHash(hash: string): ApiUserRow | null {
    const r = this.db
      .prepare(
        `SELECT u.* FROM api_tokens t JOIN api_users u ON u.name = t.user
         WHERE t.hash = ? AND t.revoked_at IS NULL`,
      )
      .get(hash) as { name: string; role: string; created_at: number } | undefined;
    return r ? toUser(r) : null;
  }
  revokeTokens(user: string): number {
    return this.db
      .prepare('UPDATE api_tokens SET revoked_at = ? WHERE user = ? AND revoked_at IS NULL')
      .run(Date.now(), user).changes;
  }

  createRequest(r: Pick<RequestRow, 'id' | 'user' | 'command' | 'argv' | 'createdAt'>): void {
    this.db
      .prepare(
        `INSERT INTO api_requests (id, user, command, argv, status, created_at) VALUES (?, ?, ?, ?, 'PENDING', ?)`,
      )
      .run(r.id, r.user, r.command, JSON.stringify(r.argv), r.createdAt);
  }
  updateRequest(id: string, patch: RequestPatch): boolean {
    const { set, values } = patchSql(patch);
    if (!set) return this.getRequest(id) !== null;
    return this.db.prepare(`UPDATE api_requests SET ${set} WHERE id = ?`).run(...values, id).changes > 0;
  }
  finishRequest(id: string, patch: RequestPatch & { status: RequestStatus }): boolean {
    const { set, values } = patchSql(patch);
    return (
      this.db
        .prepare(
          `UPDATE api_requests SET ${set} WHERE id = ? AND status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED')`,
        )
        .run(...values, id).changes > 0
    );
  }
  getRequest(id: string): RequestRow | null {
    const r = this.db.prepare('SELECT * FROM api_requests WHERE id = ?').get(id) as RequestDbRow | undefined;
    return r ? toRequest(r) : null;
  }
  listRequests(user: string | null, limit: number): RequestRow[] {
    const rows =
      user === null
        ? this.db.prepare('SELECT * FROM api_requests ORDER BY created_at DESC LIMIT ?').all(limit)
        : this.db
            .prepare('SELECT * FROM api_requests WHERE user = ? ORDER BY created_at DESC LIMIT ?')
            .all(user, limit);
    return (rows as RequestDbRow[]).map(toRequest);
  }
  unfinishedRequests(): RequestRow[] {
    const rows = this.db
      .prepare(`SELECT * FROM api_requests WHERE status IN ('PENDING', 'RUNNING') ORDER BY created_at`)
      .all() as RequestDbRow[];
    return rows.map(toRequest);
  }
  appendLog(id: string, stream: LogStream, data: string): void {
    this.db
      .prepare('INSERT INTO api_request_log (request, stream, data) VALUES (?, ?, ?)')
      .run(id, stream, data);
  }
  readLog(id: string, afterSeq: number, limit: number, streams: readonly LogStream[]): LogChunk[] {
    const marks = streams.map(() => '?').join(', ');
    return this.db
      .prepare(
        `SELECT seq, stream, data FROM api_request_log
         WHERE request = ? AND seq > ? AND stream IN (${marks}) ORDER BY seq LIMIT ?`,
      )
      .all(id, afterSeq, ...streams, limit) as LogChunk[];
  }

  audit(user: string, action: string, target: string | null, outcome: string | null): void {
    this.db
      .prepare('INSERT INTO api_audit (at, user, action, target, outcome) VALUES (?, ?, ?, ?, ?)')
      .run(Date.now(), user, action, target, outcome);
  }
  listAudit(limit: number): AuditRow[] {
    return this.db.prepare('SELECT * FROM api_audit ORDER BY id DESC LIMIT ?').all(limit) as AuditRow[];
  }
  close(): void {
    this.db.close();
  }
}
