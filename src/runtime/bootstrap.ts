/**
 * Preparing a cluster after its nodes boot: waiting until every node answers over SSH (for every
 * cloud: a provider's runInstances returns nodes running with IPs, and this is the one wait for
 * reachability, as SkyPilot's provisioner waits for SSH), a runner per node, the cloud's node setup,
 * the agent on the head node, then the task's files (workdir to ~/sky_workdir, file_mounts) on
 * every node in parallel. Nothing here knows which cloud or runner kind it is talking to.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Connection, NodeInfo } from '../core/cluster.js';
import { ProvisionError } from '../core/errors.js';
import type { Task } from '../core/task.js';
import { CloudError, InterruptedError, UserError } from '../util/errors.js';
import { packageRoot } from '../util/package-root.js';
import { shPath } from '../util/shell.js';
import { containerName, containerScript, containerScriptEnv } from './docker.js';
import { makeRunner } from './index.js';
import type { CommandRunner } from './types.js';

export const REMOTE_WORKDIR = '~/sky_workdir';

/** The longest wait for a running node to answer over SSH (the runner retries the connection patiently). */
export const REACHABLE_TIMEOUT_MS = 5 * 60_000;

/** What `waitReachable` and `launchReachable` take. */
export interface ReachOptions {
  /** The longest wait for one node to answer, from when its check starts; default 5 min. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * The SSH checks of a cluster's nodes: `check(node)` starts one node's check (`true` over SSH; the
 * runner retries the connection patiently while sshd comes up), `wait(nodes)` checks the nodes not
 * checked yet and waits for all, `stop()` ends the checks still running. Local nodes need no check.
 * A node that does not answer in time (or refuses the key) fails the wait with
 * ProvisionError('fatal', 'ssh_unreachable'): SSH set-up is the same in every place, so no other place
 * would do better; the failover loop then removes what the attempt created.
 */
export function reachability(opts: ReachOptions = {}) {
  const timeoutMs = opts.timeoutMs ?? REACHABLE_TIMEOUT_MS;
  const stop = new AbortController(); // ends the other checks once one has failed, or on stop()
  const checks = new Map<string, Promise<void>>();
  let failure: unknown = null;

  const probe = async (n: NodeInfo) => {
    const c = n.connection as { host: string; port: number; user: string };
    const unreachable = (detail: string, cause?: unknown) =>
      new ProvisionError(
        'fatal',
        'ssh_unreachable',
        `node ${n.id} (${n.cluster} rank ${n.rank ?? '?'}) does not answer over SSH at ` +
          `${c.user}@${c.host}:${c.port}${detail}`,
        { cause },
      );
    const limit = AbortSignal.timeout(timeoutMs);
    const signal = AbortSignal.any([stop.signal, limit, ...(opts.signal ? [opts.signal] : [])]);
    const runner = makeRunner(n.connection);
    try {
      let r: Awaited<ReturnType<CommandRunner['run']>>;
      try {
        r = await runner.run('true', { signal });
      } catch (e) {
        if (opts.signal?.aborted || e instanceof InterruptedError) throw new InterruptedError();
        if (stop.signal.aborted) return;
        throw unreachable(`: ${e instanceof Error ? e.message : String(e)}`, e);
      }
      if (opts.signal?.aborted) throw new InterruptedError();
      if (r.code === 0 || (stop.signal.aborted && !limit.aborted)) return; // stopped, or another failed first
      const last = r.stderr.trim().split('\n').pop() ?? '';
      const why = limit.aborted ? ` within ${Math.round(timeoutMs / 1000)} s` : ` (exit ${r.code})`;
      throw unreachable(`${why}${last ? `: ${last}` : ''}`);
    } finally {
      await runner.close().catch(() => {});
    }
  };

  const check = (n: NodeInfo): void => {
    if (n.connection.kind !== 'ssh' || checks.has(n.id) || stop.signal.aborted) return;
    checks.set(
      n.id,
      probe(n).catch((e) => {
        failure ??= e;
        stop.abort();
      }),
    );
  };

  return {
    check,
    async wait(nodes: readonly NodeInfo[]): Promise<NodeInfo[]> {
      if (opts.signal?.aborted) throw new InterruptedError();
      for (const n of nodes) check(n);
      await Promise.all(checks.values());
      if (opts.signal?.aborted) throw new InterruptedError();
      if (failure) throw failure;
      return [...nodes];
    },
    async stop(): Promise<void> {
      stop.abort();
      await Promise.all(checks.values());
    },
  };
}

/** Waits until every node answers over SSH, all at once (see `reachability`). Returns `nodes`. */
export async function waitReachable(
  nodes: readonly NodeInfo[],
  opts: ReachOptions = {},
): Promise<NodeInfo[]> {
  const reach = reachability(opts);
  try {
    return await reach.wait(nodes);
  } finally {
    await reach.stop();
  }
}

/**
 * A provider's runInstances, then the wait until its nodes answer over SSH: the one way every
 * cloud's nodes become usable. Each node's check starts as soon as the provider reports it running
 * (`onRunning`), so booting and connecting overlap across nodes; the checks still running when the
 * launch fails are ended.
 */
export async function launchReachable(
  launch: (onRunning: (node: NodeInfo) => void) => Promise<NodeInfo[]>,
  opts: ReachOptions = {},
): Promise<NodeInfo[]> {
  const reach = reachability(opts);
  try {
    return await reach.wait(await launch(reach.check));
  } finally {
    await reach.stop();
  }
}

export function runnersFor(nodes: readonly NodeInfo[]): CommandRunner[] {
  return nodes.map((n) => makeRunner(n.connection));
}

export async function closeAll(runners: readonly CommandRunner[]): Promise<void> {
  await Promise.allSettled(runners.map((r) => r.close()));
}

/** The agent bundle shipped to every head node (built by scripts/build.mjs). */
export function agentBundlePath(): string {
  const p = join(packageRoot(), 'dist', 'agent.cjs');
  if (!existsSync(p))
    throw new UserError(`the agent bundle ${p} is missing: run \`npm run build\` in ${packageRoot()}`);
  return p;
}

/** Run the cloud's image-specific preparation on every node, in parallel. */
export async function runNodeSetup(
  cloud: { nodeSetup?(node: NodeInfo): string[] },
  nodes: readonly NodeInfo[],
  runners: readonly CommandRunner[],
) {
  if (!cloud.nodeSetup) return;
  await Promise.all(
    nodes.map(async (node, i) => {
      const lines = cloud.nodeSetup!(node);
      if (lines.length === 0) return;
      const r = await runners[i].run(lines.join('\n'));
      if (r.code !== 0) {
        throw new CloudError(
          `node setup failed on ${node.cluster} rank ${node.rank ?? i} (exit ${r.code}): ${r.stderr.trim().split('\n').pop() ?? ''}`,
        );
      }
    }),
  );
}

/**
 * `image_id: docker:<image>`: readies the engine and starts the cluster's container on every node,
 * in parallel (see docker.ts); returns each node's container name. A node that cannot run it (no
 * engine, the image missing and not pullable) fails with one line naming the node and the reason.
 */
export async function startContainers(
  nodes: readonly NodeInfo[],
  runners: readonly CommandRunner[],
  o: { image: string; runOptions?: readonly string[] },
): Promise<string[]> {
  return Promise.all(
    nodes.map(async (node, i) => {
      const rank = node.rank ?? i;
      const opts = {
        cluster: node.cluster,
        rank,
        nodeId: node.id,
        image: o.image,
        engine: node.connection.kind === 'local' ? ('local' as const) : ('node' as const),
        dockerHost: process.env.DOCKER_HOST,
        runOptions: o.runOptions,
      };
      const r = await runners[i].run(containerScript(opts), { env: containerScriptEnv(opts) });
      if (r.code !== 0) {
        const why = r.stderr.trim().split('\n').pop() || `exit ${r.code}`;
        throw new UserError(`cannot run docker:${o.image} on ${node.cluster} rank ${rank}: ${why}`);
      }
      return containerName(node.cluster, rank, node.id);
    }),
  );
}

/** workdir -> ~/sky_workdir and file_mounts -> their remote paths, on every node in parallel. */
export async function syncTaskFiles(
  task: Task,
  runners: readonly CommandRunner[],
  opts: { fileMounts: boolean },
) {
  await Promise.all(
    runners.map(async (runner) => {
      if (task.workdir) await runner.syncDir(task.workdir, REMOTE_WORKDIR);
      if (!opts.fileMounts) return;
      for (const [remote, local] of Object.entries(task.fileMounts)) {
        if (!existsSync(local)) throw new UserError(`file_mounts: ${local} (for ${remote}) does not exist`);
        if (statSync(local).isDirectory()) await runner.syncDir(local, remote);
        else await runner.upload(local, remote);
      }
    }),
  );
}

/** The node.js binary the agent runs with: this very binary on the local machine, `node` on a remote node. */
export function nodeBinaryFor(conn: Connection): string {
  return conn.kind === 'local' ? process.execPath : 'node';
}

/**
 * How the head node's agent reaches every node. Local connections work as they are. For SSH, the
 * cluster's key and known_hosts are copied to the head (private key 0600) and each node is reached
 * at its internal IP, the way the head sees the cluster's network.
 */
export async function connectionsFromHead(
  head: CommandRunner,
  nodes: readonly NodeInfo[],
): Promise<Connection[]> {
  const ssh = nodes.map((n) => n.connection).find((c) => c.kind === 'ssh');
  if (ssh?.kind !== 'ssh') return nodes.map((n) => n.connection);
  const home = (await head.run('printf %s "$HOME"')).stdout.trim();
  if (!home.startsWith('/'))
    throw new CloudError(`could not read HOME on the head node of ${nodes[0]?.cluster}`);
  const dir = `${home}/.ssh/skyhop`;
  const mk = await head.run(`mkdir -p ${shPath(dir)} && chmod 700 ${shPath(`${home}/.ssh`)} ${shPath(dir)}`);
  if (mk.code !== 0) throw new CloudError(`could not prepare ${dir} on the head node: ${mk.stderr.trim()}`);
  const keyPath = `${dir}/cluster-key`;
  const knownHostsPath = `${dir}/known_hosts`;
  await head.upload(ssh.keyPath, keyPath, { mode: 0o600 });
  if (ssh.knownHostsPath && existsSync(ssh.knownHostsPath)) {
    await head.upload(ssh.knownHostsPath, knownHostsPath, { mode: 0o600 });
  }
  return nodes.map((n) =>
    n.connection.kind === 'ssh'
      ? { ...n.connection, host: n.internalIp, keyPath, knownHostsPath }
      : n.connection,
  );
}
