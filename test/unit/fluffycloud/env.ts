/**
 * What the FluffyCloud tests share: the real emulator (test/helpers/fluffycloud.ts, startEmulator), a
 * temporary HOME with ~/.fluffycloud/credentials pointing at it, and a temporary SKYHOP_HOME (cluster
 * keys). `stop()` removes every instance, stops the emulator, restores the environment and removes
 * the folders.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FluffyCloudApi } from '../../../src/clouds/fluffycloud/api.js';
import { startEmulator } from '../../helpers/fluffycloud.js';

export const API_KEY = 'fc-test-key-alice';

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
  /** A client with the test user's key (short backoff). */
  api(opts?: { timeoutMs?: number; retries?: number }): FluffyCloudApi;
  /** Replace the scenario live. */
  scenario(s: Record<string, unknown>): Promise<void>;
  stop(): Promise<void>;
}

/** One user (the test user, plus `users`), no boot delay, whatever else `extra` says. */
export function baseScenario(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const { users, ...rest } = extra as { users?: Record<string, unknown> };
  return {
    users: { alice: { api_key: API_KEY, max_instances: 32, max_vcpus: 512 }, ...(users ?? {}) },
    boot_delay_s: 0,
    ...rest,
  };
}

export async function startFluffy(scenario: Record<string, unknown> = baseScenario()): Promise<FluffyEnv> {
  const emu = await startEmulator({ scenario });
  const tmp = mkdtempSync(join(tmpdir(), 'skyhop-fluffy-home-'));
  const home = join(tmp, 'home');
  mkdirSync(home, { recursive: true });
  emu.writeCredentials(home);
  const saved = { HOME: process.env.HOME, SKYHOP_HOME: process.env.SKYHOP_HOME };
  process.env.HOME = home;
  process.env.SKYHOP_HOME = join(tmp, 'skyhop');
  return {
    endpoint: emu.url,
    home,
    api: (o = {}) =>
      new FluffyCloudApi({
        endpoint: emu.url,
        apiKey: emu.apiKey,
        timeoutMs: o.timeoutMs ?? 10_000,
        retries: o.retries ?? 3,
        backoffMs: { initial: 20, max: 200 },
      }),
    scenario: (s) => emu.setScenario(s),
    async stop() {
      try {
        await emu.stop();
      } finally {
        for (const [k, v] of Object.entries(saved)) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
        rmSync(tmp, { recursive: true, force: true });
      }
    },
  };
}
