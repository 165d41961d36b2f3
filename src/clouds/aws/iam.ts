/**
 * The IAM instance profile that lets a cluster's nodes use S3 without keys (what SkyPilot's
 * `skypilot-v1` role and profile do; sky/provision/aws/config.py `_configure_iam_role`).
 *
 * Only a cluster whose spec lists 's3' in `storage` gets it (provider.ts `prepare`); any other launch
 * never loads the IAM SDK nor calls IAM, so it needs no IAM permission and pays no latency.
 *
 * What is made, once per account (IAM is global), and reused after:
 * - role `skyhop-v1`, which EC2 may assume (trust policy: ec2.amazonaws.com, sts:AssumeRole);
 * - on it, the inline policy `skyhop-s3`: s3:* on every bucket. SkyPilot attaches the managed
 *   AmazonS3FullAccess and AmazonEC2FullAccess; skyhop's nodes only mount, copy and create buckets
 *   through rclone (list, get, put, delete, multipart, bucket location, create bucket, ACL on upload),
 *   so EC2 is left out; s3:* is kept rather than a list of actions because rclone's needs vary with its
 *   flags and the bucket's settings (an ACL header, a versioned bucket). Inline, so it needs no
 *   partition-specific managed-policy ARN (aws-cn, aws-us-gov) and is readable with GetRolePolicy.
 * - instance profile `skyhop-v1` holding the role. A profile that already holds a role (one a user
 *   made under that name) is used as it is, as SkyPilot does.
 *
 * Idempotent and concurrent-safe: each piece is read first and created only when missing;
 * EntityAlreadyExists (another launch made it meanwhile) and LimitExceeded on AddRoleToInstanceProfile
 * (another launch added the role: a profile holds one role) are fine. A role that exists without the
 * policy gets it. Teardown never deletes them: they are shared by every cluster of the account (SkyPilot
 * keeps its own too).
 *
 * A failure that is not transient (AccessDenied on iam:CreateRole, ...) becomes one line that says what
 * skyhop needs and why, scoped 'cloud': the profile is account-wide, so no other region would do better.
 *
 * Endpoint: `SKYHOP_AWS_ENDPOINT_URL`, else `AWS_ENDPOINT_URL_IAM`, else `AWS_ENDPOINT_URL` (ec2.ts
 * `awsEndpoint('IAM')`); the client's region is us-east-1 (IAM's global endpoint lives there).
 */
import type { IAMClient, IAMClientConfig, InstanceProfile } from '@aws-sdk/client-iam';
import { errorFacts, isTransient, ProvisionError } from '../errors.js';
import { DEFAULT_MAX_ATTEMPTS, awsEndpoint, sdkModule } from './ec2.js';
import { classifyAwsError } from './errors.js';

export type IamSdk = typeof import('@aws-sdk/client-iam');

/** The role and the instance profile skyhop's S3-mounting nodes run with (one per account). */
export const SKYHOP_IAM_ROLE = 'skyhop-v1';
export const SKYHOP_INSTANCE_PROFILE = 'skyhop-v1';
/** The role's inline policy that grants S3. */
export const SKYHOP_S3_POLICY = 'skyhop-s3';

/** Who may assume the role: EC2 instances. */
export const TRUST_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
});

/** What the role may do: S3, every bucket (mount, copy, create buckets). */
export const S3_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }],
});

/** The IAM actions skyhop uses to make the profile, for messages and `check`. */
export const IAM_ACTIONS_NEEDED = [
  'iam:GetRole',
  'iam:CreateRole',
  'iam:GetRolePolicy',
  'iam:PutRolePolicy',
  'iam:GetInstanceProfile',
  'iam:CreateInstanceProfile',
  'iam:AddRoleToInstanceProfile',
  'iam:PassRole',
] as const;

let sdkPromise: Promise<IamSdk> | null = null;

/** The @aws-sdk/client-iam module, imported once, on first use. */
export function loadIamSdk(): Promise<IamSdk> {
  sdkPromise ??= import('@aws-sdk/client-iam').then((m) => sdkModule(m, 'IAMClient'));
  return sdkPromise;
}

export async function iamClient(opts: { maxAttempts?: number } = {}): Promise<{
  sdk: IamSdk;
  client: IAMClient;
}> {
  const sdk = await loadIamSdk();
  const config: IAMClientConfig = {
    region: 'us-east-1',
    maxAttempts: opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
  };
  const endpoint = awsEndpoint('IAM');
  if (endpoint) config.endpoint = endpoint;
  return { sdk, client: new sdk.IAMClient(config) };
}

/** The error's IAM code ('NoSuchEntity'; the SDK's exception name 'NoSuchEntityException' too). */
function codeOf(e: unknown): string {
  return errorFacts(e).code.replace(/Exception$/, '');
}

/**
 * RunInstances' answer while a just-made profile has not reached EC2 yet (IAM is eventually
 * consistent): InvalidParameterValue "... Invalid IAM Instance Profile name" (or "... ARN").
 */
export function isProfileNotReady(e: unknown): boolean {
  const f = errorFacts(e);
  return f.code === 'InvalidParameterValue' && /invalid iam instance profile/.test(f.message);
}

/** The one-line error for a failure to make the profile, scoped to the whole cloud. */
export function profileError(e: unknown): ProvisionError {
  const code = errorFacts(e).code || 'Error';
  const message = (e instanceof Error ? e.message : String(e)).split('\n')[0];
  return new ProvisionError(
    'cloud',
    'iam_profile',
    `cannot create the IAM instance profile ${SKYHOP_INSTANCE_PROFILE} that lets the nodes use S3: ` +
      `${code}: ${message} (skyhop needs ${IAM_ACTIONS_NEEDED.join(', ')}, or an administrator can ` +
      `create role and instance profile ${SKYHOP_INSTANCE_PROFILE} with S3 access once)`,
    { cause: e },
  );
}

/** Runs `f`; NoSuchEntity -> undefined. */
async function found<T>(f: () => Promise<T>): Promise<T | undefined> {
  try {
    return await f();
  } catch (e) {
    if (codeOf(e) === 'NoSuchEntity') return undefined;
    throw e;
  }
}

/** Runs `f`; EntityAlreadyExists (made by someone else meanwhile) is fine. */
async function create(f: () => Promise<unknown>): Promise<void> {
  try {
    await f();
  } catch (e) {
    if (codeOf(e) !== 'EntityAlreadyExists') throw e;
  }
}

/**
 * Makes (or finds) role, policy and instance profile `skyhop-v1`; returns the profile's name and ARN.
 * Transient errors (throttling, 5xx, network) and interrupts are thrown as they are (the failover loop
 * retries the same place); every other error as `profileError`.
 */
export async function ensureInstanceProfile(
  iam: { sdk: IamSdk; client: IAMClient },
  signal?: AbortSignal,
): Promise<{ name: string; arn: string }> {
  const { sdk, client } = iam;
  const opts = { abortSignal: signal };
  try {
    const role = await found(() => client.send(new sdk.GetRoleCommand({ RoleName: SKYHOP_IAM_ROLE }), opts));
    let made = false;
    if (!role) {
      made = true;
      await create(() =>
        client.send(
          new sdk.CreateRoleCommand({
            RoleName: SKYHOP_IAM_ROLE,
            AssumeRolePolicyDocument: TRUST_POLICY,
            Description: 'skyhop: nodes of clusters that mount S3',
          }),
          opts,
        ),
      );
    }
    // A role made just now has no policy (and IAM may not show it to every reader yet).
    const policy = made
      ? undefined
      : await found(() =>
          client.send(
            new sdk.GetRolePolicyCommand({ RoleName: SKYHOP_IAM_ROLE, PolicyName: SKYHOP_S3_POLICY }),
            opts,
          ),
        );
    if (!policy) {
      await client.send(
        new sdk.PutRolePolicyCommand({
          RoleName: SKYHOP_IAM_ROLE,
          PolicyName: SKYHOP_S3_POLICY,
          PolicyDocument: S3_POLICY,
        }),
        opts,
      );
    }
    const get = async (): Promise<InstanceProfile | undefined> =>
      (
        await found(() =>
          client.send(
            new sdk.GetInstanceProfileCommand({ InstanceProfileName: SKYHOP_INSTANCE_PROFILE }),
            opts,
          ),
        )
      )?.InstanceProfile;
    let profile = await get();
    if (!profile) {
      try {
        profile = (
          await client.send(
            new sdk.CreateInstanceProfileCommand({ InstanceProfileName: SKYHOP_INSTANCE_PROFILE }),
            opts,
          )
        ).InstanceProfile;
      } catch (e) {
        if (codeOf(e) !== 'EntityAlreadyExists') throw e;
        profile = await get();
      }
    }
    if (!profile?.Arn) throw new Error(`IAM did not show instance profile ${SKYHOP_INSTANCE_PROFILE}`);
    if ((profile.Roles ?? []).length === 0) {
      try {
        await client.send(
          new sdk.AddRoleToInstanceProfileCommand({
            InstanceProfileName: SKYHOP_INSTANCE_PROFILE,
            RoleName: SKYHOP_IAM_ROLE,
          }),
          opts,
        );
      } catch (e) {
        // A profile holds one role: LimitExceeded when a concurrent launch has just added it.
        if (codeOf(e) !== 'LimitExceeded' || ((await get())?.Roles ?? []).length === 0) throw e;
      }
    }
    return { name: SKYHOP_INSTANCE_PROFILE, arn: profile.Arn };
  } catch (e) {
    if (signal?.aborted || (e instanceof Error && e.name === 'AbortError')) throw e;
    if (classifyAwsError(e) === 'retry' || isTransient(errorFacts(e))) throw e;
    throw profileError(e);
  }
}
