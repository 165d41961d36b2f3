/**
 * The IAM instance profile `skyhop-v1` for clusters that use S3 (src/clouds/aws/iam.ts), with the real
 * AWS SDK v3 against a real moto_server, which serves IAM and EC2 on one port. Errors moto cannot
 * produce (AccessDenied, throttling, a profile EC2 does not know yet) are injected by the proxy in
 * test/helpers/moto.ts; it counts every action it sees, which is how "no IAM call" is checked.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { IAMClient } from '@aws-sdk/client-iam';
import { awsEndpoint, ec2Client } from '../../../src/clouds/aws/ec2.js';
import { classifyAwsError } from '../../../src/clouds/aws/errors.js';
import {
  ensureInstanceProfile,
  iamClient,
  isProfileNotReady,
  loadIamSdk,
  S3_POLICY,
  SKYHOP_IAM_ROLE,
  SKYHOP_INSTANCE_PROFILE,
  SKYHOP_S3_POLICY,
} from '../../../src/clouds/aws/iam.js';
import { AwsProvider, PROFILE_TRIES } from '../../../src/clouds/aws/provider.js';
import { ProvisionError } from '../../../src/clouds/errors.js';
import type { ClusterSpec } from '../../../src/core/cluster.js';
import { classify } from '../../../src/provision/classify.js';
import { type MotoEnv, type MotoHandle, motoEnv, motoMissing } from '../../helpers/moto.js';

const REGION = 'us-east-1';
const missing = motoMissing();
if (missing) console.log(`# aws iam tests skipped: ${missing}`);

const spec = (cluster: string, extra: Partial<ClusterSpec> = {}): ClusterSpec => ({
  cluster,
  numNodes: 1,
  instanceType: 't3.micro',
  region: REGION,
  zone: null,
  useSpot: false,
  accelerators: null,
  ...extra,
});

/** IAM's actions (EC2's DescribeIamInstanceProfileAssociations starts with Describe: not matched). */
const IAM_ACTION = /^(Get|Create|Put|Add|List|Delete|Remove)\w*(Role|InstanceProfile)/;

const NOT_READY =
  'Value (skyhop-v1) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name';

describe('the IAM instance profile on moto', { skip: missing ?? false }, () => {
  let env: MotoEnv;
  let moto: MotoHandle;
  let ec2: EC2Client;
  let ec2sdk: typeof import('@aws-sdk/client-ec2');
  let iam: IAMClient;
  let iamsdk: typeof import('@aws-sdk/client-iam');
  const provider = () => new AwsProvider(REGION, { pollMs: 50, maxAttempts: 1, profileRetryMs: 10 });
  /** The proxy's actions from index `from` on. */
  const since = (from: number) => moto.actions.slice(from);

  before(async () => {
    env = await motoEnv('skyhop-aws-iam-');
    moto = env.moto;
    ({ sdk: ec2sdk, client: ec2 } = await ec2Client(REGION));
    // Checks go to moto directly, so the proxy counts only what skyhop sends.
    iamsdk = await loadIamSdk();
    iam = new iamsdk.IAMClient({ region: REGION, endpoint: moto.motoEndpoint });
  });
  after(async () => {
    ec2?.destroy();
    iam?.destroy();
    await env?.close();
  });

  /** Removes role, policy and profile, so the next test starts from an account without them. */
  async function resetIam(): Promise<void> {
    const ignore = async (f: () => Promise<unknown>) => {
      try {
        await f();
      } catch (e) {
        if (
          (e as { name?: string }).name !== 'NoSuchEntityException' &&
          (e as { name?: string }).name !== 'NoSuchEntity'
        )
          throw e;
      }
    };
    await ignore(() =>
      iam.send(
        new iamsdk.RemoveRoleFromInstanceProfileCommand({
          InstanceProfileName: SKYHOP_INSTANCE_PROFILE,
          RoleName: SKYHOP_IAM_ROLE,
        }),
      ),
    );
    await ignore(() =>
      iam.send(new iamsdk.DeleteInstanceProfileCommand({ InstanceProfileName: SKYHOP_INSTANCE_PROFILE })),
    );
    await ignore(() =>
      iam.send(
        new iamsdk.DeleteRolePolicyCommand({ RoleName: SKYHOP_IAM_ROLE, PolicyName: SKYHOP_S3_POLICY }),
      ),
    );
    await ignore(() => iam.send(new iamsdk.DeleteRoleCommand({ RoleName: SKYHOP_IAM_ROLE })));
  }
  beforeEach(async () => {
    moto.clearFailures();
    await resetIam();
  });

  /** The profile of each instance, from EC2's associations. */
  async function profileOf(ids: string[]): Promise<(string | undefined)[]> {
    const r = await ec2.send(
      new ec2sdk.DescribeIamInstanceProfileAssociationsCommand({
        Filters: [{ Name: 'instance-id', Values: ids }],
      }),
    );
    const byId = new Map(
      (r.IamInstanceProfileAssociations ?? []).map((a) => [a.InstanceId, a.IamInstanceProfile?.Arn]),
    );
    return ids.map((id) => byId.get(id)?.split('/').pop());
  }

  async function profiles() {
    const r = await iam.send(new iamsdk.ListInstanceProfilesCommand({}));
    return (r.InstanceProfiles ?? []).map((p) => ({
      name: p.InstanceProfileName,
      roles: (p.Roles ?? []).map((x) => x.RoleName),
    }));
  }

  test('a cluster without storage makes no IAM call and its instances carry no profile', async () => {
    const from = moto.actions.length;
    const p = provider();
    const nodes = await p.runInstances(spec('plain', { numNodes: 2 }));
    const iamCalls = since(from).filter((a) => IAM_ACTION.test(a));
    assert.deepEqual(iamCalls, []);
    assert.ok(since(from).includes('RunInstances'), 'the proxy saw the launch');
    assert.deepEqual(await profileOf(nodes.map((n) => n.id)), [undefined, undefined]);
    // An empty storage list needs no profile either.
    const from2 = moto.actions.length;
    await p.runInstances(spec('plain-none', { storage: [] }));
    assert.deepEqual(
      since(from2).filter((a) => IAM_ACTION.test(a)),
      [],
    );
    assert.deepEqual(await profiles(), []);
    await p.terminateInstances('plain');
    await p.terminateInstances('plain-none');
  });

  test('storage s3: role, trust, S3 policy and profile are made; every node carries the profile; a second launch reuses them', async () => {
    const p = provider();
    const nodes = await p.runInstances(spec('s3a', { numNodes: 2, storage: ['s3'] }));
    assert.deepEqual(await profileOf(nodes.map((n) => n.id)), [
      SKYHOP_INSTANCE_PROFILE,
      SKYHOP_INSTANCE_PROFILE,
    ]);

    const role = await iam.send(new iamsdk.GetRoleCommand({ RoleName: SKYHOP_IAM_ROLE }));
    const trust = JSON.parse(decodeURIComponent(role.Role?.AssumeRolePolicyDocument ?? '{}'));
    assert.deepEqual(trust.Statement[0].Principal, { Service: 'ec2.amazonaws.com' });
    assert.equal(trust.Statement[0].Action, 'sts:AssumeRole');
    const pol = await iam.send(
      new iamsdk.GetRolePolicyCommand({ RoleName: SKYHOP_IAM_ROLE, PolicyName: SKYHOP_S3_POLICY }),
    );
    assert.deepEqual(JSON.parse(decodeURIComponent(pol.PolicyDocument ?? '{}')), JSON.parse(S3_POLICY));
    assert.deepEqual(await profiles(), [{ name: SKYHOP_INSTANCE_PROFILE, roles: [SKYHOP_IAM_ROLE] }]);

    // Again, another cluster: only reads, no duplicate.
    const from = moto.actions.length;
    const [other] = await p.runInstances(spec('s3b', { storage: ['s3'] }));
    const iamCalls = since(from).filter((a) => IAM_ACTION.test(a));
    assert.deepEqual(iamCalls, ['GetRole', 'GetRolePolicy', 'GetInstanceProfile']);
    assert.deepEqual(await profileOf([other.id]), [SKYHOP_INSTANCE_PROFILE]);
    assert.deepEqual(await profiles(), [{ name: SKYHOP_INSTANCE_PROFILE, roles: [SKYHOP_IAM_ROLE] }]);

    // Teardown keeps the shared role and profile.
    await p.terminateInstances('s3a');
    await p.terminateInstances('s3b');
    assert.deepEqual(await profiles(), [{ name: SKYHOP_INSTANCE_PROFILE, roles: [SKYHOP_IAM_ROLE] }]);
  });

  test('a role that exists without the S3 policy gets it; a profile that exists without a role gets the role', async () => {
    await iam.send(
      new iamsdk.CreateRoleCommand({
        RoleName: SKYHOP_IAM_ROLE,
        AssumeRolePolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' },
          ],
        }),
      }),
    );
    await iam.send(new iamsdk.CreateInstanceProfileCommand({ InstanceProfileName: SKYHOP_INSTANCE_PROFILE }));
    const from = moto.actions.length;
    const c = await iamClient({ maxAttempts: 1 });
    try {
      const made = await ensureInstanceProfile(c);
      assert.equal(made.name, SKYHOP_INSTANCE_PROFILE);
      assert.match(made.arn, /:instance-profile\/skyhop-v1$/);
    } finally {
      c.client.destroy();
    }
    const calls = since(from).filter((a) => IAM_ACTION.test(a));
    assert.ok(calls.includes('PutRolePolicy') && calls.includes('AddRoleToInstanceProfile'), calls.join(' '));
    assert.ok(!calls.includes('CreateRole') && !calls.includes('CreateInstanceProfile'), calls.join(' '));
    const pol = await iam.send(
      new iamsdk.GetRolePolicyCommand({ RoleName: SKYHOP_IAM_ROLE, PolicyName: SKYHOP_S3_POLICY }),
    );
    assert.ok(pol.PolicyDocument);
    assert.deepEqual(await profiles(), [{ name: SKYHOP_INSTANCE_PROFILE, roles: [SKYHOP_IAM_ROLE] }]);
  });

  test('concurrent launches: EntityAlreadyExists and a role already added are fine, one profile with one role', async () => {
    // Both make the role and the profile: the second CreateRole / CreateInstanceProfile answer
    // EntityAlreadyExists and the second AddRoleToInstanceProfile LimitExceeded (moto, as AWS).
    const clients = await Promise.all([1, 2, 3].map(() => iamClient({ maxAttempts: 1 })));
    try {
      const got = await Promise.all(clients.map((c) => ensureInstanceProfile(c)));
      assert.deepEqual(
        got.map((g) => g.name),
        [SKYHOP_INSTANCE_PROFILE, SKYHOP_INSTANCE_PROFILE, SKYHOP_INSTANCE_PROFILE],
      );
    } finally {
      for (const c of clients) c.client.destroy();
    }
    assert.deepEqual(await profiles(), [{ name: SKYHOP_INSTANCE_PROFILE, roles: [SKYHOP_IAM_ROLE] }]);
  });

  test('made by another launch between our read and our create: EntityAlreadyExists is fine', async () => {
    const c = await iamClient({ maxAttempts: 1 });
    try {
      await ensureInstanceProfile(c);
      // The reads say "missing" (injected) although both exist: moto's own CreateRole and
      // CreateInstanceProfile then answer EntityAlreadyExists, as AWS does after a concurrent create.
      moto.failNext('GetRole', 'NoSuchEntity', {
        status: 404,
        message: 'The role with name skyhop-v1 cannot be found.',
      });
      moto.failNext('GetInstanceProfile', 'NoSuchEntity', {
        status: 404,
        message: 'Instance Profile skyhop-v1 cannot be found.',
      });
      const from = moto.actions.length;
      const got = await ensureInstanceProfile(c);
      assert.equal(got.name, SKYHOP_INSTANCE_PROFILE);
      const calls = since(from).filter((a) => IAM_ACTION.test(a));
      assert.ok(calls.includes('CreateRole') && calls.includes('CreateInstanceProfile'), calls.join(' '));
    } finally {
      c.client.destroy();
    }
    assert.deepEqual(await profiles(), [{ name: SKYHOP_INSTANCE_PROFILE, roles: [SKYHOP_IAM_ROLE] }]);
  });

  test('EC2 does not know the just-made profile yet: RunInstances is tried again, the launch succeeds', async () => {
    moto.failNext('RunInstances', 'InvalidParameterValue', { message: NOT_READY, times: 2 });
    const from = moto.actions.length;
    const p = provider();
    const [n] = await p.runInstances(spec('fresh', { storage: ['s3'] }));
    assert.equal(since(from).filter((a) => a === 'RunInstances').length, 3, 'two refused, then one made');
    assert.deepEqual(await profileOf([n.id]), [SKYHOP_INSTANCE_PROFILE]);
    assert.equal((await p.queryInstances('fresh')).length, 1, 'no extra instance');
    await p.terminateInstances('fresh');
  });

  test('a profile EC2 never accepts: a bounded number of tries, then a cloud-scoped error; nothing is left', async () => {
    moto.failNext('RunInstances', 'InvalidParameterValue', { message: NOT_READY, times: PROFILE_TRIES });
    const from = moto.actions.length;
    const p = provider();
    await assert.rejects(p.runInstances(spec('never', { storage: ['s3'] })), (e: unknown) => {
      assert.ok(e instanceof ProvisionError, String(e));
      assert.equal(e.scope, 'cloud');
      assert.equal(e.reason, 'iam_profile_not_ready');
      assert.match(e.message, /IAM instance profile skyhop-v1 .* after 6 tries: InvalidParameterValue: /);
      return true;
    });
    assert.equal(since(from).filter((a) => a === 'RunInstances').length, PROFILE_TRIES);
    assert.deepEqual(await p.queryInstances('never'), []);
    // Without storage the same error is not this provider's to retry (it is EC2's own, fatal).
    moto.failNext('RunInstances', 'InvalidParameterValue', { message: NOT_READY });
    const from2 = moto.actions.length;
    await assert.rejects(p.runInstances(spec('never2')), (e: unknown) => {
      assert.ok(isProfileNotReady(e));
      assert.equal(classifyAwsError(e), 'fatal');
      return true;
    });
    assert.equal(since(from2).filter((a) => a === 'RunInstances').length, 1);
    await p.terminateInstances('never');
    await p.terminateInstances('never2');
  });

  test('AccessDenied on iam:CreateRole: one clear line, scope cloud, no instance launched', async () => {
    moto.failNext('CreateRole', 'AccessDenied', {
      status: 403,
      message:
        'User: arn:aws:iam::123456789012:user/dev is not authorized to perform: iam:CreateRole on resource: arn:aws:iam::123456789012:role/skyhop-v1',
    });
    const from = moto.actions.length;
    const p = provider();
    await assert.rejects(p.runInstances(spec('denied', { storage: ['s3'] })), (e: unknown) => {
      assert.ok(e instanceof ProvisionError, String(e));
      assert.equal(e.scope, 'cloud');
      assert.equal(classify({ classifyError: classifyAwsError }, e), 'cloud');
      assert.match(
        e.message,
        /^cannot create the IAM instance profile skyhop-v1 that lets the nodes use S3: AccessDenied: User: .* is not authorized to perform: iam:CreateRole .*skyhop needs .*iam:CreateRole.*iam:PassRole/,
      );
      assert.ok(!e.message.includes('\n'));
      return true;
    });
    assert.ok(!since(from).includes('RunInstances'));
    assert.deepEqual(await p.queryInstances('denied'), []);
    assert.deepEqual(await profiles(), []);
    await p.terminateInstances('denied');
  });

  test('a throttled IAM call is thrown as it is: the failover loop retries the place', async () => {
    moto.failNext('GetRole', 'Throttling', { message: 'Rate exceeded' });
    const c = await iamClient({ maxAttempts: 1 });
    try {
      await assert.rejects(ensureInstanceProfile(c), (e: unknown) => {
        assert.ok(!(e instanceof ProvisionError));
        assert.equal(classify({ classifyError: classifyAwsError }, e), 'retry');
        return true;
      });
    } finally {
      c.client.destroy();
    }
  });
});

test("awsEndpoint('IAM'): SKYHOP_AWS_ENDPOINT_URL, else AWS_ENDPOINT_URL_IAM, else AWS_ENDPOINT_URL", () => {
  const keys = ['SKYHOP_AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_IAM', 'AWS_ENDPOINT_URL'];
  const saved = keys.map((k) => process.env[k]);
  try {
    for (const k of keys) delete process.env[k];
    assert.equal(awsEndpoint('IAM'), undefined);
    process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:1';
    assert.equal(awsEndpoint('IAM'), 'http://127.0.0.1:1');
    process.env.AWS_ENDPOINT_URL_IAM = 'http://127.0.0.1:2';
    assert.equal(awsEndpoint('IAM'), 'http://127.0.0.1:2');
    assert.equal(awsEndpoint('EC2'), 'http://127.0.0.1:1');
    process.env.SKYHOP_AWS_ENDPOINT_URL = 'http://127.0.0.1:3';
    assert.equal(awsEndpoint('IAM'), 'http://127.0.0.1:3');
  } finally {
    keys.forEach((k, i) => {
      if (saved[i] === undefined) delete process.env[k];
      else process.env[k] = saved[i];
    });
  }
});
