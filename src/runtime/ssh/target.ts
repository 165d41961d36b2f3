/**
 * One SSH node as the OpenSSH client sees it: the checked connection, its known_hosts file, its
 * control socket, and the argv of every ssh call to it (see src/runtime/ssh-runner.ts for the
 * options and why). Also the small helpers every part of the SSH runtime shares: running a program
 * to its end, and reading ssh's stderr.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Connection } from '../../core/cluster.js';
import { CloudError, UserError } from '../../util/errors.js';
import { skyhopHome } from '../../util/paths.js';

export type SshConnection = Extract<Connection, { kind: 'ssh' }>;

export const CONNECT_TIMEOUT_S = 10;
/** Key exchanges without the (slower) post-quantum hybrid; curve25519 first. */
const KEX = 'curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,diffie-hellman-group14-sha256';
/** Hex characters of a control socket's name (a hash of the connection). */
const CONTROL_NAME_LEN = 20;
/**
 * Longest control-socket directory: ssh binds `<path>.<16 random chars>` first, and the whole socket
 * path must stay under 100 bytes (the kernel's limit is 107).
 */
const MAX_CONTROL_DIR = 100 - 1 - CONTROL_NAME_LEN - 17 - 1;

/** ssh's notices about falling back from a refused multiplexed session to its own connection. */
export const MUX_NOISE =
  /^(?:mux_client_[a-z_]+: .*|ControlSocket .* already exists, disabling multiplexing|Control socket connect\(.*\): .*)\r?$/;

export class SshTarget {
  readonly connection: SshConnection;
  private controlPathCache: string | null = null;

  constructor(
    connection: SshConnection,
    /** ControlPersist: how long an idle master stays up (s). */
    private readonly persistS: number,
  ) {
    checkConnection(connection);
    this.connection = connection;
  }

  /** `user@host:port`, for messages. */
  get where(): string {
    const c = this.connection;
    return `${c.user}@${c.host}:${c.port}`;
  }

  get knownHostsPath(): string {
    return resolve(this.connection.knownHostsPath ?? join(skyhopHome(), 'ssh', 'known_hosts'));
  }

  /** The control socket of this node's master (its directory is created, private). */
  controlPath(): string {
    if (this.controlPathCache) return this.controlPathCache;
    const c = this.connection;
    const id = createHash('sha256')
      .update(JSON.stringify([c.user, c.host, c.port, resolve(c.keyPath), this.knownHostsPath]))
      .digest('hex')
      .slice(0, CONTROL_NAME_LEN);
    this.controlPathCache = join(controlDir(), id);
    return this.controlPathCache;
  }

  /** ssh's options (everything but the host and the remote command). */
  sshOptions(connectTimeoutS = CONNECT_TIMEOUT_S): string[] {
    const c = this.connection;
    const o = (kv: string) => ['-o', kv];
    return [
      '-F',
      '/dev/null',
      '-T',
      '-p',
      String(c.port),
      '-l',
      c.user,
      '-i',
      pctEscape(resolve(c.keyPath)),
      ...o('IdentitiesOnly=yes'),
      ...o('IdentityAgent=none'),
      ...o('BatchMode=yes'),
      ...o('PasswordAuthentication=no'),
      ...o('KbdInteractiveAuthentication=no'),
      ...o(`UserKnownHostsFile=${sshOptValue(this.knownHostsPath)}`),
      ...o('GlobalKnownHostsFile=/dev/null'),
      ...o('StrictHostKeyChecking=accept-new'),
      ...o('UpdateHostKeys=no'),
      ...o(`KexAlgorithms=${KEX}`),
      ...o(`ConnectTimeout=${connectTimeoutS}`),
      ...o('ConnectionAttempts=1'),
      ...o('ServerAliveInterval=5'),
      ...o('ServerAliveCountMax=3'),
      ...o('ControlMaster=auto'),
      ...o(`ControlPersist=${this.persistS}s`),
      ...o(`ControlPath=${sshOptValue(this.controlPath())}`),
      ...o('LogLevel=ERROR'),
      ...o('ForwardAgent=no'),
      ...o('ForwardX11=no'),
      ...o('PermitLocalCommand=no'),
    ];
  }

  /** The full argv of an ssh call to this node (no tty), with `remoteCommand` as ssh's command. */
  sshArgv(remoteCommand?: string, connectTimeoutS?: number): string[] {
    const argv = [...this.sshOptions(connectTimeoutS), this.connection.host];
    if (remoteCommand !== undefined) argv.push(remoteCommand);
    return argv;
  }
}

/** A path as an ssh `-o` value: `%` escaped, double-quoted when it has spaces. */
function sshOptValue(p: string): string {
  const v = pctEscape(p);
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(v)) return v;
  if (/["\\\n\r]/.test(v)) {
    throw new UserError(
      `Cannot use the path ${JSON.stringify(p)} with ssh: it holds a quote, backslash or newline.`,
    );
  }
  return `"${v}"`;
}

function pctEscape(p: string): string {
  return p.replace(/%/g, '%%');
}

function checkConnection(c: SshConnection): void {
  const where = `${c.user}@${c.host}:${c.port}`;
  if (typeof c.host !== 'string' || !/^[A-Za-z0-9_.:-]+$/.test(c.host) || c.host.startsWith('-')) {
    throw new CloudError(`Invalid SSH host ${JSON.stringify(c.host)} for ${where}.`);
  }
  if (!Number.isInteger(c.port) || c.port < 1 || c.port > 65535) {
    throw new CloudError(`Invalid SSH port ${JSON.stringify(c.port)} for ${where}.`);
  }
  if (typeof c.user !== 'string' || !/^[A-Za-z0-9_.][A-Za-z0-9_.-]*$/.test(c.user)) {
    throw new CloudError(`Invalid SSH user ${JSON.stringify(c.user)} for ${where}.`);
  }
  if (typeof c.keyPath !== 'string' || c.keyPath === '' || c.keyPath.includes('\0')) {
    throw new CloudError(`Missing SSH key path for ${where}.`);
  }
}

/**
 * The directory of control sockets: `$SKYHOP_HOME/ssh/cm`, or `/tmp/skyhop-<uid>/cm` when that is
 * too long for a unix socket path. Created 0700; refused when it is not a private directory of ours.
 */
export function controlDir(): string {
  const preferred = join(resolve(skyhopHome()), 'ssh', 'cm');
  if (Buffer.byteLength(preferred) <= MAX_CONTROL_DIR) return ensurePrivateDir(preferred, true);
  const uid = process.getuid?.() ?? 0;
  ensurePrivateDir(`/tmp/skyhop-${uid}`, true);
  return ensurePrivateDir(`/tmp/skyhop-${uid}/cm`, true);
}

export function ensurePrivateDir(dir: string, strict: boolean): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!strict) return dir;
  const st = lstatSync(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o077) !== 0) {
    throw new CloudError(
      `The SSH control directory ${dir} is not a private directory of this user (mode 0700); remove it and retry.`,
    );
  }
  return dir;
}

export function withoutMuxNoise(text: string): string {
  return text
    .split(/(?<=\n)/)
    .filter((l) => !MUX_NOISE.test(l.replace(/\n$/, '')))
    .join('');
}

/** The most telling line of ssh's stderr (its multiplexing notices left out). */
export function sshErrorLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !MUX_NOISE.test(l));
  return lines[lines.length - 1] ?? '';
}

export interface Collected {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a program to its end, collecting its output; code -1 when it could not be started. */
export function execFileCollect(
  file: string,
  args: string[],
  opts: { stdin?: string; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<Collected> {
  return new Promise((resolveRun) => {
    const child = spawn(file, args, {
      detached: true,
      stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (c: string) => {
      stdout += c;
    });
    child.stderr!.on('data', (c: string) => {
      stderr = (stderr + c).slice(-65536);
    });
    if (opts.stdin !== undefined && child.stdin) {
      child.stdin.on('error', () => {});
      child.stdin.end(opts.stdin);
    }
    if (opts.timeoutMs) {
      timer = setTimeout(() => {
        stderr += `\n${file} timed out after ${opts.timeoutMs} ms`;
        try {
          child.kill('SIGKILL');
        } catch {
          // gone
        }
      }, opts.timeoutMs);
    }
    const onAbort = () => {
      try {
        child.kill('SIGKILL');
      } catch {
        // gone
      }
    };
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (err) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      resolveRun({ code: -1, stdout, stderr: `cannot run ${file}: ${err.message}` });
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      resolveRun({ code: code ?? (sig ? 255 : -1), stdout, stderr });
    });
  });
}
