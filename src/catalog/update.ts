/**
 * `skyhop catalog update`: download `<base>/catalogs/v7/<cloud>/vms.csv`, check it parses as a
 * catalog of that cloud, and only then replace the cached copy atomically (temporary file in the
 * same folder, fsync, rename). Any failure leaves the catalog that was there untouched.
 */
import { statSync } from 'node:fs';
import { CloudError, UserError } from '../util/errors.js';
import { nearestNames } from '../util/suggest.js';
import { catalogCachePath, clearCatalogMemo, writeFileAtomic, writeParsedCache } from './load.js';
import { parseCatalogCsv } from './parse.js';
import { catalogProfile, knownCatalogClouds, publicCatalogClouds } from './profiles.js';

export const DEFAULT_CATALOG_BASE_URL =
  'https://raw.githubusercontent.com/skypilot-org/skypilot-catalog/master';
export const CATALOG_SCHEMA = 'v7';
const DEFAULT_TIMEOUT_MS = 60_000;

export interface UpdateOptions {
  /** Base URL (default: $SKYHOP_CATALOG_URL, else the skypilot-catalog repository on GitHub). */
  baseUrl?: string;
  /** Give up after this long (default 60 s). */
  timeoutMs?: number;
}

export interface UpdateResult {
  cloud: string;
  rows: number;
  path: string;
  url: string;
}

/** The URL without user:password (never shown). */
function shownUrl(u: URL): string {
  const c = new URL(u.href);
  c.username = '';
  c.password = '';
  return c.href;
}

/** Throws UserError unless `cloud` has a public catalog to download. */
export function checkUpdatable(cloud: string): void {
  const profile = catalogProfile(cloud);
  if (profile.publicCatalog) return;
  const publicOnes = publicCatalogClouds();
  if (!knownCatalogClouds().includes(cloud)) {
    const near = nearestNames(cloud, publicOnes);
    throw new UserError(
      `Unknown cloud '${cloud}' for \`catalog update\`` +
        (near.length
          ? `; did you mean ${near.join(', ')}?`
          : `; clouds with a public catalog: ${publicOnes.join(', ')}.`),
    );
  }
  throw new UserError(
    `${cloud} has no public catalog to download: ${profile.noPublicCatalogReason ?? 'none is published'}. ` +
      `Clouds with one: ${publicOnes.join(', ')}.`,
  );
}

function describeFetchError(e: unknown): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError') return 'timed out';
  if (err?.name === 'AbortError') return 'aborted';
  const cause = err?.cause;
  if (cause?.code || cause?.message) return [cause.code, cause.message].filter(Boolean).join(' ').trim();
  return err?.message ?? String(e);
}

/**
 * Download, validate and install the newest catalog of `cloud`. Returns the number of rows and where
 * it now lives. Throws CloudError (download or validation failed; the old catalog is kept) or
 * UserError (no such cloud, no public catalog, a malformed base URL).
 */
export async function updateCatalog(cloud: string, opts: UpdateOptions = {}): Promise<UpdateResult> {
  checkUpdatable(cloud);
  const path = catalogCachePath(cloud);
  const base = (opts.baseUrl || process.env.SKYHOP_CATALOG_URL || DEFAULT_CATALOG_BASE_URL).replace(
    /\/+$/,
    '',
  );
  let url: URL;
  try {
    url = new URL(`${base}/catalogs/${CATALOG_SCHEMA}/${cloud}/vms.csv`);
  } catch {
    throw new UserError(
      `'${base.replace(/\/\/[^/@]*@/, '//***@')}' is not a URL; pass --base-url http(s)://HOST/PATH (or set SKYHOP_CATALOG_URL).`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UserError(
      `catalog base URL must be http(s), not ${url.protocol}; fix --base-url or SKYHOP_CATALOG_URL.`,
    );
  }
  const shown = shownUrl(url);
  // fetch refuses URLs with credentials (and would echo them in its error): send them as a header.
  const headers: Record<string, string> = { 'user-agent': 'skyhop' };
  const secrets = [url.username, url.password].filter((x) => x.length >= 3);
  if (url.username || url.password) {
    const user = decodeURIComponent(url.username);
    const pass = decodeURIComponent(url.password);
    headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    secrets.push(user, pass, headers.authorization);
  }
  const scrub = (text: string) =>
    secrets.filter((x) => x.length >= 3).reduce((t, x) => t.split(x).join('***'), text);
  const kept = (() => {
    try {
      statSync(path);
      return `the catalog at ${path} is unchanged`;
    } catch {
      return 'no catalog was installed; the bundled one stays in use';
    }
  })();
  let text: string;
  try {
    const res = await fetch(shown, {
      signal: AbortSignal.timeout(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS),
      headers,
      redirect: 'follow',
    });
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw new CloudError(
        `Downloading the ${cloud} catalog from ${shown} failed: HTTP ${res.status} ${res.statusText}; ${kept}.`,
      );
    }
    text = await res.text();
  } catch (e) {
    if (e instanceof CloudError) throw e;
    throw new CloudError(
      `Downloading the ${cloud} catalog from ${shown} failed: ${scrub(describeFetchError(e))}; ${kept}. ` +
        'Check the network or --base-url.',
      { cause: e },
    );
  }
  let rows: ReturnType<typeof parseCatalogCsv>;
  try {
    rows = parseCatalogCsv(text, cloud, shown);
    if (!rows.some((r) => r.price !== null || r.spotPrice !== null)) {
      throw new Error(`${shown}: no row has a price`);
    }
  } catch (e) {
    throw new CloudError(`The downloaded ${cloud} catalog is not valid: ${(e as Error).message}; ${kept}.`, {
      cause: e,
    });
  }
  try {
    writeFileAtomic(path, text);
  } catch (e) {
    throw new UserError(`Could not write ${path}: ${(e as Error).message}; ${kept}. Check SKYHOP_HOME.`, {
      cause: e,
    });
  }
  clearCatalogMemo(cloud);
  try {
    writeParsedCache(cloud, path, statSync(path), rows);
  } catch {}
  return { cloud, rows: rows.length, path, url: shown };
}
