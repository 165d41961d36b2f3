/**
 * A throwaway real OpenSSH server for tests, on 127.0.0.1 and a free port, logging in as root.
 *
 * Isolation: sshd runs inside `unshare --mount --pid --fork --mount-proc --kill-child` with the
 * test's own directory bind-mounted over /root, so a session's HOME (root's home) is a temp dir of
 * this test (no ~/.bashrc, nothing of the real /root is seen or written), and the node has its own
 * process table: `stop()` kills sshd, the namespace's PID 1, and with it every process started on
 * the node (`setsid nohup` daemons included). Should the test process die first, the node ends too
 * (a watcher on the node sees its stdin pipe close).
 *
 * The client key and host key are generated here with ssh-keygen; the config file has an absolute
 * path (sshd re-execs itself from `/`). Needs root, `sshd`, `ssh-keygen` and `unshare`
 * (scripts/install-deps.sh installs them): `sshdUnavailable()` says why not, for `skip`.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Connection } from '../../src/core/cluster.js';

export type SshConnection = Extract<Connection, { kind: 'ssh' }>;

export interface TestSshd {
  host: string;
  port: number;
  user: string;
  /** The client's private key (authorized on the server). */
  keyPath: string;
  /** The node's HOME as seen from this machine (bind-mounted over /root inside the node). */
  home: string;
  /** The temp dir holding everything of this server. */
  root: string;
  /** A connection for SshRunner with a fresh known_hosts file of this server. */
  connection: SshConnection;
  /** Start sshd (again, after `stop`); resolves when it listens. */
  start(): Promise<void>;
  /** Kill sshd and every process of the node. Safe to repeat. */
  stop(): Promise<void>;
  /** `stop()` and remove the temp dir. */
  destroy(): Promise<void>;
}

const SSHD = '/usr/sbin/sshd';

/** Why a real sshd cannot run here (for `test(..., { skip })`), or false when it can. */
export function sshdUnavailable(): string | false {
  if (process.getuid?.() !== 0) return 'the test sshd needs root';
  for (const bin of [SSHD, '/usr/bin/ssh', '/usr/bin/ssh-keygen', '/usr/bin/unshare', '/usr/bin/rsync']) {
    if (!existsSync(bin)) return `${bin} is missing: run scripts/install-deps.sh`;
  }
  return false;
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Prepare a server (keys, config, home) without starting it unless `start` is true (default).
 * `maxSessions` sets sshd's MaxSessions (sessions per connection; OpenSSH's default is 10).
 */
export async function createSshd(opts: { start?: boolean; maxSessions?: number } = {}): Promise<TestSshd> {
  const root = mkdtempSync(join(tmpdir(), 'skyhop-sshd-'));
  const home = join(root, 'home');
  mkdirSync(home, { mode: 0o700 });
  const keyPath = join(root, 'client_ed25519');
  const hostKey = join(root, 'host_ed25519');
  keygen(keyPath);
  keygen(hostKey);
  const authorized = join(root, 'authorized_keys');
  writeFileSync(authorized, readFileSync(`${keyPath}.pub`), { mode: 0o600 });
  const port = await freePort();
  const config = join(root, 'sshd_config');
  writeFileSync(
    config,
    [
      `ListenAddress 127.0.0.1:${port}`,
      `HostKey ${hostKey}`,
      `PidFile ${join(root, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorized}`,
      'StrictModes no',
      'UsePAM no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'PermitRootLogin prohibit-password',
      'AllowUsers root',
      'PrintMotd no',
      'PrintLastLog no',
      'UseDNS no',
      'MaxStartups 100',
      `MaxSessions ${opts.maxSessions ?? 10}`,
      '',
    ].join('\n'),
  );
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755, recursive: true });

  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  const stop = async () => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill('SIGKILL'); // --kill-child: unshare's death kills sshd, PID 1 of the node's namespace
    await exited;
  };
  const start = () =>
    new Promise<void>((resolve, reject) => {
      if (child) return resolve();
      // sshd is the namespace's PID 1; a watcher ends it (SIGTERM; init ignores SIGKILL from inside)
      // when this process's end of its stdin closes, so a crashed test leaves no node behind.
      const script = [
        'mount --bind "$1" /root || exit 1',
        'exec 3<&0',
        '{ read -r _ <&3; kill -TERM 1; } >/dev/null 2>&1 &',
        'exec "$2" -D -e -f "$3" </dev/null 3<&-',
      ].join('\n');
      const c = spawn(
        'unshare',
        [
          '--mount',
          '--pid',
          '--fork',
          '--mount-proc',
          '--kill-child',
          'bash',
          '--noprofile',
          '--norc',
          '-c',
          script,
          'sshd-node',
          home,
          SSHD,
          config,
        ],
        { stdio: ['pipe', 'ignore', 'pipe'] },
      );
      child = c;
      let log = '';
      let ready = false;
      exited = new Promise((r) => c.once('exit', () => r()));
      c.stderr!.setEncoding('utf8');
      c.stderr!.on('data', (s: string) => {
        if (ready) return;
        log += s;
        if (/Server listening on/.test(log)) {
          ready = true;
          log = '';
          resolve();
        }
      });
      c.once('exit', (code, sig) => {
        if (!ready) reject(new Error(`test sshd exited (${code ?? sig}) before listening: ${log.trim()}`));
        if (child === c) child = null;
      });
    });

  const sshd: TestSshd = {
    host: '127.0.0.1',
    port,
    user: 'root',
    keyPath,
    home,
    root,
    connection: {
      kind: 'ssh',
      host: '127.0.0.1',
      port,
      user: 'root',
      keyPath,
      knownHostsPath: join(root, 'known_hosts'),
    },
    start,
    stop,
    destroy: async () => {
      await stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
  if (opts.start !== false) {
    try {
      await start();
    } catch (e) {
      rmSync(root, { recursive: true, force: true });
      throw e;
    }
  }
  return sshd;
}

function keygen(path: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'skyhop-test', '-f', path], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
