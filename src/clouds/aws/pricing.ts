/**
 * On-demand prices from the AWS Price List API (GetProducts of service AmazonEC2), for
 * `catalog update aws --from-api`.
 *
 * One paginated query per region, filtered as SkyPilot's catalog prices are: Linux, shared tenancy,
 * no pre-installed software, capacity status Used, no license. Each product of the reply is a JSON
 * document (a string); its OnDemand term's hourly USD price is the catalog's Price.
 *
 * The Price List API lives in a few regions only (us-east-1 answers for every EC2 region). Endpoint:
 * `SKYHOP_AWS_PRICING_ENDPOINT_URL`, else the one every AWS call of skyhop uses (ec2.ts: so with
 * moto, this goes to moto, which has no Price List API, and never to AWS). The SDK is imported on
 * first use, like EC2's.
 */
import type { PricingClient } from '@aws-sdk/client-pricing';
import { envValue } from '../credentials.js';
import { awsEndpoint, sdkModule } from './ec2.js';

/** The Price List API's own region; it serves the prices of every region. */
export const PRICING_REGION = 'us-east-1';

/** The GetProducts filters (TERM_MATCH) that pick the catalog's price of each instance type. */
export function productFilters(region: string): Array<{ Field: string; Value: string }> {
  return [
    { Field: 'regionCode', Value: region },
    { Field: 'operatingSystem', Value: 'Linux' },
    { Field: 'tenancy', Value: 'Shared' },
    { Field: 'preInstalledSw', Value: 'NA' },
    { Field: 'capacitystatus', Value: 'Used' },
    { Field: 'licenseModel', Value: 'No License required' },
  ];
}

interface PriceDimension {
  unit?: string;
  pricePerUnit?: Record<string, string>;
}

/**
 * The instance type and hourly on-demand USD price of one Price List product document, or null when
 * it is not an instance's hourly price (a product of another family, no OnDemand term, a price
 * in another unit or currency).
 */
export function hourlyPrice(doc: unknown): { instanceType: string; price: number } | null {
  let p: {
    product?: { attributes?: Record<string, string> };
    terms?: { OnDemand?: Record<string, { priceDimensions?: Record<string, PriceDimension> }> };
  };
  try {
    // The SDK hands each document over as a string or a LazyJsonString (a String object: its text).
    p =
      typeof doc === 'object' && doc !== null && !(doc instanceof String)
        ? (doc as typeof p)
        : JSON.parse(String(doc));
  } catch {
    return null;
  }
  if (typeof p !== 'object' || p === null) return null;
  const instanceType = p.product?.attributes?.instanceType;
  if (!instanceType) return null;
  for (const term of Object.values(p.terms?.OnDemand ?? {})) {
    for (const d of Object.values(term.priceDimensions ?? {})) {
      const usd = Number(d.pricePerUnit?.USD);
      if (/^hrs?$/i.test(d.unit ?? '') && d.pricePerUnit?.USD !== undefined && Number.isFinite(usd)) {
        return { instanceType, price: usd };
      }
    }
  }
  return null;
}

export interface PriceListOptions {
  /** SDK attempts per call (default 2: an unreachable API should fall back quickly). */
  maxAttempts?: number;
  /** Milliseconds to wait for a connection (default 5000) and a reply (default 30000). */
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
}

/** A Price List client for PRICING_REGION; the caller destroys it. */
export async function pricingClient(opts: PriceListOptions = {}): Promise<{
  sdk: typeof import('@aws-sdk/client-pricing');
  client: PricingClient;
}> {
  const sdk = sdkModule(await import('@aws-sdk/client-pricing'), 'PricingClient');
  const endpoint = envValue('SKYHOP_AWS_PRICING_ENDPOINT_URL') ?? awsEndpoint('PRICING');
  const client = new sdk.PricingClient({
    region: PRICING_REGION,
    maxAttempts: opts.maxAttempts ?? 2,
    requestHandler: {
      connectionTimeout: opts.connectTimeoutMs ?? 5000,
      requestTimeout: opts.requestTimeoutMs ?? 30_000,
    },
    ...(endpoint ? { endpoint } : {}),
  });
  return { sdk, client };
}

/**
 * Hourly on-demand prices of `region`, by instance type (only the types asked for). Throws what the
 * SDK throws when the API cannot be reached or refuses.
 */
export async function regionOnDemandPrices(
  sdk: typeof import('@aws-sdk/client-pricing'),
  client: PricingClient,
  region: string,
  types: ReadonlySet<string>,
): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let token: string | undefined;
  do {
    const page = await client.send(
      new sdk.GetProductsCommand({
        ServiceCode: 'AmazonEC2',
        FormatVersion: 'aws_v1',
        Filters: productFilters(region).map((f) => ({ Type: 'TERM_MATCH', ...f })),
        MaxResults: 100,
        NextToken: token,
      }),
    );
    for (const doc of page.PriceList ?? []) {
      const p = hourlyPrice(doc);
      if (p && types.has(p.instanceType) && !out.has(p.instanceType)) out.set(p.instanceType, p.price);
    }
    token = page.NextToken || undefined;
  } while (token);
  return out;
}
