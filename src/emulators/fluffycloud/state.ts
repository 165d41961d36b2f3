/**
 * The emulator's persistent state, `<data>/state.json`: users' SSH keys, every instance (with its IP,
 * port, status, tags and the process ids of its host) and the next IP to hand out. Written atomically
 * (temporary file, fsync, rename) after every change, so a crash leaves the old or the new state.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { HostProcs } from '../hosts.js';

export type InstanceStatus = 'pending' | 'running' | 'terminated';

export interface InstanceRecord {
  id: string;
  user: string;
  name: string;
  hostname: string;
  instance_type: string;
  vcpus: number;
  region: string;
  zone: string | null;
  spot: boolean;
  tags: Record<string, string>;
  status: InstanceStatus;
  status_reason?: string;
  ip: string;
  ssh_port: number;
  ssh_user: string;
  ssh_key_name: string;
  /** The authorized_keys content the host was created with (the key registered under ssh_key_name). */
  authorized_keys: string;
  boot_delay_s: number;
  created_at: string;
  running_at?: string;
  terminated_at?: string;
  /** How many times its host was started (1 + the restarts after its sshd died). */
  boots: number;
  host?: HostProcs;
}

export interface SshKeyRecord {
  public_key: string;
  fingerprint: string;
  created_at: string;
}

export interface EmulatorState {
  version: 1;
  /** Offset in 127.1.0.0/16 where the search for the next free IP starts. */
  next_ip: number;
  users: Record<string, { ssh_keys: Record<string, SshKeyRecord> }>;
  instances: Record<string, InstanceRecord>;
  /**
   * The scenario last set, used when the emulator restarts without --scenario; API keys are kept only as
   * their SHA-256 (`api_key_sha256`), never in clear.
   */
  scenario?: unknown;
}

export function statePath(dataDir: string): string {
  return join(dataDir, 'state.json');
}

export function emptyState(): EmulatorState {
  return { version: 1, next_ip: 2, users: {}, instances: {} };
}

export function loadState(dataDir: string): EmulatorState {
  let text: string;
  try {
    text = readFileSync(statePath(dataDir), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
    throw e;
  }
  const s = JSON.parse(text) as EmulatorState;
  if (s.version !== 1) throw new Error(`${statePath(dataDir)}: unknown state version ${String(s.version)}`);
  return s;
}

export function saveState(dataDir: string, state: EmulatorState): void {
  mkdirSync(dataDir, { recursive: true });
  const path = statePath(dataDir);
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, JSON.stringify(state, null, 1));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
