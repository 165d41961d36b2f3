/**
 * RunPod credentials, as the runpod Python SDK/CLI keep them: env RUNPOD_API_KEY, else
 * `~/.runpod/config.toml` (written by `runpod config`) with a `[default]` profile holding
 * `api_key = "..."` (SkyPilot reads the `default` profile). The key value is never returned.
 */
import type { CredentialStatus } from '../../core/cluster.js';
import { displayPath, envValue, homePath, nonEmpty, parseIni, readTextIfExists } from '../credentials.js';

const HINT = 'run `runpod config` (pip install runpod) to write ~/.runpod/config.toml, or set RUNPOD_API_KEY';

export function runpodConfigPath(): string {
  return homePath('.runpod', 'config.toml');
}

export async function checkRunpodCredentials(): Promise<CredentialStatus> {
  if (envValue('RUNPOD_API_KEY')) return { ok: true, source: 'environment (RUNPOD_API_KEY)' };
  const path = runpodConfigPath();
  const text = await readTextIfExists(path);
  if (text === null) {
    return { ok: false, reason: `RUNPOD_API_KEY is not set and ${displayPath(path)} not found`, hint: HINT };
  }
  const ini = parseIni(text);
  const profile = ini.get('default');
  if (!profile) {
    return { ok: false, reason: `${displayPath(path)} has no [default] profile`, hint: HINT };
  }
  if (!nonEmpty(profile, 'api_key')) {
    return { ok: false, reason: `${displayPath(path)} has no api_key in its [default] profile`, hint: HINT };
  }
  return { ok: true, source: `${displayPath(path)} ([default] api_key)` };
}
