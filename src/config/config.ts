/**
 * skyhop's config file, SkyPilot's `~/.sky/config.yaml` in skyhop's home: `$SKYHOP_HOME/config.yaml`,
 * or the file `SKYHOP_CONFIG` names. Same key names as SkyPilot (schema.ts says which skyhop reads,
 * which it accepts with a warning, and what a task's `config:` may override), errors at
 * file:line:col through the task parser's YAML machinery (src/util/yaml).
 *
 * The parsing (YAML, zod) is in parse.ts, loaded only when there is something to parse.
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
import type { Task } from '../core/task.js';
import { UserError } from '../util/errors.js';
import { skyhopHome } from '../util/paths.js';

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
  /** `jobs:`, for managed jobs (`skyhop jobs launch`). */
  jobs: { controller: JobsControllerConfig };
  /** `serve:`, for services (`skyhop serve up`). */
  serve: { controller: ServeControllerConfig };
  /** One line each for the keys accepted but not honoured (`file:line:col: key: ignored; why`). */
  warnings: string[];
}

/** `jobs.controller:` in the config file, with its defaults filled in. */
export interface JobsControllerConfig {
  /**
   * `jobs.controller.resources` as written (a mapping, like a task's `resources:`), or null when not
   * given. Only its shape is checked here; `controllerResources` (src/task) checks it as a task's.
   */
  resources: Record<string, unknown> | null;
  /**
   * When the controller's cluster stops (or, with `down`, goes away) once idle: `jobs.controller.autostop`,
   * or `jobs.controller.resources.autostop`, which wins as in SkyPilot; null for `false` (never).
   * Default: SkyPilot's, 10 idle minutes, stop.
   */
  autostop: { idleMinutes: number; down: boolean } | null;
  /** skyhop's `jobs.controller.poll_interval_seconds`: how often the controller checks each job's cluster. */
  pollIntervalSeconds: number;
}

/** `serve.controller:` in the config file, with its defaults filled in. */
export interface ServeControllerConfig {
  /** As `jobs.controller.resources`. */
  resources: Record<string, unknown> | null;
  /** As `jobs.controller.autostop` (the controller's process exits when it has no service). */
  autostop: { idleMinutes: number; down: boolean } | null;
  /** Seconds between two readiness probes of a replica (default 10, SkyPilot's). */
  probeIntervalSeconds: number;
  /** Seconds between two decisions of the autoscaler (default 20, SkyPilot's). */
  decisionIntervalSeconds: number;
  /** The window the load balancer's requests per second are measured over (default 60, SkyPilot's). */
  qpsWindowSeconds: number;
}

/** The serve controller's defaults (SkyPilot's constants). */
export const SERVE_CONTROLLER_DEFAULTS: Omit<ServeControllerConfig, 'resources' | 'autostop'> = {
  probeIntervalSeconds: 10,
  decisionIntervalSeconds: 20,
  qpsWindowSeconds: 60,
};

/** SkyPilot's autostop for its jobs controller: stop after 10 idle minutes. */
export const JOBS_CONTROLLER_AUTOSTOP = { idleMinutes: 10, down: false } as const;

/** The default of `jobs.controller.poll_interval_seconds`. */
export const JOBS_POLL_INTERVAL_SECONDS = 1;

/** The config file in effect: `SKYHOP_CONFIG` when set (it must exist), else `$SKYHOP_HOME/config.yaml`. */
export function configPath(): { path: string; named: boolean } {
  const named = process.env.SKYHOP_CONFIG;
  if (named !== undefined && named !== '') return { path: named, named: true };
  return { path: join(skyhopHome(), 'config.yaml'), named: false };
}

export function emptyConfig(file: string | null): SkyhopConfig {
  return {
    file,
    aws: { labels: {} },
    docker: { runOptions: [] },
    nvidiaGpus: {},
    jobs: {
      controller: {
        resources: null,
        autostop: { ...JOBS_CONTROLLER_AUTOSTOP },
        pollIntervalSeconds: JOBS_POLL_INTERVAL_SECONDS,
      },
    },
    serve: {
      controller: {
        resources: null,
        autostop: { ...JOBS_CONTROLLER_AUTOSTOP },
        ...SERVE_CONTROLLER_DEFAULTS,
      },
    },
    warnings: [],
  };
}

/** Environment overrides of the file (documented in docs/compatibility.md, "Config file"). */
function applyEnv(cfg: SkyhopConfig): SkyhopConfig {
  const vpcId = process.env.SKYHOP_AWS_VPC_ID?.trim();
  if (vpcId) cfg.aws.vpcId = vpcId;
  return cfg;
}

/**
 * Reads the config file in effect (none: an empty config) with the environment's overrides. The YAML
 * parser and the schema load only when there is a file, so a launch without one starts no faster or
 * slower than before.
 */
export async function loadConfig(): Promise<SkyhopConfig> {
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
  const { parseConfigText } = await import('./parse.js');
  return applyEnv(parseConfigText(text, path));
}

/** The config for `task`: the file's (`base`, from loadConfig()) with the task's `config:` over it. */
export function effectiveConfig(task: Pick<Task, 'config'>, base: SkyhopConfig): SkyhopConfig {
  const t = task.config ?? {};
  return {
    ...base,
    aws: { ...base.aws, labels: { ...base.aws.labels } },
    docker: { runOptions: t.docker ? [...t.docker.runOptions] : [...base.docker.runOptions] },
    nvidiaGpus: t.nvidiaGpus ? { ...t.nvidiaGpus } : { ...base.nvidiaGpus },
    // A task cannot override jobs:; the resources mapping is kept as it is (it is not copied), so
    // controllerResources still finds where in the file it came from.
    jobs: { controller: { ...base.jobs.controller } },
    serve: { controller: { ...base.serve.controller } },
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
