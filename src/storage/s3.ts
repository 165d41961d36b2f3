/**
 * The S3 client. Like EC2's (src/clouds/aws/ec2.ts), the SDK (`@aws-sdk/client-s3`, and
 * `@aws-sdk/lib-storage` for multipart uploads) is imported lazily, on first use, so `skyhop --help`
 * and `skyhop status` never load it.
 *
 * Endpoint: `SKYHOP_AWS_ENDPOINT_URL`, else `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL` (an
 * S3-compatible store, or moto in tests); with an endpoint, path-style addressing. Region:
 * `AWS_REGION`, else `AWS_DEFAULT_REGION`, else us-east-1. Credentials: the SDK's default chain.
 * The SDK retries throttling and 5xx itself (maxAttempts).
 */
import { Agent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import type { S3Access } from '../core/storage.js';
import { UserError } from '../util/errors.js';
import { envValue } from '../clouds/credentials.js';
import { awsEndpoint, DEFAULT_MAX_ATTEMPTS, sdkModule } from '../clouds/aws/ec2.js';

export type S3Sdk = typeof import('@aws-sdk/client-s3');
export type LibStorage = typeof import('@aws-sdk/lib-storage');

let s3Promise: Promise<S3Sdk> | null = null;
let libPromise: Promise<LibStorage> | null = null;

/** The @aws-sdk/client-s3 module, imported once, on first use. */
export function loadS3Sdk(): Promise<S3Sdk> {
  s3Promise ??= import('@aws-sdk/client-s3').then((m) => sdkModule(m, 'S3Client'));
  return s3Promise;
}

/** The @aws-sdk/lib-storage module (multipart `Upload`), imported once, on first use. */
export function loadLibStorage(): Promise<LibStorage> {
  libPromise ??= import('@aws-sdk/lib-storage').then((m) => sdkModule(m, 'Upload'));
  return libPromise;
}

/** The region buckets are created in and requests are signed for. */
export function s3Region(): string {
  return envValue('AWS_REGION') ?? envValue('AWS_DEFAULT_REGION') ?? 'us-east-1';
}

/** The S3 endpoint override (undefined: AWS itself). */
export function s3Endpoint(): string | undefined {
  return awsEndpoint('S3');
}

/** Parallel requests one client keeps open at most (uploads use up to this many at once). */
export const MAX_SOCKETS = 64;

/** A request whose connection is idle this long fails (and the SDK retries it). */
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

export interface S3ClientOptions {
  maxAttempts?: number;
  /** Socket idle timeout per request (default DEFAULT_IDLE_TIMEOUT_MS); a stalled request is retried. */
  idleTimeoutMs?: number;
  /** Called with each new client (tests add middleware here). */
  configure?: (client: S3Client) => void;
}

export interface S3Handle {
  sdk: S3Sdk;
  client: S3Client;
  region: string;
  endpoint: string | undefined;
}

/** A new S3 client for the configured endpoint and region; `destroy()` it when done. */
export async function s3Client(opts: S3ClientOptions = {}): Promise<S3Handle> {
  const sdk = await loadS3Sdk();
  const region = s3Region();
  const endpoint = s3Endpoint();
  const config: S3ClientConfig = {
    region,
    maxAttempts: opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    requestHandler: {
      connectionTimeout: 10_000,
      requestTimeout: opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      httpAgent: new Agent({ keepAlive: true, maxSockets: MAX_SOCKETS }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: MAX_SOCKETS }),
    },
  };
  if (endpoint) {
    config.endpoint = endpoint;
    config.forcePathStyle = true;
  }
  const client = new sdk.S3Client(config);
  opts.configure?.(client);
  return { sdk, client, region, endpoint };
}

/**
 * How nodes reach the store: the endpoint, the region, and the credentials the SDK's default chain
 * resolves here (for nodes of clouds without a better way; they reach a node only as a 0600 file).
 * Never log the result.
 */
export async function s3Access(): Promise<S3Access> {
  const { client, region, endpoint } = await s3Client();
  try {
    let creds: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
    try {
      creds = await client.config.credentials();
    } catch (e) {
      throw new UserError(
        'no AWS credentials found for S3 (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ' +
          'or ~/.aws/credentials)',
        { cause: e },
      );
    }
    const access: S3Access = {
      region,
      credentials: {
        accessKeyId: creds.accessKeyId,
        secretAccessKey: creds.secretAccessKey,
        ...(creds.sessionToken ? { sessionToken: creds.sessionToken } : {}),
      },
    };
    if (endpoint) access.endpoint = endpoint;
    return access;
  } finally {
    client.destroy();
  }
}

/** The facts of an SDK error: its code (name), HTTP status, message. */
export function s3ErrorFacts(e: unknown): { code: string; status: number | undefined; message: string } {
  const err = e as {
    name?: string;
    Code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  };
  return {
    code: err?.Code ?? err?.name ?? 'Error',
    status: err?.$metadata?.httpStatusCode,
    message: err?.message ?? String(e),
  };
}
