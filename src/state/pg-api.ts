/**
 * A team server's records (api.ts) in PostgreSQL: the same `api_*` tables as SQLite's schema v7
 * (pg-migrations.ts), on a connection of its own through the bridge.
 */
import {
  type ApiRole,
  type ApiStore,
  type ApiUserRow,
  type AuditRow,
  type LogChunk,
  type LogStream,
  PATCH_COLUMNS,
  type RequestPatch,
  type RequestRow,
  type RequestStatus,
  toRequest,
  toUser,
} from './api.js';
import { PgBridge } from './pg-bridge.js';
import { migratePg } from './pg-migrations.js';

type RequestDbRow = Parameters<typeof toRequest>[0];

/** `col = $n, ...` for the patch's defined fields (numbered from `from`), and their values. */
function patchSet(patch: RequestPatch, from: number): { set: string; values: unknown[] } {
  const cols: string[] = [];
  const values: unknown[] = [];
  for (const [k, col] of Object.entries(PATCH_COLUMNS)) {
    const v = patch[k as keyof RequestPatch];
    if (v === undefined) continue;
    values.push(v);
    cols.push(`${col} = $${from + values.length - 1}`);
  }
  return { set: cols.join(', '), values };
}

export class PgApiStore implements ApiStore {
  private readonly db: PgBridge;

  /** Connects to `url` and migrates the database (as opening its Store does). */
  constructor(url: string) {
    this.db = new PgBridge(url);
    try {
      this.db.query("SET synchronous_commit = 'on'");
      migratePg(this.db);
    } catch (e) {
      this.db.close();
      throw e;
    }
  }

  private all<T>(sql: string, params: unknown[] = []): T[] {
    return this.db.query<T>(sql, params).rows;
  }
  private run(sql: string, params: unknown[] = []): number {
    return this.db.query(sql, params).rowCount;
  }

  addUser(name: string, role: ApiRole): void {
    this.run('INSERT INTO api_users (name, role, created_at) VALUES ($1, $2, $3)', [name, role, Date.now()]);
  }
  getUser(name: string): ApiUserRow | null {
    const r = this.all<{ name: string; role: string; created_at: number }>(
      'SELECT * FROM api_users WHERE name = $1',
      [name],
    )[0];
    return r ? toUser(r) : null;
  }
  listUsers(): ApiUserRow[] {
    return this.all<{ name: string; role: string; created_at: number }>(
      'SELECT * FROM api_users ORDER BY name',
    ).map(toUser);
  }
  removeUser(name: string): boolean {
    return this.run('DELETE FROM api_users WHERE name = $1', [name]) > 0;
  }
  setRole(name: string, role: ApiRole): boolean {
    return this.run('UPDATE api_users SET role = $2 WHERE name = $1', [name, role]) > 0;
  }
  addToken(user: string, hash: string): void {
    this.run('INSERT INTO api_tokens (hash, "user", created_at) VALUES ($1, $2, $3)', [
      hash,
      user,
      Date.now(),
    ]);
  }
  userByTokenHash(hash: string): ApiUserRow | null {
    const r = this.all<{ name: string; role: string; created_at: number }>(
      `SELECT u.* FROM api_tokens t JOIN api_users u ON u.name = t."user"
       WHERE t.hash = $1 AND t.revoked_at IS NULL`,
      [hash],
    )[0];
    return r ? toUser(r) : null;
  }
  revokeTokens(user: string): number {
    return this.run('UPDATE api_tokens SET revoked_at = $2 WHERE "user" = $1 AND revoked_at IS NULL', [
      user,
      Date.now(),
    ]);
  }

  createRequest(r: Pick<RequestRow, 'id' | 'user' | 'command' | 'argv' | 'createdAt'>): void {
    this.run(
      `INSERT INTO api_requests (id, "user", command, argv, status, created_at) VALUES ($1, $2, $3, $4, 'PENDING', $5)`,
      [r.id, r.user, r.command, JSON.stringify(r.argv), r.createdAt],
    );
  }
  updateRequest(id: string, patch: RequestPatch): boolean {
    const { set, values } = patchSet(patch, 2);
    if (!set) return this.getRequest(id) !== null;
    return this.run(`UPDATE api_requests SET ${set} WHERE id = $1`, [id, ...values]) > 0;
  }
  finishRequest(id: string, patch: RequestPatch & { status: RequestStatus }): boolean {
    const { set, values } = patchSet(patch, 2);
    return (
      this.run(
        `UPDATE api_requests SET ${set} WHERE id = $1 AND status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED')`,
        [id, ...values],
      ) > 0
    );
  }
  getRequest(id: string): RequestRow | null {
    const r = this.all<RequestDbRow>('SELECT * FROM api_requests WHERE id = $1', [id])[0];
    return r ? toRequest(r) : null;
  }
  listRequests(user: string | null, limit: number): RequestRow[] {
    const rows =
      user === null
        ? this.all<RequestDbRow>('SELECT * FROM api_requests ORDER BY created_at DESC LIMIT $1', [limit])
        : this.all<RequestDbRow>(
            'SELECT * FROM api_requests WHERE "user" = $1 ORDER BY created_at DESC LIMIT $2',
            [user, limit],
          );
    return rows.map(toRequest);
  }
  unfinishedRequests(): RequestRow[] {
    return this.all<RequestDbRow>(
      `SELECT * FROM api_requests WHERE status IN ('PENDING', 'RUNNING') ORDER BY created_at`,
    ).map(toRequest);
  }
  appendLog(id: string, stream: LogStream, data: string): void {
    this.run('INSERT INTO api_request_log (request, stream, data) VALUES ($1, $2, $3)', [id, stream, data]);
  }
  readLog(id: string, afterSeq: number, limit: number, streams: readonly LogStream[]): LogChunk[] {
    return this.all<LogChunk>(
      `SELECT seq, stream, data FROM api_request_log
       WHERE request = $1 AND seq > $2 AND stream = ANY($3::text[]) ORDER BY seq LIMIT $4`,
      [id, afterSeq, [...streams], limit],
    );
  }

  audit(user: string, action: string, target: string | null, outcome: string | null): void {
    this.run('INSERT INTO api_audit (at, "user", action, target, outcome) VALUES ($1, $2, $3, $4, $5)', [
      Date.now(),
      user,
      action,
      target,
      outcome,
    ]);
  }
  listAudit(limit: number): AuditRow[] {
    return this.all<AuditRow>('SELECT * FROM api_audit ORDER BY id DESC LIMIT $1', [limit]);
  }
  close(): void {
    this.db.close();
  }
}
