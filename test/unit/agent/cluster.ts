/**
 * Fake clusters for agent tests: each node is a plain temp directory reached through the real
 * LocalRunner (`{kind: 'local', home, nodeId}`), the agent is the real bundle built with esbuild
 * into the test's temp dir, and the daemon is a real process. `cleanup` kills everything carrying
 * the nodes' markers (the daemon included) and removes the directories.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { installAgent } from '../../../src/agent/client.js';
import type { AcceleratorCount, ClusterInfoFile, JobRecord } from '../../../src/agent/types.js';
import { makeRunner } from '../../../src/runtime/index.js';
import { killByMarker } from '../../../src/runtime/procs.js';
import type { CommandRunner } from '../../../src/runtime/types.js';
import { waitFor } from '../runtime/helpers.js';

export { alive, waitFor } from '../runtime/helpers.js';

const REPO = new URL('../../../', import.meta.url).pathname;

export interface FakeCluster {
  root: string;
  info: ClusterInfoFile;
  head: CommandRunner;
  homes: string[];
  bundle: string;
  agentDir: string;
  cleanup(): Promise<void>;
}

let seq = 0;

/** Bundle src/agent/main.ts exactly as the build does, into `dir`. */
export async function buildAgent(dir: string): Promise<string> {
  const outfile = join(dir, 'agent.cjs');
  await build({
    entryPoints: [join(REPO, 'src/agent/main.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile,
    logLevel: 'warning',
  });
  return outfile;
}

export async function makeCluster(
  opts: {
    name?: string;
    nodes?: number;
    cpus?: number;
    accelerators?: AcceleratorCount | null;
    autostop?: ClusterInfoFile['autostop'];
    /** Directory names for the node homes (default n0, n1, ...). */
    homeNames?: string[];
    nodePath?: string;
    install?: boolean;
  } = {},
): Promise<FakeCluster> {
  const root = mkdtempSync(join(tmpdir(), 'skyhop-agent-test-'));
  const oldSkyhopHome = process.env.SKYHOP_HOME;
  process.env.SKYHOP_HOME = join(root, 'skyhop-home');
  const bundle = await buildAgent(root);
  const count = opts.nodes ?? 1;
  const tag = `${process.pid}-${++seq}-${Math.random().toString(36).slice(2, 8)}`;
  const homes: string[] = [];
  const nodes = Array.from({ length: count }, (_, r) => {
    const home = join(root, opts.homeNames?.[r] ?? `n${r}`);
    mkdirSync(home);
    homes.push(home);
    return {
      rank: r,
      ip: `127.0.0.${r + 2}`,
      connection: { kind: 'local' as const, home, nodeId: `agt-${tag}-${r}` },
    };
  });
  const info: ClusterInfoFile = {
    name: opts.name ?? `c${seq}`,
    cloud: 'local',
    region: 'local',
    nodes,
    perNode: { cpus: opts.cpus ?? 2, memoryGiB: 4, accelerators: opts.accelerators ?? null },
    autostop: opts.autostop ?? null,
    agentPath: '~/.skyhop/agent/agent.cjs',
    nodePath: opts.nodePath ?? process.execPath,
  };
  const head = makeRunner(nodes[0].connection);
  const cluster: FakeCluster = {
    root,
    info,
    head,
    homes,
    bundle,
    agentDir: join(homes[0], '.skyhop', 'agent'),
    cleanup: async () => {
      for (const n of nodes) await killByMarker('SKYHOP_NODE_ID', n.connection.nodeId);
      if (oldSkyhopHome === undefined) delete process.env.SKYHOP_HOME;
      else process.env.SKYHOP_HOME = oldSkyhopHome;
      rmSync(root, { recursive: true, force: true });
    },
  };
  if (opts.install !== false) await installAgent(head, info, bundle);
  return cluster;
}

/** The job's state.json as the agent wrote it. */
export function jobState(c: FakeCluster, id: number): JobRecord | null {
  try {
    return JSON.parse(readFileSync(join(c.agentDir, 'jobs', String(id), 'state.json'), 'utf8')) as JobRecord;
  } catch {
    return null;
  }
}

export function runLog(c: FakeCluster, id: number): string {
  try {
    return readFileSync(join(c.agentDir, 'jobs', String(id), 'run.log'), 'utf8');
  } catch {
    return '';
  }
}

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'FAILED_SETUP', 'CANCELLED']);

export function waitTerminal(c: FakeCluster, id: number, ms = 30_000): Promise<JobRecord> {
  return waitFor(
    `job ${id} to end`,
    () => {
      const s = jobState(c, id);
      return s && TERMINAL.has(s.status) ? s : null;
    },
    ms,
  );
}

export function waitStatus(c: FakeCluster, id: number, status: string, ms = 30_000): Promise<JobRecord> {
  return waitFor(
    `job ${id} to be ${status}`,
    () => {
      const s = jobState(c, id);
      return s?.status === status ? s : null;
    },
    ms,
  );
}

/** The job's record once the agent has taken it in (any status but INIT). */
export function waitAccepted(c: FakeCluster, id: number, ms = 30_000): Promise<JobRecord> {
  return waitFor(
    `job ${id} to be accepted`,
    () => {
      const s = jobState(c, id);
      return s && s.status !== 'INIT' ? s : null;
    },
    ms,
  );
}

/** The daemon's pid from agent.pid. */
export function agentPid(c: FakeCluster): number {
  return Number(readFileSync(join(c.agentDir, 'agent.pid'), 'utf8').trim());
}

export const baseSpec = {
  envs: {},
  secrets: {},
  numNodes: 1,
  demand: { cpus: 0.5, accelerators: null },
  workdir: false,
};
