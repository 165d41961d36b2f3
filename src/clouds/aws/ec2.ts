/**
 * The EC2 client factory. The AWS SDK is heavy (hundreds of modules), so it is loaded here with a
 * dynamic import, only when a provider first talks to EC2: `skyhop --help` and `skyhop status` never
 * load it (index.ts does not import this module at its top level either).
 *
 * Endpoint: `SKYHOP_AWS_ENDPOINT_URL`, else the SDK's own `AWS_ENDPOINT_URL_EC2` / `AWS_ENDPOINT_URL`
 * (tests point it at moto_server on a loopback port). Credentials come from the SDK's default chain.
 */
import type { EC2Client, EC2ClientConfig } from '@aws-sdk/client-ec2';
import { envValue } from '../credentials.js';

export type Ec2Sdk = typeof import('@aws-sdk/client-ec2');

/** SDK attempts per call: throttling and 5xx are retried by the SDK with its backoff, 4 tries in all. */
export const DEFAULT_MAX_ATTEMPTS = 4;

export interface Ec2ClientOptions {
  maxAttempts?: number;
  /** Called with each new client (tests add middleware here). */
  configure?: (client: EC2Client) => void;
}

let sdkPromise: Promise<Ec2Sdk> | null = null;

/**
 * The module object of a lazily imported AWS SDK package, whichever way it was loaded: from
 * node_modules (an ES namespace with named exports) or from skyhop's bundle, where esbuild turns the
 * SDK's CommonJS build into a chunk whose only export is `default` (module.exports). `probe` is an
 * export the package must have.
 */
export function sdkModule<T extends object>(mod: T, probe: keyof T): T {
  if (probe in mod) return mod;
  const d = (mod as { default?: T }).default;
  if (d && typeof d === 'object' && probe in d) return d;
  throw new Error(`the AWS SDK module has no ${String(probe)} export`);
}

/** The @aws-sdk/client-ec2 module, imported once, on first use. */
export function loadEc2Sdk(): Promise<Ec2Sdk> {
  sdkPromise ??= import('@aws-sdk/client-ec2').then((m) => sdkModule(m, 'EC2Client'));
  return sdkPromise;
}

/**
 * A service's endpoint override from the environment (`SKYHOP_AWS_ENDPOINT_URL`, else
 * `AWS_ENDPOINT_URL_<SERVICE>`, else `AWS_ENDPOINT_URL`), or undefined for AWS itself.
 */
export function awsEndpoint(service: 'EC2' | 'STS' | 'PRICING' | 'S3' | 'IAM' = 'EC2'): string | undefined {
  return (
    envValue('SKYHOP_AWS_ENDPOINT_URL') ??
    envValue(`AWS_ENDPOINT_URL_${service}`) ??
    envValue('AWS_ENDPOINT_URL') ??
    undefined
  );
}

export async function ec2Client(
  region: string,
  opts: Ec2ClientOptions = {},
): Promise<{
  sdk: Ec2Sdk;
  client: EC2Client;
}> {
  const sdk = await loadEc2Sdk();
  const config: EC2ClientConfig = { region, maxAttempts: opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS };
  const endpoint = awsEndpoint('EC2');
  if (endpoint) config.endpoint = endpoint;
  const client = new sdk.EC2Client(config);
  opts.configure?.(client);
  return { sdk, client };
}
