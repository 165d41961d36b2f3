/**
 * What the FluffyCloud tests share: a real emulator (src/emulators/fluffycloud, started as its own
 * process on a free loopback port), a temporary HOME with ~/.fluffycloud/credentials pointing at it,
 * and a temporary SKYHOP_HOME (cluster keys). `stop()` tears every instance down, stops the emulator and
 * removes the folders.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FluffyCloudApi } from '../../../src/clouds/fluffycloud/api.js';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');
export const API_KEY = 'fc-test-key-alice';
const ADMIN = 'fc-test-admin-token';

/** Why the emulator cannot run here (its hosts need root, sshd, ssh and unshare), or null. */
export function emulatorUnavailable(): string | null {
  if (process.getuid?.() !== 0)
    return 'the FluffyCloud emulator needs root (its hosts are sshd in namespaces)';
  for (const p of ['/usr/sbin/sshd', '/usr/bin/ssh', '/usr/bin/unshare']) {
    if (!existsSync(p)) return `${p} is missing: run scripts/install-deps.sh`;
  }
  return null;
}

export interface FluffyEnv {
  endpoint: string;
  home: string;
  /** A client with the test user's key (few retries, short backoff). */
  api(opts?: { timeoutMs?: number; retries?: number }): FluffyCloudApi;
  /** Replace the scenario live (users are always the test user plus `users`). */
  scenario(s: Record<string, unknown>): Promise<void>;
  /** The emulator's admin view (instances of every user). */
  state(): Promise<{ instances: Record<string, { status: string; tags: Record<string, string> }> }>;
  stop(): Promise<void>;
}

export function baseScenario(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const { users, ...rest } = extra as { users?: Record<string, unknown> };
  return {
    users: { alice: { api_key: API_KEY, max_instances: 32, max_vcpus: 512 }, ...(users ?? {}) },
    boot_delay_s: 0,
    ...rest,
  };
}

export async function startFluffy(scenario: Record<string, unknown> = baseScenario()): Promise<FluffyEnv> {
  // Not under /tmp: the emulator bind-mounts a node's own /tmp, which would hide its data dir there.
  const dir = mkdtempSync(join('/var/tmp', 'skyhop-fluffy-test-'));
  const tmp = mkdtempSync(join(tmpdir(), 'skyhop-fluffy-home-'));
  const home = join(tmp, 'home');
  mkdirSync(join(home, '.fluffycloud'), { recursive: true });
  const scenarioPath = join(dir, 'scenario.json');
  writeFileSync(scenarioPath, JSON.stringify(scenario));
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'src', 'emulators', 'fluffycloud', 'main.ts'),
      '--port',
      '0',
      '--data',
      join(dir, 'data'),
      '--scenario',
      scenarioPath,
      '--admin-token',
      ADMIN,
      '--teardown',
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (c) => {
    stderr = (stderr + String(c)).slice(-4000);
  });
  const endpoint = await new Promise<string>((ok, fail) => {
    let out = '';
    const t = setTimeout(() => fail(new Error(`the emulator did not start: ${stderr}`)), 30_000);
    child.stdout!.on('data', (c) => {
      out += String(c);
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(t);
        ok(m[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(t);
      fail(new Error(`the emulator exited (${code}): ${stderr}`));
    });
  });
  writeFileSync(join(home, '.fluffycloud', 'credentials'), `api_key = ${API_KEY}\nendpoint = ${endpoint}\n`);
  const saved = { HOME: process.env.HOME, SKYHOP_HOME: process.env.SKYHOP_HOME };
  process.env.HOME = home;
  process.env.SKYHOP_HOME = join(tmp, 'skyhop');

  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${endpoint}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`admin ${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };

  return {
    endpoint,
    home,
    api: (o = {}) =>
      new FluffyCloudApi({
        endpoint,
        apiKey: API_KEY,
        timeoutMs: o.timeoutMs ?? 10_000,
        retries: o.retries ?? 3,
        backoffMs: { initial: 20, max: 200 },
      }),
    scenario: (s) => admin('PUT', '/admin/scenario', s),
    state: () => admin('GET', '/admin/state'),
    async stop() {
      await admin('POST', '/admin/teardown').catch(() => {});
      const gone = new Promise((ok) => child.once('exit', ok));
      child.kill('SIGTERM');
      await Promise.race([gone, new Promise((ok) => setTimeout(ok, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      rmSync(dir, { recursive: true, force: true });
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}
