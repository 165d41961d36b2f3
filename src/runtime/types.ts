import type { Connection } from '../core/cluster.js';

export interface RunOptions {
  /**
   * Extra environment for the command (merged over the node's base environment). Values never
   * appear in a command line, here or on the node (a local node gets them through the process
   * environment, an SSH node through the session's stdin): they may be secrets. Pass secrets here,
   * or on stdin, never inside `command`.
   */
  env?: Readonly<Record<string, string>>;
  /** Working directory on the node; `~/x` is relative to the node's HOME. */
  cwd?: string;
  /** Bytes for the command's standard input. */
  stdin?: string | Buffer;
  /** Called with each chunk of output as it arrives (streaming). */
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
  /** Kill the command (its whole process tree on the node) after this long; the result's code is then 124. */
  timeoutMs?: number;
  /** Aborting kills the command the same way; the result's code is then 130. */
  signal?: AbortSignal;
}

export interface RunResult {
  code: number; // exit status; 128+N when killed by signal N
  stdout: string; // empty when onStdout was given
  stderr: string; // empty when onStderr was given
}

/**
 * Runs shell lines on one node. Commands are shell text built only with src/util/shell.ts.
 * Remote paths may start with `~/` (the node's HOME). Nothing above `src/runtime` may assume a
 * runner is local: the same code paths run over SSH.
 */
export interface CommandRunner {
  readonly connection: Connection;
  run(command: string, opts?: RunOptions): Promise<RunResult>;
  /** Copy one local file to a path on the node (parents created). */
  upload(localPath: string, remotePath: string, opts?: { mode?: number }): Promise<void>;
  /** Make remoteDir a copy of localDir (new and changed files; `exclude` are glob-like names). */
  syncDir(
    localDir: string,
    remoteDir: string,
    opts?: { exclude?: string[]; delete?: boolean },
  ): Promise<void>;
  /**
   * Release what this runner holds for this process. A shared SSH control master outlives it
   * (ControlPersist), so the next CLI call reuses the connection.
   */
  close(): Promise<void>;
}
