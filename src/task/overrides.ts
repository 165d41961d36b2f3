/**
 * CLI overrides (`--gpus A100:8 --cloud aws --env K=V ...`) applied to every task and every
 * resource alternative of a Dag, as SkyPilot does. Errors name the flag.
 */
import { UserError } from '../util/errors.js';
import { parseEnvOverrides } from './env.js';
import type { KnownNames } from './known.js';
import { getOrigins, getTaskMeta, type Origins, setOrigins, setTaskMeta } from './meta.js';
import { resolvePaths } from './command.js';
import { parseImage } from './image.js';
import { trySpecFor } from './service.js';
import { type Alternative, checkAlternatives, dedupe } from './resources.js';
import { flagWhere, type Where } from '../util/yaml/where.js';
import type { AcceleratorDemand, Amount, Dag, Resources, Task } from '../core/task.js';
import {
  type InfraSpec,
  parseAccelerators,
  parseCloudName,
  parseCpus,
  parseDiskSize,
  parseInfra,
  parseMemory,
  parseNumNodes,
  parsePorts,
  ValueError,
} from './values.js';

/** The raw commander values of the resource flags (src/cli/main.ts). */
export interface CliOverrides {
  env?: string[];
  secret?: string[];
  infra?: string;
  cloud?: string;
  region?: string;
  zone?: string;
  gpus?: string;
  cpus?: string;
  memory?: string;
  instanceType?: string;
  numNodes?: string;
  useSpot?: boolean;
  diskSize?: string;
  imageId?: string;
  ports?: string[];
  name?: string;
  /** `-i/--idle-minutes-to-autostop` (minutes, already checked) and `--down`. */
  idleMinutes?: number;
  down?: boolean;
}

function flagValue<T>(flag: string, v: unknown, parse: (v: unknown) => T): T {
  try {
    return parse(v);
  } catch (e) {
    if (e instanceof ValueError) throw new UserError(`${flag}: ${e.message}`);
    throw e;
  }
}

function nonEmpty(flag: string, v: string | undefined, what: string): string | undefined {
  if (v === undefined) return undefined;
  if (v.trim() === '') throw new UserError(`${flag}: expected ${what}, got an empty value`);
  return v.trim();
}

interface Parsed {
  location?: { infra?: InfraSpec; cloud?: string; region?: string; zone?: string };
  accelerators?: AcceleratorDemand | null;
  cpus?: Amount;
  memory?: Amount;
  instanceType?: string;
  numNodes?: number;
  useSpot?: boolean;
  diskSize?: number;
  imageId?: string;
  ports?: string[];
  idleMinutes?: number;
  down?: boolean;
  env: Array<[string, string]>;
  secret: Array<[string, string]>;
}

function parseFlags(o: CliOverrides): Parsed {
  const p: Parsed = {
    env: parseEnvOverrides(o.env, '--env'),
    secret: parseEnvOverrides(o.secret, '--secret'),
  };
  if (o.infra !== undefined) {
    const other = (['cloud', 'region', 'zone'] as const).find((k) => o[k] !== undefined);
    if (other) throw new UserError(`--infra: give either --infra or --${other}, not both`);
    p.location = { infra: flagValue('--infra', o.infra, parseInfra) };
  } else if (o.cloud !== undefined || o.region !== undefined || o.zone !== undefined) {
    p.location = {
      cloud: o.cloud === undefined ? undefined : flagValue('--cloud', o.cloud, parseCloudName),
      region: nonEmpty('--region', o.region, 'a region name'),
      zone: nonEmpty('--zone', o.zone, 'a zone name'),
    };
  }
  if (o.gpus !== undefined) {
    if (o.gpus.trim().toLowerCase() === 'none') p.accelerators = null;
    else {
      const spec = flagValue('--gpus', o.gpus, parseAccelerators);
      p.accelerators = spec.alternatives[0];
    }
  }
  if (o.cpus !== undefined) p.cpus = flagValue('--cpus', o.cpus, parseCpus);
  if (o.memory !== undefined) p.memory = flagValue('--memory', o.memory, parseMemory);
  p.instanceType = nonEmpty('--instance-type', o.instanceType, 'an instance type');
  if (o.numNodes !== undefined) p.numNodes = flagValue('--num-nodes', o.numNodes, parseNumNodes);
  if (o.useSpot !== undefined) p.useSpot = o.useSpot;
  if (o.diskSize !== undefined) p.diskSize = flagValue('--disk-size', o.diskSize, parseDiskSize);
  p.imageId = nonEmpty('--image-id', o.imageId, 'an image id');
  if (o.ports !== undefined && o.ports.length > 0) p.ports = flagValue('--ports', o.ports, parsePorts);
  if (o.idleMinutes !== undefined) {
    if (!Number.isFinite(o.idleMinutes) || o.idleMinutes < 0)
      throw new UserError(`--idle-minutes-to-autostop: expected minutes (0 or more), got ${o.idleMinutes}`);
    p.idleMinutes = o.idleMinutes;
  }
  if (o.down) p.down = true;
  return p;
}

function same(a: AcceleratorDemand | null | undefined, b: AcceleratorDemand | null | undefined): boolean {
  if (!a || !b) return !a && !b;
  return a.name.toLowerCase() === b.name.toLowerCase() && a.count === b.count;
}

function set<K extends keyof Resources>(r: Resources, o: Origins, k: K, v: Resources[K], w: Where): void {
  if (v === undefined) {
    delete r[k];
    delete o[k];
  } else {
    r[k] = v;
    o[k] = w;
  }
}

function overrideAlternative(res: Resources, p: Parsed, known: KnownNames | undefined): Alternative {
  const r: Resources = { ...res };
  const o: Origins = { ...getOrigins(res) };
  if (p.location?.infra) {
    const w = flagWhere('--infra');
    set(r, o, 'cloud', p.location.infra.cloud, w);
    set(r, o, 'region', p.location.infra.region, w);
    set(r, o, 'zone', p.location.infra.zone, w);
  } else if (p.location) {
    const { cloud, region, zone } = p.location;
    // A new cloud makes the old region and zone meaningless; a new region, the old zone; a new zone
    // brings its own region (filled in by the checks).
    if (cloud !== undefined) {
      if (cloud !== r.cloud?.toLowerCase()) {
        if (region === undefined) set(r, o, 'region', undefined, flagWhere('--cloud'));
        if (zone === undefined) set(r, o, 'zone', undefined, flagWhere('--cloud'));
      }
      set(r, o, 'cloud', cloud, flagWhere('--cloud'));
    }
    if (region !== undefined) {
      if (region !== r.region && zone === undefined) set(r, o, 'zone', undefined, flagWhere('--region'));
      set(r, o, 'region', region, flagWhere('--region'));
    }
    if (zone !== undefined) {
      if (region === undefined) set(r, o, 'region', undefined, flagWhere('--zone'));
      set(r, o, 'zone', zone, flagWhere('--zone'));
    }
  }
  if (p.instanceType !== undefined) {
    set(r, o, 'instanceType', p.instanceType, flagWhere('--instance-type'));
    // Accelerators from the file that this type does not carry give way to the type (as in SkyPilot).
    if (p.accelerators === undefined && r.accelerators !== undefined) {
      const has = known?.acceleratorsOf(r.cloud, p.instanceType) ?? null;
      if (!known || !same(has, r.accelerators))
        set(r, o, 'accelerators', undefined, flagWhere('--instance-type'));
    }
  }
  if (p.accelerators !== undefined) {
    set(r, o, 'accelerators', p.accelerators ?? undefined, flagWhere('--gpus'));
    // An instance type from the file that does not carry the new accelerators gives way to them.
    if (p.instanceType === undefined && r.instanceType !== undefined) {
      const has = known?.acceleratorsOf(r.cloud, r.instanceType) ?? null;
      if (!known || !same(has, p.accelerators)) set(r, o, 'instanceType', undefined, flagWhere('--gpus'));
    }
  }
  if (p.cpus) set(r, o, 'cpus', p.cpus, flagWhere('--cpus'));
  if (p.memory) set(r, o, 'memory', p.memory, flagWhere('--memory'));
  if (p.useSpot !== undefined)
    set(r, o, 'useSpot', p.useSpot, flagWhere(p.useSpot ? '--use-spot' : '--no-use-spot'));
  if (p.diskSize !== undefined) set(r, o, 'diskSize', p.diskSize, flagWhere('--disk-size'));
  if (p.imageId !== undefined) {
    // --image-id docker:IMAGE replaces the file's container, anything else its VM image; never both.
    const img = flagValue('--image-id', p.imageId, (v) => parseImage(String(v)));
    const w = flagWhere('--image-id');
    set(r, o, 'imageId', img.kind === 'vm' ? img.id : undefined, w);
    set(r, o, 'dockerImage', img.kind === 'docker' ? img.image : undefined, w);
  }
  if (p.ports) set(r, o, 'ports', p.ports, flagWhere('--ports'));
  if (p.idleMinutes !== undefined || p.down) {
    // -i replaces the file's idle minutes, --down its action; --down alone tears down once idle.
    const autostop = {
      idleMinutes: p.idleMinutes ?? r.autostop?.idleMinutes ?? 0,
      down: p.down === true || (r.autostop?.down ?? false),
    };
    set(
      r,
      o,
      'autostop',
      autostop,
      flagWhere(p.idleMinutes !== undefined ? '--idle-minutes-to-autostop' : '--down'),
    );
  }
  return { r, origins: o };
}

function overrideTask(t: Task, p: Parsed, known: KnownNames | undefined, warnings: string[]): Task {
  const meta = getTaskMeta(t) ?? {};
  const task: Task = { ...t, envs: { ...t.envs }, secrets: { ...t.secrets } };
  for (const [k, v] of p.env) task.envs[k] = v;
  for (const [k, v] of p.secret) task.secrets[k] = v;
  for (const k of Object.keys(task.secrets)) {
    if (Object.hasOwn(task.envs, k)) {
      throw new UserError(`--secret ${k}: '${k}' is also an env of the task; keep it in one of them`);
    }
  }
  if (p.env.length > 0 && meta.raw) {
    const paths = resolvePaths(meta.raw, task.envs, warnings);
    if (paths.workdir !== undefined) task.workdir = paths.workdir;
    task.fileMounts = paths.fileMounts;
    if (Object.keys(paths.storageMounts).length > 0) task.storageMounts = paths.storageMounts;
    else delete task.storageMounts;
  }
  let numNodesWhere = meta.numNodes;
  if (p.numNodes !== undefined) {
    task.numNodes = p.numNodes;
    numNodesWhere = flagWhere('--num-nodes');
  }
  let alts = dedupe(t.resources.map((r) => overrideAlternative(r, p, known)));
  if (known)
    alts = dedupe(checkAlternatives(alts, known, { numNodes: task.numNodes, numNodesWhere }, warnings));
  task.resources = alts.map((a) => {
    setOrigins(a.r, a.origins);
    return a.r;
  });
  let service = meta.service;
  if (service) {
    // New env values reach the section's strings; new resources its port and spot checks.
    if (p.env.length > 0 && service.reread) {
      const draft = service.reread(task.envs, warnings);
      if (draft) service = { ...service, draft };
    }
    const spec = trySpecFor(task, service.draft, service.recovery);
    if (spec) task.service = spec;
    else delete task.service;
  }
  setTaskMeta(task, { ...meta, numNodes: numNodesWhere, service });
  return task;
}

/**
 * Applies the CLI's resource flags to every task and alternative (a new Dag; the input is not
 * changed). With `known`, the result is checked against the catalogs. `--env` changes re-run the
 * ${VAR} substitution in workdir/file_mounts (buckets included) of tasks parsed from a file.
 */
export function applyOverrides(dag: Dag, o: CliOverrides, known?: KnownNames): Dag {
  const p = parseFlags(o);
  const warnings = [...(dag.warnings ?? [])];
  const tasks = dag.tasks.map((t) => overrideTask(t, p, known, warnings));
  const name = o.name !== undefined ? nonEmpty('--name', o.name, 'a name') : undefined;
  if (name !== undefined && tasks.length === 1) tasks[0].name = name;
  const out: Dag = { name: name ?? dag.name, tasks, edges: dag.edges.map(([a, b]) => [a, b]) };
  // A warning repeated by the second check (parse, then after the overrides) is shown once.
  if (warnings.length > 0) out.warnings = [...new Set(warnings)];
  return out;
}
