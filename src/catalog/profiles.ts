/**
 * What differs between clouds' catalogs beyond their rows: the default-instance-type rule, which
 * instance types carry accelerators the CSV does not name (GCP), how GCP-style attachable
 * accelerators find a host, and whether a public catalog can be downloaded.
 *
 * The default rule follows SkyPilot's catalog modules (read 2026): when neither cpus nor memory is
 * asked, ask for `defaultVcpus`+ vCPUs; when memory is not asked, ask for memory >= `memoryPerVcpu`
 * GiB per vCPU of the type; keep only `defaultFamilies` (name prefixes) when listed; then take the
 * cheapest row anywhere (or in the asked region/zone). AWS: m6i/m6id/m7i/r6i/r6id/r7i/c6i/c6id/c7i,
 * 8+ vCPUs, 4 GiB per vCPU. GCP: n2-standard/highmem/highcpu and n4-standard/highcpu/highmem, 8+, 4.
 * Lambda: any type, 30+ vCPUs (the size of gpu_1x_a10), 4 GiB per vCPU. RunPod: no default at all
 * (the cheapest type that meets what was asked). FluffyCloud and clouds not listed: CPU-only types,
 * 8+ vCPUs, 4 GiB per vCPU. Local: the machine itself, whatever its size.
 */

export interface AcceleratorCount {
  name: string;
  count: number;
}

export interface AttachableHostRule {
  /** Instance type prefixes that can host an attached accelerator (GCP: n1-*). */
  prefixes: string[];
  /** vCPUs the host gets by default for COUNT of NAME; null when that count cannot be attached. */
  defaultVcpus(name: string, count: number): number | null;
  /** Default host memory in GiB per vCPU asked. */
  memoryPerVcpu: number;
}

export interface CatalogProfile {
  /** Instance type name prefixes the default type is chosen from; null = any type. */
  defaultFamilies: string[] | null;
  /** vCPUs asked (as N+) when neither cpus nor memory is; null = no floor. */
  defaultVcpus: number | null;
  /** Memory asked (GiB per vCPU of the type, at least) when memory is not; null = none. */
  memoryPerVcpu: number | null;
  /** Only types without accelerators may be the default. */
  defaultCpuOnly: boolean;
  /** Accelerators an instance type carries although its row names none (GCP a2/a3/g2). */
  inherentAccelerator(instanceType: string): AcceleratorCount | null;
  /** Accelerators that come only with their own machine types (never attached to a host); lower case. */
  boundAccelerators: ReadonlySet<string>;
  /** The rows of types with inherent accelerators price the VM only; the accelerator rows add the rest. */
  acceleratorPricedSeparately: boolean;
  /** How a GCP-style attachable accelerator (row without InstanceType) finds a host; null = it cannot. */
  attachableHosts: AttachableHostRule | null;
  /** AvailabilityZone must be a column of a downloaded catalog; null = either way. */
  zones: boolean | null;
  /** skypilot-catalog publishes `catalogs/v7/<cloud>/vms.csv` for it. */
  publicCatalog: boolean;
  /** Why there is nothing to download, for clouds without a public catalog. */
  noPublicCatalogReason?: string;
  /**
   * Among equally priced regions, those named `us-*` come first (SkyPilot's AWS and Lambda catalogs
   * try US regions first, read 2026); the rest of every cloud's order is by region name.
   */
  usRegionsFirst: boolean;
}

const none = () => null;

/** GCP machine types that come with GPUs (facts from GCP's machine-type documentation). */
const GCP_GPU_MACHINES: Array<[RegExp, (m: RegExpMatchArray) => AcceleratorCount | null]> = [
  [/^a2-highgpu-(1|2|4|8)g$/, (m) => ({ name: 'A100', count: Number(m[1]) })],
  [/^a2-megagpu-16g$/, () => ({ name: 'A100', count: 16 })],
  [/^a2-ultragpu-(1|2|4|8)g$/, (m) => ({ name: 'A100-80GB', count: Number(m[1]) })],
  [/^a3-highgpu-(1|2|4|8)g$/, (m) => ({ name: 'H100', count: Number(m[1]) })],
  [/^a3-megagpu-8g$/, () => ({ name: 'H100-MEGA', count: 8 })],
  [/^a3-ultragpu-8g$/, () => ({ name: 'H200', count: 8 })],
  [/^a4-highgpu-8g$/, () => ({ name: 'B200', count: 8 })],
  [
    /^g2-standard-(\d+)$/,
    (m) => {
      const l4: Record<string, number> = { 4: 1, 8: 1, 12: 1, 16: 1, 32: 1, 24: 2, 48: 4, 96: 8 };
      const n = l4[m[1]];
      return n === undefined ? null : { name: 'L4', count: n };
    },
  ],
];

function gcpInherent(instanceType: string): AcceleratorCount | null {
  for (const [re, f] of GCP_GPU_MACHINES) {
    const m = instanceType.match(re);
    if (m) return f(m);
  }
  return null;
}

/** Default n1 host vCPUs per attached GPU count on GCP (SkyPilot's table, modelled on AWS p2/p3/g4dn). */
const GCP_HOST_VCPUS: Record<string, Record<number, number>> = {
  K80: { 1: 4, 2: 8, 4: 16, 8: 32, 16: 64 },
  V100: { 1: 8, 2: 16, 4: 32, 8: 64 },
  T4: { 1: 4, 2: 8, 4: 48 },
  P100: { 1: 8, 2: 16, 4: 32, 8: 64 },
  '': { 1: 8, 2: 16, 4: 32, 8: 64, 16: 128 },
};

const gcpHosts: AttachableHostRule = {
  prefixes: ['n1-standard-', 'n1-highmem-', 'n1-highcpu-'],
  defaultVcpus(name, count) {
    if (name.toLowerCase().startsWith('tpu-')) return null;
    const table = GCP_HOST_VCPUS[name.toUpperCase()] ?? GCP_HOST_VCPUS[''];
    return table[count] ?? null;
  },
  memoryPerVcpu: 4,
};

const base: CatalogProfile = {
  defaultFamilies: null,
  defaultVcpus: 8,
  memoryPerVcpu: 4,
  defaultCpuOnly: true,
  inherentAccelerator: none,
  boundAccelerators: new Set(),
  acceleratorPricedSeparately: false,
  attachableHosts: null,
  zones: null,
  publicCatalog: false,
  usRegionsFirst: false,
};

const PROFILES: Record<string, CatalogProfile> = {
  aws: {
    ...base,
    defaultFamilies: ['m6i.', 'm6id.', 'm7i.', 'r6i.', 'r6id.', 'r7i.', 'c6i.', 'c6id.', 'c7i.'],
    zones: true,
    publicCatalog: true,
    usRegionsFirst: true,
  },
  gcp: {
    ...base,
    defaultFamilies: [
      'n2-standard-',
      'n2-highmem-',
      'n2-highcpu-',
      'n4-standard-',
      'n4-highcpu-',
      'n4-highmem-',
    ],
    inherentAccelerator: gcpInherent,
    boundAccelerators: new Set(['a100', 'a100-80gb', 'h100', 'h100-mega', 'h200', 'b200', 'l4']),
    acceleratorPricedSeparately: true,
    attachableHosts: gcpHosts,
    zones: true,
    publicCatalog: true,
  },
  lambda: {
    ...base,
    defaultVcpus: 30,
    defaultCpuOnly: false,
    zones: false,
    publicCatalog: true,
    usRegionsFirst: true,
  },
  runpod: {
    ...base,
    defaultVcpus: null,
    memoryPerVcpu: null,
    defaultCpuOnly: false,
    zones: true,
    publicCatalog: true,
  },
  fluffycloud: {
    ...base,
    zones: true,
    noPublicCatalogReason:
      'FluffyCloud is emulated; its catalog is bundled with skyhop (catalogs/fluffycloud/vms.csv)',
  },
  local: {
    ...base,
    defaultVcpus: null,
    memoryPerVcpu: null,
    defaultCpuOnly: false,
    noPublicCatalogReason: 'the catalog of the local cloud is made from this machine itself',
  },
};

/** The profile of a cloud; clouds not listed get the generic rule (CPU-only, 8+ vCPUs, 4 GiB per vCPU). */
export function catalogProfile(cloud: string): CatalogProfile {
  return PROFILES[cloud] ?? { ...base, noPublicCatalogReason: `skyhop knows no public catalog for ${cloud}` };
}

/**
 * SkyPilot's order of equally priced regions of a cloud, before the name: 0 for a region tried first,
 * 1 for the rest. AWS and Lambda try US regions (`us-*`) first; other clouds have no preference.
 */
export function regionPreference(cloud: string, region: string): number {
  return PROFILES[cloud]?.usRegionsFirst && !region.startsWith('us-') ? 1 : 0;
}

/** Clouds whose catalog `skyhop catalog update` can download. */
export function publicCatalogClouds(): string[] {
  return Object.keys(PROFILES).filter((c) => PROFILES[c].publicCatalog);
}

/** Clouds with a profile (a bundled or generated catalog). */
export function knownCatalogClouds(): string[] {
  return Object.keys(PROFILES);
}
