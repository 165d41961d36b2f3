/**
 * The files the load balancer shares with the serve controller, in the service's folder (DIR):
 *
 *   DIR/replicas.json   written by the controller: the replicas requests may go to now
 *                       `{"replicas":[{"id":1,"url":"http://127.0.0.5:8080"}]}`
 *   DIR/lb-stats.json   written by the load balancer about every 500 ms: requests received per whole
 *                       second over the last 600 s `{"pid":N,"port":P,"at":epochMs,"counts":[[sec,n],...]}`
 *
 * Both are written atomically (`X.tmp-<pid>`, then a rename), so a reader sees a whole file or the
 * previous one.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const REPLICAS_FILE = 'replicas.json';
export const LB_STATS_FILE = 'lb-stats.json';

export interface LbReplica {
  id: number;
  /** `http://host:port` or `https://host:port` (a path, if any, is ignored: the request's own path is used). */
  url: string;
}

export interface LbStats {
  pid: number;
  port: number;
  /** When the file was written (epoch ms). */
  at: number;
  /** `[epochSecond, requests received in that second]`, oldest first; seconds with none are left out. */
  counts: Array<[number, number]>;
}

/** Checks the text of replicas.json; throws an Error saying what is wrong. */
export function parseReplicas(text: string): LbReplica[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`not JSON (${(e as Error).message})`);
  }
  const list = (doc as { replicas?: unknown } | null)?.replicas;
  if (!Array.isArray(list)) throw new Error('no "replicas" list');
  const out: LbReplica[] = [];
  const seen = new Set<string>();
  for (const [i, r] of list.entries()) {
    const { id, url } = (r ?? {}) as { id?: unknown; url?: unknown };
    if (typeof id !== 'number' || !Number.isInteger(id))
      throw new Error(`replicas[${i}].id is not an integer`);
    if (typeof url !== 'string') throw new Error(`replicas[${i}].url is not a string`);
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new Error(`replicas[${i}].url is not a URL`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new Error(`replicas[${i}].url is not http(s)`);
    }
    const key = `${id} ${url}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ id, url });
  }
  return out;
}

/** The controller's side: publish the replicas the load balancer may use now. */
export function writeReplicas(dir: string, replicas: LbReplica[]): void {
  writeAtomicSync(join(dir, REPLICAS_FILE), `${JSON.stringify({ replicas })}\n`);
}

/** The controller's side: the load balancer's last stats (their QPS: autoscaler.ts `qpsOver`), or null when there are none (yet) or they are unreadable. */
export function readLbStats(dir: string): LbStats | null {
  try {
    const s = JSON.parse(readFileSync(join(dir, LB_STATS_FILE), 'utf8')) as LbStats;
    return Array.isArray(s?.counts) ? s : null;
  } catch {
    return null;
  }
}

export function writeAtomicSync(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, text);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(tmp, text);
  }
  renameSync(tmp, path);
}

export async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}
