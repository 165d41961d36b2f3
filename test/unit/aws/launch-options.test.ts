/**
 * What a launch's spec asks of AWS beyond the instance, against a real moto_server: the config file's
 * VPC (`aws.vpc_name`, by Name tag) and labels (as tags), through src/config's launchSpec.
 *
 * `network_tier: best`: the launch asks EC2 for an EFA network
 * interface (RunInstances NetworkInterfaces InterfaceType 'efa', read from the request the real SDK
 * sends, captured by a middleware), the security group lets its own members in, and the EFA table
 * (efa-types.ts) is exactly the set of types EC2's DescribeInstanceTypes reports as EfaSupported.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { EC2Client, RunInstancesCommandInput } from '@aws-sdk/client-ec2';
import { ec2Client } from '../../../src/clouds/aws/ec2.js';
import { EFA_TYPES } from '../../../src/clouds/aws/efa-types.js';
import { hasEfa } from '../../../src/clouds/aws/efa.js';
import { AwsProvider, securityGroupName } from '../../../src/clouds/aws/provider.js';
import { ProvisionError } from '../../../src/clouds/errors.js';
import { launchSpec, parseConfigText } from '../../../src/config/index.js';
import type { ClusterSpec } from '../../../src/core/cluster.js';
import { UserError } from '../../../src/util/errors.js';
import { type MotoEnv, motoEnv, motoMissing } from '../../helpers/moto.js';

const REGION = 'us-east-1';
const missing = motoMissing();
if (missing) console.log(`# aws network tier tests skipped: ${missing}`);

const spec = (cluster: string, extra: Partial<ClusterSpec> = {}): ClusterSpec => ({
  cluster,
  numNodes: 1,
  instanceType: 'c5n.18xlarge',
  region: REGION,
  zone: null,
  useSpot: false,
  accelerators: null,
  ...extra,
});

describe('aws launch options on moto', { skip: missing ?? false }, () => {
  let env: MotoEnv;
  let ec2: EC2Client;
  let sdk: typeof import('@aws-sdk/client-ec2');
  const runs: RunInstancesCommandInput[] = [];
  // Every RunInstances the provider sends, as the SDK serialises it.
  const provider = () =>
    new AwsProvider(REGION, {
      pollMs: 50,
      maxAttempts: 1,
      configure: (c) =>
        c.middlewareStack.add(
          (next, ctx) => (args) => {
            if (ctx.commandName === 'RunInstancesCommand') runs.push(args.input as RunInstancesCommandInput);
            return next(args);
          },
          { step: 'initialize', name: 'captureRunInstances' },
        ),
    });

  before(async () => {
    env = await motoEnv('skyhop-aws-efa-');
    ({ sdk, client: ec2 } = await ec2Client(REGION));
  });
  after(async () => {
    ec2?.destroy();
    await env?.close();
  });

  test('best: the primary interface is EFA, in the subnet and group; the group admits itself', async () => {
    runs.length = 0;
    const p = provider();
    const nodes = await p.runInstances(spec('efa', { numNodes: 2, networkTier: 'best', zone: 'use1-az1' }));
    assert.equal(nodes.length, 2);
    assert.equal(runs.length, 2);
    for (const r of runs) {
      assert.equal(r.SubnetId, undefined);
      assert.equal(r.SecurityGroupIds, undefined);
      const ni = r.NetworkInterfaces ?? [];
      assert.equal(ni.length, 1);
      assert.equal(ni[0].InterfaceType, 'efa');
      assert.equal(ni[0].DeviceIndex, 0);
      assert.match(ni[0].SubnetId ?? '', /^subnet-/);
      assert.match(ni[0].Groups?.[0] ?? '', /^sg-/);
    }
    // moto made the instances in that subnet and group.
    const made = (
      await ec2.send(new sdk.DescribeInstancesCommand({ InstanceIds: nodes.map((n) => n.id) }))
    ).Reservations!.flatMap((r) => r.Instances ?? []);
    const groupId = runs[0].NetworkInterfaces![0].Groups![0];
    for (const i of made) {
      assert.equal(i.SubnetId, runs[0].NetworkInterfaces![0].SubnetId);
      assert.deepEqual(
        i.NetworkInterfaces?.[0]?.Groups?.map((g) => g.GroupId),
        [groupId],
      );
    }
    const sg = await ec2.send(new sdk.DescribeSecurityGroupsCommand({ GroupIds: [groupId] }));
    assert.equal(sg.SecurityGroups?.[0]?.GroupName, securityGroupName('efa'));
    const self = (sg.SecurityGroups?.[0]?.IpPermissions ?? []).find(
      (perm) => perm.IpProtocol === '-1' && perm.UserIdGroupPairs?.some((g) => g.GroupId === groupId),
    );
    assert.ok(self, 'the group lets its own members in on every port');
    await p.terminateInstances('efa');
  });

  test('config aws.vpc_name: the VPC with that Name tag; aws.labels: tags under the task labels', async () => {
    const vpc = await ec2.send(
      new sdk.CreateVpcCommand({
        CidrBlock: '10.88.0.0/16',
        TagSpecifications: [{ ResourceType: 'vpc', Tags: [{ Key: 'Name', Value: 'research' }] }],
      }),
    );
    const vpcId = vpc.Vpc!.VpcId!;
    const sub = await ec2.send(
      new sdk.CreateSubnetCommand({
        VpcId: vpcId,
        CidrBlock: '10.88.1.0/24',
        AvailabilityZoneId: 'use1-az4',
      }),
    );
    const cfg = parseConfigText('aws:\n  vpc_name: research\n  labels: {team: ml, owner: cfg}\n', 'c.yaml');
    const s = launchSpec(
      spec('named', { instanceType: 't3.micro', zone: 'use1-az4', labels: { owner: 'task' } }),
      'aws',
      cfg,
    );
    const p = provider();
    const [n] = await p.runInstances(s);
    const i = (await ec2.send(new sdk.DescribeInstancesCommand({ InstanceIds: [n.id] }))).Reservations![0]
      .Instances![0];
    assert.equal(i.VpcId, vpcId);
    assert.equal(i.SubnetId, sub.Subnet!.SubnetId);
    const tags = Object.fromEntries((i.Tags ?? []).map((t) => [t.Key, t.Value]));
    assert.equal(tags.team, 'ml');
    assert.equal(tags.owner, 'task');
    await p.terminateInstances('named');
    // A region without a VPC of that name: blocked as a region (another region may have one).
    const none = launchSpec(
      spec('nonamed', { instanceType: 't3.micro' }),
      'aws',
      parseConfigText('aws:\n  vpc_name: nowhere\n', 'c.yaml'),
    );
    await assert.rejects(p.runInstances(none), (e: unknown) => {
      assert.ok(e instanceof ProvisionError);
      assert.equal(e.scope, 'region');
      assert.match(e.message, /has no VPC named nowhere \(aws\.vpc_name in the config file\)/);
      return true;
    });
  });

  test('standard (or none): SubnetId and SecurityGroupIds as before, no EFA interface', async () => {
    runs.length = 0;
    const p = provider();
    await p.runInstances(spec('plain', { instanceType: 't3.micro' }));
    assert.equal(runs.length, 1);
    assert.equal(runs[0].NetworkInterfaces, undefined);
    assert.match(runs[0].SubnetId ?? '', /^subnet-/);
    assert.equal(runs[0].SecurityGroupIds?.length, 1);
    await p.terminateInstances('plain');
  });

  test('best on a type without EFA is refused before EC2 is asked', async () => {
    runs.length = 0;
    await assert.rejects(
      provider().runInstances(spec('noefa', { instanceType: 't3.micro', networkTier: 'best' })),
      (e: unknown) => e instanceof UserError && /t3\.micro has none/.test(e.message),
    );
    assert.equal(runs.length, 0);
  });

  test("the EFA table is EC2's DescribeInstanceTypes EfaSupported, type for type", async () => {
    const efa: string[] = [];
    let token: string | undefined;
    do {
      const r = await ec2.send(new sdk.DescribeInstanceTypesCommand({ NextToken: token, MaxResults: 100 }));
      for (const t of r.InstanceTypes ?? []) {
        if (t.NetworkInfo?.EfaSupported && t.InstanceType) efa.push(t.InstanceType);
      }
      token = r.NextToken;
    } while (token);
    const table = Object.entries(EFA_TYPES).flatMap(([fam, sizes]) => sizes.map((s) => `${fam}.${s}`));
    assert.deepEqual(table.sort(), efa.sort());
    assert.ok(efa.length > 100);
    assert.ok(hasEfa('p4d.24xlarge') && hasEfa('c5n.18xlarge') && !hasEfa('m6i.2xlarge'));
  });
});
