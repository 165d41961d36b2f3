/**
 * The runner for nodes reached over SSH (`Connection {kind: 'ssh'}`), built on the OpenSSH client
 * (`ssh`) and `rsync`; no SSH library.
 *
 * Connection: every ssh call uses `-F /dev/null` (neither the user's ~/.ssh/config nor
 * /etc/ssh/ssh_config can change it), the cluster's key only (`-i keyPath`, IdentitiesOnly, no agent),
 * the cluster's known_hosts (accept-new; `$SKYHOP_HOME/ssh/known_hosts` when the connection names
 * none), BatchMode, a curve25519 key exchange (measurably faster here than the default post-quantum
 * one), keep-alives, and a shared control master (ControlMaster=auto, ControlPersist 120 s) whose
 * socket lives in `$SKYHOP_HOME/ssh/cm/` (or `/tmp/skyhop-<uid>/cm/` when that path would be too long
 * for a unix socket). Later commands, in this process or another one within ControlPersist, ride on
 * the master. When the node refuses another session on it (sshd's MaxSessions, 10 by default), ssh
 * opens a separate connection by itself.
 *
 * `connect()` (awaited by the first command) runs `true` on the node and retries connection failures
 * (exit 255 with "Connection refused", "timed out", "No route to host", a closed banner exchange, ...)
 * with backoff until a deadline (60 s by default), so a node whose sshd is still coming up is waited
 * for. Authentication and host-key failures are not retried. A command is never run twice: only a
 * session that failed before the command started is tried again (once, after connect() again).
 *
 * A command runs as `bash --noprofile --norc -c <command>` (like LocalRunner) under a small bash
 * wrapper that the node user's login shell execs (see `remoteScript`):
 *   exports; cd -- <cwd> || exit 1; print <token>:start (stdout and stderr);
 *   bash --noprofile --norc -c <command>; c=$?; print <token>:<c> (stderr); exit $c
 * - Output: only what comes after the start lines is the command's; what comes before (the login
 *   shell's rc files, ssh's own notices) is dropped, and shown only when the command did not start.
 *   The exit line is taken out of stderr. The token is random per command and never appears whole
 *   in the script's text.
 * - Environment: the node's login environment (whatever sshd and the user's shell set up), then
 *   `opts.env` as `export K=V` lines, then the marker `SKYHOP_RUN_ID=<unique id>` (not overridable).
 * - cwd: default the node's HOME; `~/x` and relative paths are under HOME; a missing directory gives
 *   exit code 1, as on a local node.
 * - Exit status: the command's own (128+N when killed by signal N). Like LocalRunner, the result
 *   comes 200 ms after the command has exited even when background children still hold its output
 *   open (the local ssh is then ended; the children keep running on the node, their output is lost).
 * - A session that ends after the start but without the exit line (connection lost, node gone,
 *   wrapper killed) rejects with a CloudError: the command's fate is unknown.
 * - Timeout / abort (codes 124 / 130): the command's processes on the node are killed by their
 *   marker (`killByMarkerShell('SKYHOP_RUN_ID', id)`, over a new session on the master: every process
 *   the command started, `setsid nohup` ones included, unless they cleared their environment), and
 *   the local ssh is ended; the result comes after that kill. Ending ssh alone would not stop a
 *   remote command (without a tty, sshd sends no signal when a session ends). When the node cannot
 *   be reached for the kill, the command may go on running there; a note on stderr says so.
 *
 * Files: `upload` streams the file through one session (`cat` into a temp file, chmod, rename;
 * parents created). `syncDir` runs `rsync -rlpt` over the same ssh options (so over the master),
 * with protected arguments (`-s`: remote paths are never parsed by a shell) and `mkdir -p` of the
 * destination through `--rsync-path`; it leaves out what `.skyignore` (else `.gitignore`) and
 * `exclude` name, read by src/runtime/sync.ts's `ignorePatterns` and translated to rsync filter
 * rules (`rsyncFilterRules`) with the same meaning as LocalRunner's `mirrorDir`.
 *
 * `close()` asks the master to stop (`ssh -O stop`): it takes no new sessions and exits when the
 * sessions on it (of this runner or any other) have ended; the next command opens a new one.
 * (`-O exit` would cut the sessions of other runners sharing the master, e.g. the agent's.)
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, lstatSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createConnection } from 'node:net';
import type { Connection } from '../core/cluster.js';
import { CloudError, UserError } from '../util/errors.js';
import { skyhopHome } from '../util/paths.js';
import { sleep } from '../util/sleep.js';
import { shExports, shPath, shq } from '../util/shell.js';
import { killByMarkerShell } from './procs.js';
import { ignorePatterns, parseIgnore } from './sync.js';
import type { CommandRunner, RunOptions, RunResult } from './types.js';

export type SshConnection = Extract<Connection, { kind: 'ssh' }>;

export interface SshRunnerOptions {
  /** How long `connect()` keeps retrying connection failures (ms, default 60 000). */
  connectDeadlineMs?: number;
  /** ControlPersist: how long an idle master stays up (s, default 120). */
  controlPersistS?: number;
}

/** The marker every command's processes carry on the node (see the file comment). */
export const RUN_MARKER = 'SKYHOP_RUN_ID';
export const TIMEOUT_EXIT_CODE = 124;
export const ABORT_EXIT_CODE = 130;
const DEFAULT_CONNECT_DEADLINE_MS = 60_000;
const DEFAULT_PERSIST_S = 120;
const CONNECT_TIMEOUT_S = 10;
/** After the command has exited on the node, how long to wait for ssh to end by itself. */
const DRAIN_MS = 200;
const KILL_GRACE_MS = 2000;
const REMOTE_KILL_TIMEOUT_MS = 10_000;
/** Linux's limit on one command-line argument (MAX_ARG_STRLEN, 128 KiB), with room to spare. */
const MAX_ARG_BYTES = 128 * 1024 - 64;
/** Key exchanges without the (slower) post-quantum hybrid; curve25519 first. */
const KEX = 'curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,diffie-hellman-group14-sha256';
/** Hex characters of a control socket's name (a hash of the connection). */
const CONTROL_NAME_LEN = 20;
/**
 * Longest control-socket directory: ssh binds `<path>.<16 random chars>` first, and the whole socket
 * path must stay under 100 bytes (the kernel's limit is 107).
 */
const MAX_CONTROL_DIR = 100 - 1 - CONTROL_NAME_LEN - 17 - 1;

/** ssh's own failures that mean "not reachable (yet)": worth another try while a node boots. */
const RETRYABLE =
  /Connection refused|Connection timed out|timed out|No route to host|Network is unreachable|Connection reset|kex_exchange_identification|banner exchange|Connection closed by|closed by remote host|Broken pipe|Temporary failure in name resolution/i;

/** ssh's notices about falling back from a refused multiplexed session to its own connection. */
const MUX_NOISE =
  /^(?:mux_client_[a-z_]+: .*|ControlSocket .* already exists, disabling multiplexing|Control socket connect\(.*\): .*)\r?$/;

interface PreparedCommand {
  runId: string;
  token: string;
  script: string;
}

/** run()'s options plus, for upload, a file streamed to the command's stdin. */
type SessionOptions = RunOptions & { stdinFile?: string };

interface ConnectState {
  promise: Promise<void>;
  ac: AbortController;
  /** Callers still waiting for this attempt. */
  waiters: number;
}

export class SshRunner implements CommandRunner {
  readonly connection: SshConnection;
  private readonly connectDeadlineMs: number;
  private readonly persistS: number;
  private connectState: ConnectState | null = null;
  private controlPathCache: string | null = null;

  constructor(connection: SshConnection, opts: SshRunnerOptions = {}) {
    checkConnection(connection);
    this.connection = connection;
    this.connectDeadlineMs = opts.connectDeadlineMs ?? DEFAULT_CONNECT_DEADLINE_MS;
    this.persistS = opts.controlPersistS ?? DEFAULT_PERSIST_S;
  }

  /** `user@host:port`, for messages. */
  get where(): string {
    const c = this.connection;
    return `${c.user}@${c.host}:${c.port}`;
  }

  private get knownHostsPath(): string {
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

  /**
   * Open (or reuse) the control master: runs `true` on the node, retrying connection failures with
   * backoff until the connect deadline. Concurrent callers share one attempt; when every caller has
   * given up (`signal`), the attempt stops; a failed attempt is forgotten, so the next call tries again.
   */
  connect(signal?: AbortSignal): Promise<void> {
    let st = this.connectState;
    if (!st) {
      const ac = new AbortController();
      const fresh: ConnectState = { ac, waiters: 0, promise: Promise.resolve() };
      fresh.promise = this.connectWithRetries(ac.signal).catch((e) => {
        if (this.connectState === fresh) this.connectState = null;
        throw e;
      });
      fresh.promise.catch(() => {}); // handled by the waiters
      this.connectState = fresh;
      st = fresh;
    }
    const state = st;
    state.waiters++;
    return new Promise<void>((resolveConnect, rejectConnect) => {
      let left = false;
      const leave = () => {
        if (left) return false;
        left = true;
        signal?.removeEventListener('abort', onAbort);
        state.waiters--;
        return true;
      };
      const onAbort = () => {
        if (!leave()) return;
        if (state.waiters === 0) {
          if (this.connectState === state) this.connectState = null; // the next caller starts afresh
          state.ac.abort();
        }
        rejectConnect(new CloudError(`Connecting to ${this.where} was cancelled.`));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      state.promise.then(
        () => {
          if (leave()) resolveConnect();
        },
        (e) => {
          if (leave()) rejectConnect(e);
        },
      );
    });
  }

  private async connectWithRetries(signal: AbortSignal): Promise<void> {
    const key = resolve(this.connection.keyPath);
    if (!statSync(key, { throwIfNoEntry: false })?.isFile()) {
      throw new CloudError(
        `Cannot connect to ${this.where}: its SSH key ${key} does not exist; the cluster's key may have been removed (see $SKYHOP_HOME/keys).`,
      );
    }
    ensurePrivateDir(dirname(this.knownHostsPath), false);
    // A live control master (this process's or another's, within ControlPersist) is a connection
    // already made: the commands ride on it, so no `ssh true` round trip is needed to open one.
    if (await masterAlive(this.controlPath())) return;
    const start = Date.now();
    const deadline = start + this.connectDeadlineMs;
    let delay = 100;
    let tries = 0;
    for (;;) {
      tries++;
      const left = deadline - Date.now();
      const timeoutS = Math.max(1, Math.min(CONNECT_TIMEOUT_S, Math.ceil(left / 1000)));
      const r = await execFileCollect('ssh', this.sshArgv('true', timeoutS), {
        timeoutMs: timeoutS * 1000 + 20_000,
        signal,
      });
      if (r.code === 0) return;
      if (signal.aborted) throw new CloudError(`Connecting to ${this.where} was cancelled.`);
      const line = sshErrorLine(r.stderr);
      if (r.code !== 255) {
        throw new CloudError(
          `Connected to ${this.where} but its login shell failed (exit code ${r.code}${line ? `: ${line}` : ''}); check the node's shell and rc files.`,
        );
      }
      if (/Permission denied|Too many authentication failures/i.test(r.stderr)) {
        throw new CloudError(
          `Cannot log in to ${this.where}: the node refused the key ${this.connection.keyPath} (${line}); check that the cluster's public key is authorized for ${this.connection.user} on the node.`,
        );
      }
      if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/i.test(r.stderr)) {
        throw new CloudError(
          `The host key of ${this.where} differs from the one recorded in ${this.knownHostsPath}; if the node was re-created, remove its line ([${this.connection.host}]:${this.connection.port}) from that file and retry.`,
        );
      }
      if (!RETRYABLE.test(r.stderr) || Date.now() + delay > deadline) {
        const waited = Math.round((Date.now() - start) / 1000);
        throw new CloudError(
          `Cannot reach ${this.where} over SSH${tries > 1 ? ` (${tries} tries in ${waited} s)` : ''}: ${line || `ssh exit code ${r.code}`}; check that the node is running and its SSH port is open.`,
        );
      }
      await sleep(delay, signal).catch(() => {}); // an abort ends the wait; checked next
      if (signal.aborted) throw new CloudError(`Connecting to ${this.where} was cancelled.`);
      delay = Math.min(Math.round(delay * 1.5), 1000);
    }
  }

  run(command: string, opts: RunOptions = {}): Promise<RunResult> {
    return this.runWith(command, opts);
  }

  private runWith(command: string, opts: SessionOptions): Promise<RunResult> {
    if (opts.signal?.aborted) return Promise.resolve({ code: ABORT_EXIT_CODE, stdout: '', stderr: '' });
    let prepared: PreparedCommand;
    try {
      prepared = this.prepare(command, opts);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<RunResult>((resolvePromise, reject) => {
      let settled = false;
      let forced: number | null = null;
      let timeoutTimer: NodeJS.Timeout | undefined;
      let killSession: ((code: number) => void) | null = null;
      const connectAc = new AbortController(); // cancels this command's wait for the connection
      const timeoutNote = () => `command timed out after ${opts.timeoutMs} ms on ${this.where}\n`;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timeoutTimer);
        opts.signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const force = (code: number) => {
        if (forced !== null) return;
        forced = code;
        if (killSession) return killSession(code);
        // Still connecting: nothing runs on the node yet.
        connectAc.abort();
        let stderr = '';
        if (code === TIMEOUT_EXIT_CODE) {
          if (opts.onStderr) opts.onStderr(timeoutNote());
          else stderr = timeoutNote();
        }
        settle(() => resolvePromise({ code, stdout: '', stderr }));
      };
      const onAbort = () => force(ABORT_EXIT_CODE);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      if (opts.timeoutMs !== undefined && opts.timeoutMs > 0) {
        timeoutTimer = setTimeout(() => force(TIMEOUT_EXIT_CODE), opts.timeoutMs);
      }
      const fail = (e: unknown) => settle(() => reject(e));

      // A session that failed before the command started (the master went away, the node is
      // restarting) is safe to try again once, after connect() has waited for the node.
      const attempt = (retries: number) => {
        this.connect(connectAc.signal).then(() => {
          if (settled) return;
          let session: ReturnType<SshRunner['startSession']>;
          try {
            session = this.startSession(prepared, opts, timeoutNote);
          } catch (e) {
            return fail(e);
          }
          killSession = session.kill;
          if (forced !== null) session.kill(forced);
          session.done.then((out) => {
            if (out.result) return settle(() => resolvePromise(out.result!));
            this.connectState = null;
            if (retries > 0 && forced === null && !settled) {
              killSession = null;
              return attempt(retries - 1);
            }
            fail(out.error);
          }, fail);
        }, fail);
      };
      attempt(1);
    });
  }

  /** The command's remote script, its run marker and token (a retried session reuses them). */
  private prepare(command: string, opts: RunOptions): PreparedCommand {
    const runId = `${process.pid}-${randomBytes(8).toString('hex')}`;
    const token = randomBytes(16).toString('hex');
    const script = remoteScript(command, opts, runId, token);
    if (Buffer.byteLength(script) > MAX_ARG_BYTES) {
      // One argument of a command line (here and on the node) is limited to 128 KiB by Linux.
      throw new CloudError(
        `Cannot run a command of ${Buffer.byteLength(command)} bytes on ${this.where}: too long for a command line; pass large data through stdin or a file.`,
      );
    }
    return { runId, token, script };
  }

  /**
   * One command's ssh session (the connection is up). Resolves with the command's result, or with
   * an error when the session ended before the command started (nothing ran).
   */
  private startSession(
    prepared: PreparedCommand,
    opts: SessionOptions,
    timeoutNote: () => string,
  ): { done: Promise<{ result?: RunResult; error?: CloudError }>; kill: (code: number) => void } {
    const { runId, token, script } = prepared;
    let kill: (code: number) => void = () => {};
    const done = new Promise<{ result?: RunResult; error?: CloudError }>((resolveDone, rejectDone) => {
      const child = spawn('ssh', this.sshArgv(script), {
        detached: true, // not in the terminal's process group: Ctrl-C reaches skyhop, which decides
        stdio: [opts.stdin === undefined && !opts.stdinFile ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      let exitCode: number | null = null;
      let remoteCode: number | null = null;
      let forced: number | null = null;
      let remoteKill: Promise<string> | null = null;
      let stdinError: Error | null = null;
      let settled = false;
      let drainTimer: NodeJS.Timeout | undefined;
      let killTimer: NodeJS.Timeout | undefined;

      const emitErr = (s: string) => {
        if (!s) return;
        if (opts.onStderr) opts.onStderr(s);
        else stderr += s;
      };
      const out = new MarkedStream(token, (s) => {
        if (!s) return;
        if (opts.onStdout) opts.onStdout(s);
        else stdout += s;
      });
      const err = new MarkedStream(token, emitErr, (code) => {
        remoteCode = code;
        // The command has exited; give ssh a moment to end by itself (it waits while background
        // children hold the output open), then end it.
        clearTimeout(drainTimer);
        drainTimer = setTimeout(() => endLocal(), DRAIN_MS);
      });
      child.stdout!.setEncoding('utf8');
      child.stderr!.setEncoding('utf8');
      let sawOutput = false;
      child.stdout!.on('data', (c: string) => {
        sawOutput = true;
        out.push(c);
      });
      child.stderr!.on('data', (c: string) => err.push(c));
      if (child.stdin) {
        child.stdin.on('error', () => {}); // the command may exit without reading its input
        if (opts.stdinFile) {
          const file = createReadStream(opts.stdinFile);
          file.on('error', (e) => {
            stdinError = e;
            endLocal();
          });
          file.pipe(child.stdin);
        } else child.stdin.end(opts.stdin);
      }

      const endLocal = () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
      };

      kill = (code: number) => {
        if (forced !== null || remoteCode !== null || settled) return;
        forced = code;
        // Kill by the run marker on the node. The command's start marker comes on stderr and its
        // output on stdout, two pipes with no order between them, so output seen means started
        // too. Not seen started, the command may still be starting: kill anyway, and say nothing
        // if that fails (there was likely nothing to kill).
        if (err.started || sawOutput) remoteKill = this.killRemote(runId);
        else remoteKill = this.killRemote(runId).then(() => '');
        endLocal();
      };

      const finish = async () => {
        if (settled) return;
        settled = true;
        clearTimeout(drainTimer);
        clearTimeout(killTimer);
        child.stdout!.destroy();
        child.stderr!.destroy();
        out.flush();
        err.flush();
        if (stdinError) {
          return rejectDone(new Error(`cannot read ${opts.stdinFile}: ${stdinError.message}`));
        }
        if (forced !== null) {
          const note = remoteKill ? await remoteKill : '';
          if (forced === TIMEOUT_EXIT_CODE) emitErr(timeoutNote());
          emitErr(note);
          return resolveDone({ result: { code: forced, stdout, stderr } });
        }
        if (remoteCode !== null) return resolveDone({ result: { code: remoteCode, stdout, stderr } });
        if (!err.started && exitCode !== null && exitCode !== 255) {
          // The wrapper ended before the command ran (`cd` failed, no bash on the node): what the
          // node printed is the explanation.
          emitErr(withoutMuxNoise(err.preamble));
          return resolveDone({ result: { code: exitCode, stdout, stderr } });
        }
        const line = sshErrorLine(err.preamble || err.tail);
        const e = new CloudError(
          err.started
            ? `The SSH session to ${this.where} ended before the command reported its exit status${line ? ` (${line})` : ''}; the node may have gone away or the connection dropped.`
            : `Cannot start a command on ${this.where} over SSH${line ? `: ${line}` : ''}; check that the node is running.`,
        );
        if (err.started) rejectDone(e);
        else resolveDone({ error: e });
      };

      child.on('error', (e) => {
        if (settled) return;
        settled = true;
        clearTimeout(drainTimer);
        clearTimeout(killTimer);
        rejectDone(
          new CloudError(
            `Cannot run ssh for ${this.where}: ${e.message}; install the OpenSSH client (scripts/install-deps.sh).`,
          ),
        );
      });
      child.on('exit', (code, sig) => {
        exitCode = code ?? (sig ? 255 : null);
        clearTimeout(killTimer);
        clearTimeout(drainTimer); // the exit line's timer, if any: one pending timer at a time
        drainTimer = setTimeout(() => void finish(), DRAIN_MS);
      });
      child.on('close', () => void finish());
    });
    return { done, kill: (code) => kill(code) };
  }

  /** Kill every process of one command on the node; resolves with a note for stderr ('' when done). */
  private async killRemote(runId: string): Promise<string> {
    try {
      const r = await execFileCollect('ssh', this.sshArgv(killByMarkerShell(RUN_MARKER, runId)), {
        timeoutMs: REMOTE_KILL_TIMEOUT_MS,
      });
      if (r.code === 0) return '';
      return `could not stop the command on ${this.where} (${sshErrorLine(r.stderr) || `exit code ${r.code}`}); it may still be running there\n`;
    } catch (e) {
      return `could not stop the command on ${this.where} (${(e as Error).message}); it may still be running there\n`;
    }
  }

  /**
   * Copy one file over one session on the master: streamed into a temp file next to the destination
   * (`cat`), given its mode, then renamed over it; parents are created. (Not rsync: one rsync run
   * costs ~50 ms more here, mostly its own waits, and a single file gains nothing from it.)
   */
  async upload(localPath: string, remotePath: string, opts: { mode?: number } = {}): Promise<void> {
    const st = statSync(localPath, { throwIfNoEntry: false });
    if (!st?.isFile()) throw new Error(`not a file: ${localPath}`);
    const mode = ((opts.mode ?? st.mode) & 0o7777).toString(8).padStart(4, '0');
    const dest = remotePath.replace(/\/+$/, '');
    if (dest === '' || dest === '~') throw new Error(`upload needs a file path, got ${remotePath}`);
    const d = shPath(dest);
    const script = [
      'set -e',
      `mkdir -p -- ${shPath(parentOf(dest))}`,
      `if [ -d ${d} ]; then echo ${shq(`${remotePath}: is a directory`)} >&2; exit 1; fi`,
      `t=${d}.skyhop-upload-$$`,
      `trap 'rm -f -- "$t"' EXIT`,
      'cat > "$t"',
      `chmod ${mode} -- "$t"`,
      `mv -f -- "$t" ${d}`,
      'trap - EXIT',
    ].join('\n');
    const res = await this.runWith(script, { stdinFile: resolve(localPath) });
    if (res.code !== 0) {
      const line = res.stderr.trim().split('\n').pop() || `exit code ${res.code}`;
      throw new CloudError(`Cannot upload ${localPath} to ${this.where}:${remotePath}: ${line}`);
    }
  }

  async syncDir(
    localDir: string,
    remoteDir: string,
    opts: { exclude?: string[]; delete?: boolean } = {},
  ): Promise<void> {
    const st = statSync(localDir, { throwIfNoEntry: false });
    if (!st?.isDirectory()) throw new Error(`not a directory: ${localDir}`);
    const rules = rsyncFilterRules([...ignorePatterns(localDir).patterns, ...(opts.exclude ?? [])]);
    const dest = rsyncRemotePath(remoteDir);
    await this.connect();
    await this.rsync(
      [
        '-rlpt',
        ...(opts.delete ? ['--delete'] : []),
        '--exclude-from=-',
        `--rsync-path=${mkdirThenRsync(remoteDir)}`,
        '--',
        `${resolve(localDir)}/`,
        `${this.rsyncHost()}:${dest === '.' ? './' : `${dest.replace(/\/+$/, '')}/`}`,
      ],
      `${rules.join('\n')}\n`,
      `sync ${localDir} to ${this.where}:${remoteDir}`,
    );
  }

  private rsyncHost(): string {
    const h = this.connection.host;
    return h.includes(':') ? `[${h}]` : h;
  }

  private async rsync(args: string[], stdin: string | undefined, what: string): Promise<void> {
    const e = ['ssh', ...this.sshOptions()].map(rsyncArgQuote).join(' ');
    const r = await execFileCollect('rsync', ['-s', '-e', e, ...args], { stdin });
    if (r.code === 0) return;
    if (r.code === -1) throw new CloudError(`Cannot ${what}: ${r.stderr.trim()}; install rsync.`);
    const err = r.stderr
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !MUX_NOISE.test(l));
    const first = err.find((l) => !/^rsync error:|^rsync: connection unexpectedly closed/.test(l)) ?? err[0];
    const hint = /command not found|rsync: not found|No such file or directory.*rsync/.test(r.stderr)
      ? '; is rsync installed on the node?'
      : '';
    throw new CloudError(`Cannot ${what}: ${first || `rsync exit code ${r.code}`}${hint}`, {
      details: err.slice(-5),
    });
  }

  /** Ask the master to stop: no new sessions; it exits when the sessions on it have ended. */
  /**
   * Releases what this runner holds. The control master stays up for ControlPersist seconds, so
   * the next command (in this process or the next CLI call) skips the connection set-up; use
   * `stopMaster()` to end it now.
   */
  async close(): Promise<void> {
    this.connectState = null;
  }

  /** Ends the shared control master once its running sessions finish (`ssh -O stop`). */
  async stopMaster(): Promise<void> {
    this.connectState = null;
    let path: string;
    try {
      path = this.controlPath();
    } catch {
      return;
    }
    if (!lstatSync(path, { throwIfNoEntry: false })) return;
    await execFileCollect('ssh', [...this.sshOptions(), '-O', 'stop', this.connection.host], {
      timeoutMs: 10_000,
    });
  }
}

/** The script the node's login shell runs for one command (see the file comment). */
function remoteScript(command: string, opts: RunOptions, runId: string, token: string): string {
  const cwd = opts.cwd === undefined || opts.cwd === '' ? '~' : opts.cwd;
  // The marker lines are printed from two halves, so the script's own text never contains them.
  const half = token.length / 2;
  const mark = (what: string) => `printf '%s%s:%s\\n' ${token.slice(0, half)} ${token.slice(half)} ${what}`;
  const lines: string[] = [];
  if (opts.env && Object.keys(opts.env).length > 0) lines.push(shExports(opts.env));
  lines.push(shExports({ [RUN_MARKER]: runId }));
  lines.push(`cd -- ${shPath(cwd)} || exit 1`);
  // The wrapper's own stderr goes quiet (bash reports a command killed by a signal there); the
  // command gets the session's stderr through fd 3.
  lines.push('exec 3>&2 2>/dev/null');
  lines.push(`${mark('start')}; ${mark('start')} >&3`);
  lines.push(`bash --noprofile --norc -c ${shq(command)} 2>&3 3>&-`);
  lines.push('c=$?');
  lines.push(`${mark('"$c"')} >&3`);
  lines.push('exit "$c"');
  return `exec bash --noprofile --norc -c ${shq(lines.join('\n'))}`;
}

/** Most of what the node prints before a command starts that is kept (for error messages). */
const PREAMBLE_MAX = 16 * 1024;

/**
 * One output stream of a session. Everything before the wrapper's start line `<token>:start` is
 * the preamble (ssh's own notices, the login shell's rc files' output): not the command's output,
 * kept aside for error messages. After it, output passes through, except (when `onExit` is given)
 * the exit line `<token>:<code>`, which is taken out; a possible partial one is held back.
 */
class MarkedStream {
  started = false;
  preamble = '';
  /** The last bytes seen after the start (ssh's messages when a session breaks). */
  tail = '';
  private buf = '';
  private ended = false;

  constructor(
    private readonly token: string,
    private readonly emit: (s: string) => void,
    private readonly onExit?: (code: number) => void,
  ) {}

  push(chunk: string): void {
    let s = this.buf + chunk;
    this.buf = '';
    if (!this.started) {
      const start = `${this.token}:start\n`;
      const i = s.indexOf(start);
      if (i === -1) {
        this.buf = s.length > PREAMBLE_MAX ? s.slice(-PREAMBLE_MAX) : s;
        this.preamble = this.buf;
        return;
      }
      this.started = true;
      this.preamble = s.slice(0, i);
      s = s.slice(i + start.length);
    }
    if (this.onExit) this.tail = (this.tail + s).slice(-4096);
    if (!this.onExit || this.ended) {
      this.emit(s);
      return;
    }
    const t = this.token;
    let from = 0;
    for (;;) {
      const i = s.indexOf(t, from);
      if (i === -1) break;
      const rest = s.slice(i + t.length);
      const m = /^:(\d+)\n/.exec(rest);
      if (m) {
        this.ended = true;
        this.emit(s.slice(0, i));
        this.emit(rest.slice(m[0].length));
        this.onExit(Number(m[1]));
        return;
      }
      if (/^(?::\d{0,3})?$/.test(rest)) {
        // possibly the exit line, not complete yet
        this.emit(s.slice(0, i));
        this.buf = s.slice(i);
        return;
      }
      from = i + 1;
    }
    // Hold back the longest end of `s` that could start the token.
    let k = Math.min(t.length - 1, s.length);
    while (k > 0 && !s.endsWith(t.slice(0, k))) k--;
    this.emit(s.slice(0, s.length - k));
    this.buf = s.slice(s.length - k);
  }

  flush(): void {
    if (this.started && this.buf) this.emit(this.buf);
    this.buf = '';
  }
}

/**
 * Translate gitignore-style patterns (the syntax of src/runtime/sync.ts, in file order, last match
 * wins) into rsync filter rules (first match wins) with the same meaning: the order is reversed, `!`
 * becomes an include (`+`), a pattern with a `/` is anchored at the top (`/`), a trailing `/`
 * matches directories only, and because rsync's `**` never matches zero directories, each `**`
 * followed by a slash at the start of a segment also gets a variant without both. Backslash escapes of characters that are
 * not wildcards are removed (rsync compares wildcard-free patterns literally).
 */
export function rsyncFilterRules(patterns: readonly string[]): string[] {
  const out: string[] = [];
  for (const pat of parseIgnore(patterns)) {
    const sign = pat.negate ? '+' : '-';
    const p = pat.glob.replace(/\\([^*?[\\])/g, '$1');
    const rules = starStarVariants(p).map(
      (v) => `${sign} ${pat.anchored ? '/' : ''}${v}${pat.dirOnly ? '/' : ''}`,
    );
    out.push(rules.join('\n'));
  }
  return out.reverse().flatMap((r) => r.split('\n'));
}

/** `p` and its variants with any segment-starting `**` plus slash dropped (most specific first). */
function starStarVariants(p: string): string[] {
  let variants = [p];
  for (let guard = 0; guard < 6; guard++) {
    const next = new Set(variants);
    for (const v of variants) {
      for (let i = v.indexOf('**/'); i !== -1; i = v.indexOf('**/', i + 1)) {
        if (i === 0 || v[i - 1] === '/') next.add(v.slice(0, i) + v.slice(i + 3));
      }
    }
    if (next.size === variants.length) break;
    variants = [...next];
  }
  return variants;
}

/** A node path for rsync's protected (unparsed) arguments: relative paths are under the login dir (HOME). */
function rsyncRemotePath(p: string): string {
  if (p === '~' || p === '' || p === '~/') return '.';
  if (p.startsWith('~/')) p = p.slice(2);
  if (p.startsWith('-')) p = `./${p}`;
  return p;
}

/** The directory part of a node path (`~` when there is none). */
function parentOf(p: string): string {
  const i = p.replace(/\/+$/, '').lastIndexOf('/');
  if (i === -1) return '~';
  if (i === 0) return '/';
  return p.slice(0, i);
}

/** `--rsync-path` value: create `dir` on the node (through its shell, quoted), then run rsync. */
function mkdirThenRsync(dir: string): string {
  const d = dir === '' ? '~' : dir;
  return `mkdir -p -- ${shPath(d)} && rsync`;
}

/** Quote one word of rsync's `-e` command (rsync splits it on spaces and honours ' and " quotes). */
function rsyncArgQuote(a: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a)) return a;
  if (!a.includes("'")) return `'${a}'`;
  if (!a.includes('"')) return `"${a}"`;
  throw new UserError(
    `Cannot pass ${JSON.stringify(a)} to rsync's ssh command: it holds both quote characters.`,
  );
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

function ensurePrivateDir(dir: string, strict: boolean): string {
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

function withoutMuxNoise(text: string): string {
  return text
    .split(/(?<=\n)/)
    .filter((l) => !MUX_NOISE.test(l.replace(/\n$/, '')))
    .join('');
}

/** The most telling line of ssh's stderr (its multiplexing notices left out). */
function sshErrorLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !MUX_NOISE.test(l));
  return lines[lines.length - 1] ?? '';
}

interface Collected {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a program to its end, collecting its output; code -1 when it could not be started. */
function execFileCollect(
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

/**
 * Whether an OpenSSH control master answers on `path`: a connect to its unix socket, closed at once
 * (no ssh process, no remote session). A stale socket file refuses the connection.
 */
export function masterAlive(path: string, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolveAlive) => {
    if (!existsSync(path)) {
      resolveAlive(false);
      return;
    }
    const sock = createConnection(path);
    const done = (alive: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolveAlive(alive);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}
