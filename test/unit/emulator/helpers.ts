/** Shared bits of the emulator tests: an API client, SSH keys, ssh into an instance, polling. */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Reply {
  status: number;
  body: any;
}

/** One API call; never throws on an HTTP error status. */
export async function api(
  url: string,
  token: string | null,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 30_000,
): Promise<Reply> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${url}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

export interface KeyPair {
  dir: string;
  privateKey: string;
  publicKey: string;
  cleanup(): void;
}

export function makeKeyPair(): KeyPair {
  const dir = mkdtempSync(join(tmpdir(), 'fc-key-'));
  const privateKey = join(dir, 'id_ed25519');
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'test@fc', '-f', privateKey]);
  if (r.status !== 0) throw new Error(`ssh-keygen: ${r.stderr}`);
  return {
    dir,
    privateKey,
    publicKey: readFileSync(`${privateKey}.pub`, 'utf8').trim(),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Run a command on an instance over real ssh. */
export function ssh(
  key: string,
  ip: string,
  port: number,
  command: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      'ssh',
      [
        '-i',
        key,
        '-p',
        String(port),
        '-o',
        'StrictHostKeyChecking=no',
        '-o',
        'UserKnownHostsFile=/dev/null',
        '-o',
        'BatchMode=yes',
        '-o',
        'LogLevel=ERROR',
        '-o',
        'ConnectTimeout=10',
        '-o',
        'KexAlgorithms=curve25519-sha256',
        `root@${ip}`,
        command,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** Poll `fn` until it returns a truthy value (or throw after `ms`). */
export async function waitFor<T>(
  fn: () => Promise<T> | T,
  ms = 30_000,
  what = 'condition',
): Promise<NonNullable<Exclude<T, false>>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<Exclude<T, false>>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The emulator's own count of a node's live processes. */
export { processesInNamespace } from '../../../src/emulators/hosts.js';
