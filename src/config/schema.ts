/**
 * The shape of the config file and of a task's `config:` section (zod v4), in SkyPilot's key names
 * (SkyPilot's `~/.sky/config.yaml`; its reference is "Advanced Configuration").
 *
 * Three kinds of key:
 * - read by skyhop: validated here and carried by `SkyhopConfig` (`aws.labels`, `aws.vpc_name`,
 *   `docker.run_options`, `jobs.controller.resources` / `autostop`), and one key of skyhop's own:
 *   `jobs.controller.poll_interval_seconds` (how often the jobs controller checks each managed job's
 *   cluster; SkyPilot has no such key), and `serve.controller.{probe,decision}_interval_seconds` and
 *   `qps_window_seconds` (the serve controller's timings, constants in SkyPilot);
 * - SkyPilot's, but not honoured by skyhop (a cloud skyhop lacks, the API server, a few jobs settings, ...):
 *   accepted as they are, each one a one-line warning with its place (IGNORED below);
 * - anything else: an error at file:line:col with the nearest SkyPilot key.
 *
 * A task's `config:` may hold only the keys SkyPilot lets a task override (its
 * OVERRIDEABLE_CONFIG_KEYS_IN_TASK): docker.run_options, nvidia_gpus.disable_ecc and a few
 * kubernetes/gcp/ssh/vast settings; any other config key there is an error saying where it belongs.
 */
import * as z from 'zod';
import { parseArgsStringToArgv } from 'string-argv';
import { via } from '../util/yaml/shape.js';
import { show, ValueError } from '../util/yaml/value.js';
import { type AutostopSpec, parseAutostop } from './autostop.js';

/** Why a value is not what was expected (a zod issue at the field). */
function mapping(what: string) {
  return (iss: { code: string; input?: unknown }) =>
    iss.code === 'invalid_type' ? `expected ${what}, got ${show(iss.input)}` : undefined;
}

/** `labels: {team: ml, cost-center: 42}`: tag names to values (numbers and booleans as written). */
export function parseLabels(v: unknown): Record<string, string> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) {
    throw new ValueError(`expected a mapping of label names to values, got ${show(v)}`);
  }
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (typeof val !== 'string' && typeof val !== 'number' && typeof val !== 'boolean') {
      throw new ValueError(`label '${k}': expected a string, got ${show(val)}`);
    }
    out[k] = String(val);
  }
  return out;
}

/**
 * `run_options: --shm-size=2g` or a list of such strings (SkyPilot takes both), as `docker run` argv
 * words: SkyPilot splices each string into a shell line, so `--label a=b` is two words and quotes group
 * (string-argv splits them). skyhop passes the words to `docker run` directly, never through a shell,
 * so `$VAR` and `;` stay literal text.
 */
export function parseRunOptions(v: unknown): string[] {
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) {
    throw new ValueError(`expected docker run options: a string or a list of strings, got ${show(v)}`);
  }
  return list.flatMap((option) => parseArgsStringToArgv(option));
}

function parseBool(v: unknown): boolean {
  if (typeof v !== 'boolean') throw new ValueError(`expected true or false, got ${show(v)}`);
  return v;
}

function parseName(what: string) {
  return (v: unknown): string => {
    if (typeof v !== 'string' || v.trim() === '') throw new ValueError(`expected ${what}, got ${show(v)}`);
    return v.trim();
  };
}

const anything = z.unknown().optional();

/** Why each SkyPilot key skyhop accepts but does not honour is ignored ('aws.use_ssm', 'kubernetes'). */
export const IGNORED: Readonly<Record<string, string>> = {
  // Clouds skyhop does not have.
  kubernetes: 'skyhop has no Kubernetes cloud',
  ssh: 'skyhop has no SSH node pools',
  slurm: 'skyhop has no Slurm cloud',
  azure: 'skyhop has no Azure cloud',
  oci: 'skyhop has no OCI cloud',
  nebius: 'skyhop has no Nebius cloud',
  vast: 'skyhop has no Vast cloud',
  ibm: 'skyhop has no IBM cloud',
  // GCP is a planning cloud in skyhop: it never launches there.
  gcp: 'skyhop plans for GCP but does not launch there',
  // SkyPilot features skyhop does not have.
  'jobs.bucket': "skyhop's managed jobs do not read it",
  'jobs.force_disable_cloud_bucket': "skyhop's managed jobs do not read it",
  'jobs.status_check': "skyhop's jobs controller checks each job every jobs.controller.poll_interval_seconds",
  'jobs.controller.high_availability': "skyhop's jobs controller has no high-availability mode",
  'jobs.controller.consolidation_mode': "skyhop's jobs controller has no consolidation mode",
  'jobs.controller.controller_logs_gc_retention_hours': 'skyhop does not garbage-collect managed job logs',
  'jobs.controller.task_logs_gc_retention_hours': 'skyhop does not garbage-collect managed job logs',
  'serve.controller.high_availability': "skyhop's serve controller has no high-availability mode",
  'serve.controller.consolidation_mode': "skyhop's serve controller has no consolidation mode",
  'api_server.service_account_token': 'skyhop logs in with skyhop api login (its token file), not this key',
  'api_server.requests_retention_hours': "skyhop's team server keeps requests until they are deleted",
  workspace: 'skyhop has no workspaces',
  active_workspace: 'skyhop has no workspaces',
  workspaces: 'skyhop has no workspaces',
  rbac: "skyhop's team server has two roles, admin and user (skyhop api users add NAME --role ...)",
  db: 'skyhop keeps its state in $SKYHOP_HOME/state.db',
  daemons: 'skyhop has no API server',
  logs: 'skyhop keeps job logs on the cluster',
  data: "skyhop mounts buckets with its own rclone settings (SkyPilot's deprecated data.mount_cached.sequential_upload is not read)",
  admin_policy: 'skyhop has no admin policies',
  allowed_clouds: 'skyhop reads enabled clouds from credentials and --clouds, not from the config yet',
  provision: 'skyhop has its own SSH wait and does not install conda',
  'nvidia_gpus.disable_ecc': 'skyhop does not change GPU ECC settings yet',
  // AWS settings skyhop does not apply yet.
  'aws.prioritize_reservations': 'skyhop does not use capacity reservations yet',
  'aws.specific_reservations': 'skyhop does not use capacity reservations yet',
  'aws.disk_encrypted': 'skyhop does not encrypt disks yet',
  'aws.ssh_user': 'skyhop logs in as ubuntu on its Ubuntu images',
  'aws.security_group_name': 'skyhop makes one security group per cluster (skyhop-<cluster>)',
  'aws.vpc_names': 'skyhop reads one VPC name (aws.vpc_name)',
  'aws.use_ssm': 'skyhop reaches nodes over SSH only',
  'aws.post_provision_runcmd': 'skyhop runs no commands at instance boot yet',
  'aws.use_internal_ips': 'skyhop reaches nodes at their public IPs',
  'aws.ssh_proxy_command': 'skyhop reaches nodes without an SSH proxy',
  'aws.remote_identity': 'skyhop passes no cloud identity to the nodes',
};

/** `aws:` in the config file. */
const awsSchema = z.strictObject(
  {
    labels: via(parseLabels),
    /** SkyPilot's older name for labels. */
    instance_tags: via(parseLabels),
    vpc_name: via(parseName('a VPC name (its Name tag)')),
    prioritize_reservations: anything,
    specific_reservations: anything,
    disk_encrypted: anything,
    ssh_user: anything,
    security_group_name: anything,
    vpc_names: anything,
    use_ssm: anything,
    post_provision_runcmd: anything,
    use_internal_ips: anything,
    ssh_proxy_command: anything,
    remote_identity: anything,
  },
  { error: mapping('a mapping of AWS settings (labels, vpc_name, ...)') },
);

const dockerSchema = z.strictObject(
  { run_options: via(parseRunOptions) },
  { error: mapping('a mapping with run_options') },
);

const nvidiaSchema = z.strictObject(
  { disable_ecc: via(parseBool) },
  { error: mapping('a mapping with disable_ecc') },
);

/** `poll_interval_seconds` and the serve controller's timings: a number of seconds above 0 (fractions allowed). */
function parseSeconds(v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new ValueError(`expected a number of seconds above 0, like 1 or 0.5, got ${show(v)}`);
  }
  return v;
}

/** `resources:` of the controller: only its shape here; src/task checks it as a task's resources. */
function parseResourcesMapping(v: unknown): Record<string, unknown> {
  if (!v || typeof v !== 'object' || Array.isArray(v) || v instanceof Set) {
    throw new ValueError(
      `expected a mapping of resource fields (infra, cpus, ...), as a task's resources:, got ${show(v)}`,
    );
  }
  return v as Record<string, unknown>;
}

/** `jobs.controller:` — SkyPilot's keys, and skyhop's `poll_interval_seconds`. */
const jobsControllerSchema = z.strictObject(
  {
    resources: via(parseResourcesMapping),
    autostop: via<AutostopSpec | null>(parseAutostop),
    /** skyhop's own: seconds between the controller's checks of each job's cluster (default 1). */
    poll_interval_seconds: via(parseSeconds),
    high_availability: anything,
    consolidation_mode: anything,
    controller_logs_gc_retention_hours: anything,
    task_logs_gc_retention_hours: anything,
  },
  { error: mapping('a mapping of jobs controller settings (resources, autostop, ...)') },
);

/**
 * `serve.controller:` — SkyPilot's `resources` and `autostop`, and skyhop's own timings of the serve
 * controller (SkyPilot's are constants): how often each replica is probed, how often the autoscaler
 * decides, and the window its QPS is measured over.
 */
const serveControllerSchema = z.strictObject(
  {
    resources: via(parseResourcesMapping),
    autostop: via<AutostopSpec | null>(parseAutostop),
    probe_interval_seconds: via(parseSeconds),
    decision_interval_seconds: via(parseSeconds),
    qps_window_seconds: via(parseSeconds),
    high_availability: anything,
    consolidation_mode: anything,
  },
  { error: mapping('a mapping of serve controller settings (resources, autostop, ...)') },
);

/** `serve:` (`skyhop serve up`). */
const serveSchema = z.strictObject(
  { controller: serveControllerSchema.nullish() },
  { error: mapping('a mapping of serving settings (controller)') },
);

/** `jobs:` (managed jobs, `skyhop jobs launch`). */
const jobsSchema = z.strictObject(
  {
    controller: jobsControllerSchema.nullish(),
    bucket: anything,
    force_disable_cloud_bucket: anything,
    status_check: anything,
  },
  { error: mapping('a mapping of managed jobs settings (controller, ...)') },
);

const fileFields = {
  aws: awsSchema.nullish(),
  docker: dockerSchema.nullish(),
  nvidia_gpus: nvidiaSchema.nullish(),
  kubernetes: anything,
  ssh: anything,
  slurm: anything,
  azure: anything,
  oci: anything,
  nebius: anything,
  vast: anything,
  ibm: anything,
  gcp: anything,
  jobs: jobsSchema.nullish(),
  serve: serveSchema.nullish(),
  /** `skyhop api login` writes `endpoint`; every command then runs on that team server. */
  api_server: z
    .object({
      endpoint: z
        .string()
        .regex(/^https?:\/\/[^\s/]+\/?$/, 'must be http(s)://HOST[:PORT]')
        .optional(),
      service_account_token: anything,
      requests_retention_hours: anything,
    })
    .strict()
    .nullish(),
  workspace: anything,
  active_workspace: anything,
  workspaces: anything,
  rbac: anything,
  db: anything,
  daemons: anything,
  logs: anything,
  data: anything,
  admin_policy: anything,
  allowed_clouds: anything,
  provision: anything,
};

export const fileSchema = z.strictObject(fileFields, {
  error: mapping('a mapping of settings (aws, docker, ...)'),
});

export type RawConfig = z.output<typeof fileSchema>;

/** Every key the config file takes, dotted (`aws`, `aws.vpc_name`): for suggestions. */
export const FILE_KEYS: readonly string[] = [
  ...Object.keys(fileFields),
  ...Object.keys(awsSchema.shape).map((k) => `aws.${k}`),
  'docker.run_options',
  'nvidia_gpus.disable_ecc',
  ...Object.keys(jobsSchema.shape).map((k) => `jobs.${k}`),
  ...Object.keys(jobsControllerSchema.shape).map((k) => `jobs.controller.${k}`),
  ...Object.keys(serveSchema.shape).map((k) => `serve.${k}`),
  ...Object.keys(serveControllerSchema.shape).map((k) => `serve.controller.${k}`),
];

/** The keys a task's `config:` may override (SkyPilot's OVERRIDEABLE_CONFIG_KEYS_IN_TASK). */
export const TASK_OVERRIDABLE: readonly string[] = [
  'docker.run_options',
  'nvidia_gpus.disable_ecc',
  'kubernetes.custom_metadata',
  'kubernetes.pod_config',
  'kubernetes.provision_timeout',
  'kubernetes.dws',
  'kubernetes.kueue',
  'ssh.pod_config',
  'gcp.managed_instance_group',
  'gcp.enable_gvnic',
  'gcp.enable_gpu_direct',
  'gcp.placement_policy',
  'vast.secure_only',
  'active_workspace',
];

function section<K extends string>(keys: readonly K[], what: string) {
  return z
    .strictObject(Object.fromEntries(keys.map((k) => [k, anything])) as Record<K, typeof anything>, {
      error: mapping(what),
    })
    .nullish();
}

export const taskConfigSchema = z.strictObject(
  {
    docker: dockerSchema.nullish(),
    nvidia_gpus: nvidiaSchema.nullish(),
    kubernetes: section(
      ['custom_metadata', 'pod_config', 'provision_timeout', 'dws', 'kueue'],
      'a mapping of Kubernetes settings',
    ),
    ssh: section(['pod_config'], 'a mapping of SSH node pool settings'),
    gcp: section(
      ['managed_instance_group', 'enable_gvnic', 'enable_gpu_direct', 'placement_policy'],
      'a mapping of GCP settings',
    ),
    vast: section(['secure_only'], 'a mapping of Vast settings'),
    active_workspace: anything,
  },
  { error: mapping('a mapping of config overrides (docker, nvidia_gpus, ...)') },
);

export type RawTaskConfig = z.output<typeof taskConfigSchema>;
