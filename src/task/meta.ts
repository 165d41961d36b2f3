/**
 * Where each part of a parsed task came from (file:line:col or a flag), kept beside the Task and
 * Resources objects (never inside them) so later checks, such as those after CLI overrides, can
 * still point at the right line.
 */
import type { Where } from '../util/yaml/where.js';
import type { Resources, Task } from '../core/task.js';
import type { ServiceDraft } from './service.js';
import type { RawStorageMount } from './storage.js';

export type ResField = keyof Resources;
export type Origins = Partial<Record<ResField, Where>>;

export interface RawPath {
  value: string;
  where: Where;
}

export interface TaskMeta {
  numNodes?: Where;
  /**
   * workdir and file_mounts (local paths, bucket URLs and storage mappings) before env substitution,
   * to redo it when --env changes a value.
   */
  raw?: {
    /** Where relative paths start: the current directory, as in SkyPilot (or ParseOptions.baseDir). */
    baseDir: string;
    /** The YAML file's folder, tried when a relative path is not under baseDir (with a warning). */
    fileDir?: string;
    workdir?: RawPath;
    /** `REMOTE: PATH` entries: a local path, or a bucket URL (`s3://...`, COPY of an existing bucket). */
    fileMounts: Array<{ remote: RawPath; local: RawPath }>;
    /** `REMOTE: {name, source, store, mode, persistent}` entries. */
    storageMounts?: RawStorageMount[];
  };
  /**
   * The `service:` section checked on its own (service.ts), kept to check it again against the
   * resources after the CLI overrides; `reread` reads it again with other env values.
   */
  service?: {
    draft: ServiceDraft;
    /** Where `job_recovery` is written, when it is (a service takes none). */
    recovery?: Where;
    reread?: (vars: Readonly<Record<string, string>>, warnings: string[]) => ServiceDraft | undefined;
  };
}

const taskMeta = new WeakMap<Task, TaskMeta>();
const resourceOrigins = new WeakMap<Resources, Origins>();

export function setTaskMeta(t: Task, m: TaskMeta): void {
  taskMeta.set(t, m);
}

export function getTaskMeta(t: Task): TaskMeta | undefined {
  return taskMeta.get(t);
}

export function setOrigins(r: Resources, o: Origins): void {
  resourceOrigins.set(r, o);
}

export function getOrigins(r: Resources): Origins {
  return resourceOrigins.get(r) ?? {};
}
