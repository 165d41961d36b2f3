/**
 * Running a team server: `serve` (the foreground process `skyhop api start` starts), and the record
 * of running servers in `$SKYHOP_HOME/api/servers/<port>.json` that `api stop` and `api status` read.
 * The database URL is recorded without its password.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { redactUrl } from '../state/index.js';
import { isProcessAlive, selfStartTime } from '../state/process.js';
import { VERSION } from '../version.js';
import { buildApp } from './app.js';
import { registerDashboard } from './dashboard/index.js';
import { createContext } from './context.js';
import { reapRequests, sweepLeftovers } from './requests.js';

export interface ServerRecord {
  pid: number;
  pidStart: string | null;
  host: string;
  port: number;
  endpoint: string;
  db: string;
  home: string;
  version: string;
  startedAt: number;
}

export function serversDir(home: string): string {
  return join(home, 'api', 'servers');
}

/** The servers of this home that still run. Records of dead ones are removed. */
export function runningServers(home: string): ServerRecord[] {
  const dir = serversDir(home);
  if (!existsSync(dir)) return [];
  const out: ServerRecord[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.json')) continue;
    const p = join(dir, f);
    try {
      const r = JSON.parse(readFileSync(p, 'utf8')) as ServerRecord;
      if (isProcessAlive(r.pid, r.pidStart)) out.push(r);
      else rmSync(p, { force: true });
    } catch {
      rmSync(p, { force: true });
    }
  }
  return out.sort((a, b) => a.port - b.port);
}

export interface ServeOptions {
  home: string;
  host: string;
  port: number;
  dbUrl: string | null;
}

/** Serves until SIGTERM/SIGINT; resolves when closed. Prints one line when listening. */
export async function serve(o: ServeOptions): Promise<void> {
  const ctx = await createContext({ home: o.home, dbUrl: o.dbUrl });
  const app = await buildApp(ctx, { plugins: [registerDashboard] });
  const reaped = reapRequests(ctx);
  if (reaped) log(`marked ${reaped} request(s) of dead workers FAILED`);
  // Housekeeping a local `status` does on each call, done here every 30 s: requests whose worker died,
  // lock rows of dead processes.
  const reaper = setInterval(() => {
    try {
      reapRequests(ctx);
      sweepLeftovers(ctx);
      ctx.store.clearStaleLocks();
    } catch (e) {
      log(`housekeeping failed: ${(e as Error).message}`);
    }
  }, 30_000);
  reaper.unref();
  await app.listen({ host: o.host, port: o.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  const endpoint = `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`;
  const rec: ServerRecord = {
    pid: process.pid,
    pidStart: selfStartTime(),
    host: o.host,
    port,
    endpoint,
    db: o.dbUrl ? redactUrl(o.dbUrl) : join(o.home, 'state.db'),
    home: o.home,
    version: VERSION,
    startedAt: Date.now(),
  };
  mkdirSync(serversDir(o.home), { recursive: true, mode: 0o700 });
  const file = join(serversDir(o.home), `${port}.json`);
  writeFileSync(`${file}.tmp`, JSON.stringify(rec, null, 2), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  log(
    `skyhop API server ${VERSION} listening on ${endpoint} (database: ${rec.db}); dashboard: ${endpoint}/dashboard`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  log('stopping');
  clearInterval(reaper);
  await app.close();
  rmSync(file, { force: true });
  ctx.close();
}

function log(line: string): void {
  process.stdout.write(`[${new Date().toISOString()}] ${line}\n`);
}
