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
 * `connect()` (awaited by the first command) takes a live master as it is (no round trip); else it
 * runs `true` on the node and retries connection failures
 * (exit 255 with "Connection refused", "timed out", "No route to host", a closed banner exchange, ...)
 * with backoff until a deadline (60 s by default), so a node whose sshd is still coming up is waited
 * for. Authentication and host-key failures are not retried. A command is never run twice: only a
 * session that failed before the command started (neither start line seen) is tried again (once,
 * after connect() again).
 *
 * A command runs as `bash --noprofile --norc -c <command>` (like LocalRunner) under a small bash
 * wrapper that the node user's login shell execs (`remoteScript` in ssh/session.ts):
 *   [read the environment from stdin and export it]; export the run marker; cd -- <cwd> || exit 1;
 *   print <token>:start (stdout and stderr);
 *   bash --noprofile --norc -c <command>; c=$?; print <token>:<c> (stderr); exit $c
 * - Output: only what comes after the start lines is the command's; what comes before (the login
 *   shell's rc files, ssh's own notices) is dropped, and shown only when the command did not start.
 *   The exit line is taken out of stderr. The token is random per command and never appears whole
 *   in the script's text.
 * - Environment: the node's login environment (whatever sshd and the user's shell set up), then
 *   `opts.env`, then the marker `SKYHOP_RUN_ID=<unique id>` (not overridable). `opts.env` travels
 *   on stdin, never in the script: the script is an argument of the local ssh and of bash on the
 *   node, and every user of either machine can read a process's arguments (`/proc/PID/cmdline`),
 *   while env values are often secrets. The session writes `export K=V` lines (src/util/shell.ts)
 *   and a NUL byte first; the wrapper reads up to the NUL with bash's `read` (one byte at a time
 *   from a pipe, so nothing after it is taken) and evaluates them; `opts.stdin` (or the upload's
 *   file) follows for the command.
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
 * `stopMaster()` asks the master to stop (`ssh -O stop`): it takes no new sessions and exits when
 * the sessions on it (of this runner or any other) have ended; the next command opens a new one.
 * (`-O exit` would cut the sessions of other runners sharing the master, e.g. the agent's.)
 * `close()` only forgets this runner's connection: the master outlives it (ControlPersist).
 *
 * The parts, composed here:
 * - src/runtime/ssh/target.ts: the checked connection, its control socket and every ssh argv;
 * - src/runtime/ssh/master.ts: the control master (connect with retries, reuse, stop);
 * - src/runtime/ssh/session.ts: one command's ssh session, a state machine (start and exit lines,
 *   timeout/abort, kill by run marker, what a lost session means);
 * - src/runtime/ssh/transfer.ts: upload (one session) and syncDir (rsync).
 */
import type { CommandRunner, RunOptions, RunResult } from './types.js';
import { ControlMaster } from './ssh/master.js';
import {
  ABORT_EXIT_CODE,
  CommandSession,
  prepareCommand,
  type SessionOptions,
  type SessionOutcome,
  TIMEOUT_EXIT_CODE,
} from './ssh/session.js';
import { type SshConnection, SshTarget } from './ssh/target.js';
import { syncDir, upload } from './ssh/transfer.js';

export { masterAlive } from './ssh/master.js';
export { ABORT_EXIT_CODE, RUN_MARKER, TIMEOUT_EXIT_CODE } from './ssh/session.js';
export { controlDir, type SshConnection } from './ssh/target.js';
export { rsyncFilterRules } from './ssh/transfer.js';

export interface SshRunnerOptions {
  /** How long `connect()` keeps retrying connection failures (ms, default 60 000). */
  connectDeadlineMs?: number;
  /** ControlPersist: how long an idle master stays up (s, default 120). */
  controlPersistS?: number;
}

const DEFAULT_CONNECT_DEADLINE_MS = 60_000;
const DEFAULT_PERSIST_S = 120;

export class SshRunner implements CommandRunner {
  readonly connection: SshConnection;
  private readonly target: SshTarget;
  private readonly master: ControlMaster;

  constructor(connection: SshConnection, opts: SshRunnerOptions = {}) {
    this.target = new SshTarget(connection, opts.controlPersistS ?? DEFAULT_PERSIST_S);
    this.connection = connection;
    this.master = new ControlMaster(this.target, opts.connectDeadlineMs ?? DEFAULT_CONNECT_DEADLINE_MS);
  }

  /** `user@host:port`, for messages. */
  get where(): string {
    return this.target.where;
  }

  /** The control socket of this node's master (its directory is created, private). */
  controlPath(): string {
    return this.target.controlPath();
  }

  /** ssh's options (everything but the host and the remote command). */
  sshOptions(connectTimeoutS?: number): string[] {
    return this.target.sshOptions(connectTimeoutS);
  }

  /** The full argv of an ssh call to this node (no tty), with `remoteCommand` as ssh's command. */
  sshArgv(remoteCommand?: string, connectTimeoutS?: number): string[] {
    return this.target.sshArgv(remoteCommand, connectTimeoutS);
  }

  /** Open (or reuse) the control master (src/runtime/ssh/master.ts); `signal` gives up waiting. */
  connect(signal?: AbortSignal): Promise<void> {
    return this.master.connect(signal);
  }

  run(command: string, opts: RunOptions = {}): Promise<RunResult> {
    return this.runWith(command, opts);
  }

  /**
   * A command: wait for the connection, then one session (src/runtime/ssh/session.ts). A session
   * that failed before the command started (the master went away, the node is restarting) is safe
   * to try again once, after connect() has waited for the node. A timeout or abort while connecting
   * ends the wait at once (nothing ran); during a session, the session kills the command.
   */
  private async runWith(command: string, opts: SessionOptions): Promise<RunResult> {
    if (opts.signal?.aborted) return { code: ABORT_EXIT_CODE, stdout: '', stderr: '' };
    const prepared = prepareCommand(this.where, command, opts);
    const timeoutNote = () => `command timed out after ${opts.timeoutMs} ms on ${this.where}\n`;
    const limit = new CommandLimit(opts);
    try {
      for (let retries = 1; ; retries--) {
        try {
          await this.master.connect(limit.signal);
        } catch (e) {
          if (limit.forced === null) throw e;
        }
        if (limit.forced !== null) return limit.resultBeforeStart(timeoutNote);
        const outcome = await limit.during(new CommandSession(this.target, prepared, opts, timeoutNote));
        if ('result' in outcome) return outcome.result;
        this.master.forget();
        if (retries === 0 || limit.forced !== null) throw outcome.notStarted;
      }
    } finally {
      limit.dispose();
    }
  }

  /** Copy one local file to a path on the node through one session (src/runtime/ssh/transfer.ts). */
  upload(localPath: string, remotePath: string, opts: { mode?: number } = {}): Promise<void> {
    const runWithFile = (script: string, stdinFile: string) => this.runWith(script, { stdinFile });
    return upload(this.target, runWithFile, localPath, remotePath, opts);
  }

  /** Make remoteDir a copy of localDir with rsync over the master (src/runtime/ssh/transfer.ts). */
  syncDir(
    localDir: string,
    remoteDir: string,
    opts: { exclude?: string[]; delete?: boolean } = {},
  ): Promise<void> {
    return syncDir(this.target, this.master, localDir, remoteDir, opts);
  }

  /**
   * Releases what this runner holds. The control master stays up for ControlPersist seconds, so
   * the next command (in this process or the next CLI call) skips the connection set-up; use
   * `stopMaster()` to end it now.
   */
  async close(): Promise<void> {
    this.master.forget();
  }

  /** Ends the shared control master once its running sessions finish (`ssh -O stop`). */
  stopMaster(): Promise<void> {
    return this.master.stop();
  }
}

/**
 * A command's timeout and abort signal as one: the first to fire sets `forced` (124 or 130), aborts
 * `signal` (which ends a wait for the connection) and kills the session in progress, if any.
 */
class CommandLimit {
  forced: number | null = null;
  private readonly ac = new AbortController();
  private readonly timer: NodeJS.Timeout | undefined;
  private session: CommandSession | null = null;
  private readonly onAbort = () => this.force(ABORT_EXIT_CODE);

  constructor(private readonly opts: RunOptions) {
    opts.signal?.addEventListener('abort', this.onAbort, { once: true });
    if (opts.timeoutMs !== undefined && opts.timeoutMs > 0) {
      this.timer = setTimeout(() => this.force(TIMEOUT_EXIT_CODE), opts.timeoutMs);
    }
  }

  get signal(): AbortSignal {
    return this.ac.signal;
  }

  /** The session's outcome; forcing meanwhile kills it. */
  async during(session: CommandSession): Promise<SessionOutcome> {
    this.session = session;
    try {
      return await session.done;
    } finally {
      this.session = null;
    }
  }

  /** The result of a command forced before any session started: nothing ran. */
  resultBeforeStart(timeoutNote: () => string): RunResult {
    const code = this.forced ?? ABORT_EXIT_CODE;
    let stderr = '';
    if (code === TIMEOUT_EXIT_CODE) {
      if (this.opts.onStderr) this.opts.onStderr(timeoutNote());
      else stderr = timeoutNote();
    }
    return { code, stdout: '', stderr };
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.opts.signal?.removeEventListener('abort', this.onAbort);
  }

  private force(code: number): void {
    if (this.forced !== null) return;
    this.forced = code;
    this.ac.abort();
    this.session?.kill(code);
  }
}
