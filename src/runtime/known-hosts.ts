/**
 * The cluster's known_hosts: entries of addresses that a fresh node now holds are forgotten before
 * the first SSH connection to it (the runner records the new host key, accept-new).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { NodeInfo } from '../core/cluster.js';

/** How known_hosts names a host: `ip` on port 22, `[ip]:port` otherwise. */
function knownHostName(ip: string, port: number): string {
  return port === 22 ? ip : `[${ip}]:${port}`;
}

function knownHostsLineMatches(line: string, names: ReadonlySet<string>): boolean {
  const field = line.trim().split(/\s+/)[0] ?? '';
  if (field.startsWith('|1|')) {
    // Hashed: |1|base64(salt)|base64(HMAC-SHA1(salt, name)).
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    const key = Buffer.from(salt, 'base64');
    return [...names].some((n) => createHmac('sha1', key).update(n).digest('base64') === hash);
  }
  return field.split(',').some((h) => names.has(h));
}

/**
 * Drops known_hosts entries for addresses of freshly created nodes: a new instance has a new host
 * key, and an entry left by an earlier instance at the same address would make SSH refuse it.
 */
export function forgetHostKeys(knownHostsPath: string, hosts: ReadonlyArray<{ ip: string; port: number }>) {
  if (hosts.length === 0 || !existsSync(knownHostsPath)) return;
  const names = new Set(hosts.map((h) => knownHostName(h.ip, h.port)));
  const lines = readFileSync(knownHostsPath, 'utf8').split('\n');
  const kept = lines.filter((l) => !knownHostsLineMatches(l, names));
  if (kept.length === lines.length) return;
  const tmp = `${knownHostsPath}.${process.pid}.${randomBytes(3).toString('hex')}.tmp`;
  writeFileSync(tmp, kept.join('\n'), { mode: 0o600 });
  renameSync(tmp, knownHostsPath);
}

/** forgetHostKeys for the SSH nodes among `nodes` (each with its connection's known_hosts file). */
export function forgetNodeHostKeys(nodes: readonly NodeInfo[]): void {
  const byFile = new Map<string, Array<{ ip: string; port: number }>>();
  for (const n of nodes) {
    const c = n.connection;
    if (c.kind !== 'ssh' || !c.knownHostsPath) continue;
    const list = byFile.get(c.knownHostsPath) ?? [];
    list.push({ ip: c.host, port: c.port });
    byFile.set(c.knownHostsPath, list);
  }
  for (const [file, hosts] of byFile) forgetHostKeys(file, hosts);
}
