/**
 * skyhop's config file, SkyPilot's `~/.sky/config.yaml` in skyhop's home: `$SKYHOP_HOME/config.yaml`,
 * or the file `SKYHOP_CONFIG` names. Same key names as SkyPilot (schema.ts says which skyhop reads,
 * which it accepts with a warning, and what a task's `config:` may override), errors at
 * file:line:col through the task parser's YAML machinery (src/util/yaml).
 *
 * One typed object, `SkyhopConfig`, carries what skyhop reads: `loadConfig()` the file's,
 * `effectiveConfig(task)` the file's with the task's `config:` laid over it (the task wins), and
 * `launchSpec` puts what a launch needs into the ClusterSpec the provider gets (providers never read
 * the file). Environment variables that tests and scripts set stay overrides of the file:
 * `SKYHOP_AWS_VPC_ID` (a VPC id; wins over `aws.vpc_name`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterSpec } from '../core/cluster.js';
import type { Task, TaskConfig } from '../core/task.js';
import { UserError } from '../util/errors.js';
import { skyhopHome } from '../util/paths.js';
import { didYouMean } from '../util/suggest.js';
import { parseYamlDocument } from '../util/yaml/parse.js';
import { shapeError } from '../util/yaml/shape.js';
import type { Path, SourceDoc } from '../util/yaml/source.js';
import {
  FILE_KEYS,
  fileSchema,
  IGNORED,
  type RawConfig,
  type RawTaskConfig,
  TASK_OVERRIDABLE,
  taskConfigSchema,
} from './schema.js';

export interface SkyhopConfig {
  /** The file it was read from; null when there is none. */
  file: string | null;
  aws: {
    /** `aws.labels` (or `aws.instance_tags`): tags on every instance; a task's own labels win. */
    labels: Record<string, string>;
    /** `aws.vpc_name`: launch in the VPC with this Name tag (in each region) instead of the default VPC. */
    vpcName?: string;
    /** env `SKYHOP_AWS_VPC_ID`: launch in this VPC (wins over vpcName). */
    vpcId?: string;
  };
  docker: {
    /**
     * `docker.run_options`: extra options for the task container's `docker run` (image_id:
     * docker:...), passed by the container runtime to its container start.
     */
    runOptions: string[];
  };
  nvidiaGpus: { disableEcc?: boolean };
  /** One line each for the keys accepted but not honoured (`file:line:col: key: ignored; why`). */
  warnings: string[];
}

/** The config file in effect: `SKYHOP_CONFIG` when set (it must exist), else `$SKYHOP_HOME/config.yaml`. */
export function configPath(): { path: string; named: boolean } {
  const named = process.env.SKYHOP_CONFIG;
  if (named !== undefined && named !== '') return { path: named, named: true };
  return { path: join(skyhopHome(), 'config.yaml'), named: false };
}

function emptyConfig(file: string | null): SkyhopConfig {
  return { file, aws: { labels: {} }, docker: { runOptions: [] }, nvidiaGpus: {}, warnings: [] };
}

/** Environment overrides of the file (documented in docs/compatibility.md, "Config file"). */
function applyEnv(cfg: SkyhopConfig): SkyhopConfig {
  const vpcId = process.env.SKYHOP_AWS_VPC_ID?.trim();
  if (vpcId) cfg.aws.vpcId = vpcId;
  return cfg;
}

/** Reads the config file in effect (none: an empty config) with the environment's overrides. */
export function loadConfig(): SkyhopConfig {
  const { path, named } = configPath();
  if (!named && !existsSync(path)) return applyEnv(emptyConfig(null));
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new UserError(`${path}: no such file (SKYHOP_CONFIG names it); create it or unset SKYHOP_CONFIG`);
    }
    throw new UserError(`${path}: cannot read the config file (${code ?? String(e)})`);
  }
  return applyEnv(parseConfigText(text, path));
}

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

/** The config for `task`: the file's (`base`, default loadConfig()) with the task's `config:` over it. */
export function effectiveConfig(task: Pick<Task, 'config'>, base: SkyhopConfig = loadConfig()): SkyhopConfig {
  const t = task.config ?? {};
  return {
    ...base,
    aws: { ...base.aws, labels: { ...base.aws.labels } },
    docker: { runOptions: t.docker ? [...t.docker.runOptions] : [...base.docker.runOptions] },
    nvidiaGpus: t.nvidiaGpus ? { ...t.nvidiaGpus } : { ...base.nvidiaGpus },
    warnings: [...base.warnings],
  };
}

/**
 * The spec a provider of `cloud` gets, with what the config asks of a launch there (AWS: the VPC, and
 * the config's labels under the task's own). Applied once, when a new cluster's place is chosen; the
 * spec is then recorded, so restarts and relaunches keep the network they were launched in.
 */
export function launchSpec(spec: ClusterSpec, cloud: string, cfg: SkyhopConfig): ClusterSpec {
  if (cloud !== 'aws') return spec;
  const out: ClusterSpec = { ...spec };
  if (Object.keys(cfg.aws.labels).length > 0) out.labels = { ...cfg.aws.labels, ...(spec.labels ?? {}) };
  if (cfg.aws.vpcId !== undefined) out.vpc = { id: cfg.aws.vpcId };
  else if (cfg.aws.vpcName !== undefined) out.vpc = { name: cfg.aws.vpcName };
  return out;
}
