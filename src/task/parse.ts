/**
 * Task YAML -> Dag. One document is one task; several documents are a chain (SkyPilot's pipeline
 * form, where a first document holding only `name` names the pipeline), or a DAG when tasks use
 * `depends_on`. Every error is a UserError naming file:line:col and the field.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { type Document, isMap, isPair, isScalar } from 'yaml';
import { UserError } from '../util/errors.js';
import { buildDag, type TaskPlaces } from './dag.js';
import { isEmptyDocument, parseYamlDocuments } from '../util/yaml/parse.js';
import { shapeError } from '../util/yaml/shape.js';
import { parseTaskConfig } from '../config/parse.js';
import { clientPath, resolvePaths } from './command.js';

export { resolvePaths, taskFromCommand } from './command.js';
import { ENV_NAME, parseEnvOverrides } from './env.js';
import type { ParseOptions } from './options.js';
import { setOrigins, setTaskMeta, type TaskMeta } from './meta.js';
import { buildAlternatives, checkAlternatives } from './resources.js';
import { readService, serviceIgnoredWarning, trySpecFor } from './service.js';
import {
  ALTERNATIVE_KEYS,
  IGNORED_TASK_FIELDS,
  RESOURCE_KEYS,
  type RawTask,
  TASK_KEYS,
  taskSchema,
  UNSUPPORTED_RESOURCE_FIELDS,
  UNSUPPORTED_TASK_FIELDS,
} from './schema.js';
import { type Path, SourceDoc } from '../util/yaml/source.js';
import { didYouMean } from '../util/suggest.js';
import type { Dag, DataEstimate, Resources, Task } from '../core/task.js';
import { scalarString, show, storageCloud, ValueError } from './values.js';
import {
  checkMode,
  checkStore,
  IGNORED_STORAGE_KEYS,
  type RawStorageMount,
  STORAGE_KEYS,
  UNSUPPORTED_STORAGE_KEYS,
} from './storage.js';

/** Reads and parses a task YAML file. `path` is shown in messages as given. */
export function parseTaskFile(clientFile: string, opts: ParseOptions = {}): Dag {
  // On a team server, the client's file from its uploaded mirror (never one of the server's own).
  const path = process.env.SKYHOP_CLIENT_ROOT ? clientPath(clientFile) : clientFile;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`${clientFile}: no such file; give the path of a task YAML`);
    if (code === 'EISDIR') throw new UserError(`${clientFile}: is a directory; give the path of a task YAML`);
    throw new UserError(`${clientFile}: cannot read it (${code ?? String(e)})`);
  }
  // Read from the mirror, named as the client gave it.
  return parseTaskText(text, path, opts, clientFile);
}

/** True for a document that holds only `name:` (the pipeline's name in SkyPilot's multi-task form). */
function isHeader(doc: Document.Parsed): boolean {
  const c = doc.contents;
  return (
    isMap(c) &&
    c.items.length === 1 &&
    isPair(c.items[0]) &&
    isScalar(c.items[0].key) &&
    c.items[0].key.value === 'name'
  );
}

/**
 * Parses YAML text; `file` names it in messages (and, when it is a path, anchors relative paths);
 * `shown`, when given, names it in messages instead (a team server's mirror of a client's file).
 */
export function parseTaskText(text: string, file: string, opts: ParseOptions = {}, shown = file): Dag {
  const { docs, lines } = parseYamlDocuments(text, shown);
  let list = docs.filter((d) => !isEmptyDocument(d));
  if (list.length === 0) throw new UserError(`${shown}:1:1: the file holds no task; it is empty`);

  let dagName: string | undefined;
  if (list.length > 1 && isHeader(list[0])) {
    const header = new SourceDoc(shown, list[0], lines);
    const name = toJS(header, shown).name;
    if (typeof name !== 'string' || name.trim() === '') {
      throw header.error(['name'], `expected a pipeline name (a string), got ${show(name)}`);
    }
    dagName = name;
    list = list.slice(1);
  }
  // Relative paths start from the current directory, as in SkyPilot; the file's folder is the fallback.
  const baseDir = opts.baseDir ?? process.cwd();
  const fileDir = opts.baseDir === undefined ? dirname(resolve(file)) : undefined;
  const fileAbs = resolve(file);
  const tasks: Task[] = [];
  const places: TaskPlaces[] = [];
  const warnings: string[] = [];
  for (const d of list) {
    const src = new SourceDoc(shown, d, lines);
    const raw = validateShape(src, toJS(src, shown));
    for (const [field, why] of Object.entries(IGNORED_TASK_FIELDS)) {
      if (Object.hasOwn(raw, field) && raw[field as keyof RawTask] !== undefined) {
        const at = src.where([field], { key: true }).prefix();
        warnings.push(
          field === 'service'
            ? serviceIgnoredWarning(at)
            : `${at}: ignored; ${why}, so the task runs without it`,
        );
      }
    }
    const t = buildTask(raw, src, opts, { baseDir, fileDir }, fileAbs, warnings);
    tasks.push(t);
    places.push({
      name: raw.name !== undefined ? src.where(['name']) : undefined,
      dependsOn: raw.depends_on !== undefined ? src.where(['depends_on']) : undefined,
    });
  }
  if (dagName === undefined && tasks.length === 1) dagName = tasks[0].name;
  const dag = buildDag(tasks, places, dagName);
  if (warnings.length > 0) dag.warnings = warnings;
  return dag;
}

function toJS(src: SourceDoc, file: string): Record<string, unknown> {
  try {
    return src.doc.toJS({ maxAliasCount: 1000 }) as Record<string, unknown>;
  } catch (e) {
    throw new UserError(`${file}:1:1: YAML error: ${(e as Error).message.split('\n')[0]}`);
  }
}

function allowedKeys(path: Path): { keys: string[]; unsupported: Record<string, string> } {
  if (path.length === 0) return { keys: TASK_KEYS, unsupported: UNSUPPORTED_TASK_FIELDS };
  if (path.length === 1 && path[0] === 'resources')
    return { keys: RESOURCE_KEYS, unsupported: UNSUPPORTED_RESOURCE_FIELDS };
  return { keys: ALTERNATIVE_KEYS, unsupported: UNSUPPORTED_RESOURCE_FIELDS };
}

function unknownKeyMessage(path: Path, key: string): string {
  const { keys, unsupported } = allowedKeys(path);
  if (Object.hasOwn(unsupported, key))
    return `field '${key}' is not supported by skyhop (${unsupported[key]})`;
  if ((key === 'any_of' || key === 'ordered') && path.length > 1) {
    return `'${key}' cannot be nested inside any_of or ordered`;
  }
  if (path.length === 0 && RESOURCE_KEYS.includes(key)) {
    return `unknown field '${key}' (it belongs under resources:)`;
  }
  if (path.length > 0 && TASK_KEYS.includes(key)) {
    return `unknown field '${key}' (it belongs at the top level, not under resources:)`;
  }
  return `unknown field '${key}'${didYouMean(key, keys, 1)}`;
}

/** zod shape check; every problem becomes `file:line:col: field: message`, the first in file order thrown. */
function validateShape(src: SourceDoc, js: unknown): RawTask {
  const r = taskSchema.safeParse(js);
  if (r.success) return r.data;
  throw shapeError(src, r.error, unknownKeyMessage);
}

function envMap(
  raw: Record<string, string | number | boolean | null> | undefined,
  src: SourceDoc,
  field: 'envs' | 'secrets',
): { values: Record<string, string>; unset: Set<string> } {
  const values: Record<string, string> = {};
  const unset = new Set<string>();
  for (const [k, v] of Object.entries(raw ?? {})) {
    if (!ENV_NAME.test(k)) {
      throw src.error(
        [field, k],
        `'${k}' is not a valid variable name (letters, digits and _, not starting with a digit)`,
        {
          key: true,
        },
      );
    }
    if (v === null) {
      unset.add(k);
      continue;
    }
    try {
      values[k] = scalarString(v, src.sourceText([field, k]));
    } catch (e) {
      if (e instanceof ValueError) throw src.error([field, k], e.message);
      throw e;
    }
  }
  return { values, unset };
}

/** Applies --env/--secret overrides and checks that every null (required) value was given one. */
function resolveEnvs(
  envs: { values: Record<string, string>; unset: Set<string> },
  overrides: Array<[string, string]>,
  missing: (k: string) => UserError,
): Record<string, string> {
  const out = { ...envs.values };
  for (const [k, v] of overrides) out[k] = v;
  for (const k of envs.unset) if (!Object.hasOwn(out, k)) throw missing(k);
  return out;
}

function dataEstimate(v: { location: string; sizeGb: number } | undefined): DataEstimate | undefined {
  if (!v) return undefined;
  const cloud = storageCloud(v.location);
  return cloud
    ? { location: v.location, sizeGb: v.sizeGb, cloud }
    : { location: v.location, sizeGb: v.sizeGb };
}

function buildTask(
  raw: RawTask,
  src: SourceDoc,
  opts: ParseOptions,
  dirs: { baseDir: string; fileDir?: string },
  fileAbs: string,
  warnings: string[],
): Task {
  const envs = resolveEnvs(envMap(raw.envs, src, 'envs'), parseEnvOverrides(opts.env, '--env'), (k) =>
    src.error(['envs', k], `no value given; set one in the file or pass --env ${k}=VALUE`),
  );
  const secrets = resolveEnvs(
    envMap(raw.secrets, src, 'secrets'),
    parseEnvOverrides(opts.secret, '--secret'),
    (k) => src.error(['secrets', k], `no value given; set one in the file or pass --secret ${k}=VALUE`),
  );
  for (const k of Object.keys(raw.secrets ?? {})) {
    if (Object.hasOwn(raw.envs ?? {}, k)) {
      throw src.error(['secrets', k], `'${k}' is both an env and a secret; keep it in one of them`, {
        key: true,
      });
    }
  }

  const rawPaths: NonNullable<TaskMeta['raw']> = { baseDir: dirs.baseDir, fileMounts: [] };
  if (dirs.fileDir !== undefined && dirs.fileDir !== dirs.baseDir) rawPaths.fileDir = dirs.fileDir;
  if (raw.workdir !== undefined) rawPaths.workdir = { value: raw.workdir, where: src.where(['workdir']) };
  for (const [remote, value] of Object.entries(raw.file_mounts ?? {})) {
    if (value === undefined) {
      throw src.error(['file_mounts', remote], 'expected a local path to copy to the nodes, got nothing');
    }
    const remoteRaw = { value: remote, where: src.where(['file_mounts', remote], { key: true }) };
    if (typeof value === 'string') {
      rawPaths.fileMounts.push({
        remote: remoteRaw,
        local: { value, where: src.where(['file_mounts', remote]) },
      });
    } else {
      rawPaths.storageMounts ??= [];
      rawPaths.storageMounts.push(readStorageMapping(src, remote, remoteRaw, value, warnings));
    }
  }
  const paths = resolvePaths(rawPaths, envs, warnings);

  const numNodes = raw.num_nodes ?? 1;
  const numNodesWhere = raw.num_nodes !== undefined ? src.where(['num_nodes']) : undefined;
  const built = buildAlternatives(raw.resources ?? undefined, src, warnings);
  let alternatives = built.alternatives;
  if (opts.known) {
    const known = opts.known;
    alternatives = checkAlternatives(alternatives, known, { numNodes, numNodesWhere }, warnings);
  }
  const resources: Resources[] = alternatives.map((a) => {
    setOrigins(a.r, a.origins);
    return a.r;
  });

  const task: Task = {
    file: fileAbs,
    numNodes,
    envs,
    secrets,
    fileMounts: paths.fileMounts,
    resources,
    ordered: built.ordered,
  };
  if (Object.keys(paths.storageMounts).length > 0) task.storageMounts = paths.storageMounts;
  if (raw.name !== undefined) task.name = raw.name;
  if (paths.workdir !== undefined) task.workdir = paths.workdir;
  if (raw.setup !== undefined) task.setup = raw.setup;
  if (raw.run !== undefined) task.run = raw.run;
  const inputs = dataEstimate(raw.inputs);
  if (inputs) task.inputs = inputs;
  const outputs = dataEstimate(raw.outputs);
  if (outputs) task.outputs = outputs;
  if (raw.estimated_hours !== undefined) task.estimatedHours = raw.estimated_hours;
  if (raw.depends_on !== undefined) task.dependsOn = raw.depends_on;
  if (built.recovery?.value !== undefined) task.jobRecovery = built.recovery.value;
  if (raw.config !== undefined && raw.config !== null) {
    task.config = parseTaskConfig(src, ['config'], raw.config, warnings);
  }
  const meta: TaskMeta = { numNodes: numNodesWhere, raw: rawPaths };
  const readSection = (vars: Readonly<Record<string, string>>, w: string[]) =>
    readService(raw.service, { src, vars, baseDir: dirs.baseDir, fileDir: dirs.fileDir, warnings: w });
  // As in SkyPilot, the section's strings take the task's envs (secrets: service.ts's probeWithSecrets).
  const draft = readSection(envs, warnings);
  if (draft) {
    meta.service = { draft, recovery: built.recovery?.where, reread: readSection };
    // Checked against the resources too; a service `serve up` would refuse is left unset here (a
    // launch ignores it), and checkServiceTask says why.
    const spec = trySpecFor(task, draft, built.recovery?.where);
    if (spec) task.service = spec;
  }
  setTaskMeta(task, meta);
  return task;
}

/**
 * A storage mapping of file_mounts (SkyPilot's `{name, source, store, mode, persistent}`), its keys
 * and the values that need no env substitution checked here, each error at the key or value at fault.
 */
function readStorageMapping(
  src: SourceDoc,
  remote: string,
  remoteRaw: RawStorageMount['remote'],
  value: Record<string, unknown>,
  warnings: string[],
): RawStorageMount {
  const at = (k: string): Path => ['file_mounts', remote, k];
  for (const k of Object.keys(value)) {
    if (Object.hasOwn(UNSUPPORTED_STORAGE_KEYS, k)) {
      throw src.error(at(k), `field '${k}' is not supported by skyhop (${UNSUPPORTED_STORAGE_KEYS[k]})`, {
        key: true,
      });
    }
    if (!STORAGE_KEYS.includes(k) && !Object.hasOwn(IGNORED_STORAGE_KEYS, k)) {
      throw src.error(at(k), `unknown field '${k}'${didYouMean(k, STORAGE_KEYS, 1)}`, { key: true });
    }
  }
  const str = (k: 'name' | 'source', what: string) => {
    const v = value[k];
    if (v === undefined || v === null) return undefined;
    if (k === 'source' && Array.isArray(v)) {
      throw src.error(
        at(k),
        'a list of sources is not supported yet; give one local directory (uploaded to the bucket) or a bucket URL, and copy single files with plain file_mounts entries',
      );
    }
    if (typeof v !== 'string' || v.trim() === '') throw src.error(at(k), `expected ${what}, got ${show(v)}`);
    return { value: v.trim(), where: src.where(at(k)) };
  };
  const name = str('name', 'a bucket name');
  const source = str('source', 'a local directory or a bucket URL (s3://BUCKET/PATH)');
  if (value.store !== undefined && value.store !== null) {
    const store = checkStore(value.store);
    if (!store.ok) throw src.error(at('store'), store.message);
  }
  let mode: RawStorageMount['mode'] = 'MOUNT';
  let modeWhere: RawStorageMount['modeWhere'];
  if (value.mode !== undefined && value.mode !== null) {
    const m = checkMode(value.mode);
    if (!m.ok) throw src.error(at('mode'), m.message);
    mode = m.mode;
    modeWhere = src.where(at('mode'));
  }
  let persistent = true;
  if (value.persistent !== undefined && value.persistent !== null) {
    if (typeof value.persistent !== 'boolean') {
      throw src.error(at('persistent'), `expected true or false, got ${show(value.persistent)}`);
    }
    persistent = value.persistent;
  }
  for (const [k, why] of Object.entries(IGNORED_STORAGE_KEYS)) {
    if (Object.hasOwn(value, k))
      warnings.push(`${src.where(at(k), { key: true }).prefix()}: ignored; ${why}`);
  }
  const out: RawStorageMount = {
    remote: remoteRaw,
    where: src.where(['file_mounts', remote]),
    mode,
    persistent,
  };
  if (name) out.name = name;
  if (source) out.source = source;
  if (modeWhere) out.modeWhere = modeWhere;
  return out;
}
