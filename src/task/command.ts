/**
 * The parts of task building that need neither the YAML parser nor the schema library: an inline
 * command as a task (`skyhop launch 'echo hi'`, `skyhop exec c 'cmd'`) and resolving local paths.
 * Kept apart so those paths start fast.
 */
import { statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { UserError } from '../util/errors.js';
import { parseEnvOverrides, substituteEnvs } from './env.js';
import { type RawPath, setOrigins, setTaskMeta, type TaskMeta } from './meta.js';
import type { ParseOptions } from './options.js';
import type { Dag, Resources, Task } from '../core/task.js';
import { whereError } from '../util/yaml/where.js';

function expandHome(p: string): string {
  if (p === '~') return homedir();
  if (p.startsWith('~/')) return resolve(homedir(), p.slice(2));
  return p;
}

function stat(path: string): ReturnType<typeof statSync> | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/**
 * workdir and file_mounts: substitute envs, resolve relative paths against the base directory (the
 * current directory, as SkyPilot does), check they exist. A relative path missing there but present
 * beside the YAML file (skyhop's old rule) is taken from the file's folder, with a line in `warnings`.
 */
export function resolvePaths(
  raw: NonNullable<TaskMeta['raw']>,
  envs: Readonly<Record<string, string>>,
  warnings: string[] = [],
): { workdir?: string; fileMounts: Record<string, string> } {
  const out: { workdir?: string; fileMounts: Record<string, string> } = { fileMounts: {} };
  const local = (p: RawPath, kind: 'directory' | 'path') => {
    const sub = substituteEnvs(p.value, envs, p.where);
    const relative = !isAbsolute(expandHome(sub));
    let abs = relative ? resolve(raw.baseDir, sub) : expandHome(sub);
    let st = stat(abs);
    const beside = relative && raw.fileDir !== undefined ? resolve(raw.fileDir, sub) : undefined;
    if (!st && beside !== undefined && beside !== abs) {
      st = stat(beside);
      if (!st) {
        throw whereError(p.where, `local ${kind} '${sub}' does not exist (looked for ${abs} and ${beside})`);
      }
      warnings.push(
        `${p.where.prefix()}: '${sub}' is not in the current directory; using ${beside} beside the task file ` +
          '(relative paths start from the current directory, as in SkyPilot)',
      );
      abs = beside;
    }
    if (!st) throw whereError(p.where, `local ${kind} '${sub}' does not exist (looked for ${abs})`);
    if (kind === 'directory' && !st.isDirectory()) {
      throw whereError(p.where, `'${sub}' is not a directory (looked at ${abs})`);
    }
    return abs;
  };
  if (raw.workdir) out.workdir = local(raw.workdir, 'directory');
  for (const m of raw.fileMounts) {
    const remote = substituteEnvs(m.remote.value, envs, m.remote.where).trim();
    if (remote === '') throw whereError(m.remote.where, 'the remote path is empty');
    out.fileMounts[remote] = local(m.local, 'path');
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
