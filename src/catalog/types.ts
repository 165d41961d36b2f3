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
}

/**
 * The seed's catalog functions, implemented once (src/catalog/catalog.ts) for every cloud.
 * Every lookup is in memory; nothing here touches the network.
 */
export interface Catalog {
  readonly cloud: string;
  readonly source: CatalogSource;
  readonly rows: readonly CatalogRow[];

  instanceTypeExists(instanceType: string): boolean;
  /** Throws UserError (with the nearest names) if the region or zone is unknown or the zone is not in the region. */
  validateRegionZone(region?: string, zone?: string): void;
  /** Cheapest hourly price of the type in the region/zone (or anywhere); null if not offered (or no spot price). */
  hourlyCost(instanceType: string, opts: { useSpot: boolean; region?: string; zone?: string }): number | null;
  /** The price of a GCP-style attachable accelerator (rows with empty InstanceType); null if not offered. */
  acceleratorHourlyCost(
    name: string,
    count: number,
    opts: { useSpot: boolean; region?: string; zone?: string },
  ): number | null;
  info(instanceType: string): InstanceTypeInfo | null;
  vcpusMemory(instanceType: string): { vcpus: number | null; memoryGiB: number | null } | null;
  acceleratorsOf(instanceType: string): { name: string; count: number } | null;
  /** The cheapest CPU-only type meeting cpus/memory (SkyPilot's default: 8+ vCPUs when nothing is asked). */
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
  /** Instance types (no accelerator constraint) that meet cpus/memory, cheapest first. */
  instanceTypesFor(filter: ResourceFilter & { withAccelerators?: boolean }): string[];
  regions(): string[];
  zones(region: string): string[];
  regionsOf(instanceType: string): string[];
  zonesOf(instanceType: string, region: string): string[];
  /** Every (region, zone) row of the type, with prices. */
  offerings(instanceType: string): Offering[];
  /** Accelerator offers, optionally filtered by name (case-insensitive substring) and region. */
  listAccelerators(opts?: { name?: string; region?: string; includeAttachable?: boolean }): AcceleratorOffer[];
  /** Every accelerator name in this catalog. */
  acceleratorNames(): string[];
}
