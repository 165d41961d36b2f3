/**
 * The AWS NodeProvider with the real AWS SDK v3 against a real moto_server (the EC2 emulator) on a
 * loopback port. Errors moto cannot produce are injected by the proxy in test/helpers/moto.ts, which
 * answers chosen EC2 actions with an EC2 XML error (said where used).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { ec2Client } from '../../../src/clouds/aws/ec2.js';
import { AwsProvider, instanceArch, keyPairName, portRange } from '../../../src/clouds/aws/provider.js';
import type { ClusterSpec } from '../../../src/core/cluster.js';
import { classifyAwsError } from '../../../src/clouds/aws/errors.js';
import { ProvisionError } from '../../../src/clouds/errors.js';
import { ensureClusterKey } from '../../../src/runtime/ssh-keys.js';
import { refresh } from '../../../src/sdk/lifecycle.js';
import { openStore } from '../../../src/state/index.js';
import { InterruptedError, UserError } from '../../../src/util/errors.js';
import {
  type MotoEnv,
  type MotoHandle,
  motoEnv,
  motoMissing,
  UBUNTU_AMD64,
  UBUNTU_ARM64,
} from '../../helpers/moto.js';

const REGION = 'us-east-1';
const missing = motoMissing();
if (missing) console.log(`# aws provider tests skipped: ${missing}`);

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

describe('aws provider on moto', { skip: missing ?? false }, () => {
  let env: MotoEnv;
  let moto: MotoHandle;
  let ec2: EC2Client;
  let sdk: typeof import('@aws-sdk/client-ec2');
  const provider = () => new AwsProvider(REGION, { pollMs: 50, maxAttempts: 1 });

  before(async () => {
    env = await motoEnv('skyhop-aws-');
    moto = env.moto;
    ({ sdk, client: ec2 } = await ec2Client(REGION));
  });
  after(async () => {
    ec2?.destroy();
    await env?.close();
  });

  const instance = async (id: string) =>
    (await ec2.send(new sdk.DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0].Instances![0];

  test('launch 2 nodes: tags, key pair, security group with ports, subnet of the zone id, image, disk', async () => {
    const p = provider();
    const nodes = await p.runInstances(
      spec('two', {
        numNodes: 2,
        zone: 'use1-az1',
        ports: ['8080', '9000-9010'],
        diskSize: 77,
        labels: { team: 'ml', 'skyhop-role': 'spoofed', 'aws:x': 'reserved' },
      }),
    );
    assert.deepEqual(
      nodes.map((n) => [n.role, n.rank, n.tags['skyhop-cluster'], n.tags['skyhop-rank'], n.status]),
      [
        ['head', 0, 'two', '0', 'running'],
        ['worker', 1, 'two', '1', 'running'],
      ],
    );
    assert.equal(nodes[0].tags.Name, 'two-head');
    assert.equal(nodes[1].tags.Name, 'two-worker1');
    assert.equal(nodes[0].tags.team, 'ml', 'labels become tags');
    assert.equal(nodes[1].tags['skyhop-role'], 'worker', 'labels cannot override skyhop tags');
    assert.equal(nodes[0].tags['aws:x'], undefined, 'reserved aws: keys are dropped');
    const key = ensureClusterKey('two');
    for (const n of nodes) {
      assert.equal(n.zone, 'us-east-1b', 'moto maps use1-az1 to us-east-1b');
      assert.deepEqual(n.connection, {
        kind: 'ssh',
        host: n.externalIp ?? n.internalIp,
        port: 22,
        user: 'ubuntu',
        keyPath: key.keyPath,
        knownHostsPath: key.knownHostsPath,
      });
      assert.ok(n.internalIp);
      const i = await instance(n.id);
      assert.equal(i.ImageId, UBUNTU_AMD64);
      assert.equal(i.KeyName, keyPairName('two', key.publicKey));
      assert.equal(i.InstanceType, 't3.micro');
      const volId = i.BlockDeviceMappings?.[0]?.Ebs?.VolumeId;
      const vol = await ec2.send(new sdk.DescribeVolumesCommand({ VolumeIds: [volId!] }));
      assert.equal(vol.Volumes?.[0]?.Size, 77);
    }
    const kp = await ec2.send(
      new sdk.DescribeKeyPairsCommand({ KeyNames: [keyPairName('two', key.publicKey)] }),
    );
    assert.equal(kp.KeyPairs?.length, 1);
    const sg = await ec2.send(
      new sdk.DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: ['skyhop-two'] }] }),
    );
    const rules = (sg.SecurityGroups?.[0]?.IpPermissions ?? [])
      .map((r) => `${r.FromPort}-${r.ToPort}`)
      .sort();
    assert.deepEqual(rules, ['22-22', '8080-8080', '9000-9010']);

    // Idempotent: again reuses both; asking for 3 adds only rank 2.
    const again = await p.runInstances(spec('two', { numNodes: 2, zone: 'use1-az1' }));
    assert.deepEqual(
      again.map((n) => n.id),
      nodes.map((n) => n.id),
    );
    const three = await p.runInstances(spec('two', { numNodes: 3, zone: 'use1-az1' }));
    assert.deepEqual(
      three.slice(0, 2).map((n) => n.id),
      nodes.map((n) => n.id),
    );
    assert.equal(three[2].rank, 2);
    await assert.rejects(p.runInstances(spec('two', { numNodes: 1 })), UserError);

    await p.openPorts('two', ['7000']);
    const sg2 = await ec2.send(
      new sdk.DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: ['skyhop-two'] }] }),
    );
    assert.ok(sg2.SecurityGroups?.[0]?.IpPermissions?.some((r) => r.FromPort === 7000));

    await p.terminateInstances('two');
    assert.deepEqual(await p.queryInstances('two'), []);
    const sgAfter = await ec2.send(
      new sdk.DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: ['skyhop-two'] }] }),
    );
    assert.equal(sgAfter.SecurityGroups?.length ?? 0, 0, 'security group deleted');
    const keys = await ec2.send(new sdk.DescribeKeyPairsCommand({}));
    assert.ok(!keys.KeyPairs?.some((k) => k.KeyName?.startsWith('skyhop-two-')), 'key pair deleted');
    await p.terminateInstances('two'); // repeat-safe
  });

  test('spot via InstanceMarketOptions; spot clusters refuse to stop', async () => {
    const p = provider();
    const [n] = await p.runInstances(spec('spotty', { useSpot: true }));
    assert.equal(n.spot, true);
    assert.equal((await instance(n.id)).InstanceLifecycle, 'spot');
    await assert.rejects(p.stopInstances('spotty'), UserError);
    await p.terminateInstances('spotty');
  });

  test('image: image_id wins; Graviton types get the arm64 default; an unknown image is a region error', async () => {
    const p = provider();
    const [a] = await p.runInstances(spec('img-arm', { instanceType: 'm6g.large' }));
    assert.equal((await instance(a.id)).ImageId, UBUNTU_ARM64);
    const [b] = await p.runInstances(spec('img-id', { imageId: UBUNTU_ARM64 }));
    assert.equal((await instance(b.id)).ImageId, UBUNTU_ARM64);
    await assert.rejects(
      p.runInstances(spec('img-bad', { imageId: 'ami-00000000000000bad' })),
      (e: unknown) => {
        // EC2's own error (InvalidAMIID.NotFound), which the AWS classifier maps.
        assert.match((e as Error).message, /ami-00000000000000bad|InvalidAMIID/);
        assert.equal(classifyAwsError(e), 'region');
        return true;
      },
    );
    assert.deepEqual(await p.queryInstances('img-bad'), []);
    for (const c of ['img-arm', 'img-id', 'img-bad']) await p.terminateInstances(c);
  });

  test("autostop: each node's shutdown behaviour is set to stop or terminate; spot clusters only autodown", async () => {
    const p = provider();
    const nodes = await p.runInstances(spec('idle', { numNodes: 2 }));
    const behaviour = async (id: string) =>
      (
        await ec2.send(
          new sdk.DescribeInstanceAttributeCommand({
            InstanceId: id,
            Attribute: 'instanceInitiatedShutdownBehavior',
          }),
        )
      ).InstanceInitiatedShutdownBehavior?.Value;
    await p.prepareAutostop('idle', 'down');
    for (const n of nodes) assert.equal(await behaviour(n.id), 'terminate');
    await p.prepareAutostop('idle', 'stop');
    for (const n of nodes) assert.equal(await behaviour(n.id), 'stop');
    await p.terminateInstances('idle');

    const [s] = await p.runInstances(spec('idle-spot', { useSpot: true }));
    await assert.rejects(p.prepareAutostop('idle-spot', 'stop'), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(
        (e as Error).message,
        /^AWS cannot stop spot instances, only tear them down, and cluster idle-spot runs on them; use `skyhop autostop --down idle-spot`$/,
      );
      return true;
    });
    await p.prepareAutostop('idle-spot', 'down');
    assert.equal(await behaviour(s.id), 'terminate');
    await p.terminateInstances('idle-spot');
  });

  test('a cluster whose instances ended by themselves (autodown): status --refresh forgets it and removes its security group and key pair', async () => {
    const p = provider();
    const nodes = await p.runInstances(spec('gone', { numNodes: 2 }));
    const store = openStore();
    store.upsertCluster({
      name: 'gone',
      cloud: 'aws',
      region: REGION,
      zone: null,
      status: 'UP',
      resources: {
        instanceType: 't3.micro',
        accelerators: null,
        useSpot: false,
        vcpus: 2,
        memoryGiB: 1,
        numNodes: 2,
      },
      nodes,
      launchedAt: Date.now(),
      statusUpdatedAt: Date.now(),
      hourlyPrice: 0.0104,
      autostop: { idleMinutes: 0, down: true },
      headIp: nodes[0].externalIp,
    });
    // What the nodes' own shutdown does with InstanceInitiatedShutdownBehavior=terminate.
    await ec2.send(new sdk.TerminateInstancesCommand({ InstanceIds: nodes.map((n) => n.id) }));
    const changes = await refresh(store, ['gone']);
    assert.deepEqual(
      changes.map((c) => [c.cluster, c.from, c.to]),
      [['gone', 'UP', null]],
    );
    assert.equal(store.getCluster('gone'), null);
    const groups = await ec2.send(
      new sdk.DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: ['skyhop-gone'] }] }),
    );
    assert.equal(groups.SecurityGroups?.length ?? 0, 0, 'security group deleted');
    const keys = await ec2.send(new sdk.DescribeKeyPairsCommand({}));
    assert.ok(!keys.KeyPairs?.some((k) => k.KeyName?.startsWith('skyhop-gone-')), 'key pair deleted');
  });

  test('stop and start by tag', async () => {
    const p = provider();
    const [n] = await p.runInstances(spec('stopper'));
    await p.stopInstances('stopper');
    assert.deepEqual(
      (await p.queryInstances('stopper')).map((x) => x.status),
      ['stopped'],
    );
    await p.stopInstances('stopper'); // again: nothing to do
    const started = await p.startInstances('stopper');
    assert.deepEqual(
      started.map((x) => [x.id, x.status]),
      [[n.id, 'running']],
    );
    // A launch of a stopped cluster starts it again.
    await p.stopInstances('stopper');
    const relaunched = await p.runInstances(spec('stopper'));
    assert.deepEqual(
      relaunched.map((x) => [x.id, x.status]),
      [[n.id, 'running']],
    );
    await p.terminateInstances('stopper');
  });

  test('a partial launch is cleaned up before the error is thrown (2nd RunInstances fails: injected)', async () => {
    // moto cannot run out of capacity: the proxy answers the second RunInstances with the EC2 error.
    moto.failNext('RunInstances', 'InsufficientInstanceCapacity', { after: 1 });
    const p = provider();
    await assert.rejects(p.runInstances(spec('partial', { numNodes: 2 })), (e: unknown) => {
      assert.equal((e as { name?: string }).name, 'InsufficientInstanceCapacity');
      return true;
    });
    assert.deepEqual(await p.queryInstances('partial'), [], 'the head launched by this call was terminated');
    await p.terminateInstances('partial');
  });

  test('an abort during a launch removes what it created and throws InterruptedError', async () => {
    const ac = new AbortController();
    moto.onAction = (a) => {
      if (a === 'RunInstances') ac.abort();
    };
    const p = provider();
    try {
      await assert.rejects(p.runInstances(spec('aborted', { numNodes: 3 }), ac.signal), InterruptedError);
    } finally {
      moto.onAction = null;
    }
    assert.deepEqual(await p.queryInstances('aborted'), []);
    await p.terminateInstances('aborted');
  });

  test('a zone the default VPC has no subnet in fails before launching', async () => {
    const p = provider();
    await assert.rejects(p.runInstances(spec('nozone', { zone: 'use1-az99' })), (e: unknown) => {
      assert.match((e as Error).message, /no subnet in zone use1-az99/);
      assert.ok(e instanceof ProvisionError && e.scope === 'zone');
      return true;
    });
    assert.deepEqual(await p.queryInstances('nozone'), []);
    await p.terminateInstances('nozone');
  });

  test('a configured VPC (spec.vpc.id): its subnet in the zone, the security group in that VPC', async () => {
    const vpc = await ec2.send(new sdk.CreateVpcCommand({ CidrBlock: '10.77.0.0/16' }));
    const vpcId = vpc.Vpc!.VpcId!;
    const sub = await ec2.send(
      new sdk.CreateSubnetCommand({
        VpcId: vpcId,
        CidrBlock: '10.77.1.0/24',
        AvailabilityZoneId: 'use1-az2',
      }),
    );
    const p = provider();
    const [n] = await p.runInstances(spec('myvpc', { zone: 'use1-az2', vpc: { id: vpcId } }));
    const i = await instance(n.id);
    assert.equal(i.SubnetId, sub.Subnet!.SubnetId);
    assert.equal(i.VpcId, vpcId);
    assert.match(n.internalIp, /^10\.77\.1\./);
    const sg = await ec2.send(
      new sdk.DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: ['skyhop-myvpc'] }] }),
    );
    assert.equal(sg.SecurityGroups?.[0]?.VpcId, vpcId);
    await assert.rejects(
      p.runInstances(spec('myvpc2', { zone: 'use1-az1', vpc: { id: vpcId } })),
      /VPC .* has no subnet in zone use1-az1/,
    );
    await p.terminateInstances('myvpc');
    await p.terminateInstances('myvpc2');
    assert.deepEqual(await p.queryInstances('myvpc'), []);
  });

  test('the SDK retries throttling: one injected RequestLimitExceeded, then the launch succeeds', async () => {
    const p = new AwsProvider(REGION, { pollMs: 50 }); // default maxAttempts
    moto.failNext('RunInstances', 'RequestLimitExceeded', { message: 'Request limit exceeded.' });
    const before = moto.actions.filter((a) => a === 'RunInstances').length;
    const nodes = await p.runInstances(spec('throttled'));
    assert.equal(nodes.length, 1);
    assert.equal(moto.actions.filter((a) => a === 'RunInstances').length - before, 2, 'tried twice');
    await p.terminateInstances('throttled');
  });
});

test('helpers: architecture, port ranges, key pair names', () => {
  assert.equal(instanceArch('m6g.large'), 'arm64');
  assert.equal(instanceArch('c7gn.xlarge'), 'arm64');
  assert.equal(instanceArch('t4g.micro'), 'arm64');
  assert.equal(instanceArch('g5.xlarge'), 'x86_64');
  assert.equal(instanceArch('p4d.24xlarge'), 'x86_64');
  assert.equal(instanceArch('t3.micro'), 'x86_64');
  assert.deepEqual(portRange('8080'), [8080, 8080]);
  assert.deepEqual(portRange('8000-8010'), [8000, 8010]);
  assert.throws(() => portRange('0'), UserError);
  assert.throws(() => portRange('9-1'), UserError);
  assert.throws(() => portRange('http'), UserError);
  assert.match(keyPairName('c1', 'ssh-ed25519 AAAA x'), /^skyhop-c1-[0-9a-f]{8}$/);
  assert.equal(keyPairName('c1', 'ssh-ed25519 AAAA x'), keyPairName('c1', 'ssh-ed25519 AAAA x\n'));
});
