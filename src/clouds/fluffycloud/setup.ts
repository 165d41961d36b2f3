/**
 * Step 4 of the new-cloud guide: what runs around a launch besides the instances themselves.
 *
 * - SSH keys: FluffyCloud puts a *registered* public key on each new instance (`ssh_key_name` at
 *   launch). A cluster's key (src/runtime/ssh-keys.ts, one key pair per cluster) is registered as
 *   `skyhop-<cluster>-<8 hex of the key>`: the same cluster and key give the same name, so registering
 *   again is a no-op on the API side; a cluster re-created with a fresh key gets a new name instead of
 *   clashing with the old one. `removeClusterKeys` deletes every name of that exact form.
 * - Node setup: shell lines (built only with src/util/shell.ts) the bootstrap runs on every node after
 *   boot: skyhop's folder, and on the head a check that node.js 20+ is there (the agent runs on it).
 *
 * Light on purpose: index.ts imports this module at start-up for `nodeSetup`; crypto is loaded only
 * when a key name is computed.
 */
import type { NodeInfo } from '../../core/cluster.js';
import { shq } from '../../util/shell.js';
import type { FluffyCloudApi } from './api.js';

const KEY_PREFIX = 'skyhop-';

/** The part of a cluster name that may appear in FluffyCloud names (keys, instances). */
export function nameSafe(cluster: string): string {
  return cluster.toLowerCase().replace(/[^a-z0-9-]+/g, '-');
}

/** `skyhop-<cluster>-<first 8 hex of sha256(key body)>`; the key's comment does not count. */
export async function sshKeyName(cluster: string, publicKey: string): Promise<string> {
  const { createHash } = await import('node:crypto');
  const fields = publicKey.trim().split(/\s+/);
  const body = fields.length >= 2 ? `${fields[0]} ${fields[1]}` : publicKey.trim();
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 8);
  return `${KEY_PREFIX}${nameSafe(cluster)}-${hash}`;
}

/** Registers the cluster's public key with FluffyCloud (idempotent) and returns the name to launch with. */
export async function registerClusterKey(
  api: FluffyCloudApi,
  cluster: string,
  publicKey: string,
  signal?: AbortSignal,
): Promise<string> {
  const name = await sshKeyName(cluster, publicKey);
  await api.registerSshKey(name, publicKey, { signal });
  return name;
}

/** Whether a registered key name is one `registerClusterKey` made for this cluster. */
export function isClusterKeyName(cluster: string, name: string): boolean {
  const prefix = `${KEY_PREFIX}${nameSafe(cluster)}-`;
  return name.startsWith(prefix) && /^[0-9a-f]{8}$/.test(name.slice(prefix.length));
}

/** Deletes the cluster's registered keys (safe to repeat). */
export async function removeClusterKeys(api: FluffyCloudApi, cluster: string): Promise<void> {
  const keys = await api.listSshKeys();
  for (const k of keys) {
    if (!isClusterKeyName(cluster, k.name)) continue;
    try {
      await api.deleteSshKey(k.name);
    } catch (e) {
      if ((e as { code?: unknown }).code !== 'not_found') throw e;
    }
  }
}

/** The Node.js major version the agent bundle is built for (scripts/build.mjs: target node20). */
export const MIN_NODE_MAJOR = 20;

/**
 * Shell lines that prepare a node: `~/.skyhop` exists; on the head, `node` 20+ is on the PATH
 * (the agent runs with it) or the setup fails with a line that says what is missing and where.
 */
export function nodeSetup(node: NodeInfo): string[] {
  const lines = ['mkdir -p ~/.skyhop'];
  if (node.role !== 'head') return lines;
  const where = `${node.cluster} head node ${node.id}`;
  const missing = `FluffyCloud node setup: node.js is not installed on ${where}; skyhop's agent needs Node ${MIN_NODE_MAJOR} or later on the head node: install it in the image`;
  const old = `FluffyCloud node setup: ${where} has an older node.js; skyhop's agent needs Node ${MIN_NODE_MAJOR} or later`;
  lines.push(
    `command -v node >/dev/null 2>&1 || { echo ${shq(missing)} >&2; exit 1; }`,
    `[ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -ge ${MIN_NODE_MAJOR} ] || { echo ${shq(old)} >&2; exit 1; }`,
  );
  return lines;
}
