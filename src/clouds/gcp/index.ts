/**
 * GCP, planning side. Provisioning comes with a later issue; `provider()` says so.
 *
 * Facts from SkyPilot's GCP cloud and catalog (read 2026): every optional feature is supported;
 * cluster names up to 35 characters (GCP's 63 minus what the provisioner appends to node names);
 * internet egress billed in tiers (below).
 *
 * Accelerators on GCP (SkyPilot's pairing, `gcp_catalog._ACC_INSTANCE_TYPE_DICTS`):
 * - A100, A100-80GB, H100, L4 come only with their own machine types: A100:N -> a2-highgpu-Ng
 *   (A100:16 -> a2-megagpu-16g), A100-80GB:N -> a2-ultragpu-Ng, H100:N -> a3-highgpu-Ng,
 *   L4:1 -> g2-standard-4/8/12/16/32, L4:2 -> g2-standard-24, L4:4 -> g2-standard-48,
 *   L4:8 -> g2-standard-96.
 * - Other GPUs (T4, V100, P100, K80, P4) attach to an n1 host: the cheapest n1-standard/highmem/highcpu
 *   type with SkyPilot's default host size for the count (e.g. T4:1 -> 4+ vCPUs, V100:1 -> 8+) and 4 GiB
 *   per vCPU, unless cpus/memory are asked. The bundled catalog subset has no n1 rows, so T4 and V100
 *   are infeasible on GCP until `skyhop catalog update gcp` brings the full catalog.
 * - Price: the catalog lists GPUs as their own rows (empty InstanceType) and the VM rows of a2/a3/g2
 *   price the host only (SkyPilot's fetcher subtracts the A100 price from A2 rows; a3/g2 VMs and their
 *   GPUs are separate SKUs), and SkyPilot's GCP cost is VM row + accelerator row. So a launchable's
 *   hourlyPrice is the VM's price plus the accelerator row's price in the same zone (both spot for
 *   spot), and only zones offering both count. E.g. a2-highgpu-8g in us-central1: 5.91582 + 23.47126.
 * - `catalog().acceleratorsOf('a2-highgpu-8g')` is A100:8 (src/catalog/profiles.ts), agreeing with the
 *   pairing above; a test checks the two agree.
 */
import type { Catalog, ResourceFilter } from '../../catalog/types.js';
import { loadCatalog } from '../../catalog/index.js';
import type { AcceleratorDemand, Resources } from '../../core/task.js';
import { ProvisioningUnavailableError } from '../errors.js';
import {
  type EgressTiers,
  feasibleFromCatalog,
  meetsAmount,
  type PlanningHooks,
  sameAccelerator,
  tieredEgressPerGb,
} from '../feasible.js';
import type { Cloud, NodeProvider } from '../types.js';
import type { Feature } from '../../core/cluster.js';
import { checkGcpCredentials } from './credentials.js';
import { classifyGcpError } from './errors.js';

const FEATURES: ReadonlySet<Feature> = new Set<Feature>([
  'stop',
  'autostop',
  'spot',
  'multi-node',
  'ports',
  'image-id',
  'disk-size',
  'labels',
  'zones',
]);

/**
 * Egress to the internet (worldwide, excluding China and Australia) as SkyPilot models it: $0.12/GB up
 * to 1 TB, $0.11 to 10 TB, $0.08 beyond. Each GB is billed at its tier's rate (SkyPilot bills the whole
 * volume at the rate of the tier it ends in, which makes 1.1 TB cheaper than 1 TB).
 */
export const GCP_EGRESS_TIERS: EgressTiers = [
  [1024, 0.12],
  [10 * 1024, 0.11],
  [Number.POSITIVE_INFINITY, 0.08],
];

/** Accelerators that come only with their machine types: name -> count -> machine types. */
export const GCP_BOUND_ACCELERATORS: Readonly<Record<string, Readonly<Record<number, readonly string[]>>>> = {
  A100: {
    1: ['a2-highgpu-1g'],
    2: ['a2-highgpu-2g'],
    4: ['a2-highgpu-4g'],
    8: ['a2-highgpu-8g'],
    16: ['a2-megagpu-16g'],
  },
  'A100-80GB': { 1: ['a2-ultragpu-1g'], 2: ['a2-ultragpu-2g'], 4: ['a2-ultragpu-4g'], 8: ['a2-ultragpu-8g'] },
  H100: { 1: ['a3-highgpu-1g'], 2: ['a3-highgpu-2g'], 4: ['a3-highgpu-4g'], 8: ['a3-highgpu-8g'] },
  L4: {
    1: ['g2-standard-4', 'g2-standard-8', 'g2-standard-12', 'g2-standard-16', 'g2-standard-32'],
    2: ['g2-standard-24'],
    4: ['g2-standard-48'],
    8: ['g2-standard-96'],
  },
};

/** Machine type -> the accelerators it comes with (inverse of the pairing). */
const BOUND_BY_TYPE: ReadonlyMap<string, { name: string; count: number }> = new Map(
  Object.entries(GCP_BOUND_ACCELERATORS).flatMap(([name, byCount]) =>
    Object.entries(byCount).flatMap(([count, types]) =>
      types.map((t) => [t, { name, count: Number(count) }] as const),
    ),
  ),
);

const HOST_PREFIXES = ['n1-standard-', 'n1-highmem-', 'n1-highcpu-'];

/** SkyPilot's default n1 host vCPUs per attached GPU count (modelled on AWS p2/p3/g4dn). */
const HOST_VCPUS: Readonly<Record<string, Readonly<Record<number, number>>>> = {
  K80: { 1: 4, 2: 8, 4: 16, 8: 32, 16: 64 },
  V100: { 1: 8, 2: 16, 4: 32, 8: 64 },
  T4: { 1: 4, 2: 8, 4: 48 },
  P100: { 1: 8, 2: 16, 4: 32, 8: 64 },
  DEFAULT: { 1: 8, 2: 16, 4: 32, 8: 64, 16: 128 },
};

function boundKey(name: string): string | undefined {
  return Object.keys(GCP_BOUND_ACCELERATORS).find((k) => k.toLowerCase() === name.toLowerCase());
}

function isHostType(t: string): boolean {
  return HOST_PREFIXES.some((p) => t.startsWith(p));
}

interface AccPrice {
  price: number | null;
  spotPrice: number | null;
}

/** Accelerator rows (empty InstanceType) indexed by "name|count|zone-or-region", built once per catalog. */
const accIndexes = new WeakMap<Catalog, Map<string, AccPrice>>();

function accKey(name: string, count: number, place: string): string {
  return `${name.toLowerCase()}|${count}|${place}`;
}

function accIndex(catalog: Catalog): Map<string, AccPrice> {
  let idx = accIndexes.get(catalog);
  if (idx) return idx;
  idx = new Map();
  for (const row of catalog.rows) {
    if (row.instanceType !== '' || !row.acceleratorName || row.acceleratorCount === null) continue;
    const key = accKey(row.acceleratorName, row.acceleratorCount, row.zone ?? row.region);
    const prev = idx.get(key);
    const min = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));
    idx.set(
      key,
      prev
        ? { price: min(prev.price, row.price), spotPrice: min(prev.spotPrice, row.spotPrice) }
        : {
            price: row.price,
            spotPrice: row.spotPrice,
          },
    );
  }
  accIndexes.set(catalog, idx);
  return idx;
}

/** The catalog's spelling of an attachable accelerator with that count, or null when it has no rows. */
function attachableName(catalog: Catalog, acc: AcceleratorDemand): string | null {
  for (const row of catalog.rows) {
    if (
      row.instanceType === '' &&
      row.acceleratorName !== null &&
      row.acceleratorCount !== null &&
      sameAccelerator({ name: row.acceleratorName, count: row.acceleratorCount }, acc)
    ) {
      return row.acceleratorName;
    }
  }
  return null;
}

function cheapestOnDemand(catalog: Catalog, t: string): number {
  return catalog.hourlyCost(t, { useSpot: false }) ?? Number.POSITIVE_INFINITY;
}

export const gcpPlanningHooks: PlanningHooks = {
  typesForAccelerator(catalog: Catalog, acc: AcceleratorDemand, filter: ResourceFilter): string[] {
    const fits = (t: string, f: ResourceFilter) => {
      const vm = catalog.vcpusMemory(t);
      return meetsAmount(vm?.vcpus ?? null, f.cpus) && meetsAmount(vm?.memoryGiB ?? null, f.memory);
    };
    const bound = boundKey(acc.name);
    if (bound !== undefined) {
      const count = Object.keys(GCP_BOUND_ACCELERATORS[bound]).find(
        (c) => Math.abs(Number(c) - acc.count) <= 0.01,
      );
      const types = count === undefined ? [] : GCP_BOUND_ACCELERATORS[bound][Number(count)];
      return types
        .filter((t) => catalog.instanceTypeExists(t) && fits(t, filter))
        .sort((a, b) => cheapestOnDemand(catalog, a) - cheapestOnDemand(catalog, b));
    }
    // Attachable GPU: one n1 host, the cheapest meeting the asked (or default) size.
    if (attachableName(catalog, acc) === null) return [];
    const table = HOST_VCPUS[acc.name.toUpperCase()] ?? HOST_VCPUS.DEFAULT;
    const f: ResourceFilter = { ...filter };
    if (!f.cpus && !f.memory) {
      const vcpus = table[acc.count];
      if (vcpus === undefined) return [];
      f.cpus = { value: vcpus, orMore: true };
    }
    if (!f.memory && f.cpus) f.memory = { value: f.cpus.value * 4, orMore: true };
    const hosts = [...new Set(catalog.rows.map((r) => r.instanceType))].filter(
      (t) => isHostType(t) && fits(t, f),
    );
    hosts.sort((a, b) => cheapestOnDemand(catalog, a) - cheapestOnDemand(catalog, b));
    return hosts.slice(0, 1);
  },

  acceleratorsOf(catalog: Catalog, instanceType: string, r: Resources) {
    const bound = BOUND_BY_TYPE.get(instanceType);
    if (bound) return { ...bound };
    if (isHostType(instanceType) && r.accelerators && boundKey(r.accelerators.name) === undefined) {
      const name = attachableName(catalog, r.accelerators);
      return name === null ? null : { name, count: r.accelerators.count };
    }
    return catalog.acceleratorsOf(instanceType);
  },

  extraHourlyPrice(catalog, _instanceType, accelerators, at) {
    if (!accelerators) return 0;
    const p = accIndex(catalog).get(accKey(accelerators.name, accelerators.count, at.zone ?? at.region));
    if (!p) return null;
    return at.useSpot ? p.spotPrice : p.price;
  },
};

export function createCloud(): Cloud {
  let catalog: Catalog | null = null;
  const cloud: Cloud = {
    name: 'gcp',
    displayName: 'GCP',
    features: FEATURES,
    maxClusterNameLength: 35,
    catalog(): Catalog {
      catalog ??= loadCatalog('gcp');
      return catalog;
    },
    checkCredentials() {
      return checkGcpCredentials();
    },
    feasibleResources(r: Resources, alternative: number) {
      return feasibleFromCatalog(cloud, r, alternative, gcpPlanningHooks);
    },
    egressCostPerGb(gb: number): number {
      return tieredEgressPerGb(gb, GCP_EGRESS_TIERS);
    },
    provider(_region: string): NodeProvider {
      throw new ProvisioningUnavailableError('GCP');
    },
    classifyError: classifyGcpError,
  };
  return cloud;
}
