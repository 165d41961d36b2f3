/**
 * Parsing the config file and a task's `config:` section (zod, the YAML machinery of src/util/yaml):
 * errors at file:line:col with the nearest SkyPilot key, warnings for the SkyPilot keys skyhop does
 * not honour (schema.ts). config.ts loads this module only when there is a file to parse.
 */
import type { TaskConfig } from '../core/task.js';
import { UserError } from '../util/errors.js';
import { didYouMean } from '../util/suggest.js';
import { parseYamlDocument } from '../util/yaml/parse.js';
import { shapeError } from '../util/yaml/shape.js';
import type { Path, SourceDoc } from '../util/yaml/source.js';
import { parseAutostop } from './autostop.js';
import { configPath, emptyConfig, type JobsControllerConfig, type SkyhopConfig } from './config.js';
import { ValueError } from '../util/yaml/value.js';
import {
  FILE_KEYS,
  fileSchema,
  IGNORED,
  type RawConfig,
  type RawTaskConfig,
  TASK_OVERRIDABLE,
  taskConfigSchema,
} from './schema.js';

function toJS(src: SourceDoc): unknown {
  try {
    return src.doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    throw new UserError(`${src.file}:1:1: YAML error: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** The value at a dotted key (`aws.use_ssm`) of a parsed mapping, or undefined. */
function valueAt(js: unknown, key: string): unknown {
  let v = js;
  for (const k of key.split('.')) {
    if (!v || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, k)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

/** A warning about the key at a path: `file:line:col: key: ignored; why`, with its position for sorting. */
interface Warning {
  line: number;
  col: number;
  text: string;
}

function ignoredAt(src: SourceDoc, path: Path, why: string): Warning {
  return {
    ...src.pos(path, { key: true }),
    text: `${src.where(path, { key: true }).prefix()}: ignored; ${why}`,
  };
}

/** One warning per IGNORED key present in `js` (the value at `at` in `src`), and `more`, in file order. */
function ignoredWarnings(src: SourceDoc, js: unknown, at: Path, more: Warning[] = []): string[] {
  const found = [...more];
  for (const [key, why] of Object.entries(IGNORED)) {
    if (valueAt(js, key) !== undefined) found.push(ignoredAt(src, [...at, ...key.split('.')], why));
  }
  return found.sort((a, b) => a.line - b.line || a.col - b.col).map((f) => f.text);
}

/** Where a value of a parsed config file came from: its document and its path there. */
export interface ConfigSource {
  src: SourceDoc;
  at: Path;
}

const sources = new WeakMap<object, ConfigSource>();

/**
 * Where `value` (a mapping this module returned, such as `jobs.controller.resources`) is in its config
 * file, for checks made later with file:line:col (src/task `controllerResources`); undefined for a
 * value built in code.
 */
export function configSource(value: object): ConfigSource | undefined {
  return sources.get(value);
}

/** `resources.autostop` of a controller (it wins over `<section>.controller.autostop`, as in SkyPilot), if given. */
function resourcesAutostop(
  src: SourceDoc,
  resources: Record<string, unknown>,
  section: 'jobs' | 'serve',
): JobsControllerConfig['autostop'] | undefined {
  const v = resources.autostop;
  if (v === undefined || v === null) return undefined;
  try {
    return parseAutostop(v);
  } catch (e) {
    if (e instanceof ValueError) throw src.error([section, 'controller', 'resources', 'autostop'], e.message);
    throw e;
  }
}

/** A controller's `resources` and `autostop` -> `out`; `warnings` gets the shadowed autostop. */
function readController(
  src: SourceDoc,
  section: 'jobs' | 'serve',
  c: { resources?: Record<string, unknown> | null; autostop?: JobsControllerConfig['autostop'] },
  out: { resources: Record<string, unknown> | null; autostop: JobsControllerConfig['autostop'] },
  warnings: Warning[],
): void {
  if (c.autostop !== undefined) out.autostop = c.autostop;
  if (c.resources === undefined || c.resources === null) return;
  out.resources = c.resources;
  sources.set(c.resources, { src, at: [section, 'controller', 'resources'] });
  const inner = resourcesAutostop(src, c.resources, section);
  if (inner === undefined) return;
  if (c.autostop !== undefined) {
    const why = `${section}.controller.resources.autostop is also set and wins, as in SkyPilot`;
    warnings.push(ignoredAt(src, [section, 'controller', 'autostop'], why));
  }
  out.autostop = inner;
}

/** `jobs.controller` -> the config's, defaults kept where a key is absent. */
function readJobs(src: SourceDoc, raw: RawConfig['jobs'], cfg: SkyhopConfig, warnings: Warning[]): void {
  const c = raw?.controller;
  if (!c) return;
  const out = cfg.jobs.controller;
  if (c.poll_interval_seconds !== undefined) out.pollIntervalSeconds = c.poll_interval_seconds;
  readController(src, 'jobs', c, out, warnings);
}

/** `serve.controller` -> the config's, defaults kept where a key is absent. */
function readServe(src: SourceDoc, raw: RawConfig['serve'], cfg: SkyhopConfig, warnings: Warning[]): void {
  const c = raw?.controller;
  if (!c) return;
  const out = cfg.serve.controller;
  if (c.probe_interval_seconds !== undefined) out.probeIntervalSeconds = c.probe_interval_seconds;
  if (c.decision_interval_seconds !== undefined) out.decisionIntervalSeconds = c.decision_interval_seconds;
  if (c.qps_window_seconds !== undefined) out.qpsWindowSeconds = c.qps_window_seconds;
  readController(src, 'serve', c, out, warnings);
}

function fileKeyMessage(path: Path, key: string): string {
  const level = FILE_KEYS.filter(
    (k) => k.split('.').length === path.length + 1 && k.startsWith(path.join('.')),
  );
  const names = level.map((k) => k.split('.').pop() as string);
  return `unknown setting '${key}' (not a SkyPilot config key)${didYouMean(key, names, 1)}`;
}

/** Parses config file text; `file` names it in messages. */
export function parseConfigText(text: string, file: string): SkyhopConfig {
  const src = parseYamlDocument(text, file);
  if (src === null) return emptyConfig(file);
  const js = toJS(src);
  const r = fileSchema.safeParse(js);
  if (!r.success) throw shapeError(src, r.error, fileKeyMessage);
  const raw: RawConfig = r.data;
  const cfg = emptyConfig(file);
  const aws = raw.aws ?? {};
  if (aws.labels !== undefined && aws.instance_tags !== undefined) {
    throw src.error(
      ['aws', 'instance_tags'],
      'give either labels or instance_tags (its old name), not both',
      {
        key: true,
      },
    );
  }
  cfg.aws.labels = aws.labels ?? aws.instance_tags ?? {};
  if (aws.vpc_name !== undefined) cfg.aws.vpcName = aws.vpc_name;
  if (raw.docker?.run_options !== undefined) cfg.docker.runOptions = raw.docker.run_options;
  if (raw.nvidia_gpus?.disable_ecc !== undefined) cfg.nvidiaGpus.disableEcc = raw.nvidia_gpus.disable_ecc;
  const jobsWarnings: Warning[] = [];
  readJobs(src, raw.jobs, cfg, jobsWarnings);
  readServe(src, raw.serve, cfg, jobsWarnings);
  cfg.warnings = ignoredWarnings(src, js, [], jobsWarnings);
  return cfg;
}

function taskKeyMessage(at: Path) {
  return (path: Path, key: string): string => {
    const rel = [...path.slice(at.length), key].join('.');
    if (FILE_KEYS.includes(rel) || FILE_KEYS.some((k) => k.startsWith(`${rel}.`))) {
      return (
        `'${rel}' cannot be set in a task's config: as in SkyPilot, a task overrides only ` +
        `${TASK_OVERRIDABLE.slice(0, 2).join(', ')} and some kubernetes, gcp and ssh settings; ` +
        `set it in the config file (${configPath().path})`
      );
    }
    const depth = path.length - at.length;
    const names = TASK_OVERRIDABLE.filter((k) => k.split('.').length > depth).map((k) => k.split('.')[depth]);
    return `unknown field '${key}'${didYouMean(key, names, 1)}`;
  };
}

/**
 * A task's `config:` section (the value `value` at `at` in `src`): only the keys SkyPilot lets a task
 * override; keys for clouds skyhop lacks are accepted with a warning each (added to `warnings`).
 */
export function parseTaskConfig(src: SourceDoc, at: Path, value: unknown, warnings: string[]): TaskConfig {
  const r = taskConfigSchema.safeParse(value);
  if (!r.success) throw shapeError(src, r.error, taskKeyMessage(at), at);
  const raw: RawTaskConfig = r.data;
  warnings.push(...ignoredWarnings(src, value, at));
  const out: TaskConfig = {};
  if (raw.docker?.run_options !== undefined) out.docker = { runOptions: raw.docker.run_options };
  if (raw.nvidia_gpus?.disable_ecc !== undefined)
    out.nvidiaGpus = { disableEcc: raw.nvidia_gpus.disable_ecc };
  return out;
}
