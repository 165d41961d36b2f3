/**
 * An emulated instance's host: a real OpenSSH sshd bound to the instance's own loopback address, running
 * as PID 1 of its own PID, mount and UTS namespaces (ENVIRONMENT.md, "Full isolation of a node"):
 *
 *   unshare --mount --pid --uts --fork --mount-proc --kill-child=SIGKILL /bin/sh -c
 *     'hostname NAME && mount --bind NODEDIR RUNDIR/node && mount --bind RUNDIR/node/hosts /etc/hosts
 *      && mount --bind RUNDIR/node/home /root && mount --bind RUNDIR/node/tmp /tmp
 *      && [mount --bind SOURCE TARGET, for each of the spec's extra binds]
 *      && exec /usr/sbin/sshd -D -e -f RUNDIR/sshd_config'
 *
 * The node has its own hostname, /root, /tmp, /etc/hosts and process table (/proc is remounted); the rest of
 * the filesystem is the machine's (so /usr/bin/node works there). Killing its sshd kills every process
 * started on the node, detached (setsid nohup) ones included, because the kernel ends a PID namespace
 * with its PID 1. Strings reach the shell line only as positional parameters, never spliced.
 *
 * The sshd's own files (config, host key, authorized_keys, pid file) live in the spec's runDir, under /run
 * (tmpfs) so that they stay visible inside the node wherever the data dir is: a data dir under /root or
 * /tmp is hidden there by the bind mounts. Extra binds (`HostSpec.binds`, e.g. an /etc/passwd with one
 * more user) are made after the standard ones, in the node's mount namespace only.
 *
 * Shared by the FluffyCloud emulator (fluffycloud/cloud.ts: hosts that let `root` in) and the tests'
 * "moto hosts" (test/helpers/moto-hosts.ts: hosts for moto's EC2 instances that let `ubuntu` in).
 */
import { spawn } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { sleep } from '../util/sleep.js';

// $1 hostname, $2 the node's folder, $3 a mount point in /run for it, $4 sshd, $5 its config, then pairs of
// extra binds (source, target). The node's folder is first bound under /run, so that binding /root and /tmp
// cannot hide the later sources (the data dir may well be under /root or /tmp).
const SCRIPT =
  'hostname "$1" && mount --bind "$2" "$3" && mount --bind "$3/hosts" /etc/hosts' +
  ' && mount --bind "$3/home" /root && mount --bind "$3/tmp" /tmp' +
  ' && sshd="$4" && conf="$5" && shift 5' +
  ' && while [ $# -ge 2 ]; do mount --bind "$1" "$2" || exit 1; shift 2; done' +
  ' && exec "$sshd" -D -e -f "$conf"';

const STD_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The processes of a running host: `unshare` (outside) and its child, the node's sshd (PID 1 inside). */
export interface HostProcs {
  unshare_pid: number;
  sshd_pid: number;
  /** Start time of the sshd process (clock ticks since boot, /proc/PID/stat field 22): guards pid reuse. */
  sshd_start: string;
  /** The node's PID namespace, as `readlink /proc/PID/ns/pid` shows it (e.g. "pid:[4026532301]"). */
  pid_ns: string;
}

/** One extra bind mount in the node (a file over a file, or a folder over a folder). */
export interface HostBind {
  /** Absolute, on this machine, not under /root or /tmp (the node's own /root and /tmp hide those). */
  source: string;
  /** Absolute, as the node sees it. */
  target: string;
}

export interface HostSpec {
  id: string;
  ip: string;
  port: number;
  hostname: string;
  /** `<data>/nodes/<id>`: home/ (the node's /root), tmp/, hosts, sshd.log. */
  nodeDir: string;
  /** `<run prefix>/<id>`: sshd_config, host_key, authorized_keys, sshd.pid. */
  runDir: string;
  /** The emulator's host key (copied into runDir). */
  hostKey: string;
  authorizedKeys: string;
  /** The one user sshd lets in (`AllowUsers`); default root. Another name must exist in the node's /etc/passwd. */
  user?: string;
  /** Folders put first on the PATH of every session (e.g. the node's own `sudo`). */
  pathPrefix?: string[];
  /** Extra bind mounts in the node's mount namespace, made after the standard ones, in this order. */
  binds?: HostBind[];
}

export function findSshd(): string | null {
  for (const p of ['/usr/sbin/sshd', '/usr/local/sbin/sshd', '/sbin/sshd']) if (existsSync(p)) return p;
  return null;
}

/** A hostname for an instance name: lower case, only [a-z0-9-], at most 63 characters. */
export function hostnameFor(name: string): string {
  const h = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return h || 'node';
}

/** Generate an emulator's ed25519 host key once (at `path`, unless it exists). */
export async function ensureHostKey(path: string, comment = 'emulated-host'): Promise<void> {
  if (existsSync(path)) return;
  await new Promise<void>((resolve, reject) => {
    const p = spawn('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`ssh-keygen failed (${code}): ${err.trim()}`)),
    );
  });
}

function sshdConfig(spec: HostSpec): string {
  const nodeBin = dirname(process.execPath);
  const base = STD_PATH.split(':').includes(nodeBin) ? STD_PATH : `${nodeBin}:${STD_PATH}`;
  const path = [...(spec.pathPrefix ?? []), base].join(':');
  return [
    `ListenAddress ${spec.ip}:${spec.port}`,
    `HostKey ${join(spec.runDir, 'host_key')}`,
    `PidFile ${join(spec.runDir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(spec.runDir, 'authorized_keys')}`,
    'StrictModes no',
    'UsePAM no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    `AllowUsers ${spec.user ?? 'root'}`,
    'KexAlgorithms curve25519-sha256',
    'PrintMotd no',
    'PrintLastLog no',
    'UseDNS no',
    'X11Forwarding no',
    'MaxStartups 64:30:256',
    'MaxSessions 64',
    `SetEnv PATH=${path}`,
    'Subsystem sftp internal-sftp',
    '',
  ].join('\n');
}

function checkBinds(binds: readonly HostBind[]): void {
  for (const b of binds) {
    for (const p of [b.source, b.target]) {
      if (!p.startsWith('/')) throw new Error(`a host's bind mount needs absolute paths (got ${p})`);
    }
    if (/^\/(root|tmp)(\/|$)/.test(b.source)) {
      throw new Error(
        `a host's bind mount source ${b.source} would be hidden by the node's own /root or /tmp`,
      );
    }
  }
}

/** Write the node's folders and its sshd files. `fresh`: a new instance (its home gets /etc/skel). */
export function prepareHost(spec: HostSpec, fresh: boolean): void {
  checkBinds(spec.binds ?? []);
  const home = join(spec.nodeDir, 'home');
  const tmp = join(spec.nodeDir, 'tmp');
  mkdirSync(home, { recursive: true, mode: 0o700 });
  mkdirSync(tmp, { recursive: true });
  chmodSync(tmp, 0o1777);
  if (fresh && existsSync('/etc/skel')) cpSync('/etc/skel', home, { recursive: true });
  writeFileSync(
    join(spec.nodeDir, 'hosts'),
    `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${spec.ip}\t${spec.hostname}\n`,
  );
  mkdirSync(join(spec.runDir, 'node'), { recursive: true, mode: 0o700 });
  copyFileSync(spec.hostKey, join(spec.runDir, 'host_key'));
  chmodSync(join(spec.runDir, 'host_key'), 0o600);
  writeFileSync(join(spec.runDir, 'authorized_keys'), spec.authorizedKeys, { mode: 0o600 });
  writeFileSync(join(spec.runDir, 'sshd_config'), sshdConfig(spec), { mode: 0o600 });
}

/** Fields of /proc/PID/stat after the command name: [0] = state (field 3), [19] = starttime (field 22). */
function procStat(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

function procCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** True while the host's sshd (the same process, not a reused pid) is alive. */
export function hostAlive(h: HostProcs | undefined): boolean {
  if (!h) return false;
  const st = procStat(h.sshd_pid);
  return st !== null && st[0] !== 'Z' && st[19] === h.sshd_start;
}

/** The last lines of the host's sshd log (for boot failure messages). */
export function hostLogTail(nodeDir: string): string {
  return tail(join(nodeDir, 'sshd.log'));
}

function tail(path: string, n = 3): string {
  try {
    const lines = readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l.trim() && !l.includes('sigprocmask'));
    return lines.slice(-n).join(' | ');
  } catch {
    return '';
  }
}

/** Start the host's sshd in its namespaces; resolves with its processes once the sshd process exists. */
export async function startHost(spec: HostSpec, sshdPath: string): Promise<HostProcs> {
  const log = join(spec.nodeDir, 'sshd.log');
  const fd = openSync(log, 'a');
  let exited = false;
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(
      'unshare',
      [
        '--mount',
        '--pid',
        '--uts',
        '--fork',
        '--mount-proc',
        '--kill-child=SIGKILL',
        '/bin/sh',
        '-c',
        SCRIPT,
        'emulated-node',
        spec.hostname,
        spec.nodeDir,
        join(spec.runDir, 'node'),
        sshdPath,
        join(spec.runDir, 'sshd_config'),
        ...(spec.binds ?? []).flatMap((b) => [b.source, b.target]),
      ],
      // Detached: the host outlives the emulator (a cloud's VMs do not stop with its API server) and is
      // not in the emulator's process group, so a Ctrl-C on the emulator does not reach it.
      { detached: true, stdio: ['ignore', fd, fd] },
    );
  } finally {
    closeSync(fd);
  }
  child.on('exit', () => {
    exited = true;
  });
  const spawnError = new Promise<Error>((resolve) => child.on('error', resolve));
  let failed: Error | null = null;
  void spawnError.then((e) => {
    failed = e;
  });
  child.unref();
  const upid = child.pid;
  const deadline = Date.now() + 5000;
  while (upid !== undefined && Date.now() < deadline) {
    if (failed) break;
    let kids = '';
    try {
      kids = readFileSync(`/proc/${upid}/task/${upid}/children`, 'utf8').trim();
    } catch {
      // unshare already gone
    }
    const spid = Number(kids.split(/\s+/)[0]);
    if (spid > 0) {
      const st = procStat(spid);
      let ns = '';
      try {
        ns = readlinkSync(`/proc/${spid}/ns/pid`);
      } catch {
        // exited meanwhile
      }
      if (st && ns) return { unshare_pid: upid, sshd_pid: spid, sshd_start: st[19]!, pid_ns: ns };
    }
    if (exited) break;
    await sleep(2);
  }
  if (upid !== undefined && !exited) {
    try {
      process.kill(upid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  const why = failed ? (failed as Error).message : tail(log) || 'it exited at once';
  throw new Error(`could not start the host's sshd: ${why}`);
}

/** Wait until something accepts TCP connections on ip:port; false if `alive()` turns false or time runs out. */
export async function waitForPort(
  ip: string,
  port: number,
  timeoutMs: number,
  alive: () => boolean,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await canConnect(ip, port, 500)) return true;
    if (!alive()) return false;
    await sleep(10);
  }
  return false;
}

export function canConnect(ip: string, port: number, timeoutMs = 300): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: ip, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/**
 * sshd processes started with this runDir's config (strays of an interrupted start), not counting the
 * `unshare` parents, which exit by themselves once their sshd is gone.
 */
export function strayHostPids(runDir: string): number[] {
  const needle = join(runDir, 'sshd_config');
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const cmd = procCmdline(pid);
    if (cmd.includes(needle) && !cmd.startsWith('unshare ')) out.push(pid);
  }
  return out;
}

/**
 * Every live process (host view of pids) whose PID namespace is `pidNs`. Zombies are left out: on a
 * machine whose init does not reap, a dead process can stay listed for ever without running.
 */
export function processesInNamespace(pidNs: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    try {
      if (readlinkSync(`/proc/${pid}/ns/pid`) !== pidNs) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z') out.push(pid);
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function gone(pid: number): boolean {
  const st = procStat(pid);
  return st === null || st[0] === 'Z';
}

/**
 * Kill a host: its sshd (PID 1 of the node, so the kernel kills everything else there) and any stray sshd
 * started with its config; resolves once they are dead (so the address and port are free and nothing of
 * the node runs any more). The `unshare` parent is left to reap its sshd and exit: killed first, it would
 * leave the sshd a zombie for the machine's init, which may never reap it.
 */
export async function killHost(h: HostProcs | undefined, runDir: string): Promise<void> {
  const pids = strayHostPids(runDir);
  if (h && hostAlive(h) && !pids.includes(h.sshd_pid)) pids.push(h.sshd_pid);
  for (const pid of pids) kill(pid);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && !pids.every(gone)) await sleep(5);
  // Give the parents a moment to reap (a zombie still shows up in the node's namespace).
  const reap = Date.now() + 1000;
  while (Date.now() < reap && pids.some((p) => procStat(p) !== null)) await sleep(5);
}

export function removeHostFiles(spec: Pick<HostSpec, 'nodeDir' | 'runDir'>): void {
  rmSync(spec.runDir, { recursive: true, force: true });
  rmSync(spec.nodeDir, { recursive: true, force: true });
}
