/**
 * The control master of one node: the shared SSH connection that every command, upload and rsync
 * rides on (ControlMaster=auto, ControlPersist; see src/runtime/ssh-runner.ts).
 *
 * `connect()` makes sure one is up: a live master (this process's or another's, within
 * ControlPersist) is taken as it is, without a round trip; otherwise it runs `true` on the node,
 * retrying connection failures with backoff until a deadline, so a node whose sshd is still coming
 * up is waited for. Authentication and host-key failures are not retried. `stop()` asks the master
 * to stop taking sessions (`ssh -O stop`); it exits when the sessions on it have ended.
 */
import { existsSync, lstatSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname, resolve } from 'node:path';
import { CloudError } from '../../util/errors.js';
import { sleep } from '../../util/sleep.js';
import {
  CONNECT_TIMEOUT_S,
  ensurePrivateDir,
  execFileCollect,
  type SshTarget,
  sshErrorLine,
} from './target.js';

/** ssh's own failures that mean "not reachable (yet)": worth another try while a node boots. */
const RETRYABLE =
  /Connection refused|Connection timed out|timed out|No route to host|Network is unreachable|Connection reset|kex_exchange_identification|banner exchange|Connection closed by|closed by remote host|Broken pipe|Temporary failure in name resolution/i;

/** One connection attempt, shared by every caller that waits for it. */
interface Attempt {
  promise: Promise<void>;
  ac: AbortController;
  /** Callers still waiting for this attempt. */
  waiters: number;
}

export class ControlMaster {
  private attempt: Attempt | null = null;

  constructor(
    private readonly target: SshTarget,
    /** How long `connect()` keeps retrying connection failures (ms). */
    private readonly deadlineMs: number,
  ) {}

  /**
   * Open (or reuse) the control master. Concurrent callers share one attempt; when every caller has
   * given up (`signal`), the attempt stops; a failed attempt is forgotten, so the next call tries again.
   */
  connect(signal?: AbortSignal): Promise<void> {
    let st = this.attempt;
    if (!st) {
      const ac = new AbortController();
      const fresh: Attempt = { ac, waiters: 0, promise: Promise.resolve() };
      fresh.promise = this.connectWithRetries(ac.signal).catch((e) => {
        if (this.attempt === fresh) this.attempt = null;
        throw e;
      });
      fresh.promise.catch(() => {}); // handled by the waiters
      this.attempt = fresh;
      st = fresh;
    }
    const attempt = st;
    attempt.waiters++;
    return new Promise<void>((resolveConnect, rejectConnect) => {
      let left = false;
      const leave = () => {
        if (left) return false;
        left = true;
        signal?.removeEventListener('abort', onAbort);
        attempt.waiters--;
        return true;
      };
      const onAbort = () => {
        if (!leave()) return;
        if (attempt.waiters === 0) {
          if (this.attempt === attempt) this.attempt = null; // the next caller starts afresh
          attempt.ac.abort();
        }
        rejectConnect(new CloudError(`Connecting to ${this.target.where} was cancelled.`));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      attempt.promise.then(
        () => {
          if (leave()) resolveConnect();
        },
        (e) => {
          if (leave()) rejectConnect(e);
        },
      );
    });
  }

  /**
   * Forget the connection this object knows of (the master itself may live on): the next
   * `connect()` checks again. Called when a session finds the master gone.
   */
  forget(): void {
    this.attempt = null;
  }

  /** Ends the shared control master once its running sessions finish (`ssh -O stop`). */
  async stop(): Promise<void> {
    this.attempt = null;
    let path: string;
    try {
      path = this.target.controlPath();
    } catch {
      return;
    }
    if (!lstatSync(path, { throwIfNoEntry: false })) return;
    await execFileCollect('ssh', [...this.target.sshOptions(), '-O', 'stop', this.target.connection.host], {
      timeoutMs: 10_000,
    });
  }

  private async connectWithRetries(signal: AbortSignal): Promise<void> {
    const t = this.target;
    const where = t.where;
    const key = resolve(t.connection.keyPath);
    if (!statSync(key, { throwIfNoEntry: false })?.isFile()) {
      throw new CloudError(
        `Cannot connect to ${where}: its SSH key ${key} does not exist; the cluster's key may have been removed (see $SKYHOP_HOME/keys).`,
      );
    }
    ensurePrivateDir(dirname(t.knownHostsPath), false);
    // A live control master (this process's or another's, within ControlPersist) is a connection
    // already made: the commands ride on it, so no `ssh true` round trip is needed to open one.
    if (await masterAlive(t.controlPath())) return;
    const start = Date.now();
    const deadline = start + this.deadlineMs;
    let delay = 100;
    let tries = 0;
    for (;;) {
      tries++;
      const left = deadline - Date.now();
      const timeoutS = Math.max(1, Math.min(CONNECT_TIMEOUT_S, Math.ceil(left / 1000)));
      const r = await execFileCollect('ssh', t.sshArgv('true', timeoutS), {
        timeoutMs: timeoutS * 1000 + 20_000,
        signal,
      });
      if (r.code === 0) return;
      if (signal.aborted) throw new CloudError(`Connecting to ${where} was cancelled.`);
      const line = sshErrorLine(r.stderr);
      if (r.code !== 255) {
        throw new CloudError(
          `Connected to ${where} but its login shell failed (exit code ${r.code}${line ? `: ${line}` : ''}); check the node's shell and rc files.`,
        );
      }
      if (/Permission denied|Too many authentication failures/i.test(r.stderr)) {
        throw new CloudError(
          `Cannot log in to ${where}: the node refused the key ${t.connection.keyPath} (${line}); check that the cluster's public key is authorized for ${t.connection.user} on the node.`,
        );
      }
      if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/i.test(r.stderr)) {
        throw new CloudError(
          `The host key of ${where} differs from the one recorded in ${t.knownHostsPath}; if the node was re-created, remove its line ([${t.connection.host}]:${t.connection.port}) from that file and retry.`,
        );
      }
      if (!RETRYABLE.test(r.stderr) || Date.now() + delay > deadline) {
        const waited = Math.round((Date.now() - start) / 1000);
        throw new CloudError(
          `Cannot reach ${where} over SSH${tries > 1 ? ` (${tries} tries in ${waited} s)` : ''}: ${line || `ssh exit code ${r.code}`}; check that the node is running and its SSH port is open.`,
        );
      }
      await sleep(delay, signal).catch(() => {}); // an abort ends the wait; checked next
      if (signal.aborted) throw new CloudError(`Connecting to ${where} was cancelled.`);
      delay = Math.min(Math.round(delay * 1.5), 1000);
    }
  }
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
