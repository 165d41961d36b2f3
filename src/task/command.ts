/**
 * The parts of task building that need neither the YAML parser nor the schema library: an inline
 * command as a task (`skyhop launch 'echo hi'`, `skyhop exec c 'cmd'`) and resolving local paths.
 * Kept apart so those paths start fast.
 */
import { statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { UserError } from '../util/errors.js';
import { parseEnvOverrides, substituteEnvs } from './env.js';
import { type RawPath, setOrigins, setTaskMeta, type TaskMeta } from './meta.js';
import type { ParseOptions } from './options.js';
import type { StorageMount } from '../core/storage.js';
import type { Dag, Resources, Task } from '../core/task.js';
import { isBucketUrl, remotePathProblem, storageFromMapping, storageFromUrl } from './storage.js';
import { whereError } from '../util/yaml/where.js';

/**
 * A request on a team server runs with the client's files mirrored under SKYHOP_CLIENT_ROOT (by
 * absolute path) and its cwd there: every local path a task or a command line names (absolute,
 * relative, `~` = the client's SKYHOP_CLIENT_HOME) is the client's, read from the mirror, and never
 * one of the server's own files: a relative path whose `..` climb above the mirror stops at the
 * client's `/`, as it would on the client. Without a server the variables are unset and paths are
 * this machine's.
 */
export function clientPath(p: string, base: string = process.cwd()): string {
  const root = process.env.SKYHOP_CLIENT_ROOT;
  const expanded = expandHome(p);
  const direct = resolve(base, expanded);
  if (!root) return direct;
  if (direct === root || direct.startsWith(`${root}/`)) return direct;
  // `base` in the mirror stands for the client's folder it mirrors; elsewhere (the worker's empty
  // folder when the client's cwd has no uploaded files) for the client's cwd.
  const clientBase =
    base === root
      ? '/'
      : base.startsWith(`${root}/`)
        ? base.slice(root.length)
        : (process.env.SKYHOP_CLIENT_CWD ?? '/');
  return resolve(join(root, resolve(clientBase, expanded)));
}

/** `~` and `~/x` -> the (client's) home directory; other paths as they are. */
export function expandHome(p: string): string {
  const home = process.env.SKYHOP_CLIENT_ROOT ? (process.env.SKYHOP_CLIENT_HOME ?? homedir()) : homedir();
  if (p === '~') return home;
  if (p.startsWith('~/')) return resolve(home, p.slice(2));
  return p;
}

function stat(path: string): ReturnType<typeof statSync> | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function noun(kind: 'directory' | 'path' | 'source'): string {
  return kind === 'source' ? 'directory' : kind;
}

/**
 * workdir and file_mounts: substitute envs, resolve relative paths against the base directory (the
 * current directory, as SkyPilot does), check they exist. A relative path missing there but present
 * beside the YAML file (skyhop's old rule) is taken from the file's folder, with a line in `warnings`.
 * Bucket URLs (`/data: s3://b/x`) and storage mappings become `storageMounts`.
 */
export function resolvePaths(
  raw: NonNullable<TaskMeta['raw']>,
  envs: Readonly<Record<string, string>>,
  warnings: string[] = [],
): { workdir?: string; fileMounts: Record<string, string>; storageMounts: Record<string, StorageMount> } {
  const out: {
    workdir?: string;
    fileMounts: Record<string, string>;
    storageMounts: Record<string, StorageMount>;
  } = { fileMounts: {}, storageMounts: {} };
  const local = (
    p: RawPath,
    kind: 'directory' | 'path' | 'source',
    sub = substituteEnvs(p.value, envs, p.where),
  ) => {
    const relative = !isAbsolute(expandHome(sub));
    let abs = clientPath(sub, raw.baseDir);
    let st = stat(abs);
    const beside = relative && raw.fileDir !== undefined ? clientPath(sub, raw.fileDir) : undefined;
    if (!st && beside !== undefined && beside !== abs) {
      st = stat(beside);
      if (!st) {
        throw whereError(
          p.where,
          `local ${noun(kind)} '${sub}' does not exist (looked for ${abs} and ${beside})`,
        );
      }
      warnings.push(
        `${p.where.prefix()}: '${sub}' is not in the current directory; using ${beside} beside the task file ` +
          '(relative paths start from the current directory, as in SkyPilot)',
      );
      abs = beside;
    }
    if (!st) throw whereError(p.where, `local ${noun(kind)} '${sub}' does not exist (looked for ${abs})`);
    if (kind !== 'path' && !st.isDirectory()) {
      const hint =
        kind === 'source'
          ? "; a bucket's source must be a directory (copy a single file with a plain file_mounts entry, REMOTE: FILE)"
          : '';
      throw whereError(p.where, `'${sub}' is not a directory (looked at ${abs})${hint}`);
    }
    return abs;
  };
  const remotePath = (p: RawPath): string => {
    const remote = substituteEnvs(p.value, envs, p.where).trim();
    if (remote === '') throw whereError(p.where, 'the remote path is empty');
    return remote;
  };
  const storageRemote = (p: RawPath): string => {
    const remote = remotePath(p);
    const problem = remotePathProblem(remote);
    if (problem) throw whereError(p.where, problem);
    if (Object.hasOwn(out.fileMounts, remote) || Object.hasOwn(out.storageMounts, remote)) {
      throw whereError(
        p.where,
        `'${remote}' is the remote path of another file_mounts entry; use each path once`,
      );
    }
    return remote;
  };
  if (raw.workdir) out.workdir = local(raw.workdir, 'directory');
  const urls: Array<{ remote: RawPath; url: string; where: RawPath['where'] }> = [];
  for (const m of raw.fileMounts) {
    const remote = remotePath(m.remote);
    const sub = substituteEnvs(m.local.value, envs, m.local.where);
    if (isBucketUrl(sub)) urls.push({ remote: m.remote, url: sub, where: m.local.where });
    else out.fileMounts[remote] = local(m.local, 'path', sub);
  }
  for (const u of urls) out.storageMounts[storageRemote(u.remote)] = storageFromUrl(u.url, u.where);
  for (const m of raw.storageMounts ?? []) {
    const remote = storageRemote(m.remote);
    const sub = (p: RawPath | undefined) =>
      p === undefined ? undefined : { value: substituteEnvs(p.value, envs, p.where), where: p.where };
    out.storageMounts[remote] = storageFromMapping(m, { name: sub(m.name), source: sub(m.source) }, (s) =>
      local(s, 'source', s.value),
    );
  }
  return out;
}

/** A one-task Dag running `command` (for `skyhop launch 'echo hi'` and `skyhop exec c 'cmd'`). */
export function taskFromCommand(command: string, opts: ParseOptions = {}): Dag {
  if (command.trim() === '')
    throw new UserError('the command to run is empty; give a command or a task YAML');
  const envs = Object.fromEntries(parseEnvOverrides(opts.env, '--env'));
  const secrets = Object.fromEntries(parseEnvOverrides(opts.secret, '--secret'));
  for (const k of Object.keys(secrets)) {
    if (Object.hasOwn(envs, k))
      throw new UserError(`--secret ${k}: '${k}' is also given with --env; use one of them`);
  }
  const r: Resources = { useSpot: false };
  setOrigins(r, {});
  const task: Task = {
    numNodes: 1,
    envs,
    secrets,
    fileMounts: {},
    run: command,
    resources: [r],
    ordered: false,
  };
  setTaskMeta(task, { raw: { baseDir: process.cwd(), fileMounts: [] } });
  return { tasks: [task], edges: [] };
}
