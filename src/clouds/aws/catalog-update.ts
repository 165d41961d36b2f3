/**
 * `skyhop catalog update aws --from-api`: rebuild the AWS catalog from EC2's own APIs.
 *
 * Per region: DescribeInstanceTypeOfferings (by availability-zone id) says which types are offered in
 * which zones; DescribeInstanceTypes (only the needed types, ≤100 per call) gives vCPUs, memory and
 * GPUs; DescribeSpotPriceHistory (Linux/UNIX, the newest price per type and zone) gives SpotPrice.
 *
 * On-demand prices come from the Price List API (pricing.ts) when it answers; when it cannot be
 * reached or refuses (no network, no pricing:GetProducts permission, an emulator without it), and for
 * types it does not list, a row keeps the on-demand Price of the current catalog's row of the same
 * type and region (empty when there is none). The progress lines say which happened.
 *
 * Rows of regions that are not refreshed are carried over unchanged. The result goes through the same
 * validation (parseCatalogCsv, at least one price) and atomic install (writeFileAtomic, then the
 * parsed cache) as `catalog update`; any API failure throws before anything is written, so the old
 * catalog stays byte-for-byte as it was.
 */
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { EC2Client } from '@aws-sdk/client-ec2';
import {
  CATALOG_COLUMNS,
  type CatalogRow,
  catalogCachePath,
  clearCatalogMemo,
  loadCatalog,
  parseCatalogCsv,
} from '../../catalog/index.js';
import { writeFileAtomic, writeParsedCache } from '../../catalog/load.js';
import { CloudError, UserError } from '../../util/errors.js';
import { type Ec2Sdk, ec2Client } from './ec2.js';
import { type PriceListOptions, pricingClient, regionOnDemandPrices } from './pricing.js';

export interface AwsApiUpdateOptions {
  /** Regions to rebuild (default: every region of the current catalog). */
  regions?: string[];
  /** Instance types to look up (default: the types of the current catalog). */
  instanceTypes?: string[];
  onProgress?(msg: string): void;
  /** SDK attempts per call (default: the EC2 client's default). */
  maxAttempts?: number;
  /** Retries and timeouts of the Price List API calls. */
  priceList?: PriceListOptions;
}

export interface AwsApiUpdateResult {
  path: string;
  /** Rows in the installed catalog (refreshed regions plus the rows carried over from other regions). */
  rows: number;
  /** The regions rebuilt from the API. */
  regions: string[];
  /** Refreshed rows whose on-demand Price came from the Price List API. */
  listed: number;
  /** Refreshed rows whose on-demand Price was kept from the current catalog. */
  kept: number;
  /** Refreshed rows (type + zone) that the current catalog did not have. */
  added: number;
}

const BATCH = 100;

/** Facts of one instance type, in the catalog's units. */
export interface TypeFacts {
  vcpus: number | null;
  memoryGiB: number | null;
  acceleratorName: string | null;
  acceleratorCount: number | null;
  gpuInfo: string | null;
}

interface GpuDevice {
  Name?: string;
  Manufacturer?: string;
  Count?: number;
  MemoryInfo?: { SizeInMiB?: number };
}

/** GpuInfo as the catalog spells it (a Python dict literal, as SkyPilot's fetcher writes it). */
export function formatGpuInfo(gpus: GpuDevice[], totalMiB: number | undefined): string {
  const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const items = gpus.map(
    (g) =>
      `{'Name': ${q(g.Name ?? '')}, 'Manufacturer': ${q(g.Manufacturer ?? '')}, 'Count': ${g.Count ?? 0}, ` +
      `'MemoryInfo': {'SizeInMiB': ${g.MemoryInfo?.SizeInMiB ?? 0}}}`,
  );
  const total = totalMiB ?? gpus.reduce((s, g) => s + (g.Count ?? 0) * (g.MemoryInfo?.SizeInMiB ?? 0), 0);
  return `{'Gpus': [${items.join(', ')}], 'TotalGpuMemoryInMiB': ${total}}`;
}

/** One DescribeInstanceTypes entry in the catalog's units (MiB → GiB; the first GPU model names the row). */
export function typeFacts(it: {
  VCpuInfo?: { DefaultVCpus?: number };
  MemoryInfo?: { SizeInMiB?: number };
  GpuInfo?: { Gpus?: GpuDevice[]; TotalGpuMemoryInMiB?: number };
}): TypeFacts {
  const gpus = it.GpuInfo?.Gpus ?? [];
  const mib = it.MemoryInfo?.SizeInMiB;
  return {
    vcpus: it.VCpuInfo?.DefaultVCpus ?? null,
    memoryGiB: mib === undefined ? null : Math.round((mib / 1024) * 1000) / 1000,
    acceleratorName: gpus.length ? (gpus[0].Name ?? null) : null,
    acceleratorCount: gpus.length ? gpus.reduce((s, g) => s + (g.Count ?? 0), 0) : null,
    gpuInfo: gpus.length ? formatGpuInfo(gpus, it.GpuInfo?.TotalGpuMemoryInMiB) : null,
  };
}

function csvField(v: string | number | null): string {
  if (v === null) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Rows as a v7 catalog CSV (the header of CATALOG_COLUMNS). */
export function rowsToCsv(rows: CatalogRow[]): string {
  const lines = [CATALOG_COLUMNS.join(',')];
  for (const r of rows) {
    lines.push(
      [
        r.instanceType,
        r.acceleratorName,
        r.acceleratorCount,
        r.vcpus,
        r.memoryGiB,
        r.gpuInfo,
        r.price,
        r.spotPrice,
        r.region,
        r.zone,
      ]
        .map(csvField)
        .join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}

function chunks<T>(xs: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

function apiError(region: string, action: string, e: unknown, keptNote: string): CloudError {
  const err = e as { name?: string; message?: string };
  return new CloudError(
    `EC2 ${action} in ${region} failed: ${err?.name ?? 'Error'}: ${err?.message ?? String(e)}; ${keptNote}. ` +
      'Check the AWS credentials and region, then run `skyhop catalog update aws --from-api` again.',
    { cause: e },
  );
}

/** The rows of one region, from the API. */
async function regionRows(
  sdk: Ec2Sdk,
  client: EC2Client,
  region: string,
  types: string[],
  call: <T>(action: string, f: () => Promise<T>) => Promise<T>,
): Promise<Array<CatalogRow & { price: null }>> {
  // Which types are offered in which zone ids.
  const offered = new Map<string, Set<string>>(); // type -> zone ids
  for (const batch of chunks(types, BATCH)) {
    let token: string | undefined;
    do {
      const out = await call('DescribeInstanceTypeOfferings', () =>
        client.send(
          new sdk.DescribeInstanceTypeOfferingsCommand({
            LocationType: 'availability-zone-id',
            Filters: [{ Name: 'instance-type', Values: batch }],
            NextToken: token,
          }),
        ),
      );
      for (const o of out.InstanceTypeOfferings ?? []) {
        if (!o.InstanceType || !o.Location) continue;
        let s = offered.get(o.InstanceType);
        if (!s) {
          s = new Set();
          offered.set(o.InstanceType, s);
        }
        s.add(o.Location);
      }
      token = out.NextToken || undefined;
    } while (token);
  }
  const present = [...offered.keys()].sort();
  if (present.length === 0) return [];

  // Facts of the offered types.
  const facts = new Map<string, TypeFacts>();
  for (const batch of chunks(present, BATCH)) {
    let token: string | undefined;
    do {
      const out = await call('DescribeInstanceTypes', () =>
        client.send(
          new sdk.DescribeInstanceTypesCommand({
            InstanceTypes: batch as import('@aws-sdk/client-ec2')._InstanceType[],
            NextToken: token,
          }),
        ),
      );
      for (const it of out.InstanceTypes ?? [])
        if (it.InstanceType) facts.set(it.InstanceType, typeFacts(it));
      token = out.NextToken || undefined;
    } while (token);
  }

  // Zone names (spot history) -> zone ids (the catalog's AvailabilityZone).
  const zones = await call('DescribeAvailabilityZones', () =>
    client.send(new sdk.DescribeAvailabilityZonesCommand({})),
  );
  const zoneId = new Map<string, string>();
  for (const z of zones.AvailabilityZones ?? []) if (z.ZoneName && z.ZoneId) zoneId.set(z.ZoneName, z.ZoneId);

  // Newest Linux/UNIX spot price per (type, zone id).
  const spot = new Map<string, { at: number; price: number }>();
  for (const batch of chunks(present, BATCH)) {
    let token: string | undefined;
    do {
      const out = await call('DescribeSpotPriceHistory', () =>
        client.send(
          new sdk.DescribeSpotPriceHistoryCommand({
            InstanceTypes: batch as import('@aws-sdk/client-ec2')._InstanceType[],
            ProductDescriptions: ['Linux/UNIX'],
            StartTime: new Date(),
            NextToken: token,
          }),
        ),
      );
      for (const p of out.SpotPriceHistory ?? []) {
        // 'Linux/UNIX' and 'Linux/UNIX (Amazon VPC)' are the same Linux price; skip SUSE, Windows, RHEL.
        if (p.ProductDescription && !p.ProductDescription.startsWith('Linux/UNIX')) continue;
        const id = p.AvailabilityZone ? (zoneId.get(p.AvailabilityZone) ?? null) : null;
        const price = Number(p.SpotPrice);
        if (!p.InstanceType || !id || !Number.isFinite(price)) continue;
        const key = `${p.InstanceType}\0${id}`;
        const at = p.Timestamp ? p.Timestamp.getTime() : 0;
        const prev = spot.get(key);
        if (!prev || at >= prev.at) spot.set(key, { at, price });
      }
      token = out.NextToken || undefined;
    } while (token);
  }

  const rows: Array<CatalogRow & { price: null }> = [];
  for (const type of present) {
    const f = facts.get(type);
    if (!f) continue; // offered but unknown to DescribeInstanceTypes: no facts to list
    for (const zone of [...(offered.get(type) ?? [])].sort()) {
      rows.push({
        instanceType: type,
        ...f,
        price: null,
        spotPrice: spot.get(`${type}\0${zone}`)?.price ?? null,
        region,
        zone,
      });
    }
  }
  return rows;
}

/**
 * Rebuild the AWS catalog from EC2's APIs and install it as the cached catalog (`loadCatalog('aws')`
 * then reports source `cache`). Throws CloudError when an API call fails or the result is not a valid
 * catalog (nothing is written then), UserError for a region the call cannot use.
 */
export async function updateAwsCatalogFromApi(opts: AwsApiUpdateOptions = {}): Promise<AwsApiUpdateResult> {
  const progress = opts.onProgress ?? (() => {});
  const current = loadCatalog('aws');
  const currentRows = parseCatalogCsv(
    await readFile(current.source.path, 'utf8'),
    'aws',
    current.source.path,
  );
  const regions = [...new Set(opts.regions?.length ? opts.regions : currentRows.map((r) => r.region))].sort();
  for (const r of regions) {
    if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(r)) {
      throw new UserError(`'${r}' is not an AWS region name (like us-east-1); fix --regions.`);
    }
  }
  const types = [
    ...new Set(opts.instanceTypes?.length ? opts.instanceTypes : currentRows.map((r) => r.instanceType)),
  ]
    .filter((t) => t !== '')
    .sort();
  if (types.length === 0) throw new UserError('No instance types to look up; pass some instance types.');

  const path = catalogCachePath('aws');
  const keptNote = (() => {
    try {
      statSync(path);
      return `the catalog at ${path} is unchanged`;
    } catch {
      return 'no catalog was installed; the bundled one stays in use';
    }
  })();

  const onDemand = new Map<string, number>();
  for (const r of currentRows) {
    if (r.price !== null && !onDemand.has(`${r.instanceType}\0${r.region}`)) {
      onDemand.set(`${r.instanceType}\0${r.region}`, r.price);
    }
  }
  const oldKeys = new Set(currentRows.map((r) => `${r.instanceType}\0${r.region}\0${r.zone ?? ''}`));

  const listPrices = await priceList(regions, new Set(types), opts, progress);
  const fresh: CatalogRow[] = [];
  let kept = 0;
  let listed = 0;
  let added = 0;
  for (const region of regions) {
    const { sdk, client } = await ec2Client(region, { maxAttempts: opts.maxAttempts });
    const call = async <T>(action: string, f: () => Promise<T>): Promise<T> => {
      try {
        return await f();
      } catch (e) {
        throw apiError(region, action, e, keptNote);
      }
    };
    let rows: CatalogRow[];
    try {
      rows = await regionRows(sdk, client, region, types, call);
    } finally {
      client.destroy();
    }
    let regionKept = 0;
    let regionListed = 0;
    let withSpot = 0;
    for (const row of rows) {
      const fromApi = listPrices.get(region)?.get(row.instanceType);
      const p = fromApi ?? onDemand.get(`${row.instanceType}\0${row.region}`);
      if (fromApi !== undefined) regionListed++;
      else if (p !== undefined) regionKept++;
      if (p !== undefined) row.price = p;
      if (row.spotPrice !== null) withSpot++;
      if (!oldKeys.has(`${row.instanceType}\0${row.region}\0${row.zone ?? ''}`)) added++;
    }
    kept += regionKept;
    listed += regionListed;
    fresh.push(...rows);
    const typeCount = new Set(rows.map((r) => r.instanceType)).size;
    progress(
      `${region}: ${typeCount} types in ${rows.length} type/zone rows, ${withSpot} with a spot price, ` +
        `${regionListed} with an on-demand price from the Price List API, ${regionKept} kept`,
    );
  }

  const refreshed = new Set(regions);
  const all = [...currentRows.filter((r) => !refreshed.has(r.region)), ...fresh];
  const text = rowsToCsv(all);
  let parsed: CatalogRow[];
  try {
    parsed = parseCatalogCsv(text, 'aws', 'the catalog built from the EC2 APIs');
    if (!parsed.some((r) => r.price !== null || r.spotPrice !== null)) {
      throw new Error('no row has a price');
    }
  } catch (e) {
    throw new CloudError(
      `The aws catalog built from the EC2 APIs is not valid: ${(e as Error).message}; ${keptNote}.`,
      {
        cause: e,
      },
    );
  }
  try {
    writeFileAtomic(path, text);
  } catch (e) {
    throw new UserError(`Could not write ${path}: ${(e as Error).message}; ${keptNote}. Check SKYHOP_HOME.`, {
      cause: e,
    });
  }
  clearCatalogMemo('aws');
  try {
    writeParsedCache('aws', path, statSync(path), parsed);
  } catch {}
  return { path, rows: parsed.length, regions, listed, kept, added };
}

/**
 * On-demand prices per region (type -> USD/hour) from the Price List API; the regions it did not
 * answer for are missing. The first failure ends the asking (an unreachable API would only time out
 * again), and is reported, not thrown: the current catalog's prices are kept instead.
 */
async function priceList(
  regions: string[],
  types: ReadonlySet<string>,
  opts: AwsApiUpdateOptions,
  progress: (msg: string) => void,
): Promise<Map<string, Map<string, number>>> {
  const out = new Map<string, Map<string, number>>();
  let client: import('@aws-sdk/client-pricing').PricingClient | null = null;
  try {
    const made = await pricingClient(opts.priceList);
    client = made.client;
    for (const region of regions) {
      const prices = await regionOnDemandPrices(made.sdk, made.client, region, types);
      out.set(region, prices);
      progress(`on-demand prices: ${region}: ${prices.size} instance types from the Price List API`);
    }
  } catch (e) {
    const err = e as { name?: string; message?: string };
    const missing = regions.filter((r) => !out.has(r));
    progress(
      `on-demand prices: the Price List API did not answer for ${missing.join(', ')} ` +
        `(${err?.name ?? 'Error'}: ${(err?.message ?? String(e)).split('\n')[0].trim()}); keeping them from the current catalog`,
    );
  } finally {
    client?.destroy();
  }
  return out;
}
