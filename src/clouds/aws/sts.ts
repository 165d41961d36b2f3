/**
 * `skyhop check --verbose` for AWS: STS GetCallerIdentity with the SDK's default credential chain, so
 * the credentials found on disk are proven to work. The STS client is imported only here, lazily.
 * Endpoint override as for EC2 (SKYHOP_AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL).
 */
import type { CredentialStatus } from '../../core/cluster.js';
import { errorFacts } from '../errors.js';
import { awsEndpoint, sdkModule } from './ec2.js';

/** The caller's account and ARN added to `found`, or why AWS refused the credentials. */
export async function callerIdentity(
  found: Extract<CredentialStatus, { ok: true }>,
): Promise<CredentialStatus> {
  const { STSClient, GetCallerIdentityCommand } = sdkModule(await import('@aws-sdk/client-sts'), 'STSClient');
  const endpoint = awsEndpoint('STS');
  const client = new STSClient({
    region: process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1',
    maxAttempts: 2,
    ...(endpoint ? { endpoint } : {}),
  });
  try {
    const r = await client.send(new GetCallerIdentityCommand({}), {
      abortSignal: AbortSignal.timeout(15_000),
    });
    return { ...found, identity: `account ${r.Account ?? '?'} as ${r.Arn ?? '?'}` };
  } catch (e) {
    const f = errorFacts(e);
    return {
      ok: false,
      reason: `AWS rejected the credentials from ${found.source} (STS GetCallerIdentity: ${f.code || 'error'})`,
      hint: 'check the keys or profile (`aws sts get-caller-identity`), or log in again (`aws sso login`)',
    };
  } finally {
    client.destroy();
  }
}
