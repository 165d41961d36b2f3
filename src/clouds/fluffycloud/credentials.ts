/**
 * FluffyCloud credentials: the file named by `FLUFFYCLOUD_CREDENTIALS`, else `~/.fluffycloud/credentials`;
 * `key = value` lines (an optional `[default]`
 * section header is allowed) with both `api_key` and `endpoint` (the API's base URL, http or https).
 * The API key is never returned by the check; `loadFluffyCloudCredentials` hands it to the API client.
 */
import type { CredentialStatus } from '../../core/cluster.js';
import type { CredentialSources } from '../types.js';
import { CloudError } from '../../util/errors.js';
import {
  displayPath,
  envValue,
  expandHome,
  fileExists,
  homePath,
  nonEmpty,
  parseIni,
  readTextIfExists,
} from '../credentials.js';

const HINT =
  'write `api_key = <KEY>` and `endpoint = <URL of the FluffyCloud API>` to ~/.fluffycloud/credentials ' +
  '(or to a file named by FLUFFYCLOUD_CREDENTIALS)';

/** `FLUFFYCLOUD_CREDENTIALS` when set (read at call time), else `~/.fluffycloud/credentials`. */
export function fluffyCredentialsPath(): string {
  const chosen = envValue('FLUFFYCLOUD_CREDENTIALS');
  return chosen !== undefined ? expandHome(chosen) : homePath('.fluffycloud', 'credentials');
}

type Parsed = { ok: true; apiKey: string; endpoint: string; shown: string } | { ok: false; reason: string };

async function parse(): Promise<Parsed> {
  const path = fluffyCredentialsPath();
  const text = await readTextIfExists(path);
  if (text === null) return { ok: false, reason: `${displayPath(path)} not found` };
  const ini = parseIni(text);
  const section = ini.get('default') ?? ini.get('');
  const apiKey = nonEmpty(section, 'api_key');
  const endpoint = nonEmpty(section, 'endpoint');
  const missing = [apiKey ? null : 'api_key', endpoint ? null : 'endpoint'].filter((x) => x !== null);
  if (missing.length > 0)
    return { ok: false, reason: `${displayPath(path)} has no ${missing.join(' and no ')}` };
  let url: URL;
  try {
    url = new URL(endpoint!);
  } catch {
    return { ok: false, reason: `endpoint in ${displayPath(path)} is not a URL` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { ok: false, reason: `endpoint in ${displayPath(path)} is not an http(s) URL` };
  }
  // What messages show: no user:password@ part, in case the URL carries one.
  const shown = `${url.origin}${url.pathname}`.replace(/\/+$/, '');
  return { ok: true, apiKey: apiKey!, endpoint: endpoint!.replace(/\/+$/, ''), shown };
}

export async function checkFluffyCloudCredentials(): Promise<CredentialStatus> {
  const p = await parse();
  if (!p.ok) return { ok: false, reason: p.reason, hint: HINT };
  return {
    ok: true,
    source: `${displayPath(fluffyCredentialsPath())} (api_key, endpoint)`,
    identity: p.shown,
  };
}

/** The API key and endpoint for the API client; CloudError (naming the file, not the key) if unusable. */
export async function loadFluffyCloudCredentials(): Promise<{ apiKey: string; endpoint: string }> {
  const p = await parse();
  if (!p.ok) throw new CloudError(`FluffyCloud credentials: ${p.reason}; ${HINT}`);
  return { apiKey: p.apiKey, endpoint: p.endpoint };
}

/**
 * FluffyCloud's credential source for another machine: the credentials file in effect (it holds the
 * API key and the endpoint) to ~/.fluffycloud/credentials, where the client looks by default; nothing
 * when it does not exist.
 */
export async function fluffyCredentialSources(): Promise<CredentialSources> {
  const local = fluffyCredentialsPath();
  const files = (await fileExists(local)) ? [{ local, remote: '~/.fluffycloud/credentials' }] : [];
  return { files, env: [] };
}
