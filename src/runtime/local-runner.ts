/**
 * The runner for nodes that are directories on this machine (`Connection {kind: 'local'}`).
 *
 * Each command runs as `bash --noprofile --norc -c <command>` (no rc files, no login) in a new
 * session and process group, with a clean environment made only of:
 *   HOME=<node home>, USER, LOGNAME, SHELL=/bin/bash, PATH (this process's PATH), LANG / LC_ALL / TZ
 *   when set here, TERM=dumb, then `opts.env` (less the client's own variables: util/client-env.ts,
 *   so a node never sees SKYHOP_DB), then the node marker `SKYHOP_NODE_ID=<nodeId>`,
 *   which cannot be overridden: every process started on the node inherits it, and the local cloud
 *   ends a node by killing everything that carries it (src/runtime/procs.ts).
 * The working directory defaults to the node's HOME; `~/x` and relative paths are resolved against
 * it. A missing working directory gives exit code 1 (as `cd` would on a remote node).
 * A timeout kills the command's process group (SIGTERM, SIGKILL 2 s later) and gives code 124; an
 * abort does the same and gives code 130.
 */
import { spawn } from 'node:child_process';
import { constants as osConstants, userInfo } from 'node:os';
import * as fsp from 'node:fs/promises';
import { statSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import type { Connection } from '../core/cluster.js';
import { withoutClientEnv } from '../util/client-env.js';
import { CloudError } from '../util/errors.js';
import { mirrorDir } from './sync.js';
import type { CommandRunner, RunOptions, RunResult } from './types.js';

export type LocalConnection = Extract<Connection, { kind: 'local' }>;

/** After the command's shell has exited, how long to wait for its output pipes to close. */
const DRAIN_MS = 200;
const KILL_GRACE_MS = 2000;
export const TIMEOUT_EXIT_CODE = 124;
export const ABORT_EXIT_CODE = 130;

export class LocalRunner implements CommandRunner {
  readonly connection: LocalConnection;

  constructor(connection: LocalConnection) {
    if (!isAbsolute(connection.home)) {
      throw new Error(
        `local node ${connection.nodeId}: home must be an absolute path, got ${connection.home}`,
      );
    }
    if (!connection.nodeId) throw new Error('local node: nodeId must not be empty');
    this.connection = connection;
  }

  /** A node path (`~`, `~/x`, relative to HOME, or absolute) as a path on this machine. */
  resolvePath(p: string): string {
    const home = this.connection.home;
    if (p === '~' || p === '') return home;
    if (p.startsWith('~/')) return join(home, p.slice(2));
    return isAbsolute(p) ? p : join(home, p);
  }

  /** The environment every command on this node starts from (see the file comment). */
  baseEnv(extra?: Readonly<Record<string, string>>): Record<string, string> {
    const env: Record<string, string> = {};
    let user = process.env.USER || '';
    try {
      user = userInfo().username;
    } catch {
      // no passwd entry: keep $USER
    }
    env.HOME = this.connection.home;
    if (user) {
      env.USER = user;
      env.LOGNAME = user;
    }
    env.SHELL = '/bin/bash';
    env.PATH = process.env.PATH || '/usr/local/bin:/usr/bin:/bin';
    for (const k of ['LANG', 'LC_ALL', 'TZ']) {
      const v = process.env[k];
      if (v) env[k] = v;
    }
    env.TERM = 'dumb';
    if (extra) Object.assign(env, withoutClientEnv(extra));
    env.SKYHOP_NODE_ID = this.connection.nodeId;
    // Local clusters launched from inside the node (a controller's) reserve their addresses where this
    // one's were (clouds/local/nodes.ts: the machine's folder, or the one SKYHOP_LOCAL_IPS names).
    if (process.env.SKYHOP_LOCAL_IPS) env.SKYHOP_LOCAL_IPS = process.env.SKYHOP_LOCAL_IPS;
    return env;
  }

  run(command: string, opts: RunOptions = {}): Promise<RunResult> {
    const cwdArg = opts.cwd ?? '~';
    const cwd = this.resolvePath(cwdArg);
    let cwdOk = false;
    try {
      cwdOk = statSync(cwd).isDirectory();
    } catch {
      cwdOk = false;
    }
    if (!cwdOk) {
      const msg = `bash: cd: ${cwdArg}: No such file or directory\n`;
      opts.onStderr?.(msg);
      return Promise.resolve({ code: 1, stdout: '', stderr: opts.onStderr ? '' : msg });
    }
    if (opts.signal?.aborted) return Promise.resolve({ code: ABORT_EXIT_CODE, stdout: '', stderr: '' });

    return new Promise<RunResult>((resolve, reject) => {
      const child = spawn('bash', ['--noprofile', '--norc', '-c', command], {
        cwd,
        env: this.baseEnv(opts.env),
        detached: true, // own session and process group: timeouts and aborts kill the whole group
        stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      let exitCode: number | null = null;
      let forced: number | null = null;
      let settled = false;
      let drainTimer: NodeJS.Timeout | undefined;
      let killTimer: NodeJS.Timeout | undefined;
      let timeoutTimer: NodeJS.Timeout | undefined;

      child.stdout!.setEncoding('utf8');
      child.stderr!.setEncoding('utf8');
      child.stdout!.on('data', (c: string) => {
        if (opts.onStdout) opts.onStdout(c);
        else stdout += c;
      });
      child.stderr!.on('data', (c: string) => {
        if (opts.onStderr) opts.onStderr(c);
        else stderr += c;
      });
      if (opts.stdin !== undefined && child.stdin) {
        child.stdin.on('error', () => {}); // the command may exit without reading its input
        child.stdin.end(opts.stdin);
      }

      const killGroup = (code: number) => {
        if (forced !== null || exitCode !== null) return;
        forced = code;
        groupKill(child.pid, 'SIGTERM');
        killTimer = setTimeout(() => groupKill(child.pid, 'SIGKILL'), KILL_GRACE_MS);
      };
      const onAbort = () => killGroup(ABORT_EXIT_CODE);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      if (opts.timeoutMs !== undefined && opts.timeoutMs > 0) {
        timeoutTimer = setTimeout(() => killGroup(TIMEOUT_EXIT_CODE), opts.timeoutMs);
      }

      const finish = () => {
        if (settled) return;
        settled = true;
        clearTimeout(drainTimer);
        clearTimeout(killTimer);
        clearTimeout(timeoutTimer);
        opts.signal?.removeEventListener('abort', onAbort);
        child.stdout!.destroy();
        child.stderr!.destroy();
        if (forced === TIMEOUT_EXIT_CODE) {
          const note = `command timed out after ${opts.timeoutMs} ms on local node ${this.connection.nodeId}\n`;
          if (opts.onStderr) opts.onStderr(note);
          else stderr += note;
        }
        resolve({ code: forced ?? exitCode ?? 1, stdout, stderr });
      };

      child.on('error', (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timeoutTimer);
        clearTimeout(killTimer);
        opts.signal?.removeEventListener('abort', onAbort);
        reject(
          new CloudError(`Cannot run a command on local node ${this.connection.nodeId}: ${err.message}`),
        );
      });
      child.on('exit', (code, sig) => {
        exitCode = code ?? 128 + (sig ? (osConstants.signals[sig] ?? 0) : 0);
        clearTimeout(killTimer);
        // Output pipes may be held open by background children; don't wait for them for long.
        drainTimer = setTimeout(finish, DRAIN_MS);
      });
      child.on('close', finish);
    });
  }

  async upload(localPath: string, remotePath: string, opts: { mode?: number } = {}): Promise<void> {
    const dest = this.resolvePath(remotePath);
    const st = await fsp.stat(localPath);
    if (!st.isFile()) throw new Error(`not a file: ${localPath}`);
    await fsp.mkdir(dirname(dest), { recursive: true });
    // The copy is made in a private (0700) directory next to the destination and given its mode
    // there: a key or a file of secrets is never readable by others on the way.
    const tmpDir = await fsp.mkdtemp(`${dest}.skyhop-upload-`);
    try {
      const tmp = join(tmpDir, 'file');
      await fsp.copyFile(localPath, tmp);
      await fsp.chmod(tmp, opts.mode ?? st.mode & 0o7777);
      await fsp.rename(tmp, dest);
    } finally {
      await fsp.rm(tmpDir, { recursive: true, force: true });
    }
  }

  async syncDir(
    localDir: string,
    remoteDir: string,
    opts: { exclude?: string[]; delete?: boolean } = {},
  ): Promise<void> {
    await mirrorDir(localDir, this.resolvePath(remoteDir), opts);
  }

  async close(): Promise<void> {}
}

function groupKill(pid: number | undefined, sig: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, sig);
  } catch {
    // already gone
  }
}
