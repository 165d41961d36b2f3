/**
 * The local cloud's "API": an on-disk registry of nodes under `$SKYHOP_HOME/local/`.
 *
 *   clusters/<cluster>/<node-id>/node.json   the node's record (tags, status, ip, times)
 *   clusters/<cluster>/<node-id>/home/       the node's HOME (its "disk")
 *   clusters/<cluster>/.trash-*              a node being deleted (never listed)
 *   ips/<127.a.b.c>                          the reservations of older versions (read as taken)
 *   locks/<cluster>.lock                     held while a cluster is changed
 *
 * Loopback addresses are the machine's, not a home's: a replica of a service binds its node's address,
 * and another home on the machine (a team server's, a controller's nested in a node, a second user's)
 * must never hand out the same one. So reservations live in one folder for the machine,
 * `$TMPDIR/skyhop-local-ips/<127.a.b.c>` (sticky and world-writable, like /tmp; `SKYHOP_LOCAL_IPS`
 * names another), one file per address naming its owner: the node's folder (absolute). An address
 * whose owner's folder is gone is free again (taken over atomically: moved aside, checked, removed).
 *
 * Crash safety (a process may die at any line):
 * - a node is created as: mkdir node dir -> reserve IP (atomic link) -> write node.json (atomic rename);
 *   a node dir without node.json is a half-created node, cleaned up under the cluster lock;
 * - a node is deleted as: kill its processes -> rename its dir to .trash-* -> release its IP -> rm;
 * - an IP file whose owner node dir no longer exists is stale and is released under the owner
 *   cluster's lock (nobody else creates that cluster's nodes, so the check cannot race).
 */
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import {
  chmodSync,
  existsSync,
  lstatSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { CloudError, UserError } from '../../util/errors.js';
import { nodeTags, rankOf as rankFromTags } from '../tags.js';

export type NodeStatus = 'running' | 'stopped';

export interface NodeRecord {
  version: 1;
  id: string;
  cluster: string;
  tags: Record<string, string>;
  status: NodeStatus;
  ip: string;
  createdAt: string;
  updatedAt: string;
}

const CLUSTER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
export const MAX_CLUSTER_NAME = 64;

/** Cluster names become directory names: refuse anything that could leave the registry. */
export function checkClusterName(cluster: string): void {
  if (!CLUSTER_NAME.test(cluster) || cluster.length > MAX_CLUSTER_NAME) {
    throw new UserError(
      `invalid cluster name ${JSON.stringify(cluster)} for the local cloud: use letters, digits, '.', '_' ` +
        `or '-', starting with a letter or digit, at most ${MAX_CLUSTER_NAME} characters`,
    );
  }
}

/** The machine's address reservations (see the top of this file). */
const MACHINE_IPS = join(tmpdir(), 'skyhop-local-ips');

/** A folder every user may add files to and remove only their own from (mode 1777, as /tmp). */
function ensureSharedDir(dir: string): void {
  if (existsSync(dir)) return;
  mkdirSync(dir, { recursive: true });
  if (dir === MACHINE_IPS) chmodSync(dir, 0o1777);
}

/** The owner named in a reservation file, or null. */
function readOwner(path: string): string | null {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as { owner?: unknown };
    return typeof v.owner === 'string' ? v.owner : null;
  } catch {
    return null;
  }
}

/** 127.0.0.2 .. 127.0.0.254, then 127.0.1.1 .. 127.0.1.254, ... up to 127.255.255.254. */
export function* loopbackAddresses(): Generator<string> {
  for (let b = 0; b < 256; b++) {
    for (let c = 0; c < 256; c++) {
      for (let d = b === 0 && c === 0 ? 2 : 1; d <= 254; d++) yield `127.${b}.${c}.${d}`;
    }
  }
}

function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, path);
}

/**
 * Remove a tree; a node may have left directories without write permission (`chmod -R a-w`), which
 * only stops a non-root remover: then make them writable and try again.
 */
function rmTree(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
  } catch (e) {
    if (!['EACCES', 'EPERM', 'ENOTEMPTY'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
    const walk = (p: string): void => {
      try {
        if (!lstatSync(p).isDirectory()) return;
        chmodSync(p, 0o700);
        for (const n of readdirSync(p)) walk(join(p, n));
      } catch {
        // gone meanwhile
      }
    };
    walk(path);
    rmSync(path, { recursive: true, force: true });
  }
}

function listDir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

export class NodeRegistry {
  readonly root: string;

  /** `root` is `$SKYHOP_HOME/local`. */
  constructor(root: string) {
    this.root = root;
  }

  clusterDir(cluster: string): string {
    return join(this.root, 'clusters', cluster);
  }

  nodeDir(cluster: string, id: string): string {
    return join(this.clusterDir(cluster), id);
  }

  homeDir(cluster: string, id: string): string {
    return join(this.nodeDir(cluster, id), 'home');
  }

  lockPath(cluster: string): string {
    return join(this.root, 'locks', `${cluster}.lock`);
  }

  ipsDir(): string {
    return process.env.SKYHOP_LOCAL_IPS || MACHINE_IPS;
  }

  /** Where older versions reserved addresses (per home): still read, so their nodes keep theirs. */
  private legacyIpsDir(): string {
    return join(this.root, 'ips');
  }

  /** An address's owner: the node's folder (absolute; shared registries hold several homes' nodes). */
  private ownerOf(cluster: string, id: string): string {
    return this.nodeDir(cluster, id);
  }

  /** An owner as written (absolute, or `<cluster>/<node-id>` of this registry, as older versions wrote). */
  private absoluteOwner(owner: string): string {
    return owner.startsWith('/') ? owner : join(this.root, 'clusters', owner);
  }

  /** Clusters with at least one complete node, sorted. */
  clusterNames(): string[] {
    return listDir(join(this.root, 'clusters'))
      .filter((c) => CLUSTER_NAME.test(c) && this.records(c).length > 0)
      .sort();
  }

  /** Node ids present on disk (half-created ones included; trash excluded). */
  nodeIds(cluster: string): string[] {
    return listDir(this.clusterDir(cluster))
      .filter((n) => !n.startsWith('.'))
      .sort();
  }

  read(cluster: string, id: string): NodeRecord | null {
    try {
      const r = JSON.parse(readFileSync(join(this.nodeDir(cluster, id), 'node.json'), 'utf8')) as NodeRecord;
      if (r && r.version === 1 && r.id === id && r.cluster === cluster && typeof r.ip === 'string') return r;
    } catch {
      // missing (half-created) or damaged
    }
    return null;
  }

  /** Every complete node of the cluster, head first then by rank. */
  records(cluster: string): NodeRecord[] {
    const out: NodeRecord[] = [];
    for (const id of this.nodeIds(cluster)) {
      const r = this.read(cluster, id);
      if (r) out.push(r);
    }
    return out.sort((a, b) => rankOf(a) - rankOf(b) || a.createdAt.localeCompare(b.createdAt));
  }

  write(r: NodeRecord): void {
    writeJsonAtomic(join(this.nodeDir(r.cluster, r.id), 'node.json'), r);
  }

  /** Create a node: dir and HOME, an IP of its own, then its record. Call under the cluster lock. */
  create(cluster: string, rank: number): NodeRecord {
    const id = `n${rank}-${randomBytes(3).toString('hex')}`;
    mkdirSync(this.homeDir(cluster, id), { recursive: true, mode: 0o755 });
    const ip = this.reserveIp(this.ownerOf(cluster, id));
    const now = new Date().toISOString();
    const r: NodeRecord = {
      version: 1,
      id,
      cluster,
      tags: nodeTags(cluster, rank),
      status: 'running',
      ip,
      createdAt: now,
      updatedAt: now,
    };
    this.write(r);
    return r;
  }

  /**
   * Reserve the first free loopback address for `owner` ("<cluster>/<node-id>"). Atomic: the
   * reservation is a `link(2)` of a file that already names the owner, which fails if taken.
   */
  reserveIp(owner: string): string {
    const dir = this.ipsDir();
    ensureSharedDir(dir);
    const taken = new Set(listDir(dir));
    const legacy = new Set(listDir(this.legacyIpsDir()));
    const tmp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`);
    writeFileSync(tmp, `${JSON.stringify({ owner })}\n`);
    try {
      for (const ip of loopbackAddresses()) {
        if (legacy.has(ip) && this.legacyOwnerAlive(ip)) continue;
        if (taken.has(ip) && !this.takeOverStale(ip)) continue;
        try {
          linkSync(tmp, join(dir, ip));
          return ip;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        }
      }
    } finally {
      unlinkSync(tmp);
    }
    throw new CloudError(
      `no free loopback address left for a local node (every 127.x.y.z under ${dir} is taken); ` +
        'tear down local clusters with `skyhop down`',
    );
  }

  /**
   * Frees `ip` if its owner's node folder is gone; whether it is free now. The file is moved aside
   * first (atomic), so of two processes that judged it stale only one removes it; a claim made in
   * between (its owner's folder exists) is put back.
   */
  private takeOverStale(ip: string): boolean {
    const dir = this.ipsDir();
    const owner = this.ipOwner(ip);
    if (owner === null || existsSync(owner)) return false;
    const aside = join(dir, `.${ip}.${randomBytes(4).toString('hex')}.stale`);
    try {
      renameSync(join(dir, ip), aside);
    } catch {
      return false;
    }
    const moved = readOwner(aside);
    if (moved !== null && existsSync(this.absoluteOwner(moved))) {
      try {
        linkSync(aside, join(dir, ip));
      } catch {
        // Taken again meanwhile: that claim stands.
      }
      unlinkSync(aside);
      return false;
    }
    unlinkSync(aside);
    return true;
  }

  private legacyOwnerAlive(ip: string): boolean {
    const owner = readOwner(join(this.legacyIpsDir(), ip));
    return owner !== null && existsSync(this.absoluteOwner(owner));
  }

  ipOwner(ip: string): string | null {
    const owner = readOwner(join(this.ipsDir(), ip));
    return owner === null ? null : this.absoluteOwner(owner);
  }

  /** Release the IP if `owner` holds it (here, or in the home's own folder of older versions). */
  releaseIp(ip: string, owner: string): void {
    for (const dir of [this.ipsDir(), this.legacyIpsDir()]) {
      const held = readOwner(join(dir, ip));
      if (held === null || this.absoluteOwner(held) !== owner) continue;
      try {
        unlinkSync(join(dir, ip));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
  }

  /** IPs reserved by nodes of `cluster`: ip -> node id. */
  clusterIps(cluster: string): Map<string, string> {
    const out = new Map<string, string>();
    const prefix = `${this.clusterDir(cluster)}/`;
    for (const dir of [this.ipsDir(), this.legacyIpsDir()]) {
      for (const ip of listDir(dir)) {
        if (ip.startsWith('.')) continue;
        const owner = readOwner(join(dir, ip));
        const abs = owner === null ? null : this.absoluteOwner(owner);
        if (abs?.startsWith(prefix)) out.set(ip, abs.slice(prefix.length));
      }
    }
    return out;
  }

  /**
   * Delete one node's dir (kill its processes first) and release its IP. The dir is renamed to a
   * trash name first, so a crash mid-way never leaves a listed half-deleted node.
   */
  remove(cluster: string, id: string): void {
    const dir = this.nodeDir(cluster, id);
    const r = this.read(cluster, id);
    const trash = join(this.clusterDir(cluster), `.trash-${id}-${randomBytes(3).toString('hex')}`);
    try {
      renameSync(dir, trash);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const owner = this.ownerOf(cluster, id);
    if (r) this.releaseIp(r.ip, owner);
    for (const [ip, nodeId] of this.clusterIps(cluster)) if (nodeId === id) this.releaseIp(ip, owner);
    rmTree(trash);
  }

  /**
   * Under the cluster lock: finish what a crashed process left: half-created nodes (no record),
   * trash, and IPs whose node dir is gone.
   */
  cleanup(cluster: string): void {
    const dir = this.clusterDir(cluster);
    for (const name of listDir(dir)) {
      if (name.startsWith('.trash-')) rmTree(join(dir, name));
    }
    for (const id of this.nodeIds(cluster)) if (!this.read(cluster, id)) this.remove(cluster, id);
    for (const [ip, id] of this.clusterIps(cluster)) {
      if (!existsSync(this.nodeDir(cluster, id))) this.releaseIp(ip, this.ownerOf(cluster, id));
    }
  }

  /** Remove the cluster's dir once it holds nothing. */
  removeClusterDirIfEmpty(cluster: string): void {
    try {
      rmdirSync(this.clusterDir(cluster));
    } catch {
      // not empty or already gone
    }
  }
}

/** The node's rank by its tags (src/clouds/tags.ts); nodes without one sort last. */
export function rankOf(r: NodeRecord): number {
  return rankFromTags(r.tags) ?? Number.MAX_SAFE_INTEGER;
}
