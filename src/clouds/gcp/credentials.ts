/**
 * GCP credential detection without the network, from the files Google's auth libraries and gcloud use:
 *
 * - credentials: GOOGLE_APPLICATION_CREDENTIALS (a key file; if set it must exist), else the
 *   application default credentials `application_default_credentials.json` in gcloud's config
 *   directory (`$CLOUDSDK_CONFIG`, default ~/.config/gcloud). The file must be JSON with a known `type`.
 * - project: GOOGLE_CLOUD_PROJECT, CLOUDSDK_CORE_PROJECT or GCLOUD_PROJECT, else the active gcloud
 *   configuration's `[core] project` (configurations/config_<name>, the name from
 *   CLOUDSDK_ACTIVE_CONFIG_NAME or the `active_config` file, default `default`), else a service
 *   account key's `project_id`.
 *
 * Credentials on a GCE VM (metadata server) cannot be seen without the network and are not detected.
 * The file contents are never echoed (a JSON parse error could quote a private key).
 */
import { join } from 'node:path';
import type { CredentialStatus } from '../../core/cluster.js';
import {
  displayPath,
  envValue,
  expandHome,
  homePath,
  nonEmpty,
  parseIni,
  readTextIfExists,
} from '../credentials.js';

const KNOWN_TYPES = new Set([
  'service_account',
  'authorized_user',
  'external_account',
  'external_account_authorized_user',
  'impersonated_service_account',
  'gdch_service_account',
]);

const LOGIN_HINT =
  'run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file';

/** gcloud's configuration directory. */
export function gcloudConfigDir(): string {
  const env = envValue('CLOUDSDK_CONFIG');
  return env ? expandHome(env) : homePath('.config', 'gcloud');
}

interface KeyFile {
  type: string;
  projectId?: string;
  clientEmail?: string;
}

async function readKeyFile(path: string, what: string): Promise<KeyFile | { error: string }> {
  const text = await readTextIfExists(path);
  if (text === null) return { error: `${what} ${displayPath(path)} does not exist` };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { error: `${what} ${displayPath(path)} is not valid JSON` };
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    return { error: `${what} ${displayPath(path)} is not a JSON object` };
  }
  const o = json as Record<string, unknown>;
  if (typeof o.type !== 'string' || o.type === '') {
    return { error: `${what} ${displayPath(path)} has no "type" field` };
  }
  if (!KNOWN_TYPES.has(o.type)) {
    return { error: `${what} ${displayPath(path)} has an unsupported type '${o.type}'` };
  }
  return {
    type: o.type,
    projectId: typeof o.project_id === 'string' && o.project_id ? o.project_id : undefined,
    clientEmail: typeof o.client_email === 'string' && o.client_email ? o.client_email : undefined,
  };
}

/** The active gcloud configuration's [core] section (project, account), if any. */
async function gcloudCore(): Promise<{ project?: string; account?: string; configName: string }> {
  const dir = gcloudConfigDir();
  let name = envValue('CLOUDSDK_ACTIVE_CONFIG_NAME')?.trim();
  if (!name) name = (await readTextIfExists(join(dir, 'active_config')))?.trim() || 'default';
  const text = await readTextIfExists(join(dir, 'configurations', `config_${name}`));
  if (text === null) return { configName: name };
  const core = parseIni(text).get('core');
  return { project: nonEmpty(core, 'project'), account: nonEmpty(core, 'account'), configName: name };
}

export async function checkGcpCredentials(): Promise<CredentialStatus> {
  const gac = envValue('GOOGLE_APPLICATION_CREDENTIALS');
  let key: KeyFile;
  let source: string;
  if (gac) {
    const path = expandHome(gac);
    const k = await readKeyFile(path, 'GOOGLE_APPLICATION_CREDENTIALS file');
    if ('error' in k) {
      return {
        ok: false,
        reason: k.error,
        hint: 'point GOOGLE_APPLICATION_CREDENTIALS at a valid key file, or unset it',
      };
    }
    key = k;
    source = `GOOGLE_APPLICATION_CREDENTIALS (${k.type} ${displayPath(path)})`;
  } else {
    const path = join(gcloudConfigDir(), 'application_default_credentials.json');
    const k = await readKeyFile(path, 'application default credentials');
    if ('error' in k) {
      const reason = k.error.endsWith('does not exist')
        ? `no application default credentials (${displayPath(path)} not found, GOOGLE_APPLICATION_CREDENTIALS not set)`
        : k.error;
      return { ok: false, reason, hint: LOGIN_HINT };
    }
    key = k;
    source = `application default credentials (${k.type} ${displayPath(path)})`;
  }

  const core = await gcloudCore();
  let project: string | undefined;
  let projectFrom = '';
  for (const v of ['GOOGLE_CLOUD_PROJECT', 'CLOUDSDK_CORE_PROJECT', 'GCLOUD_PROJECT']) {
    const val = envValue(v);
    if (val) {
      project = val.trim();
      projectFrom = v;
      break;
    }
  }
  if (!project && core.project) {
    project = core.project;
    projectFrom = `gcloud configuration '${core.configName}'`;
  }
  if (!project && key.projectId) {
    project = key.projectId;
    projectFrom = 'the key file';
  }
  if (!project) {
    return {
      ok: false,
      reason: `credentials found (${source}) but no GCP project is set`,
      hint: 'run `gcloud config set project <PROJECT_ID>`, or set GOOGLE_CLOUD_PROJECT',
    };
  }
  const who = key.clientEmail ?? core.account;
  return {
    ok: true,
    source: `${source}; project from ${projectFrom}`,
    identity: who ? `${who}, project ${project}` : `project ${project}`,
  };
}
