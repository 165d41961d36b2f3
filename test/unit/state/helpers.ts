/** Shared by the state store tests: a temp SKYHOP_HOME per test, sample records, child processes. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NodeInfo } from '../../../src/core/cluster.js';
import type { ClusterRecord } from '../../../src/state/index.js';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

/** A fresh temp dir set as SKYHOP_HOME (and HOME); `cleanup` restores both and removes it. */
export function tempHome(): { home: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'skyhop-state-'));
  const home = join(root, 'skyhop');
  const saved = { SKYHOP_HOME: process.env.SKYHOP_HOME, HOME: process.env.HOME };
  process.env.SKYHOP_HOME = home;
  process.env.HOME = root;
  return {
    home,
    cleanup: () => {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export function node(cluster: string, role: 'head' | 'worker', ip: string, ext: string | null): NodeInfo {
  return {
    id: `i-${cluster}-${role}-${ip}`,
    cluster,
    role,
    rank: role === 'head' ? 0 : 1,
    status: 'running',
    internalIp: ip,
    externalIp: ext,
    tags: { 'skyhop-cluster': cluster, 'skyhop-role': role },
    connection: { kind: 'ssh', host: ext ?? ip, port: 22, user: 'ubuntu', keyPath: '/k/id' },
  };
}

export function cluster(name: string, over: Partial<ClusterRecord> = {}): ClusterRecord {
  const rec: ClusterRecord = {
    name,
    cloud: 'aws',
    region: 'us-east-1',
    zone: 'us-east-1a',
    status: 'UP',
    resources: {
      instanceType: 'p3.2xlarge',
      accelerators: { name: 'V100', count: 1 },
      useSpot: false,
      vcpus: 8,
      memoryGiB: 61,
      numNodes: 2,
      diskSize: 256,
      ports: ['8080'],
    },
    nodes: [node(name, 'head', '10.0.0.1', '54.1.2.3'), node(name, 'worker', '10.0.0.2', null)],
    launchedAt: 1_700_000_000_000,
    statusUpdatedAt: 1_700_000_000_000,
    hourlyPrice: 3.06,
    autostop: null,
    headIp: '54.1.2.3',
    ...over,
  };
  // The spec it was launched with (as a launch records it), unless the test gives its own.
  rec.spec = over.spec ?? {
    cluster: name,
    numNodes: rec.resources.numNodes,
    instanceType: rec.resources.instanceType,
    region: rec.region,
    zone: rec.zone,
    useSpot: rec.resources.useSpot,
    accelerators: rec.resources.accelerators,
    diskSize: rec.resources.diskSize,
    ports: rec.resources.ports,
    labels: { team: 'ml' },
  };
  return rec;
}

/** `node --import tsx fixtures/<script> ...args`, its stdout split into lines as they come. */
export function spawnFixture(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): {
  child: ChildProcess;
  lines: string[];
  waitFor: (prefix: string) => Promise<string>;
  exited: Promise<number>;
} {
  const child = spawn(process.execPath, ['--import', 'tsx', join(FIXTURES, script), ...args], {
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters: Array<{ prefix: string; resolve: (l: string) => void }> = [];
  let buf = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    buf += d;
    let i = buf.indexOf('\n');
    while (i >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push(line);
      for (const w of waiters.filter((w) => line.startsWith(w.prefix))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
      i = buf.indexOf('\n');
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    stderr += d;
  });
  const exited = new Promise<number>((resolve) => {
    child.on('exit', (code, signal) => {
      for (const w of waiters.splice(0)) w.resolve(`EXITED ${code ?? signal}: ${stderr.trim()}`);
      resolve(code ?? (signal === 'SIGKILL' ? 137 : 128));
    });
  });
  const waitFor = (prefix: string) => {
    const seen = lines.find((l) => l.startsWith(prefix));
    if (seen) return Promise.resolve(seen);
    if (child.exitCode !== null || child.signalCode !== null) {
      return Promise.resolve(`EXITED ${child.exitCode ?? child.signalCode}: ${stderr.trim()}`);
    }
    return new Promise<string>((resolve) => waiters.push({ prefix, resolve }));
  };
  return { child, lines, waitFor, exited };
}
