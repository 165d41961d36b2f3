/**
 * One SSH key pair per cluster, under `$SKYHOP_HOME/keys/<cluster>/`:
 *   id_ed25519       the private key (0600, made by ssh-keygen, no passphrase)
 *   id_ed25519.pub   its public key (what a cloud registers on the nodes)
 *   known_hosts      the cluster's nodes' host keys (written by ssh, accept-new)
 * Directories are 0700. A key is made once and then reused; concurrent callers (other skyhop
 * processes) agree on one key: a new key is claimed with an exclusive link, and a missing public
 * key is derived again from the private one. `removeClusterKey` deletes the whole directory.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { CloudError, UserError } from '../util/errors.js';
import { skyhopHome } from '../util/paths.js';

export interface ClusterKey {
  keyPath: string;
  publicKey: string;
  knownHostsPath: string;
}

/** The directory of a cluster's key, after checking the name is one plain path segment. */
export function clusterKeyDir(cluster: string): string {
  if (
    typeof cluster !== 'string' ||
    cluster === '' ||
    cluster === '.' ||
    cluster === '..' ||
    /[/\\\0]/.test(cluster) ||
    Buffer.byteLength(cluster) > 200
  ) {
    throw new UserError(
      `Invalid cluster name ${JSON.stringify(cluster)} for an SSH key: use letters, digits, '-', '_' and '.', without '/'.`,
    );
  }
  return join(resolve(skyhopHome()), 'keys', cluster);
}

/** The cluster's key pair, created on first use (see the file comment). */
export function ensureClusterKey(cluster: string): ClusterKey {
  const dir = clusterKeyDir(cluster);
  const keysRoot = resolve(dir, '..');
  mkdirSync(keysRoot, { recursive: true, mode: 0o700 });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(keysRoot, 0o700);
  chmodSync(dir, 0o700);
  const keyPath = join(dir, 'id_ed25519');
  const pubPath = `${keyPath}.pub`;
  const knownHostsPath = join(dir, 'known_hosts');

  if (!existsSync(keyPath)) {
    const tmp = join(dir, `.new-${process.pid}-${randomBytes(6).toString('hex')}`);
    try {
      keygen(['-q', '-t', 'ed25519', '-N', '', '-C', `skyhop-${cluster}`, '-f', tmp], cluster);
      try {
        linkSync(tmp, keyPath); // exclusive: the first process to get here wins
        renameSync(`${tmp}.pub`, pubPath);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    } finally {
      rmSync(tmp, { force: true });
      rmSync(`${tmp}.pub`, { force: true });
    }
  }
  chmodSync(keyPath, 0o600);
  let publicKey = existsSync(pubPath) ? readFileSync(pubPath, 'utf8').trim() : '';
  if (!publicKey) {
    // The winner has not written it yet, or it was removed: derive it from the private key.
    publicKey = keygen(['-y', '-f', keyPath], cluster).trim();
    const tmpPub = `${pubPath}.${process.pid}-${randomBytes(6).toString('hex')}`;
    writeFileSync(tmpPub, `${publicKey}\n`, { mode: 0o644 });
    renameSync(tmpPub, pubPath);
  }
  return { keyPath, publicKey, knownHostsPath };
}

/** Delete the cluster's key pair and known_hosts. Safe to repeat. */
export function removeClusterKey(cluster: string): void {
  rmSync(clusterKeyDir(cluster), { recursive: true, force: true });
}

function keygen(args: string[], cluster: string): string {
  try {
    return execFileSync('ssh-keygen', args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    const line = (err.stderr ?? '').trim().split('\n').pop() || err.message;
    throw new CloudError(
      `Cannot make the SSH key of cluster ${cluster}: ssh-keygen failed (${line}); install the OpenSSH client (scripts/install-deps.sh).`,
    );
  }
}
