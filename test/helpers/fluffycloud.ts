/**
 * Test helper: start the real FluffyCloud emulator (src/emulators/fluffycloud/main.ts) as a child process
 * with its own data dir, a scenario with one user (alice) unless given, and an admin token; wait for its
 * ready line; stop it and every host it made on `stop()`. Needs root (the emulator does).
 *
 *   const fc = await startEmulator();
 *   fc.writeCredentials(home);              // ~/.fluffycloud/credentials for the skyhop side
 *   ...
 *   await fc.stop();                        // removes every instance, stops the emulator, deletes its data
 *
 * A process that exits without stop() still kills its emulators and their hosts (an 'exit' hook).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');
const MAIN = join(ROOT, 'src', 'emulators', 'fluffycloud', 'main.ts');

export interface EmulatorHandle {
  url: string;
  apiKey: string;
  adminToken: string;
  dataDir: string;
  /** What the emulator wrote on stderr so far (lifecycle lines, errors). */
  stderr(): string;
  /** Replace the scenario live (PUT /admin/scenario). */
  setScenario(s: object): Promise<void>;
  /** GET /v1/instances with the default user's key. */
  listInstances(): Promise<Record<string, any>>;
  /** GET /admin/state. */
  adminState(): Promise<Record<string, any>>;
  /** Write `<home>/.fluffycloud/credentials` (api_key, endpoint) for the default user. */
  writeCredentials(home: string): void;
  /**
   * Stop the API only (SIGTERM: hosts keep running), run `whileDown` if given, and start the emulator again
   * on the same port and data dir (it re-adopts its hosts).
   */
  restart(opts?: { whileDown?: () => Promise<void> | void }): Promise<void>;
  /** Default: remove every instance, stop the emulator, delete its data dir. `teardown: false` keeps both. */
  stop(opts?: { teardown?: boolean }): Promise<void>;
}

export interface StartOptions {
  /** The scenario (docs/fluffycloud-api.md); default: one user `alice` with a random key, no limits. */
  scenario?: object;
  /** boot_delay_s of the default scenario (ignored when `scenario` is given). */
  bootDelayS?: number;
  /** Use this data dir (e.g. a previous emulator's, kept with stop({teardown: false})). */
  dataDir?: string;
  /** Extra command-line flags (e.g. ['--ssh-port', '2200']). */
  args?: string[];
}

const live = new Set<{ child: ChildProcess | null; dataDir: string; runDir: string | null }>();

function killSync(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

/** Last resort (process exit without stop()): kill the emulator and every sshd its state lists. */
function killEverything(entry: { child: ChildProcess | null; dataDir: string; runDir: string | null }): void {
  if (entry.child?.pid && entry.child.exitCode === null) killSync(entry.child.pid);
  try {
    const s = JSON.parse(readFileSync(join(entry.dataDir, 'state.json'), 'utf8')) as {
      instances?: Record<string, { host?: { sshd_pid: number; sshd_start: string } }>;
    };
    for (const inst of Object.values(s.instances ?? {})) {
      const h = inst.host;
      if (!h) continue;
      try {
        const stat = readFileSync(`/proc/${h.sshd_pid}/stat`, 'utf8');
        if (stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] === h.sshd_start) killSync(h.sshd_pid);
      } catch {
        // gone
      }
    }
  } catch {
    // no state
  }
}

process.on('exit', () => {
  for (const e of live) killEverything(e);
});

/** Pids of processes whose command line mentions `needle` (like `pgrep -f`), this process excluded. */
export function pgrep(needle: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').includes(needle)) out.push(pid);
    } catch {
      // gone
    }
  }
  return out;
}

function spawnEmulator(
  args: string[],
  adminToken: string,
): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, FLUFFYCLOUD_ADMIN_TOKEN: adminToken },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the FluffyCloud emulator did not get ready in 30 s; stderr: ${err}`));
    }, 30_000);
    child.stderr!.on('data', (d) => (err += d));
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /^fluffycloud listening on (http:\/\/\S+)\n/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolvePromise({ child, url: m[1]!, stderr: () => err });
      }
    });
    child.on('exit', (code, sig) => {
      clearTimeout(timer);
      reject(
        new Error(`the FluffyCloud emulator exited (${code ?? sig}) before it was ready: ${err.trim()}`),
      );
    });
  });
}

function waitExit(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
    }, ms);
    child.once('exit', () => {
      clearTimeout(t);
      r();
    });
  });
}

export async function startEmulator(opts: StartOptions = {}): Promise<EmulatorHandle> {
  const base = mkdtempSync(join(tmpdir(), 'skyhop-fc-'));
  const dataDir = opts.dataDir ?? join(base, 'data');
  const apiKey = `fc-test-${randomBytes(8).toString('hex')}`;
  const scenario = opts.scenario ?? {
    users: { alice: { api_key: apiKey } },
    boot_delay_s: opts.bootDelayS ?? 0,
  };
  const users = (scenario as { users?: Record<string, { api_key: string }> }).users ?? {};
  const firstKey = Object.values(users)[0]?.api_key ?? '';
  const scenarioFile = join(base, 'scenario.yaml');
  writeFileSync(scenarioFile, JSON.stringify(scenario, null, 1)); // JSON is YAML
  const adminToken = randomBytes(12).toString('hex');
  const entry: { child: ChildProcess | null; dataDir: string; runDir: string | null } = {
    child: null,
    dataDir,
    runDir: null,
  };
  live.add(entry);
  const baseArgs = ['--data', dataDir, '--scenario', scenarioFile, ...(opts.args ?? [])];
  let started: Awaited<ReturnType<typeof spawnEmulator>>;
  try {
    started = await spawnEmulator(['--port', '0', ...baseArgs], adminToken);
  } catch (e) {
    live.delete(entry);
    rmSync(base, { recursive: true, force: true });
    throw e;
  }
  entry.child = started.child;
  const url = started.url;
  const port = new URL(url).port;
  let stderrBefore = '';

  const call = async (path: string, init: RequestInit & { token: string }): Promise<any> => {
    const res = await fetch(`${url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${init.token}`, 'content-type': 'application/json' },
      signal: AbortSignal.timeout(60_000),
    });
    const body = await res.json();
    if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status} ${JSON.stringify(body)}`);
    return body;
  };

  const handle: EmulatorHandle = {
    url,
    apiKey: firstKey,
    adminToken,
    dataDir,
    stderr: () => stderrBefore + started.stderr(),
    async setScenario(s: object) {
      await call('/admin/scenario', { method: 'PUT', body: JSON.stringify(s), token: adminToken });
    },
    listInstances: () => call('/v1/instances', { token: firstKey }),
    adminState: () => call('/admin/state', { token: adminToken }),
    writeCredentials(home: string) {
      const dir = join(home, '.fluffycloud');
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileSync(join(dir, 'credentials'), `[default]\napi_key = ${firstKey}\nendpoint = ${url}\n`, {
        mode: 0o600,
      });
    },
    async restart(o: { whileDown?: () => Promise<void> | void } = {}) {
      started.child.kill('SIGTERM');
      await waitExit(started.child, 15_000);
      stderrBefore += started.stderr();
      await o.whileDown?.();
      started = await spawnEmulator(['--port', port, ...baseArgs], adminToken);
      entry.child = started.child;
    },
    async stop(o: { teardown?: boolean } = {}) {
      const teardown = o.teardown ?? true;
      try {
        if (teardown) await call('/admin/teardown', { method: 'POST', token: adminToken });
      } finally {
        started.child.kill('SIGTERM');
        await waitExit(started.child, 15_000);
        if (teardown) {
          killEverything(entry);
          live.delete(entry);
          rmSync(base, { recursive: true, force: true });
          if (opts.dataDir) {
            rmSync(opts.dataDir, { recursive: true, force: true });
            // The folder of an earlier startEmulator() whose data dir this was (its scenario file).
            const parent = dirname(opts.dataDir);
            if (dirname(parent) === tmpdir() && basename(parent).startsWith('skyhop-fc-')) {
              rmSync(parent, { recursive: true, force: true });
            }
          }
        } else {
          live.delete(entry);
        }
      }
    },
  };
  return handle;
}
