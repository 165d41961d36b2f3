/**
 * An independent brute-force planner for the optimizer tests. It reads the bundled catalogs' CSV
 * rows itself (csv-parse, not src/catalog, not feasibleResources) and applies SkyPilot's documented
 * placement rules directly to the rows; chains are solved by enumerating every cloud assignment.
 *
 * Rules encoded here (as SkyPilot documents them):
 * - accelerators asked: every instance type carrying exactly that accelerator and count; on GCP the
 *   a2-highgpu-Ng (A100:N), a3-highgpu-Ng (H100:N) and g2-standard-X (L4) types carry theirs and
 *   are priced as the VM row plus the accelerator row of the same zone.
 * - instance type asked: that type.
 * - neither: the cloud's default type for the cpus/memory asked: the cheapest on-demand type of
 *   the default families (AWS m6i/c6i/r6i..., GCP n2/n4; Lambda, RunPod, FluffyCloud any),
 *   CPU-only on AWS, GCP and FluffyCloud; 8+ vCPUs when neither cpus nor memory is asked (Lambda
 *   30+, RunPod none); at least 4 GiB per vCPU when memory is not asked (RunPod: no such rule).
 * - then the cheapest row (spot price with use_spot) in the asked region/zone; times nodes and hours.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';

export interface RawRow {
  instanceType: string;
  acc: string | null;
  accCount: number | null;
  vcpus: number | null;
  mem: number | null;
  price: number | null;
  spot: number | null;
  region: string;
  zone: string | null;
}

interface TypeFacts {
  vcpus: number | null;
  mem: number | null;
  acc: { name: string; count: number } | null;
  rows: RawRow[];
}

export interface RawCatalog {
  cloud: string;
  rows: RawRow[];
  types: Map<string, TypeFacts>;
  /** GCP: accelerator rows by "name|count|region|zone". */
  accRows: Map<string, RawRow>;
}

export interface BruteRequest {
  cloud?: string;
  region?: string;
  zone?: string;
  instanceType?: string;
  cpus?: { value: number; orMore: boolean };
  memory?: { value: number; orMore: boolean };
  acc?: { name: string; count: number };
  spot: boolean;
}

export interface BruteCloudInfo {
  name: string;
  features: ReadonlySet<string>;
  egressPerGb(gb: number): number;
}

const num = (s: string | undefined): number | null => {
  if (s === undefined) return null;
  const t = s.trim();
  if (t === '' || t.toLowerCase() === 'nan') return null;
  const v = Number(t);
  return Number.isFinite(v) ? v : null;
};

function gcpCarried(t: string): { name: string; count: number } | null {
  let m = /^a2-highgpu-(\d+)g$/.exec(t);
  if (m) return { name: 'A100', count: Number(m[1]) };
  m = /^a3-highgpu-(\d+)g$/.exec(t);
  if (m) return { name: 'H100', count: Number(m[1]) };
  m = /^g2-standard-(\d+)$/.exec(t);
  if (m) {
    const l4: Record<string, number> = { 4: 1, 8: 1, 12: 1, 16: 1, 32: 1, 24: 2, 48: 4, 96: 8 };
    return l4[m[1]] === undefined ? null : { name: 'L4', count: l4[m[1]] };
  }
  return null;
}

export function loadRawCatalog(root: string, cloud: string): RawCatalog {
  const text = readFileSync(join(root, 'catalogs', cloud, 'vms.csv'), 'utf8');
  const recs = parse(text, { columns: true, skip_empty_lines: true }) as Array<Record<string, string>>;
  const rows: RawRow[] = recs.map((r) => ({
    instanceType: (r.InstanceType ?? '').trim(),
    acc: r.AcceleratorName?.trim() ? r.AcceleratorName.trim() : null,
    accCount: num(r.AcceleratorCount),
    vcpus: num(r.vCPUs),
    mem: num(r.MemoryGiB),
    price: num(r.Price),
    spot: num(r.SpotPrice),
    region: r.Region.trim(),
    zone: r.AvailabilityZone?.trim() ? r.AvailabilityZone.trim() : null,
  }));
  const types = new Map<string, TypeFacts>();
  const accRows = new Map<string, RawRow>();
  for (const row of rows) {
    if (row.instanceType === '') {
      if (row.acc && row.accCount !== null) {
        accRows.set(`${row.acc.toLowerCase()}|${row.accCount}|${row.region}|${row.zone ?? ''}`, row);
      }
      continue;
    }
    let f = types.get(row.instanceType);
    if (!f) {
      const acc =
        row.acc && row.accCount !== null
          ? { name: row.acc, count: row.accCount }
          : cloud === 'gcp'
            ? gcpCarried(row.instanceType)
            : null;
      f = { vcpus: row.vcpus, mem: row.mem, acc, rows: [] };
      types.set(row.instanceType, f);
    }
    f.rows.push(row);
  }
  return { cloud, rows, types, accRows };
}

interface DefaultRule {
  families: string[] | null;
  vcpus: number | null;
  perVcpu: number | null;
  cpuOnly: boolean;
}

const DEFAULTS: Record<string, DefaultRule> = {
  aws: {
    families: ['m6i.', 'm6id.', 'm7i.', 'r6i.', 'r6id.', 'r7i.', 'c6i.', 'c6id.', 'c7i.'],
    vcpus: 8,
    perVcpu: 4,
    cpuOnly: true,
  },
  gcp: {
    families: ['n2-standard-', 'n2-highmem-', 'n2-highcpu-', 'n4-standard-', 'n4-highcpu-', 'n4-highmem-'],
    vcpus: 8,
    perVcpu: 4,
    cpuOnly: true,
  },
  lambda: { families: null, vcpus: 30, perVcpu: 4, cpuOnly: false },
  runpod: { families: null, vcpus: null, perVcpu: null, cpuOnly: false },
  fluffycloud: { families: null, vcpus: 8, perVcpu: 4, cpuOnly: true },
};

const fits = (have: number | null, want?: { value: number; orMore: boolean }) =>
  want === undefined ||
  (have !== null && (want.orMore ? have >= want.value - 1e-9 : Math.abs(have - want.value) < 1e-9));

const inPlace = (row: RawRow, q: BruteRequest) =>
  (q.region === undefined || row.region === q.region) && (q.zone === undefined || row.zone === q.zone);

/** Price of one row for the request, with GCP's carried accelerator added; null = not offered. */
function rowPrice(cat: RawCatalog, f: TypeFacts, row: RawRow, spot: boolean): number | null {
  const base = spot ? row.spot : row.price;
  if (base === null) return null;
  if (cat.cloud !== 'gcp' || !f.acc) return base;
  const a = cat.accRows.get(`${f.acc.name.toLowerCase()}|${f.acc.count}|${row.region}|${row.zone ?? ''}`);
  const extra = a ? (spot ? a.spot : a.price) : null;
  return extra === null ? null : base + extra;
}

function cheapestOnDemand(f: TypeFacts, q: BruteRequest): number | null {
  let best: number | null = null;
  for (const row of f.rows) {
    if (!inPlace(row, q) || row.price === null) continue;
    if (best === null || row.price < best) best = row.price;
  }
  return best;
}

function candidateTypes(cat: RawCatalog, q: BruteRequest): string[] {
  const fitsCpuMem = (f: TypeFacts) => fits(f.vcpus, q.cpus) && fits(f.mem, q.memory);
  const sameAcc = (f: TypeFacts) =>
    f.acc !== null &&
    q.acc !== undefined &&
    f.acc.name.toLowerCase() === q.acc.name.toLowerCase() &&
    Math.abs(f.acc.count - q.acc.count) <= 0.01;
  if (q.instanceType !== undefined) {
    const f = cat.types.get(q.instanceType);
    if (!f) return [];
    if (q.acc && !sameAcc(f)) return [];
    return fitsCpuMem(f) ? [q.instanceType] : [];
  }
  if (q.acc) return [...cat.types.entries()].filter(([, f]) => sameAcc(f) && fitsCpuMem(f)).map(([t]) => t);
  const rule = DEFAULTS[cat.cloud];
  const cpus = !q.cpus && !q.memory && rule.vcpus !== null ? { value: rule.vcpus, orMore: true } : q.cpus;
  const ratio = q.memory ? null : rule.perVcpu;
  let best: { t: string; p: number; f: TypeFacts } | null = null;
  for (const [t, f] of cat.types) {
    if (rule.families && !rule.families.some((p) => t.startsWith(p))) continue;
    if (rule.cpuOnly && f.acc) continue;
    if (!fits(f.vcpus, cpus) || !fits(f.mem, q.memory)) continue;
    if (ratio !== null && (f.vcpus === null || f.mem === null || f.mem < f.vcpus * ratio - 1e-9)) continue;
    const p = cheapestOnDemand(f, q);
    if (p === null) continue;
    const better =
      !best ||
      p < best.p ||
      (p === best.p &&
        ((f.vcpus ?? 0) < (best.f.vcpus ?? 0) ||
          ((f.vcpus ?? 0) === (best.f.vcpus ?? 0) &&
            ((f.mem ?? 0) < (best.f.mem ?? 0) || ((f.mem ?? 0) === (best.f.mem ?? 0) && t < best.t)))));
    if (better) best = { t, p, f };
  }
  return best ? [best.t] : [];
}

/** Cheapest hourly price per node of the request on one cloud; null when it offers nothing that fits. */
export function cheapestOnCloud(cat: RawCatalog, info: BruteCloudInfo, q: BruteRequest): number | null {
  if (q.cloud !== undefined && q.cloud !== cat.cloud) return null;
  if (q.spot && !info.features.has('spot')) return null;
  if (q.zone !== undefined && !info.features.has('zones')) return null;
  let best: number | null = null;
  for (const t of candidateTypes(cat, q)) {
    const f = cat.types.get(t)!;
    for (const row of f.rows) {
      if (!inPlace(row, q)) continue;
      const p = rowPrice(cat, f, row, q.spot);
      if (p !== null && (best === null || p < best)) best = p;
    }
  }
  return best;
}

export interface BruteTask {
  alternatives: BruteRequest[];
  ordered: boolean;
  nodes: number;
  hours: number;
  outputsGb?: number;
  outputsLocation?: string;
  inputs?: { location: string; gb: number; cloud?: string };
}

/** Per cloud, the cheapest compute cost of the task (ordered: only its first feasible alternative). */
export function taskCostByCloud(
  cats: RawCatalog[],
  infos: Map<string, BruteCloudInfo>,
  t: BruteTask,
): Map<string, number> {
  const perAlt = t.alternatives.map((q) => {
    const m = new Map<string, number>();
    for (const cat of cats) {
      const info = infos.get(cat.cloud)!;
      if (t.nodes > 1 && !info.features.has('multi-node')) continue;
      const p = cheapestOnCloud(cat, info, q);
      if (p !== null) m.set(cat.cloud, p * t.nodes * t.hours);
    }
    return m;
  });
  const out = new Map<string, number>();
  if (t.ordered) {
    const first = perAlt.find((m) => m.size > 0);
    return first ?? out;
  }
  for (const m of perAlt) {
    for (const [c, v] of m) if (!out.has(c) || v < out.get(c)!) out.set(c, v);
  }
  return out;
}

/**
 * Cheapest total cost of a chain t0 -> t1 -> ... (or a DAG given by edges) over every cloud
 * assignment, with egress: an edge moves the upstream's outputs (else the downstream's inputs when
 * they name no storage cloud or the upstream's output location) from the upstream's cloud; inputs
 * stored on cloud X cost X's egress when the task runs elsewhere. null when some task fits nowhere.
 */
export function bruteForcePlan(
  cats: RawCatalog[],
  infos: Map<string, BruteCloudInfo>,
  tasks: BruteTask[],
  edges: Array<[number, number]>,
): { cost: number; assignment: string[] } | null {
  const costs = tasks.map((t) => taskCostByCloud(cats, infos, t));
  if (costs.some((m) => m.size === 0)) return null;
  const options = costs.map((m) => [...m.keys()]);
  const egress = (from: string, to: string, gb: number) =>
    from === to || gb <= 0 ? 0 : (infos.get(from)?.egressPerGb(gb) ?? 0) * gb;
  const edgeGb = (u: BruteTask, v: BruteTask) => {
    if (u.outputsGb !== undefined) return u.outputsGb;
    if (v.inputs && (v.inputs.cloud === undefined || v.inputs.location === u.outputsLocation))
      return v.inputs.gb;
    return 0;
  };
  let best: { cost: number; assignment: string[] } | null = null;
  const pick: string[] = [];
  const rec = (i: number) => {
    if (i === tasks.length) {
      let total = 0;
      tasks.forEach((t, k) => {
        total += costs[k].get(pick[k])!;
        const parents = edges.filter(([, v]) => v === k).map(([u]) => tasks[u]);
        const inp = t.inputs;
        const fromParent = parents.some(
          (p) => p.outputsGb !== undefined && p.outputsLocation === inp?.location,
        );
        if (inp?.cloud !== undefined && !fromParent) total += egress(inp.cloud, pick[k], inp.gb);
      });
      for (const [u, v] of edges) total += egress(pick[u], pick[v], edgeGb(tasks[u], tasks[v]));
      if (!best || total < best.cost - 1e-12) best = { cost: total, assignment: pick.slice() };
      return;
    }
    for (const c of options[i]) {
      pick[i] = c;
      rec(i + 1);
    }
  };
  rec(0);
  return best;
}

/** Cheapest price of one instance type anywhere (GCP: with its accelerators); null if never priced. */
export function cheapestOfType(cat: RawCatalog, instanceType: string, spot: boolean): number | null {
  const f = cat.types.get(instanceType);
  if (!f) return null;
  let best: number | null = null;
  for (const row of f.rows) {
    const p = rowPrice(cat, f, row, spot);
    if (p !== null && (best === null || p < best)) best = p;
  }
  return best;
}
