/**
 * Lambda Cloud credentials: `~/.lambda_cloud/lambda_keys` with a line `api_key = <KEY>`, the file
 * SkyPilot's Lambda client reads. The key value is never returned.
 */
import type { CredentialStatus } from '../../core/cluster.js';
import { displayPath, homePath, nonEmpty, parseIni, readTextIfExists } from '../credentials.js';

const HINT =
  'create an API key at https://cloud.lambdalabs.com/api-keys and write `api_key = <KEY>` to ~/.lambda_cloud/lambda_keys';

export function lambdaKeysPath(): string {
  return homePath('.lambda_cloud', 'lambda_keys');
}

export async function checkLambdaCredentials(): Promise<CredentialStatus> {
  const path = lambdaKeysPath();
  const text = await readTextIfExists(path);
  if (text === null) return { ok: false, reason: `${displayPath(path)} not found`, hint: HINT };
  if (!nonEmpty(parseIni(text).get(''), 'api_key')) {
    return { ok: false, reason: `${displayPath(path)} has no api_key line`, hint: HINT };
  }
  return { ok: true, source: `${displayPath(path)} (api_key)` };
}
