/**
 * The shape of one task document (zod v4). Polymorphic values go through the parsers of
 * values.ts, so a shape error already says what was expected. Unknown fields are errors.
 */
import * as z from 'zod';
import type { AcceleratorDemand, Amount } from '../core/task.js';
import {
  type AcceleratorSpec,
  type AutostopSpec,
  type DiskTier,
  type InfraSpec,
  type NetworkTier,
  parseAccelerators,
  parseAutostop,
  parseBool,
  parseCloudName,
  parseCpus,
  parseDiskSize,
  parseDiskTier,
  parseInfra,
  parseMemory,
  parseNetworkTier,
  parseNumNodes,
  parsePorts,
  show,
  ValueError,
} from './values.js';
import { via } from '../util/yaml/shape.js';
import { SERVICE_IGNORED_WHY } from './service.js';

function str(what = 'a string'): (v: unknown) => string {
  return (v) => {
    if (typeof v !== 'string') throw new ValueError(`expected ${what}, got ${show(v)}`);
    return v;
  };
}

function nonEmptyStr(what: string): (v: unknown) => string {
  return (v) => {
    if (typeof v !== 'string' || v.trim() === '') throw new ValueError(`expected ${what}, got ${show(v)}`);
    return v.trim();
  };
}

function mapping(what: string) {
  return (iss: { code: string; input?: unknown }) =>
    iss.code === 'invalid_type' ? `expected ${what}, got ${show(iss.input)}` : undefined;
}

/** `image_id: ami-1` or per region `image_id: {us-east-1: ami-1, us-west-2: ami-2}`. */
function parseImageId(v: unknown): string | Record<string, string> {
  if (typeof v === 'string' && v.trim() !== '') return v.trim();
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length > 0 && entries.every(([, i]) => typeof i === 'string' && i.trim() !== '')) {
      return Object.fromEntries(entries.map(([r, i]) => [r, (i as string).trim()]));
    }
  }
  throw new ValueError(`expected an image id, or a mapping of region to image id, got ${show(v)}`);
}

function parseLabels(v: unknown): Record<string, string | number | boolean> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) {
    throw new ValueError(`expected a mapping of label names to values, got ${show(v)}`);
  }
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (typeof val !== 'string' && typeof val !== 'number' && typeof val !== 'boolean') {
      throw new ValueError(`label '${k}': expected a string, got ${show(val)}`);
    }
  }
  return v as Record<string, string | number | boolean>;
}

const resourceFields = {
  infra: via<InfraSpec>(parseInfra),
  cloud: via<string>(parseCloudName),
  region: via(nonEmptyStr('a region name like "us-east-1"')),
  zone: via(nonEmptyStr('a zone name like "us-east-1a"')),
  instance_type: via(nonEmptyStr('an instance type name like "m6i.large"')),
  cpus: via<Amount>(parseCpus),
  memory: via<Amount>(parseMemory),
  accelerators: via<AcceleratorSpec>(parseAccelerators),
  gpus: via<AcceleratorSpec>(parseAccelerators),
  use_spot: via<boolean>(parseBool),
  disk_size: via<number>(parseDiskSize),
  disk_tier: via<DiskTier>(parseDiskTier),
  network_tier: via<NetworkTier>(parseNetworkTier),
  ports: via<string[]>(parsePorts),
  image_id: via(parseImageId),
  labels: via(parseLabels),
  autostop: via<AutostopSpec | null>(parseAutostop),
  // Managed-job recovery (and its old name): checked by resources.ts, which points inside the value.
  job_recovery: z.unknown().optional(),
  spot_recovery: z.unknown().optional(),
};

export const RESOURCE_KEYS = [...Object.keys(resourceFields), 'any_of', 'ordered'];
export const ALTERNATIVE_KEYS = Object.keys(resourceFields);

const resourceEntry = z.strictObject(resourceFields, { error: mapping('a mapping of resource fields') });

const entries = z
  .array(resourceEntry, { error: mapping('a list of resource mappings') })
  .min(1, { error: 'expected at least one entry' })
  .nullish();

/** A `resources:` mapping (a task's, or the config file's `jobs.controller.resources`). */
export const resourcesSchema = z.strictObject(
  { ...resourceFields, any_of: entries, ordered: entries },
  { error: mapping('a mapping of resource fields (infra, accelerators, cpus, ...)') },
);

function parseEnvs(kind: string) {
  return (v: unknown): Record<string, string | number | boolean | null> => {
    if (!v || typeof v !== 'object' || Array.isArray(v)) {
      throw new ValueError(`expected a mapping of ${kind} names to values, got ${show(v)}`);
    }
    return v as Record<string, string | number | boolean | null>;
  };
}

function parseDataEstimate(v: unknown): { location: string; sizeGb: number } {
  const expected = `expected one entry like {s3://bucket/data: 100} (location: size in GB), got ${show(v)}`;
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ValueError(expected);
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length !== 1) {
    throw new ValueError(
      `expected one entry like {s3://bucket/data: 100} (location: size in GB), got ${entries.length} entries`,
    );
  }
  const [location, size] = entries[0];
  if (typeof size !== 'number' || !Number.isFinite(size) || size < 0) {
    throw new ValueError(`expected a size in GB (0 or more) for '${location}', got ${show(size)}`);
  }
  return { location, sizeGb: size };
}

function parseHours(v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new ValueError(`expected a number of hours above 0, got ${show(v)}`);
  }
  return v;
}

function parseDependsOn(v: unknown): string[] {
  const expected = `expected a task name or a list of task names, got ${show(v)}`;
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.some((x) => typeof x !== 'string' || x.trim() === '')) {
    throw new ValueError(expected);
  }
  return (list as string[]).map((x) => x.trim());
}

function parseWorkdir(v: unknown): string {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    throw new ValueError('a git workdir ({url, ref}) is not supported yet; use a local directory');
  }
  return nonEmptyStr('a local directory path')(v);
}

/**
 * A file_mounts value: a local path or a bucket URL (a string, checked after env substitution), or a
 * storage mapping `{name, source, store, mode, persistent}` (its keys are checked by parse.ts, which
 * points at each one).
 */
function parseMountValue(v: unknown): string | Record<string, unknown> {
  if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Set)) {
    return v as Record<string, unknown>;
  }
  if (typeof v === 'string' && v.trim() !== '') return v.trim();
  throw new ValueError(
    `expected a local path, a bucket URL (s3://BUCKET/PATH) or a storage mapping {name, source, mode, ...}, got ${show(v)}`,
  );
}

const taskFields = {
  name: via(str()),
  workdir: via(parseWorkdir),
  num_nodes: via<number>(parseNumNodes),
  resources: resourcesSchema.nullish(),
  envs: via(parseEnvs('environment variable')),
  secrets: via(parseEnvs('secret')),
  file_mounts: z
    .record(z.string(), via(parseMountValue), {
      error: mapping('a mapping of remote paths to local paths or buckets'),
    })
    .nullish(),
  setup: via(str('a shell script (a string)')),
  run: via(str('a shell script (a string)')),
  inputs: via(parseDataEstimate),
  outputs: via(parseDataEstimate),
  estimated_hours: via(parseHours),
  depends_on: via(parseDependsOn),
  // Task-level config overrides: checked by src/config (parseTaskConfig), which knows the keys.
  config: z.unknown().optional(),
  // `service:` is checked by service.ts (which points inside it); `launch` ignores it with a warning,
  // as `sky launch` does. `pool:` is read and ignored with a warning (pools are not built yet).
  service: z.unknown().optional(),
  pool: z.unknown().optional(),
};

export const TASK_KEYS = Object.keys(taskFields);

export const taskSchema = z.strictObject(taskFields, {
  error: mapping('a mapping of task fields (name, resources, setup, run, ...)'),
});

export type RawTask = z.output<typeof taskSchema>;
export type RawResources = NonNullable<RawTask['resources']>;
export type RawAlternative = Omit<RawResources, 'any_of' | 'ordered'>;
export type { AcceleratorDemand };

/** SkyPilot fields skyhop does not implement (-> "field 'x' is not supported by skyhop (why)"). */
export const UNSUPPORTED_TASK_FIELDS: Record<string, string> = {
  volumes:
    'SkyPilot volumes, persistent disks mounted on the nodes, are not built yet; copy data with file_mounts',
  event_callback: 'event callbacks',
  storage:
    'buckets go in file_mounts, as in SkyPilot: {/data: s3://bucket/path} or {/data: {name: bucket, source: ./dir, mode: MOUNT}}',
  execution: "job groups (a first document with 'execution:') are not built yet; launch each task on its own",
};

/**
 * Task sections `launch` reads and ignores with a warning (SkyPilot's `sky launch` does the same).
 * The `service:` one is service.ts's SERVICE_IGNORED_WHY (isServiceIgnoredWarning finds its line).
 */
export const IGNORED_TASK_FIELDS: Record<string, string> = {
  service: SERVICE_IGNORED_WHY,
  pool: 'worker pools are not built in skyhop yet',
};

export const UNSUPPORTED_RESOURCE_FIELDS: Record<string, string> = {
  accelerator_args: 'TPU settings; no TPU cloud is available',
  max_hourly_cost: 'price caps',
  volumes:
    'SkyPilot volumes, persistent disks mounted on the nodes, are not built yet; copy data with file_mounts',
  priority: 'job priorities',
};
