/**
 * One command's SSH session: one `ssh` process on the control master running the command under a
 * small wrapper (see `remoteScript` and src/runtime/ssh-runner.ts for the contract).
 *
 * The session is a state machine; `step` is its whole logic, a pure function, and `CommandSession`
 * only feeds it the events of the ssh process and carries out the effects it asks for:
 *
 *   waiting ──start line──▶ running ──exit line──▶ exited          (drain: ssh gets 200 ms to end)
 *      │                       │
 *      └───── force ──────┬────┘
 *                         ▼
 *                      killing  (kill by run marker on the node; end the local ssh)
 *
 *   any of them ──fail──▶ failed   (the stdin file cannot be read, ssh cannot run)
 *   any of them ──close─▶ closed, with how the session ended (`SessionEnd`)
 *
 * - The wrapper prints its start line on stdout and on stderr; two pipes with no order between
 *   them, so either one seen means the command started (its output may even come first).
 * - `force` is a timeout or an abort. Before the start line the command may still be starting on
 *   the node: it is killed by its marker all the same, but a failed kill is not reported (there was
 *   likely nothing to kill). After the exit line there is nothing left to kill: ignored.
 * - `close` (ssh ended and its pipes closed, or 200 ms after it exited while background children on
 *   the node still hold them): a session that never started may be tried again (nothing ran); one
 *   that started and gave no exit status is lost (the command's fate is unknown, never retried).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { withoutClientEnv } from '../../util/client-env.js';
import { CloudError } from '../../util/errors.js';
import { shExports, shPath, shq } from '../../util/shell.js';
import { killByMarkerShell } from '../procs.js';
import type { RunOptions, RunResult } from '../types.js';
import { execFileCollect, type SshTarget, sshErrorLine, withoutMuxNoise } from './target.js';

/** The marker every command's processes carry on the node (see src/runtime/ssh-runner.ts). */
export const RUN_MARKER = 'SKYHOP_RUN_ID';
export const TIMEOUT_EXIT_CODE = 124;
export const ABORT_EXIT_CODE = 130;
/** After the command has exited on the node, how long to wait for ssh to end by itself. */
const DRAIN_MS = 200;
const KILL_GRACE_MS = 2000;
const REMOTE_KILL_TIMEOUT_MS = 10_000;
/** Linux's limit on one command-line argument (MAX_ARG_STRLEN, 128 KiB), with room to spare. */
const MAX_ARG_BYTES = 128 * 1024 - 64;
/** Most of what the node prints before a command starts that is kept (for error messages). */
const PREAMBLE_MAX = 16 * 1024;

// ---- the state machine --------------------------------------------------------------------------

export type SessionState =
  /** ssh runs; neither start line has come: as far as we know, nothing of the command ran yet. */
  | { kind: 'waiting' }
  /** A start line came: the command runs on the node. */
  | { kind: 'running' }
  /** The command's exit line came (its status is `code`): ssh is given a moment to end, then ended. */
  | { kind: 'exited'; code: number }
  /**
   * Timed out or aborted (`code` 124 or 130): the command's processes are being killed by its run
   * marker and the local ssh is ended. `quiet`: it was not seen started, so a failed kill is not reported.
   */
  | { kind: 'killing'; code: number; quiet: boolean }
  /** No result can come (the stdin file could not be read, ssh could not run). */
  | { kind: 'failed'; error: Error }
  /** Over: how it ended. */
  | { kind: 'closed'; end: SessionEnd };

export type SessionEvent =
  /** The wrapper's start line, on stdout or stderr. */
  | { type: 'start-line' }
  /** The wrapper's exit line (stderr) with the command's exit status. */
  | { type: 'exit-line'; code: number }
  /** Timeout (124) or abort (130). */
  | { type: 'force'; code: number }
  | { type: 'fail'; error: Error }
  /** ssh is over (its exit status, null when it has not exited: its pipes closed first). */
  | { type: 'close'; sshExit: number | null };

export type SessionEffect =
  /** Give ssh a moment to end by itself (background children may hold its output), then end it. */
  | 'drain'
  /** Kill the command's processes on the node by its run marker (`-quietly`: report no failure). */
  | 'kill-remote'
  | 'kill-remote-quietly'
  /** End the local ssh process (SIGTERM, then SIGKILL). */
  | 'end-local';

export type SessionEnd =
  /** The command exited with `code`. */
  | { kind: 'exit'; code: number }
  /** Timed out or aborted: the result is `code` once the kill on the node is done. */
  | { kind: 'killed'; code: number; quiet: boolean }
  /** The wrapper ended before the command ran (`cd` failed, no bash): what the node printed explains. */
  | { kind: 'wrapper-exit'; code: number }
  /** Nothing ran (ssh failed before the start line): safe to try again. */
  | { kind: 'not-started' }
  /** Started, but the session ended without an exit status: the command's fate is unknown. */
  | { kind: 'lost' }
  | { kind: 'failed'; error: Error };

/** The session's one rule book: the next state for an event, and what to do about it. */
export function step(s: SessionState, e: SessionEvent): { state: SessionState; effects: SessionEffect[] } {
  const stay = { state: s, effects: [] as SessionEffect[] };
  if (s.kind === 'closed') return stay;
  switch (e.type) {
    case 'close':
      return { state: { kind: 'closed', end: endOf(s, e.sshExit) }, effects: [] };
    case 'fail':
      if (s.kind === 'failed') return stay;
      return { state: { kind: 'failed', error: e.error }, effects: ['end-local'] };
    case 'start-line':
      return s.kind === 'waiting' ? { state: { kind: 'running' }, effects: [] } : stay;
    case 'exit-line':
      // The exit line only counts after the start line (the stream reads it only then).
      if (s.kind !== 'waiting' && s.kind !== 'running') return stay;
      return { state: { kind: 'exited', code: e.code }, effects: ['drain'] };
    case 'force':
      if (s.kind !== 'waiting' && s.kind !== 'running') return stay; // first force wins; exited: nothing to kill
      return {
        state: { kind: 'killing', code: e.code, quiet: s.kind === 'waiting' },
        effects: [s.kind === 'waiting' ? 'kill-remote-quietly' : 'kill-remote', 'end-local'],
      };
  }
}

function endOf(s: Exclude<SessionState, { kind: 'closed' }>, sshExit: number | null): SessionEnd {
  switch (s.kind) {
    case 'waiting':
      // 255 is ssh's own failure (the master went away, the node restarts); another code is the wrapper's.
      return sshExit !== null && sshExit !== 255
        ? { kind: 'wrapper-exit', code: sshExit }
        : { kind: 'not-started' };
    case 'running':
      return { kind: 'lost' };
    case 'exited':
      return { kind: 'exit', code: s.code };
    case 'killing':
      return { kind: 'killed', code: s.code, quiet: s.quiet };
    case 'failed':
      return { kind: 'failed', error: s.error };
  }
}

// ---- the command and its wrapper ----------------------------------------------------------------

export interface PreparedCommand {
  runId: string;
  token: string;
  script: string;
  /**
   * What the session writes to ssh's stdin before the command's own input: the environment
   * (`opts.env`) as `export` lines ended by a NUL byte, which the wrapper reads and evaluates. Null
   * when there is no environment to pass. Environment values never go into the script: it is an
   * argument of ssh here and of bash on the node, visible to everyone in `/proc/PID/cmdline`.
   */
  stdinPrefix: string | null;
}

/** The command's remote script, its run marker and token (a retried session reuses them). */
export function prepareCommand(where: string, command: string, opts: RunOptions): PreparedCommand {
  const runId = `${process.pid}-${randomBytes(8).toString('hex')}`;
  const token = randomBytes(16).toString('hex');
  // A node never gets the client's own variables (util/client-env.ts: the state database's URL).
  const env = opts.env === undefined ? undefined : withoutClientEnv(opts.env);
  const hasEnv = env !== undefined && Object.keys(env).length > 0;
  const stdinPrefix = hasEnv ? `${shExports(env)}\0` : null;
  const script = remoteScript(command, opts, runId, token, hasEnv);
  if (Buffer.byteLength(script) > MAX_ARG_BYTES) {
    // One argument of a command line (here and on the node) is limited to 128 KiB by Linux.
    throw new CloudError(
      `Cannot run a command of ${Buffer.byteLength(command)} bytes on ${where}: too long for a command line; pass large data through stdin or a file.`,
    );
  }
  return { runId, token, script, stdinPrefix };
}

/** The script the node's login shell runs for one command (see src/runtime/ssh-runner.ts). */
function remoteScript(
  command: string,
  opts: RunOptions,
  runId: string,
  token: string,
  envOnStdin: boolean,
): string {
  const cwd = opts.cwd === undefined || opts.cwd === '' ? '~' : opts.cwd;
  // The marker lines are printed from two halves, so the script's own text never contains them.
  const half = token.length / 2;
  const mark = (what: string) => `printf '%s%s:%s\\n' ${token.slice(0, half)} ${token.slice(half)} ${what}`;
  const lines: string[] = [];
  if (envOnStdin) {
    // The environment comes first on stdin (see PreparedCommand.stdinPrefix), up to a NUL byte.
    // `read` takes one byte at a time from a pipe, so the command's own input after it stays whole.
    lines.push(
      `IFS= read -r -d '' e || { echo 'skyhop: the environment did not arrive on stdin' >&2; exit 1; }`,
      // `unset e` is part of the text eval runs, so an environment variable named `e` survives.
      'eval "unset e; $e"',
    );
  }
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

/**
 * One output stream of a session. Everything before the wrapper's start line `<token>:start` is
 * the preamble (ssh's own notices, the login shell's rc files' output): not the command's output,
 * kept aside for error messages. After it, output passes through, except (when `onExit` is given)
 * the exit line `<token>:<code>`, which is taken out; a possible partial one is held back.
 */
export class MarkedStream {
  started = false;
  preamble = '';
  /** The last bytes seen after the start (ssh's messages when a session breaks). */
  tail = '';
  private buf = '';
  private ended = false;

  constructor(
    private readonly token: string,
    private readonly emit: (s: string) => void,
    private readonly on: { start?: () => void; exit?: (code: number) => void } = {},
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
      this.on.start?.();
    }
    const onExit = this.on.exit;
    if (onExit) this.tail = (this.tail + s).slice(-4096);
    if (!onExit || this.ended) {
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
        onExit(Number(m[1]));
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

// ---- the ssh process ----------------------------------------------------------------------------

/** run()'s options plus, for upload, a file streamed to the command's stdin. */
export type SessionOptions = RunOptions & { stdinFile?: string };

/** How a session ended for its caller: a result, or nothing ran (`notStarted`, safe to retry). */
export type SessionOutcome = { result: RunResult } | { notStarted: CloudError };

/**
 * One command's ssh session (the connection is up). `done` resolves with the command's result, or
 * with `notStarted` when the session ended before the command started (nothing ran); it rejects
 * when the command's fate is unknown (the session was lost after the start) or ssh could not run.
 */
export class CommandSession {
  readonly done: Promise<SessionOutcome>;
  private state: SessionState = { kind: 'waiting' };
  private readonly child: ChildProcess;
  private readonly out: MarkedStream;
  private readonly err: MarkedStream;
  private stdout = '';
  private stderr = '';
  private remoteKill: Promise<string> | null = null;
  private drainTimer: NodeJS.Timeout | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private resolveDone!: (o: SessionOutcome) => void;
  private rejectDone!: (e: unknown) => void;

  constructor(
    private readonly target: SshTarget,
    private readonly prepared: PreparedCommand,
    private readonly opts: SessionOptions,
    private readonly timeoutNote: () => string,
  ) {
    this.done = new Promise((res, rej) => {
      this.resolveDone = res;
      this.rejectDone = rej;
    });
    const child = spawn('ssh', target.sshArgv(prepared.script), {
      detached: true, // not in the terminal's process group: Ctrl-C reaches skyhop, which decides
      stdio: [
        opts.stdin === undefined && !opts.stdinFile && prepared.stdinPrefix === null ? 'ignore' : 'pipe',
        'pipe',
        'pipe',
      ],
    });
    this.child = child;
    const started = () => this.fire({ type: 'start-line' });
    this.out = new MarkedStream(
      prepared.token,
      (s) => {
        if (!s) return;
        if (opts.onStdout) opts.onStdout(s);
        else this.stdout += s;
      },
      { start: started },
    );
    this.err = new MarkedStream(prepared.token, (s) => this.emitErr(s), {
      start: started,
      exit: (code) => this.fire({ type: 'exit-line', code }),
    });
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (c: string) => this.out.push(c));
    child.stderr!.on('data', (c: string) => this.err.push(c));
    if (child.stdin) {
      child.stdin.on('error', () => {}); // the command may exit without reading its input
      if (prepared.stdinPrefix !== null) child.stdin.write(prepared.stdinPrefix);
      if (opts.stdinFile) {
        const file = createReadStream(opts.stdinFile);
        file.on('error', (e) =>
          this.fire({ type: 'fail', error: new Error(`cannot read ${opts.stdinFile}: ${e.message}`) }),
        );
        file.pipe(child.stdin);
      } else child.stdin.end(opts.stdin);
    }
    child.on('error', (e) => {
      this.fire({
        type: 'fail',
        error: new CloudError(
          `Cannot run ssh for ${target.where}: ${e.message}; install the OpenSSH client (scripts/install-deps.sh).`,
        ),
      });
      void this.close();
    });
    child.on('exit', () => {
      clearTimeout(this.killTimer);
      clearTimeout(this.drainTimer); // the exit line's timer, if any: one pending timer at a time
      this.drainTimer = setTimeout(() => void this.close(), DRAIN_MS);
    });
    child.on('close', () => void this.close());
  }

  /** Time out (124) or abort (130) the command. */
  kill(code: number): void {
    this.fire({ type: 'force', code });
  }

  private fire(e: SessionEvent): void {
    const { state, effects } = step(this.state, e);
    this.state = state;
    for (const fx of effects) {
      switch (fx) {
        case 'drain':
          clearTimeout(this.drainTimer);
          this.drainTimer = setTimeout(() => this.endLocal(), DRAIN_MS);
          break;
        case 'kill-remote':
          this.remoteKill = killRemote(this.target, this.prepared.runId);
          break;
        case 'kill-remote-quietly':
          this.remoteKill = killRemote(this.target, this.prepared.runId).then(() => '');
          break;
        case 'end-local':
          this.endLocal();
          break;
      }
    }
  }

  private endLocal(): void {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    this.killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
  }

  private emitErr(s: string): void {
    if (!s) return;
    if (this.opts.onStderr) this.opts.onStderr(s);
    else this.stderr += s;
  }

  private async close(): Promise<void> {
    if (this.state.kind === 'closed') return;
    const child = this.child;
    const { state } = step(this.state, {
      type: 'close',
      sshExit: child.exitCode ?? (child.signalCode ? 255 : null),
    });
    this.state = state;
    if (state.kind !== 'closed') return;
    const end = state.end;
    clearTimeout(this.drainTimer);
    clearTimeout(this.killTimer);
    child.stdout!.destroy();
    child.stderr!.destroy();
    this.out.flush();
    this.err.flush();
    const where = this.target.where;
    const result = (code: number) =>
      this.resolveDone({ result: { code, stdout: this.stdout, stderr: this.stderr } });
    switch (end.kind) {
      case 'failed':
        return this.rejectDone(end.error);
      case 'killed': {
        const note = this.remoteKill ? await this.remoteKill : '';
        if (end.code === TIMEOUT_EXIT_CODE) this.emitErr(this.timeoutNote());
        this.emitErr(note);
        return result(end.code);
      }
      case 'exit':
        return result(end.code);
      case 'wrapper-exit':
        this.emitErr(withoutMuxNoise(this.err.preamble));
        return result(end.code);
      case 'lost': {
        const line = sshErrorLine(this.err.preamble || this.err.tail);
        return this.rejectDone(
          new CloudError(
            `The SSH session to ${where} ended before the command reported its exit status${line ? ` (${line})` : ''}; the node may have gone away or the connection dropped.`,
          ),
        );
      }
      case 'not-started': {
        const line = sshErrorLine(this.err.preamble || this.err.tail);
        return this.resolveDone({
          notStarted: new CloudError(
            `Cannot start a command on ${where} over SSH${line ? `: ${line}` : ''}; check that the node is running.`,
          ),
        });
      }
    }
  }
}

/** Kill every process of one command on the node; resolves with a note for stderr ('' when done). */
async function killRemote(target: SshTarget, runId: string): Promise<string> {
  try {
    const r = await execFileCollect('ssh', target.sshArgv(killByMarkerShell(RUN_MARKER, runId)), {
      timeoutMs: REMOTE_KILL_TIMEOUT_MS,
    });
    if (r.code === 0) return '';
    return `could not stop the command on ${target.where} (${sshErrorLine(r.stderr) || `exit code ${r.code}`}); it may still be running there\n`;
  } catch (e) {
    return `could not stop the command on ${target.where} (${(e as Error).message}); it may still be running there\n`;
  }
}
