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
import { configPath, emptyConfig, type SkyhopConfig } from './config.js';
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

/** One warning per IGNORED key present in `js` (the value at `at` in `src`), in file order. */
function ignoredWarnings(src: SourceDoc, js: unknown, at: Path): string[] {
  const found: Array<{ line: number; col: number; text: string }> = [];
  for (const [key, why] of Object.entries(IGNORED)) {
    if (valueAt(js, key) === undefined) continue;
    const path = [...at, ...key.split('.')];
    found.push({
      ...src.pos(path, { key: true }),
      text: `${src.where(path, { key: true }).prefix()}: ignored; ${why}`,
    });
  }
  return found.sort((a, b) => a.line - b.line || a.col - b.col).map((f) => f.text);
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
  cfg.warnings = ignoredWarnings(src, js, []);
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
