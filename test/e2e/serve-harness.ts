/**
 * A sandbox for `skyhop serve` end to end: the built CLI on a temp SKYHOP_HOME with the serve
 * controller's short timings, a stand-in model server for replicas, a bounded load generator on
 * loopback, and the checks every test ends with (no service, no replica cluster, no load balancer).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { dirname, join } from 'node:path';
import type { ServiceInfo } from '../../src/core/serve.js';
import { type Run, Sandbox, waitFor } from './harness.js';

/**
 * The replicas' program: binds its node's address (the first line of SKYPILOT_NODE_IPS) on PORT.
 * `/health` fails (503) for the first FAIL_FIRST probes, then answers 200; `/probes` says how many
 * probes came; `/` answers `replica <address> version <VERSION>`; `/sse` sends three events.
 */
export const REPLICA_JS = `
const http = require('node:http');
const host = (process.env.SKYPILOT_NODE_IPS || '127.0.0.1').split('\\n')[0];
const port = Number(process.env.PORT || 8080);
const failFirst = Number(process.env.FAIL_FIRST || 0);
let probes = 0;
http.createServer((req, res) => {
  if (req.url === '/health') {
    probes++;
    res.writeHead(probes <= failFirst ? 503 : 200);
    return res.end(probes <= failFirst ? 'warming up\\n' : 'ok\\n');
  }
  if (req.url === '/probes') return res.end(String(probes));
  res.end('replica ' + host + ' version ' + (process.env.VERSION || '1') + '\\n');
}).listen(port, host, () => console.log('serving on ' + host + ':' + port));
`;

export class ServeSandbox {
  readonly sb: Sandbox;
  readonly workdir: string;

  constructor(extraEnv: Record<string, string> = {}) {
    this.sb = new Sandbox(extraEnv);
    mkdirSync(this.sb.home, { recursive: true });
    mkdirSync(this.sb.skyhopHome, { recursive: true });
    // Short timings keep the tests quick; the controller gets this file at every `serve up`.
    writeFileSync(
      join(this.sb.skyhopHome, 'config.yaml'),
      'serve:\n  controller:\n    probe_interval_seconds: 0.5\n    decision_interval_seconds: 1\n    qps_window_seconds: 2\n',
    );
    this.workdir = join(this.sb.dir, 'replica');
    mkdirSync(this.workdir, { recursive: true });
    writeFileSync(join(this.workdir, 'replica.js'), REPLICA_JS);
  }

  run(args: string[], opts: Parameters<Sandbox['run']>[1] = {}): Promise<Run> {
    return this.sb.run(args, opts);
  }

  file(name: string, text: string): string {
    const p = join(this.sb.dir, name);
    writeFileSync(p, text);
    return p;
  }

  /** A service YAML running the stand-in replica on the local cloud; `service` is its service: body. */
  serviceYaml(name: string, service: string[], o: { envs?: Record<string, string | number> } = {}): string {
    const envs = Object.entries({ FAIL_FIRST: 0, VERSION: 1, ...o.envs }).map(([k, v]) => `  ${k}: ${v}`);
    return this.file(
      `${name}.yaml`,
      [
        `name: ${name}`,
        `workdir: ${this.workdir}`,
        'resources:',
        '  cloud: local',
        '  ports: 8080',
        'envs:',
        ...envs,
        'service:',
        ...service.map((l) => `  ${l}`),
        'run: node replica.js',
      ].join('\n'),
    );
  }

  /** `serve up -y -n NAME FILE`: its endpoint. */
  async up(name: string, yaml: string): Promise<string> {
    const r = await this.run(['serve', 'up', '-y', '-n', name, yaml], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, `serve up failed:\n${r.stderr}`);
    const m = /Endpoint URL: (\S+)/.exec(r.stdout);
    assert.ok(m && m[1]!.startsWith('http'), r.stdout + r.stderr);
    return m[1]!;
  }

  async services(): Promise<ServiceInfo[]> {
    const r = await this.run(['serve', 'status', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as ServiceInfo[];
  }

  async service(name: string): Promise<ServiceInfo> {
    const s = (await this.services()).find((x) => x.name === name);
    assert.ok(s, `service ${name} is not listed`);
    return s;
  }

  /** Polls the service until `ok` holds (a failure with its controller log after `timeoutMs`). */
  async waitService(
    name: string,
    ok: (s: ServiceInfo) => boolean,
    what: string,
    timeoutMs = 90_000,
  ): Promise<ServiceInfo> {
    let last: ServiceInfo | undefined;
    try {
      return await waitFor(
        what,
        async () => {
          last = (await this.services()).find((x) => x.name === name);
          return last && ok(last) ? last : null;
        },
        timeoutMs,
        250,
      );
    } catch (e) {
      assert.fail(
        `${(e as Error).message}; last seen ${JSON.stringify(last)}\ncontroller log:\n${this.controllerLog(name)}`,
      );
    }
  }

  /** The serve controller node's own $SKYHOP_HOME, or null before the controller exists. */
  controllerHome(): string | null {
    const name = this.sb.via ? 'skyhop-serve-controller-admin' : 'skyhop-serve-controller';
    const base = join(this.sb.skyhopHome, 'local', 'clusters', name);
    if (!existsSync(base)) return null;
    for (const node of readdirSync(base)) {
      const h = join(base, node, 'home', '.skyhop');
      if (existsSync(h)) return h;
    }
    return null;
  }

  serviceDir(name: string): string {
    const h = this.controllerHome();
    assert.ok(h, 'no serve controller');
    return join(h, 'serve', 'services', name);
  }

  controllerLog(name: string): string {
    try {
      return readFileSync(join(this.serviceDir(name), 'controller.log'), 'utf8');
    } catch {
      return '(no controller.log)';
    }
  }

  /** `{pid}` of the service's load balancer process and of the controller's process. */
  pids(name: string): { lb: number; controller: number } {
    const h = this.controllerHome()!;
    const lb = JSON.parse(readFileSync(join(this.serviceDir(name), 'lb-process.json'), 'utf8')).pid as number;
    const controller = JSON.parse(readFileSync(join(h, 'serve', 'serve.json'), 'utf8')).pid as number;
    return { lb, controller };
  }

  /** The clusters the controller has and not yet torn down (its own `status`, read on this machine). */
  async controllerClusters(): Promise<string[]> {
    const h = this.controllerHome();
    if (!h) return [];
    const r = await this.run(['status', '--json'], {
      env: { SKYHOP_HOME: h, HOME: dirname(h), SKYHOP_API_SERVER_ENDPOINT: '', SKYHOP_API_TOKEN: '' },
    });
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { clusters: Array<{ name: string }> }).clusters.map((c) => c.name);
  }

  /** `serve down -a`: then no service, no replica cluster, no load balancer process. */
  async downAll(): Promise<void> {
    if (!this.controllerHome()) return;
    const d = await this.run(['serve', 'down', '-a', '-y'], { timeoutMs: 120_000 });
    assert.equal(d.code, 0, d.stderr);
    assert.deepEqual(await this.services(), []);
    assert.deepEqual(await this.controllerClusters(), [], 'no replica cluster is left');
    // Nor a secret: the services' secrets files and uploads (TLS keys) went with them.
    const h = this.controllerHome()!;
    for (const d of ['secrets', 'uploads']) {
      const p = join(h, 'serve', d);
      assert.deepEqual(existsSync(p) ? readdirSync(p) : [], [], `serve/${d} is empty after serve down -a`);
    }
  }

  /** The last word of a test file: services down, the controller down, 0 clusters. */
  async finish(): Promise<void> {
    try {
      await this.downAll();
      const d = await this.run(['down', '-a', '-y'], { timeoutMs: 120_000 });
      assert.equal(d.code, 0, d.stderr);
      const s = await this.run(['status', '--json']);
      assert.deepEqual(JSON.parse(s.stdout).clusters, []);
    } finally {
      await this.sb.cleanup();
    }
  }
}

/** One GET through keep-alive `agent`: status and body, or the error's code. */
export function get(
  url: string,
  agent: Agent,
  timeoutMs = 10_000,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

export interface LoadResult {
  sent: number;
  ok: number;
  failed: Array<string>;
  bodies: Map<string, number>;
}

/**
 * An open-loop GET load on `url`: `rps` requests per second until `stop` resolves or `maxMs` passes
 * (bounded in count and time); every answer that is not a 200 (or an error) is a failure.
 */
export function load(
  url: string,
  rps: number,
  o: { maxMs: number; stop?: Promise<unknown> },
): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const r: LoadResult = { sent: 0, ok: 0, failed: [], bodies: new Map() };
  const inflight = new Set<Promise<void>>();
  let stopped = false;
  void o.stop?.then(() => {
    stopped = true;
  });
  const start = Date.now();
  return new Promise((resolve) => {
    const tick = () => {
      const due = Math.floor(((Date.now() - start) / 1000) * rps);
      while (!stopped && r.sent < due && r.sent < rps * (o.maxMs / 1000)) {
        r.sent++;
        const p = get(url, agent).then(
          (a) => {
            if (a.status === 200) {
              r.ok++;
              const key = a.body.trim();
              r.bodies.set(key, (r.bodies.get(key) ?? 0) + 1);
            } else r.failed.push(`HTTP ${a.status}: ${a.body.trim()}`);
          },
          (e: Error) => {
            r.failed.push(e.message);
          },
        );
        inflight.add(p);
        void p.finally(() => inflight.delete(p));
      }
      if (stopped || Date.now() - start >= o.maxMs) {
        void Promise.all(inflight).then(() => {
          agent.destroy();
          resolve(r);
        });
        return;
      }
      setTimeout(tick, 10);
    };
    tick();
  });
}
