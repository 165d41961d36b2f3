/**
 * The controller's files, under its own $SKYHOP_HOME (on the controller's node):
 *
 *   managed/<id>/run.log          the job's output, copied from each cluster it ran on, in order
 *   managed/<id>/controller.log   what the controller did for the job (launches, preemptions, teardowns)
 *   managed/secrets/<key>.json    a job's secrets (0600; never in the state), named in its request
 *   managed/uploads/<key>/        the workdir and local file_mounts the client uploaded for a job
 *   controller/env.json           the credentials' environment the client carried (0600)
 *   controller/serve.json         the serving process: its pid and build
 */
import {
  appendFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { Dag } from '../core/task.js';

export interface JobFiles {
  dir: string;
  runLog: string;
  controllerLog: string;
  appendRun(chunk: string | Buffer): void;
}

export function jobFiles(home: string, id: number): JobFiles {
  const dir = join(home, 'managed', String(id));
  const runLog = join(dir, 'run.log');
  return {
    dir,
    runLog,
    controllerLog: join(dir, 'controller.log'),
    appendRun: (chunk) => append(runLog, chunk),
  };
}

export function controllerEnvPath(home: string): string {
  return join(home, 'controller', 'env.json');
}

/** The secrets of the job whose request names `key`. */
export function secretsPath(home: string, key: string): string {
  return join(home, 'managed', 'secrets', `${key}.json`);
}

/** `{pid, build}` of the serving controller process. */
export function serveRecordPath(home: string): string {
  return join(home, 'controller', 'serve.json');
}

export function uploadsDir(home: string): string {
  return join(home, 'managed', 'uploads');
}

function append(path: string, text: string | Buffer): void {
  try {
    appendFileSync(path, text);
  } catch {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    appendFileSync(path, text);
  }
}

/** A file's size in bytes (0 when it is missing). */
export function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** Appends one line (a newline added). */
export function appendLine(path: string, line: string): void {
  append(path, `${line}\n`);
}

/** Writes a 0600 file atomically (a temp file renamed into place). */
export function writePrivate(path: string, text: string | Buffer): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
}

/** A JSON file's value, or `fallback` when it is missing. */
export function readJson<T>(path: string, fallback: T): T {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
  return JSON.parse(text) as T;
}

/** The upload folders (under `uploads`) a job's task graph reads its local files from. */
export function uploadKeysOf(dag: Dag, uploads: string): Set<string> {
  const prefix = `${uploads}/`;
  const keys = new Set<string>();
  for (const t of dag.tasks) {
    const paths = [
      t.workdir,
      ...Object.values(t.fileMounts),
      ...Object.values(t.storageMounts ?? {}).map((m) => m.localSource),
    ];
    for (const p of paths) {
      const key = p?.startsWith(prefix) ? p.slice(prefix.length).split('/')[0] : undefined;
      if (key) keys.add(key);
    }
  }
  return keys;
}

/**
 * Removes the entries of `dir` not in `keep` and older than `minAgeMs` (a submission may be writing a
 * newer one right now): the controllers' sweep of secrets and uploads no job or service names.
 */
export function sweepUnnamed(
  dir: string,
  keep: ReadonlySet<string>,
  minAgeMs: number,
  now = Date.now(),
): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    if (keep.has(n)) continue;
    const p = join(dir, n);
    let mtime: number;
    try {
      mtime = statSync(p).mtimeMs;
    } catch {
      continue;
    }
    if (now - mtime < minAgeMs) continue;
    rmSync(p, { recursive: true, force: true });
  }
}
