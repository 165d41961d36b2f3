/**
 * Helpers for the serving benchmarks: a stand-in replica, the serve controller's files read straight
 * from its node (local cloud), an open-loop load generator, controller.log parsing, and the check
 * that a run left nothing behind.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { BIN, ROOT } from './lib.js';

/** A stand-in model server: binds this node's address (first line of SKYPILOT_NODE_IPS) on PORT. */
export const REPLICA_JS = `const http = require('node:http');
const host = (process.env.SKYPILOT_NODE_IPS || '127.0.0.1').split('\\n')[0];
const port = Number(process.env.PORT || 8080);
http.createServer((req, res) => {
  if (req.url === '/health') { res.writeHead(200); return res.end('ok\\n'); }
  res.end('hello from ' + host + '\\n');
}).listen(port, host, () => console.log('serving on ' + host + ':' + port));
`;

export function writeReplica(dir: string): void {
  writeFileSync(join(dir, 'replica.js'), REPLICA_JS);
}

export type Env = Record<string, string>;

export function cli(env: Env, args: string[]): { stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { env, cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`skyhop ${args.join(' ')} (${r.status}): ${r.stderr}`);
  return r;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The serve controller's $SKYHOP_HOME on its (local) node. */
export function controllerHome(skyhopHome: string): string {
  const base = join(skyhopHome, 'local', 'clusters', 'skyhop-serve-controller');
  const node = readdirSync(base)[0];
  if (!node) throw new Error('the serve controller has no node');
  return join(base, node, 'home', '.skyhop');
}

export interface ReplicaRec {
  id: number;
  status: string;
  url: string | null;
  cluster: string;
  spot: boolean;
  reason: string | null;
}
export interface ServiceRec {
  status: string;
  target: number;
  qps: number;
  lbHost: string | null;
  lbPort: number | null;
  replicas: ReplicaRec[];
}

/** One service's files on the controller's node, read as they are now (null while missing). */
export function serviceFilesOf(ctlHome: string, name: string) {
  const dir = join(ctlHome, 'serve', 'services', name);
  const json = <T>(f: string): T | null => {
    try {
      return JSON.parse(readFileSync(join(dir, f), 'utf8')) as T;
    } catch {
      return null;
    }
  };
  return {
    dir,
    service: () => json<ServiceRec>('service.json'),
    lbStats: () => json<{ counts: Array<[number, number]> }>('lb-stats.json'),
    replicas: () => json<{ replicas: Array<{ id: number; url: string }> }>('replicas.json'),
    /** controller.log as [epoch ms, text] pairs. */
    log: (): Array<[number, string]> => {
      const f = join(dir, 'controller.log');
      if (!existsSync(f)) return [];
      return readFileSync(f, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          const sp = l.indexOf(' ');
          return [Date.parse(l.slice(0, sp)), l.slice(sp + 1)] as [number, string];
        });
    },
  };
}

export const ALIVE = new Set(['PENDING', 'PROVISIONING', 'STARTING', 'READY', 'NOT_READY']);

export interface Sent {
  at: number;
  ms: number;
  status: number;
  error?: string;
  body?: string;
}

/**
 * Open-loop GETs of `url` in phases of `rate` requests per second for `seconds` each, back to back, on
 * schedule whatever the answers (a request in flight never holds the next one back). `onPhase(i)` is
 * called as phase i starts. Resolves once the schedule is over and every answer is in.
 */
export async function openLoop(
  url: string,
  phases: Array<{ rate: number; seconds: number }>,
  out: Sent[],
  onPhase?: (i: number, at: number) => void,
): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const pending: Promise<void>[] = [];
  let start = Date.now();
  for (const [k, p] of phases.entries()) {
    onPhase?.(k, start);
    const total = Math.round(p.rate * p.seconds);
    for (let i = 0; i < total; i++) {
      const wait = start + (i * 1000) / p.rate - Date.now();
      if (wait > 0) await sleep(wait);
      pending.push(get(url, agent).then((s) => void out.push(s)));
    }
    start += p.seconds * 1000;
    if (start > Date.now()) await sleep(start - Date.now());
  }
  onPhase?.(phases.length, start);
  await Promise.all(pending);
  agent.destroy();
}

/** One GET (10 s at most); its status (0 and the error when it got none), and its body if `keepBody`. */
export function get(url: string, agent?: Agent, keepBody = false): Promise<Sent> {
  const at = Date.now();
  return new Promise((resolve) => {
    const req = request(url, { agent: agent ?? false, timeout: 10_000 }, (res) => {
      let body = '';
      if (keepBody) res.on('data', (d) => (body += d));
      else res.resume();
      res.once('end', () =>
        resolve({ at, ms: Date.now() - at, status: res.statusCode ?? 0, ...(keepBody ? { body } : {}) }),
      );
      res.once('error', (e) => resolve({ at, ms: Date.now() - at, status: 0, error: e.message }));
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', (e) => resolve({ at, ms: Date.now() - at, status: 0, error: e.message }));
    req.end();
  });
}

/** Processes whose command line or environment names `needle` (a temp home), this one excluded. */
export function processesNaming(needle: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    const pid = Number(p);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      const env = readFileSync(`/proc/${p}/environ`, 'utf8');
      if (cmd.includes(needle) || env.includes(needle)) out.push(pid);
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

/**
 * `serve down -a` and `down -a`, then checks nothing is left: no local cluster (the controller's
 * replicas are clusters under its node's home, which `down -a` removes with it) and no process of the
 * home. Returns what is left, described (empty: clean).
 */
export async function downEverything(env: Env, home: string): Promise<string[]> {
  const left: string[] = [];
  for (const args of [
    ['serve', 'down', '-a', '-y'],
    ['down', '-a', '-y'],
  ]) {
    const r = spawnSync(process.execPath, [BIN, ...args], { env, cwd: ROOT, encoding: 'utf8' });
    if (r.status !== 0) left.push(`skyhop ${args.join(' ')} failed: ${r.stderr.trim()}`);
  }
  const clusters = join(env.SKYHOP_HOME!, 'local', 'clusters');
  const names = existsSync(clusters) ? readdirSync(clusters) : [];
  if (names.length > 0) left.push(`local clusters left: ${names.join(', ')}`);
  for (let i = 0; i < 20; i++) {
    if (processesNaming(home).length === 0) break;
    await sleep(250);
  }
  const procs = processesNaming(home);
  if (procs.length > 0) {
    const cmds = procs.map((p) => {
      try {
        return `${p}: ${readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ').slice(0, 120)}`;
      } catch {
        return String(p);
      }
    });
    left.push(`processes left: ${cmds.join('; ')}`);
  }
  return left;
}

/** The machine, and how busy it is (other work shares it): for the notes beside the numbers. */
export function machine(): string {
  const [one, five] = loadavg();
  return `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, load average ${one!.toFixed(1)} (1 min) ${five!.toFixed(1)} (5 min)`;
}
