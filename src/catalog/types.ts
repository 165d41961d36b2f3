/**
 * One row of a SkyPilot-format catalog (vms.csv), normalised. Column order and the presence of
 * AvailabilityZone vary by cloud; GCP lists accelerators as their own rows (instanceType '').
 */
export interface CatalogRow {
  instanceType: string; // '' on GCP accelerator-only rows
  acceleratorName: string | null;
  acceleratorCount: number | null;
  vcpus: number | null;
  memoryGiB: number | null;
  gpuInfo: string | null;
  price: number | null; // on-demand USD/hour; null when the source row has none
  spotPrice: number | null; // USD/hour; null when not offered as spot
  region: string;
  zone: string | null;
}

/** Where a loaded catalog came from (the CLI says which it used). */
export interface CatalogSource {
  kind: 'bundled' | 'cache' | 'generated';
  path: string;
  /** How the rows were read: parsed from the CSV, or from the parsed cache written after an earlier parse. */
  loadedFrom?: 'csv' | 'parsed-cache';
  /** Why a source was passed over (e.g. an unreadable cached download), for the CLI to show. */
  note?: string;
}

/** Instance-type facts, the same in every region. */
export interface InstanceTypeInfo {
  instanceType: string;
  vcpus: number | null;
  memoryGiB: number | null;
  accelerator: { name: string; count: number } | null;
}

/** An instance type offered in a region (and zone, where the catalog has zones), with prices. */
export interface Offering {
  instanceType: string;
  region: string;
  zone: string | null;
  price: number | null;
  spotPrice: number | null;
}

export interface ResourceFilter {
  cpus?: { value: number; orMore: boolean };
  memory?: { value: number; orMore: boolean };
  useSpot?: boolean;
  region?: string;
  zone?: string;
}

/** One accelerator offer for `show-gpus`: the cheapest price of (instanceType, count) in a cloud. */
export interface AcceleratorOffer {
  acceleratorName: string;
  acceleratorCount: number;
  instanceType: string; // '' for GCP-style attachable accelerators
  vcpus: number | null;
  memoryGiB: number | null;
  cheapestPrice: number | null;
  cheapestPriceRegion: string | null;
  cheapestSpotPrice: number | null;
  cheapestSpotRegion: string | null;
  /** Memory of one accelerator in GiB, from GpuInfo when it says; else null. */
  deviceMemoryGiB: number | null;
}

/**
 * The seed's catalog functions, implemented once (src/catalog/catalog.ts) for every cloud.
 * Every lookup is in memory; nothing here touches the network.
 */
export interface Catalog {
  readonly cloud: string;
  readonly source: CatalogSource;
  readonly rows: readonly CatalogRow[];
  /** True when some row names an AvailabilityZone. */
  readonly hasZones: boolean;

  instanceTypeExists(instanceType: string): boolean;
  /**
   * Throws UserError (with the nearest names) if the region or zone is unknown or the zone is not in the region.
   * Returns the names as the catalog spells them (regions and zones match case-insensitively).
   */
  validateRegionZone(region?: string, zone?: string): { region?: string; zone?: string };
  /** Cheapest hourly price of the type in the region/zone (or anywhere); null if not offered (or no spot price). */
  hourlyCost(instanceType: string, opts: { useSpot: boolean; region?: string; zone?: string }): number | null;
  /** The price of a GCP-style attachable accelerator (rows with empty InstanceType); null if not offered. */
  acceleratorHourlyCost(
    name: string,
    count: number,
    opts: { useSpot: boolean; region?: string; zone?: string },
  ): number | null;
  /** Where a GCP-style attachable accelerator is offered (rows with empty InstanceType), with prices. */
  acceleratorOfferings(name: string, count: number): Offering[];
  /**
   * hourlyCost plus, where the catalog prices a type's own accelerators in separate rows (GCP a2/a3/g2),
   * their price in the same zone; the cheapest such sum. Equals hourlyCost on every other cloud.
   */
  hourlyCostWithAccelerators(
    instanceType: string,
    opts: { useSpot: boolean; region?: string; zone?: string },
  ): number | null;
  info(instanceType: string): InstanceTypeInfo | null;
  vcpusMemory(instanceType: string): { vcpus: number | null; memoryGiB: number | null } | null;
  acceleratorsOf(instanceType: string): { name: string; count: number } | null;
  /**
   * The cheapest type meeting cpus/memory under the cloud's default rule (SkyPilot's, per cloud: on AWS/GCP
   * a CPU-only general-purpose family, 8+ vCPUs when nothing is asked, memory >= 4 GiB per vCPU when memory
   * is not asked; see src/catalog/profiles.ts).
   */
  defaultInstanceType(filter?: ResourceFilter): string | null;
  /**
   * Instance types carrying exactly `count` of accelerator `name` (case-insensitive) that meet the filter,
   * sorted by cheapest price. When none match, `fuzzy` lists "NAME:COUNT" offers that come close.
   */
  instanceTypesForAccelerator(
    name: string,
    count: number,
    filter?: ResourceFilter,
  ): { instanceTypes: string[]; fuzzy: string[] };
  /** Instance types that meet cpus/memory, cheapest first; CPU-only unless `withAccelerators`. */
  instanceTypesFor(filter: ResourceFilter & { withAccelerators?: boolean }): string[];
  regions(): string[];
  zones(region: string): string[];
  /** Regions offering the type, cheapest on-demand first (then by name). */
  regionsOf(instanceType: string): string[];
  /** Zones of the region offering the type, cheapest first (on-demand, then spot, then name). */
  zonesOf(instanceType: string, region: string): string[];
  /** Every (region, zone) row of the type, with prices. */
  offerings(instanceType: string): Offering[];
  /**
   * Accelerator offers, optionally filtered by name (case-insensitive substring) and region. GCP-style
   * attachable accelerators come with a host type and the sum of both prices where the catalog has a host
   * for them; otherwise (when `includeAttachable`, the default) with instanceType '' and their own price.
   */
  listAccelerators(opts?: {
    name?: string;
    region?: string;
    includeAttachable?: boolean;
  }): AcceleratorOffer[];
  /** Every accelerator name in this catalog. */
  acceleratorNames(): string[];
}
