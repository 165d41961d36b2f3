/**
 * Resources: merging `resources` with its any_of/ordered entries, expanding accelerator and
 * per-region image alternatives, the checks that need catalog knowledge, and a short human form.
 */
import { UserError } from '../util/errors.js';
import type { KnownNames } from './known.js';
import type { Origins, ResField } from './meta.js';
import type { RawAlternative, RawResources } from './schema.js';
import type { SourceDoc } from '../util/yaml/source.js';
import { fieldWhere, formatPath, type Path, type Where, whereError } from '../util/yaml/where.js';
import { caseInsensitiveMatch, didYouMean } from '../util/suggest.js';
import { featureField, featureMessage, type HasFeatures, missingFeatures } from '../core/features.js';
import type { AcceleratorDemand, JobRecovery, Resources } from '../core/task.js';
import { type AcceleratorSpec, scalarString } from './values.js';
import { isDockerImageId, type ParsedImage, parseImage } from './image.js';
import { parseJobRecovery, RecoveryError, recoveryToString, sameRecovery } from './recovery.js';

/** The YAML name of each Resources field (for messages about fields with no recorded origin). */
export const YAML_FIELD: Record<ResField, string> = {
  cloud: 'cloud',
  region: 'region',
  zone: 'zone',
  instanceType: 'instance_type',
  cpus: 'cpus',
  memory: 'memory',
  accelerators: 'accelerators',
  useSpot: 'use_spot',
  diskSize: 'disk_size',
  diskTier: 'disk_tier',
  networkTier: 'network_tier',
  ports: 'ports',
  imageId: 'image_id',
  dockerImage: 'image_id',
  labels: 'labels',
  autostop: 'autostop',
};

export interface Alternative {
  r: Resources;
  origins: Origins;
}

/** A mapping's `job_recovery` (or `spot_recovery`): its value (undefined for `none`) and where it is. */
export interface RecoveryAt {
  value: JobRecovery | undefined;
  where: Where;
}

interface Draft extends Alternative {
  acc?: { spec: AcceleratorSpec; where: Where };
  image?: { value: string | Record<string, string>; where: Where };
  recovery?: RecoveryAt;
}

/**
 * The `job_recovery` of one resources mapping at `path`, or undefined when it has none. `spot_recovery`
 * (SkyPilot's old name) works with a warning; both in one mapping is an error.
 */
function readRecovery(
  raw: RawAlternative,
  src: SourceDoc,
  path: Path,
  warnings: string[],
): RecoveryAt | undefined {
  const has = (v: unknown) => v !== undefined && v !== null;
  if (has(raw.job_recovery) && has(raw.spot_recovery)) {
    throw src.error(
      [...path, 'spot_recovery'],
      'give either job_recovery or spot_recovery (its old name), not both',
      {
        key: true,
      },
    );
  }
  const key = has(raw.spot_recovery) ? 'spot_recovery' : 'job_recovery';
  const value = raw[key];
  if (!has(value)) return undefined;
  if (key === 'spot_recovery') {
    const at = src.where([...path, key], { key: true }).prefix();
    warnings.push(
      `${at}: spot_recovery is the old name of job_recovery (SkyPilot deprecates it); it works, but write job_recovery`,
    );
  }
  try {
    return { value: parseJobRecovery(value), where: src.where([...path, key]) };
  } catch (e) {
    if (e instanceof RecoveryError) throw src.error([...path, key, ...e.at], e.message, { key: e.key });
    throw e;
  }
}

/** The one job_recovery of all alternatives: they must agree, as SkyPilot requires (undefined: none given). */
function agreedRecovery(drafts: Draft[], labels: string[]): RecoveryAt | undefined {
  const first = drafts[0].recovery;
  drafts.forEach((d, i) => {
    if (sameRecovery(d.recovery?.value, first?.value)) return;
    const where = (d.recovery ?? first)?.where as Where;
    throw whereError(
      where,
      `differs between alternatives: ${labels[0]} recovers with ${recoveryToString(first?.value)}, ` +
        `${labels[i]} with ${recoveryToString(d.recovery?.value)}; as in SkyPilot, every alternative must ` +
        'recover the same way: give job_recovery once, next to any_of/ordered',
    );
  });
  return first;
}

function setField<K extends ResField>(d: Draft, k: K, v: Resources[K], where: Where): void {
  if (v === undefined) delete d.r[k];
  else d.r[k] = v;
  d.origins[k] = where;
}

/** Lays one YAML resources mapping (the base, or an any_of/ordered entry) over a draft. */
function applyRaw(d: Draft, raw: RawAlternative, src: SourceDoc, path: Path): void {
  const at = (k: string) => src.where([...path, k]);
  if (raw.infra !== undefined) {
    const clash = (['cloud', 'region', 'zone'] as const).find((k) => raw[k] !== undefined);
    if (clash) {
      throw src.error(
        [...path, clash],
        `give either infra or cloud/region/zone, not both (e.g. infra: ${raw.cloud ?? raw.infra.cloud ?? 'aws'}/REGION)`,
      );
    }
    const w = at('infra');
    setField(d, 'cloud', raw.infra.cloud, w);
    setField(d, 'region', raw.infra.region, w);
    setField(d, 'zone', raw.infra.zone, w);
  }
  if (raw.cloud !== undefined) setField(d, 'cloud', raw.cloud, at('cloud'));
  if (raw.region !== undefined) setField(d, 'region', raw.region, at('region'));
  if (raw.zone !== undefined) setField(d, 'zone', raw.zone, at('zone'));
  if (raw.instance_type !== undefined) setField(d, 'instanceType', raw.instance_type, at('instance_type'));
  if (raw.cpus !== undefined) setField(d, 'cpus', raw.cpus, at('cpus'));
  if (raw.memory !== undefined) setField(d, 'memory', raw.memory, at('memory'));
  if (raw.use_spot !== undefined) setField(d, 'useSpot', raw.use_spot, at('use_spot'));
  if (raw.disk_size !== undefined) setField(d, 'diskSize', raw.disk_size, at('disk_size'));
  if (raw.disk_tier !== undefined) setField(d, 'diskTier', raw.disk_tier, at('disk_tier'));
  if (raw.network_tier !== undefined) setField(d, 'networkTier', raw.network_tier, at('network_tier'));
  if (raw.ports !== undefined) setField(d, 'ports', raw.ports, at('ports'));
  if (raw.autostop !== undefined) setField(d, 'autostop', raw.autostop ?? undefined, at('autostop'));
  if (raw.labels !== undefined) {
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(raw.labels)) {
      labels[k] = scalarString(v, src.sourceText([...path, 'labels', k]));
    }
    setField(d, 'labels', labels, at('labels'));
  }
  if (raw.accelerators !== undefined && raw.gpus !== undefined) {
    throw src.error([...path, 'gpus'], "'gpus' is another name for 'accelerators'; give only one of them");
  }
  const acc = raw.accelerators ?? raw.gpus;
  if (acc !== undefined) {
    d.acc = { spec: acc, where: at(raw.accelerators !== undefined ? 'accelerators' : 'gpus') };
    delete d.r.accelerators;
  }
  if (raw.image_id !== undefined) {
    d.image = { value: raw.image_id, where: at('image_id') };
    delete d.r.imageId;
    delete d.r.dockerImage;
  }
}

/** `image_id: docker:<image>` -> the container the task runs in; anything else -> the VM image. */
function setImage(a: Alternative, value: string, where: Where): void {
  let img: ParsedImage;
  try {
    img = parseImage(value);
  } catch (e) {
    throw whereError(where, (e as Error).message);
  }
  if (img.kind === 'docker') {
    a.r.dockerImage = img.image;
    a.origins.dockerImage = where;
  } else {
    a.r.imageId = img.id;
    a.origins.imageId = where;
  }
}

/** One draft -> its alternatives: accelerator alternatives x per-region images. */
function expand(d: Draft): Alternative[] {
  const accs: Array<AcceleratorDemand | undefined> = d.acc ? d.acc.spec.alternatives : [undefined];
  const out: Alternative[] = [];
  for (const a of accs) {
    const base: Alternative = { r: { ...d.r }, origins: { ...d.origins } };
    if (a && d.acc) {
      base.r.accelerators = { ...a };
      base.origins.accelerators = d.acc.where;
    }
    if (!d.image) {
      out.push(base);
      continue;
    }
    const img = d.image;
    if (typeof img.value === 'string') {
      setImage(base, img.value, img.where);
      out.push(base);
      continue;
    }
    const entries = Object.entries(img.value);
    const docker = entries.find(([, i]) => isDockerImageId(i));
    if (docker) {
      throw whereError(
        img.where,
        `a Docker image runs the same in every region: give image_id: ${docker[1]} rather than one per region`,
      );
    }
    if (base.r.region !== undefined) {
      const region = base.r.region;
      const hit = entries.find(([r]) => r.toLowerCase() === region.toLowerCase());
      if (!hit) {
        throw whereError(
          img.where,
          `no image for region '${region}' (images are listed for ${entries.map(([r]) => r).join(', ')})`,
        );
      }
      base.r.imageId = hit[1];
      base.origins.imageId = img.where;
      out.push(base);
      continue;
    }
    for (const [region, image] of entries) {
      out.push({
        r: { ...base.r, region, imageId: image },
        origins: { ...base.origins, region: img.where, imageId: img.where },
      });
    }
  }
  return out;
}

/**
 * The alternatives of a `resources` mapping at `at` (a task's `resources`, by default; at least one),
 * whether their order is a preference order (`ordered:` or an accelerator list), and their
 * `job_recovery` (which every alternative must share). Notes such as `spot_recovery`'s old name go to
 * `warnings`.
 */
export function buildAlternatives(
  raw: RawResources | undefined,
  src: SourceDoc,
  warnings: string[],
  at: Path = ['resources'],
): { alternatives: Alternative[]; ordered: boolean; recovery?: RecoveryAt } {
  const base: Draft = { r: { useSpot: false }, origins: {} };
  if (!raw) return { alternatives: [{ r: base.r, origins: base.origins }], ordered: false };
  applyRaw(base, raw, src, at);
  base.recovery = readRecovery(raw, src, at, warnings);
  if (raw.any_of && raw.ordered) {
    throw src.error([...at, 'ordered'], 'give either any_of or ordered, not both');
  }
  const listKey = raw.any_of ? 'any_of' : raw.ordered ? 'ordered' : undefined;
  const list = raw.any_of ?? raw.ordered;
  const drafts: Draft[] = [];
  const labels: string[] = [];
  if (!list) drafts.push(base);
  else {
    list.forEach((entry, i) => {
      const d: Draft = { r: { ...base.r }, origins: { ...base.origins }, acc: base.acc, image: base.image };
      const path = [...at, listKey as string, i];
      applyRaw(d, entry, src, path);
      d.recovery = readRecovery(entry, src, path, warnings) ?? base.recovery;
      drafts.push(d);
      labels.push(formatPath(path));
    });
  }
  const recovery = list ? agreedRecovery(drafts, labels) : base.recovery;
  let ordered = listKey === 'ordered';
  for (const d of drafts) {
    if (!d.acc || d.acc.spec.alternatives.length < 2) continue;
    if (d.acc.spec.kind === 'list') {
      if (listKey === 'any_of') {
        throw whereError(
          d.acc.where,
          'an accelerator list (tried in order) cannot be combined with any_of; use a set like {A100: 1, V100: 1}',
        );
      }
      ordered = true;
    } else if (d.acc.spec.kind === 'set' && listKey === 'ordered') {
      throw whereError(
        d.acc.where,
        'an accelerator set (no order) cannot be combined with ordered; use a list like [A100:1, V100:1]',
      );
    }
  }
  const alternatives = dedupe(drafts.flatMap(expand));
  return recovery ? { alternatives, ordered, recovery } : { alternatives, ordered };
}

function key(r: Resources): string {
  const sorted = (o: unknown): unknown =>
    o && typeof o === 'object' && !Array.isArray(o)
      ? Object.fromEntries(
          Object.entries(o as Record<string, unknown>)
            .filter(([, v]) => v !== undefined)
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
            .map(([k, v]) => [k, sorted(v)]),
        )
      : o;
  return JSON.stringify(sorted(r));
}

/** Drops later alternatives equal to an earlier one. */
export function dedupe<T extends { r: Resources }>(list: T[]): T[] {
  const seen = new Set<string>();
  return list.filter((a) => {
    const k = key(a.r);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export interface TaskContext {
  numNodes: number;
  numNodesWhere?: Where;
}

function whereOf(origins: Origins, f: ResField): Where {
  return origins[f] ?? fieldWhere(['resources', YAML_FIELD[f]]);
}

function accString(a: AcceleratorDemand): string {
  return `${a.name}:${a.count}`;
}

/**
 * Checks one alternative against the catalogs and returns it normalised: names spelt as the
 * catalog spells them, the region filled in from a zone, the cloud filled in when a region, zone
 * or instance type belongs to exactly one cloud.
 */
export function checkResources(
  res: Resources,
  origins: Origins,
  known: KnownNames,
  task: TaskContext,
): Alternative {
  const r: Resources = { ...res };
  const o: Origins = { ...origins };
  const w = (f: ResField) => whereOf(o, f);
  const fail = (f: ResField, msg: string) => whereError(w(f), msg);

  if (r.cloud !== undefined) {
    const c = caseInsensitiveMatch(r.cloud, known.clouds);
    if (!c) {
      throw fail(
        'cloud',
        `unknown cloud '${r.cloud}'${didYouMean(r.cloud, known.clouds)} (skyhop knows: ${known.clouds.join(', ')})`,
      );
    }
    r.cloud = c;
  }

  if (r.region !== undefined) {
    const region = r.region;
    if (r.cloud !== undefined) {
      const regions = known.regions(r.cloud);
      const m = caseInsensitiveMatch(region, regions);
      if (!m) throw fail('region', `unknown region '${region}' for ${r.cloud}${didYouMean(region, regions)}`);
      r.region = m;
    } else {
      const owners = known.clouds.filter((c) => caseInsensitiveMatch(region, known.regions(c)) !== undefined);
      if (owners.length === 0) {
        const all = known.clouds.flatMap((c) => known.regions(c));
        throw fail('region', `unknown region '${region}' in any cloud${didYouMean(region, all)}`);
      }
      if (owners.length === 1) {
        r.cloud = owners[0];
        r.region = caseInsensitiveMatch(region, known.regions(owners[0]));
        o.cloud = w('region');
      }
    }
  }

  if (r.zone !== undefined) {
    const zone = r.zone;
    const zoneIn = (cloud: string): { zone: string; region: string } | null => {
      const exact = known.zoneRegion(cloud, zone);
      if (exact) return { zone, region: exact };
      const m = caseInsensitiveMatch(zone, known.zones(cloud));
      const reg = m ? known.zoneRegion(cloud, m) : null;
      return m && reg ? { zone: m, region: reg } : null;
    };
    let found: { zone: string; region: string } | null = null;
    if (r.cloud !== undefined) {
      found = zoneIn(r.cloud);
      if (!found) {
        const zones = known.zones(r.cloud, r.region);
        if (known.zones(r.cloud).length === 0) throw fail('zone', `${r.cloud} has no zones; leave zone out`);
        throw fail('zone', `unknown zone '${zone}' for ${r.cloud}${didYouMean(zone, zones)}`);
      }
    } else {
      const owners = known.clouds.map((c) => [c, zoneIn(c)] as const).filter(([, z]) => z !== null);
      if (owners.length === 0) {
        const all = known.clouds.flatMap((c) => known.zones(c));
        throw fail('zone', `unknown zone '${zone}' in any cloud${didYouMean(zone, all)}`);
      }
      if (owners.length === 1) {
        r.cloud = owners[0][0];
        o.cloud = w('zone');
        found = owners[0][1];
      }
    }
    if (found) {
      r.zone = found.zone;
      if (r.region !== undefined && r.region !== found.region) {
        throw fail('zone', `zone '${found.zone}' is in region '${found.region}', not in '${r.region}'`);
      }
      if (r.region === undefined) {
        r.region = found.region;
        o.region = w('zone');
      }
    }
  }

  if (r.instanceType !== undefined) {
    const t = r.instanceType;
    if (!known.instanceTypeExists(r.cloud, t)) {
      const spelt = caseInsensitiveMatch(t, known.instanceTypes(r.cloud));
      if (spelt) r.instanceType = spelt;
      else if (r.cloud !== undefined && known.instanceTypeExists(undefined, t)) {
        const owners = known.clouds.filter((c) => known.instanceTypeExists(c, t));
        throw fail(
          'instanceType',
          `instance type '${t}' is not offered by ${r.cloud} (${owners.join(', ')} offers it)`,
        );
      } else {
        const where = r.cloud === undefined ? '' : ` for ${r.cloud}`;
        throw fail(
          'instanceType',
          `unknown instance type '${t}'${where}${didYouMean(t, known.instanceTypes(r.cloud))}`,
        );
      }
    }
    if (r.cloud === undefined) {
      const owners = known.clouds.filter((c) => known.instanceTypeExists(c, r.instanceType as string));
      if (owners.length === 1) {
        r.cloud = owners[0];
        o.cloud = w('instanceType');
      }
    }
  }

  if (r.accelerators !== undefined) {
    const a = r.accelerators;
    const names = known.acceleratorNames();
    const spelt = caseInsensitiveMatch(a.name, names);
    if (!spelt) {
      throw fail(
        'accelerators',
        `unknown accelerator '${a.name}'${didYouMean(a.name, names)}; 'skyhop show-gpus' lists them`,
      );
    }
    r.accelerators = { name: spelt, count: a.count };
    if (r.instanceType !== undefined) {
      const has = known.acceleratorsOf(r.cloud, r.instanceType);
      if (!has) {
        throw fail(
          'accelerators',
          `instance type '${r.instanceType}' has no accelerators, but ${accString(r.accelerators)} is asked for`,
        );
      }
      if (has.name.toLowerCase() !== spelt.toLowerCase() || has.count !== a.count) {
        throw fail(
          'accelerators',
          `instance type '${r.instanceType}' has ${accString(has)}, not ${accString(r.accelerators)}; ` +
            'give one of them or make them agree',
        );
      }
    }
  }

  if (r.cloud !== undefined && known.cloudHasFeature) {
    const name = r.cloud;
    const has = known.cloudHasFeature;
    const cloud: HasFeatures = { features: { has: (f) => has(name, f) } };
    const need = { ...r, numNodes: task.numNodes };
    const [missing] = missingFeatures(need, cloud);
    if (missing !== undefined) {
      const message = featureMessage(missing, name, cloud, need);
      const field = featureField(missing);
      if (field === 'numNodes') throw whereError(task.numNodesWhere ?? fieldWhere(['num_nodes']), message);
      throw fail(field, message);
    }
  }
  return { r, origins: o };
}

function amount(a: { value: number; orMore: boolean }): string {
  return `${Number(a.value.toFixed(3))}${a.orMore ? '+' : ''}`;
}

/** A short human form: `aws/us-east-1 8x A100 spot`, `gcp n2-standard-8`, `4+ vCPUs 16+ GiB`, `any`. */
export function resourcesToString(r: Resources): string {
  const parts: string[] = [];
  const loc =
    r.cloud !== undefined
      ? [r.cloud, r.region ?? (r.zone !== undefined ? '*' : undefined), r.zone]
      : r.region !== undefined || r.zone !== undefined
        ? ['*', r.region ?? '*', r.zone]
        : [];
  const locStr = loc.filter((x) => x !== undefined).join('/');
  if (locStr) parts.push(locStr);
  if (r.instanceType) parts.push(r.instanceType);
  if (r.accelerators) parts.push(`${r.accelerators.count}x ${r.accelerators.name}`);
  if (r.cpus) parts.push(`${amount(r.cpus)} vCPUs`);
  if (r.memory) parts.push(`${amount(r.memory)} GiB`);
  if (r.useSpot) parts.push('spot');
  if (r.diskSize !== undefined) parts.push(`disk ${r.diskSize} GiB`);
  if (r.diskTier) parts.push(`disk tier ${r.diskTier}`);
  if (r.networkTier === 'best') parts.push('network tier best');
  if (r.ports?.length) parts.push(`ports ${r.ports.join(',')}`);
  if (r.imageId) parts.push(`image ${r.imageId}`);
  if (r.dockerImage) parts.push(`container docker:${r.dockerImage}`);
  return parts.length ? parts.join(' ') : 'any';
}

/**
 * Clouds SkyPilot has (registry names and the `k8s` alias). An any_of/ordered alternative on one of
 * them that skyhop lacks is left out with a warning, as SkyPilot leaves out clouds that are not enabled;
 * any other unknown name is a mistake and stays an error.
 */
export const SKYPILOT_CLOUDS: ReadonlySet<string> = new Set([
  'aws',
  'azure',
  'coreweave',
  'cudo',
  'do',
  'fluidstack',
  'gcp',
  'hyperbolic',
  'ibm',
  'k8s',
  'kubernetes',
  'lambda',
  'nebius',
  'oci',
  'paperspace',
  'primeintellect',
  'runpod',
  'scp',
  'seeweb',
  'shadeform',
  'slurm',
  'ssh',
  'vast',
  'vsphere',
]);

/** Why skyhop cannot serve an alternative at all (a cloud it lacks, an accelerator no catalog knows), or null. */
function unservable(a: Alternative, known: KnownNames): string | null {
  const { r, origins } = a;
  if (r.cloud !== undefined && caseInsensitiveMatch(r.cloud, known.clouds) === undefined) {
    if (!SKYPILOT_CLOUDS.has(r.cloud.toLowerCase())) return null;
    return `${whereOf(origins, 'cloud').prefix()}: skyhop has no cloud '${r.cloud}' (it has ${known.clouds.join(', ')})`;
  }
  if (r.accelerators !== undefined) {
    const name = r.accelerators.name;
    const names = known.acceleratorNames();
    if (caseInsensitiveMatch(name, names) !== undefined) return null;
    return `${whereOf(origins, 'accelerators').prefix()}: no catalog knows accelerator '${name}'${didYouMean(name, names)}`;
  }
  return null;
}

/**
 * checkResources over every alternative. With several, one skyhop cannot serve (a cloud it lacks, an
 * accelerator no catalog knows) is left out with one warning line; when none is left, the error names
 * them all. A single alternative keeps its own error.
 */
export function checkAlternatives(
  alts: Alternative[],
  known: KnownNames,
  task: TaskContext,
  warnings: string[],
): Alternative[] {
  if (alts.length === 1) return [checkResources(alts[0].r, alts[0].origins, known, task)];
  const kept: Alternative[] = [];
  const dropped: string[] = [];
  for (const a of alts) {
    const why = unservable(a, known);
    if (why === null) kept.push(checkResources(a.r, a.origins, known, task));
    else dropped.push(why);
  }
  if (kept.length === 0) {
    const [first, ...rest] = dropped;
    throw new UserError(`${first}; no resource alternative is left that skyhop can serve`, {
      details: rest.map((m) => `also: ${m}`),
    });
  }
  for (const m of dropped) warnings.push(`${m}; this alternative is left out`);
  return kept;
}
