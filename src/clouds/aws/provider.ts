/**
 * The AWS NodeProvider, over the official SDK v3 (loaded lazily through ec2.ts).
 *
 * The cloud is the truth. A node is an EC2 instance tagged
 *   skyhop-cluster = <cluster>, skyhop-role = head | worker, skyhop-rank = 0 (head) .. n-1, Name
 * and "which nodes does this cluster have?" is answered by DescribeInstances filtered by tag, in the
 * provider's region (EC2 is regional; a cluster lives in one region).
 *
 * Per-region bootstrap, all idempotent and named after the cluster:
 * - the cluster's SSH public key imported as key pair `skyhop-<cluster>-<8 hex of its sha256>`;
 * - security group `skyhop-<cluster>` in the VPC, tagged with the cluster, allowing TCP 22 and the
 *   task's ports from anywhere;
 * - the default VPC's subnet for the zone (catalog zones are AZ ids such as use1-az1; an AZ name such as
 *   us-east-1a is accepted too); without a zone, the default subnet of the first AZ. A configured VPC
 *   (the spec's `vpc`, from the config file's `aws.vpc_name` (by Name tag) or env SKYHOP_AWS_VPC_ID
 *   (by id); src/config) is used instead of the default one: any available subnet of the zone, those
 *   that map public IPs first.
 * - `network_tier: best` (spec.networkTier): the primary network interface is an EFA one (efa.ts), and
 *   the security group also lets its own members in on every port, as EFA needs;
 * - the image: `imageId` when given, else the newest Canonical Ubuntu 22.04 image for the instance's
 *   architecture (DescribeImages by name, table below).
 * - a cluster whose nodes use S3 (spec.storage includes 's3'): the account's IAM instance profile
 *   `skyhop-v1` (iam.ts: made once, reused, never deleted by teardown), passed to every RunInstances so
 *   the nodes reach S3 without keys. Other clusters never call IAM.
 *
 * runInstances is the shared one (src/clouds/reconcile.ts: reuse the nodes there, launch the missing
 * ranks head first, wait until all are running with an IP, remove what this call created on failure);
 * this file gives it EC2's calls: one RunInstances per node, with a ClientToken so an SDK retry cannot
 * create two; stopped nodes are started again. Its own failures are ProvisionErrors (no subnet in the
 * zone: 'zone'; no default VPC, no image: 'region'; an instance ended while booting: 'zone').
 * terminateInstances terminates every instance with the cluster's tag, waits until they are terminated,
 * then deletes the security group and key pairs; it is safe to repeat.
 */
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { EC2Client, Filter, Instance, _InstanceType } from '@aws-sdk/client-ec2';
import { clusterKeyDir, ensureClusterKey } from '../../runtime/ssh-keys.js';
import { CloudError, UserError } from '../../util/errors.js';
import { sleep } from '../../util/sleep.js';
import { errorFacts, ProvisionError } from '../errors.js';
import { type ClusterApi, nodeStatus, runCluster } from '../reconcile.js';
import { byRank, isSkyhopTag, nodeTags, rankOf, TAG_CLUSTER } from '../tags.js';
import type { NodeProvider } from '../types.js';
import type { ClusterSpec, Feature, NodeInfo } from '../../core/cluster.js';
import { featureMessage } from '../../core/features.js';
import { type Ec2ClientOptions, type Ec2Sdk, ec2Client } from './ec2.js';
import { hasEfa } from './efa.js';
import { ensureInstanceProfile, iamClient, isProfileNotReady } from './iam.js';

/** What AWS can do (SkyPilot's AWS: every optional feature; spot instances cannot be stopped). */
export const AWS_FEATURES: ReadonlySet<Feature> = new Set<Feature>([
  'provision',
  'stop',
  'autostop',
  'spot',
  'multi-node',
  'ports',
  'image-id',
  'docker-image',
  'disk-size',
  'labels',
  'zones',
  'network-tier-best',
]);

/** Canonical's AWS account, the owner of the official Ubuntu images. */
export const CANONICAL_OWNER = '099720109477';

/** The default image per architecture: the newest image whose name matches, owned by Canonical. */
export const DEFAULT_IMAGES: Readonly<Record<'x86_64' | 'arm64', string>> = {
  x86_64: 'ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-amd64-server-*',
  arm64: 'ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-arm64-server-*',
};

const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped'];
const NOT_GONE = [...LIVE_STATES, 'shutting-down'];

export interface AwsProviderOptions extends Ec2ClientOptions {
  /** How often instance states are polled while waiting; default 2 s. */
  pollMs?: number;
  /** Longest wait for instances to be running / stopped / terminated; default 10 min. */
  waitTimeoutMs?: number;
  /**
   * First wait before RunInstances is tried again while a just-made IAM instance profile is not
   * usable yet (doubling, at most 10 s a wait, PROFILE_TRIES tries in all); default 2 s.
   */
  profileRetryMs?: number;
}

/**
 * RunInstances tries while EC2 answers "Invalid IAM Instance Profile name" for a profile IAM has just
 * made (IAM is eventually consistent; SkyPilot waits 15 s after making its own): with the default
 * 2 s first wait, about 34 s in all.
 */
export const PROFILE_TRIES = 6;

/** Graviton families (a digit then `g`, e.g. m6g, c7gn, t4g) run arm64 images. */
export function instanceArch(instanceType: string): 'x86_64' | 'arm64' {
  const family = instanceType.split('.')[0] ?? '';
  return /^[a-z]+\d+g[a-z]*$/.test(family) ? 'arm64' : 'x86_64';
}

export function keyPairName(cluster: string, publicKey: string): string {
  const hash = createHash('sha256').update(publicKey.trim()).digest('hex').slice(0, 8);
  return `skyhop-${cluster}-${hash}`;
}

export function securityGroupName(cluster: string): string {
  return `skyhop-${cluster}`;
}

/** A port spec from a task ('8080', '8000-8010') as an inclusive TCP range. */
export function portRange(p: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(p.trim());
  const from = m ? Number(m[1]) : Number.NaN;
  const to = m?.[2] ? Number(m[2]) : from;
  if (!m || from < 1 || to > 65535 || from > to) {
    throw new UserError(
      `port '${p}' is not a port or range between 1 and 65535; write e.g. 8080 or 8000-8010`,
    );
  }
  return [from, to];
}

function tagMap(i: Instance): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of i.Tags ?? []) if (t.Key !== undefined) out[t.Key] = t.Value ?? '';
  return out;
}

function codeOf(e: unknown): string {
  return errorFacts(e).code;
}

type Ec2 = { sdk: Ec2Sdk; client: EC2Client };

/** An instance as the shared runInstances reads it. */
type Listed = { id: string; tags: Record<string, string>; instance: Instance };

/** What each RunInstances of a launch uses, made once. */
type LaunchCtx = {
  keyName: string;
  subnetId: string;
  groupId: string;
  image: { id: string; rootDevice: string };
  /** The IAM instance profile the nodes run with (clusters that use S3). */
  profile?: string;
};

function listed(i: Instance): Listed {
  return { id: i.InstanceId ?? '', tags: tagMap(i), instance: i };
}

export class AwsProvider implements NodeProvider {
  private ec2: Promise<Ec2> | null = null;
  private readonly pollMs: number;
  private readonly waitTimeoutMs: number;

  constructor(
    readonly region: string,
    private readonly opts: AwsProviderOptions = {},
  ) {
    this.pollMs = opts.pollMs ?? 2000;
    this.waitTimeoutMs = opts.waitTimeoutMs ?? 10 * 60_000;
  }

  private conn(): Promise<Ec2> {
    this.ec2 ??= ec2Client(this.region, this.opts);
    return this.ec2;
  }

  /** Every instance matching the filters (all pages). */
  private async describe(filters: Filter[], ids?: string[], signal?: AbortSignal): Promise<Instance[]> {
    const { sdk, client } = await this.conn();
    const out: Instance[] = [];
    let token: string | undefined;
    do {
      const r = await client.send(
        new sdk.DescribeInstancesCommand({ Filters: filters, InstanceIds: ids, NextToken: token }),
        { abortSignal: signal },
      );
      for (const res of r.Reservations ?? []) out.push(...(res.Instances ?? []));
      token = r.NextToken;
    } while (token);
    return out;
  }

  /** The cluster's instances in the given states, oldest first. */
  private async clusterInstances(cluster: string, states = LIVE_STATES, signal?: AbortSignal) {
    const found = await this.describe(
      [
        { Name: `tag:${TAG_CLUSTER}`, Values: [cluster] },
        { Name: 'instance-state-name', Values: states },
      ],
      undefined,
      signal,
    );
    return found.sort(
      (a, b) =>
        (a.LaunchTime?.getTime() ?? 0) - (b.LaunchTime?.getTime() ?? 0) ||
        (a.InstanceId ?? '').localeCompare(b.InstanceId ?? ''),
    );
  }

  private keyPaths(cluster: string) {
    const dir = clusterKeyDir(cluster);
    return { keyPath: join(dir, 'id_ed25519'), knownHostsPath: join(dir, 'known_hosts') };
  }

  toNodeInfo(i: Instance, cluster: string): NodeInfo {
    const tags = tagMap(i);
    const rank = rankOf(tags) ?? undefined;
    const internalIp = i.PrivateIpAddress ?? '';
    const externalIp = i.PublicIpAddress ?? null;
    const { keyPath, knownHostsPath } = this.keyPaths(cluster);
    return {
      id: i.InstanceId ?? '',
      cluster: tags[TAG_CLUSTER] ?? cluster,
      role: rank === 0 ? 'head' : 'worker',
      rank,
      status: nodeStatus(i.State?.Name),
      internalIp,
      externalIp,
      tags,
      zone: i.Placement?.AvailabilityZone ?? null,
      instanceType: i.InstanceType,
      spot: i.InstanceLifecycle === 'spot',
      connection: {
        kind: 'ssh',
        host: externalIp ?? internalIp,
        port: 22,
        user: 'ubuntu',
        keyPath,
        knownHostsPath,
      },
    };
  }

  private checkSpec(spec: ClusterSpec): void {
    if (spec.cluster === '') throw new UserError('an AWS cluster needs a name');
    if (!Number.isInteger(spec.numNodes) || spec.numNodes < 1) {
      throw new UserError(
        `num_nodes must be a whole number >= 1 (got ${spec.numNodes}) for cluster ${spec.cluster}`,
      );
    }
    if (spec.region !== this.region) {
      throw new UserError(
        `cluster ${spec.cluster} asks for AWS region ${spec.region} from the provider of region ${this.region}`,
      );
    }
    if (spec.diskSize !== undefined && (!Number.isInteger(spec.diskSize) || spec.diskSize < 1)) {
      throw new UserError(
        `disk_size must be a whole number of GB >= 1 (got ${spec.diskSize}) for ${spec.cluster}`,
      );
    }
    for (const p of spec.ports ?? []) portRange(p);
    if (spec.networkTier === 'best' && !hasEfa(spec.instanceType)) {
      throw new UserError(
        `network_tier: best needs an instance type with EFA, and ${spec.instanceType} has none; ` +
          'leave instance_type out or pick an EFA type (e.g. p4d.24xlarge, c5n.18xlarge)',
      );
    }
  }

  /** Imports the cluster's public key once per region; returns the key pair's name. */
  private async ensureKeyPair(cluster: string, publicKey: string, signal?: AbortSignal): Promise<string> {
    const { sdk, client } = await this.conn();
    const name = keyPairName(cluster, publicKey);
    try {
      await client.send(new sdk.DescribeKeyPairsCommand({ KeyNames: [name] }), { abortSignal: signal });
      return name;
    } catch (e) {
      if (codeOf(e) !== 'InvalidKeyPair.NotFound') throw e;
    }
    try {
      await client.send(
        new sdk.ImportKeyPairCommand({
          KeyName: name,
          PublicKeyMaterial: Buffer.from(publicKey),
          TagSpecifications: [{ ResourceType: 'key-pair', Tags: [{ Key: TAG_CLUSTER, Value: cluster }] }],
        }),
        { abortSignal: signal },
      );
    } catch (e) {
      if (codeOf(e) !== 'InvalidKeyPair.Duplicate') throw e;
    }
    return name;
  }

  /**
   * The VPC (the spec's `vpc`: by id, or by Name tag; else the region's default VPC) and its subnet
   * for `zone` (an AZ id or name); the first AZ's when zone is null.
   */
  private async subnetFor(
    spec: ClusterSpec,
    signal?: AbortSignal,
  ): Promise<{ vpcId: string; subnetId: string }> {
    const { sdk, client } = await this.conn();
    const zone = spec.zone;
    const want = spec.vpc;
    const configured = want?.id !== undefined || want?.name !== undefined;
    const vpcs = await client.send(
      new sdk.DescribeVpcsCommand(
        want?.id !== undefined
          ? { VpcIds: [want.id] }
          : want?.name !== undefined
            ? { Filters: [{ Name: 'tag:Name', Values: [want.name] }] }
            : { Filters: [{ Name: 'is-default', Values: ['true'] }] },
      ),
      { abortSignal: signal },
    );
    const found = (vpcs.Vpcs ?? []).filter((v) => v.VpcId);
    if (want?.name !== undefined && found.length > 1) {
      throw new ProvisionError(
        'region',
        'vpc_ambiguous',
        `AWS region ${this.region} has ${found.length} VPCs named ${want.name} ` +
          `(${found.map((v) => v.VpcId).join(', ')}); name one of them uniquely (aws.vpc_name in the config file)`,
      );
    }
    const vpcId = found[0]?.VpcId;
    if (!vpcId) {
      throw new ProvisionError(
        'region',
        'no_vpc',
        want?.name !== undefined
          ? `AWS region ${this.region} has no VPC named ${want.name} (aws.vpc_name in the config file); ` +
              'create it there or pick another region'
          : `AWS region ${this.region} has no default VPC; create one with \`aws ec2 create-default-vpc --region ${this.region}\`` +
              ' or set aws.vpc_name in the config file',
      );
    }
    const subnets =
      (
        await client.send(
          new sdk.DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }),
          { abortSignal: signal },
        )
      ).Subnets ?? [];
    // In the default VPC, its default subnets; in a configured VPC, any available subnet, those that
    // give instances a public IP first.
    const usable = subnets
      .filter((s) => s.State !== 'pending' && (configured || s.DefaultForAz !== false))
      .sort(
        (a, b) =>
          Number(b.MapPublicIpOnLaunch ?? false) - Number(a.MapPublicIpOnLaunch ?? false) ||
          (a.AvailabilityZone ?? '').localeCompare(b.AvailabilityZone ?? '') ||
          (a.SubnetId ?? '').localeCompare(b.SubnetId ?? ''),
      );
    const pick = zone
      ? usable.find((s) => s.AvailabilityZoneId === zone || s.AvailabilityZone === zone)
      : usable[0];
    if (!pick?.SubnetId) {
      const where = zone ? `zone ${zone}` : 'any zone';
      const vpc = configured
        ? `VPC ${vpcId}${want?.name !== undefined ? ` (${want.name})` : ' (SKYHOP_AWS_VPC_ID)'}`
        : `the default VPC ${vpcId}`;
      throw new ProvisionError(
        'zone',
        'no_subnet',
        `${vpc} in AWS region ${this.region} has no subnet in ${where}; ` +
          `create ${configured ? 'a subnet' : 'a default subnet (`aws ec2 create-default-subnet`)'} there or pick another zone`,
      );
    }
    return { vpcId, subnetId: pick.SubnetId };
  }

  /** Security group `skyhop-<cluster>` in the VPC, tagged, allowing SSH; returns its id. */
  private async ensureSecurityGroup(cluster: string, vpcId: string, signal?: AbortSignal): Promise<string> {
    const { sdk, client } = await this.conn();
    const name = securityGroupName(cluster);
    const found = await client.send(
      new sdk.DescribeSecurityGroupsCommand({
        Filters: [
          { Name: 'group-name', Values: [name] },
          { Name: 'vpc-id', Values: [vpcId] },
        ],
      }),
      { abortSignal: signal },
    );
    let id = found.SecurityGroups?.[0]?.GroupId;
    if (!id) {
      try {
        const made = await client.send(
          new sdk.CreateSecurityGroupCommand({
            GroupName: name,
            Description: `skyhop cluster ${cluster}`,
            VpcId: vpcId,
            TagSpecifications: [
              { ResourceType: 'security-group', Tags: [{ Key: TAG_CLUSTER, Value: cluster }] },
            ],
          }),
        );
        id = made.GroupId;
      } catch (e) {
        if (codeOf(e) !== 'InvalidGroup.Duplicate') throw e;
        return this.ensureSecurityGroup(cluster, vpcId, signal);
      }
    }
    if (!id) throw new CloudError(`AWS did not return an id for security group ${name} in ${this.region}`);
    await this.authorize(id, ['22']);
    return id;
  }

  /** Allows TCP from anywhere on the given ports; rules already there are fine. */
  private async authorize(groupId: string, ports: string[]): Promise<void> {
    const { sdk, client } = await this.conn();
    for (const p of ports) {
      const [from, to] = portRange(p);
      try {
        await client.send(
          new sdk.AuthorizeSecurityGroupIngressCommand({
            GroupId: groupId,
            IpPermissions: [
              { IpProtocol: 'tcp', FromPort: from, ToPort: to, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
            ],
          }),
        );
      } catch (e) {
        if (codeOf(e) !== 'InvalidPermission.Duplicate') throw e;
      }
    }
  }

  /**
   * EFA's rule: the nodes' security group lets its own members in (and out, the default egress rule)
   * on every protocol and port.
   */
  private async authorizeSelf(groupId: string): Promise<void> {
    const { sdk, client } = await this.conn();
    try {
      await client.send(
        new sdk.AuthorizeSecurityGroupIngressCommand({
          GroupId: groupId,
          IpPermissions: [{ IpProtocol: '-1', UserIdGroupPairs: [{ GroupId: groupId }] }],
        }),
      );
    } catch (e) {
      if (codeOf(e) !== 'InvalidPermission.Duplicate') throw e;
    }
  }

  /** The image to boot: `imageId`, else the newest default image for the instance's architecture. */
  private async image(spec: ClusterSpec, signal?: AbortSignal): Promise<{ id: string; rootDevice: string }> {
    const { sdk, client } = await this.conn();
    const arch = instanceArch(spec.instanceType);
    const r = await client.send(
      spec.imageId
        ? new sdk.DescribeImagesCommand({ ImageIds: [spec.imageId] })
        : new sdk.DescribeImagesCommand({
            Owners: [CANONICAL_OWNER],
            Filters: [
              { Name: 'name', Values: [DEFAULT_IMAGES[arch]] },
              { Name: 'state', Values: ['available'] },
            ],
          }),
      { abortSignal: signal },
    );
    const images = (r.Images ?? []).sort((a, b) =>
      (b.CreationDate ?? '').localeCompare(a.CreationDate ?? ''),
    );
    const img = images[0];
    if (!img?.ImageId) {
      throw new ProvisionError(
        'region',
        'image_not_found',
        spec.imageId
          ? `image ${spec.imageId} is not available in AWS region ${this.region}; check image_id`
          : `no Ubuntu 22.04 (${arch}) image found in AWS region ${this.region}; set image_id in the task`,
      );
    }
    return { id: img.ImageId, rootDevice: img.RootDeviceName ?? '/dev/sda1' };
  }

  async runInstances(
    spec: ClusterSpec,
    signal?: AbortSignal,
    onRunning?: (node: NodeInfo) => void,
  ): Promise<NodeInfo[]> {
    this.checkSpec(spec);
    return runCluster(spec, this.clusterApi(spec), signal, onRunning);
  }

  /** EC2's calls for the shared runInstances (src/clouds/reconcile.ts). */
  private clusterApi(spec: ClusterSpec): ClusterApi<Listed, LaunchCtx> {
    const { cluster } = spec;
    return {
      displayName: 'AWS',
      region: this.region,
      list: async (signal) => (await this.clusterInstances(cluster, LIVE_STATES, signal)).map(listed),
      remove: (ids) => this.terminateIds(ids.filter(Boolean)),
      // Stopped nodes are started again (the cluster was stopped; launching it resumes it).
      reuse: async (kept, missing, signal) => {
        const stopped = [...kept.values()]
          .map((k) => k.instance)
          .filter((i) => i.State?.Name === 'stopped' || i.State?.Name === 'stopping');
        if (stopped.length > 0) {
          const ids = stopped.map((i) => i.InstanceId ?? '');
          await this.waitStates(ids, ['stopped'], signal);
          const { sdk, client } = await this.conn();
          await client.send(new sdk.StartInstancesCommand({ InstanceIds: ids }));
        }
        if (missing.length === 0 && spec.ports?.length) await this.openPorts(cluster, spec.ports);
      },
      prepare: async (signal) => {
        const key = ensureClusterKey(cluster);
        const keyName = await this.ensureKeyPair(cluster, key.publicKey, signal);
        const { vpcId, subnetId } = await this.subnetFor(spec, signal);
        const groupId = await this.ensureSecurityGroup(cluster, vpcId, signal);
        if (spec.ports?.length) await this.authorize(groupId, spec.ports);
        if (spec.networkTier === 'best') await this.authorizeSelf(groupId);
        const image = await this.image(spec, signal);
        const profile = spec.storage?.includes('s3') ? await this.instanceProfile(signal) : undefined;
        return { keyName, subnetId, groupId, image, ...(profile ? { profile } : {}) };
      },
      // The signal is never passed to RunInstances: an abandoned one could still create an instance
      // (only to the waits between tries).
      launch: (rank, ctx, signal) => this.launchOne(spec, rank, ctx, signal),
      describe: async (ids, signal) =>
        (await this.describe([{ Name: 'instance-id', Values: [...ids] }], undefined, signal)).map((i) => ({
          node: this.toNodeInfo(i, cluster),
          why: i.StateReason?.Message,
        })),
      // EC2 is eventually consistent: a new instance may not be listed yet.
      absentIsGone: false,
      // An instance that ends while booting is most often out of capacity in its AZ.
      bootScope: 'zone',
      pollMs: this.pollMs,
      bootTimeoutMs: this.waitTimeoutMs,
    };
  }

  /** The IAM instance profile for nodes that use S3 (iam.ts); its name. */
  private async instanceProfile(signal?: AbortSignal): Promise<string> {
    const iam = await iamClient({ maxAttempts: this.opts.maxAttempts });
    try {
      return (await ensureInstanceProfile(iam, signal)).name;
    } finally {
      iam.client.destroy();
    }
  }

  /**
   * One RunInstances for the node of `rank`. A just-made instance profile that EC2 does not know yet
   * ("Invalid IAM Instance Profile name") is tried again here, a few times with backoff and a new
   * ClientToken (the failed call made nothing), rather than by the failover loop: its 'retry' would
   * remove the nodes already made and has no bound, and the error is not the place's fault.
   */
  private async launchOne(
    spec: ClusterSpec,
    rank: number,
    at: LaunchCtx,
    signal?: AbortSignal,
  ): Promise<string> {
    let wait = this.opts.profileRetryMs ?? 2000;
    for (let tries = 1; ; tries++) {
      try {
        return await this.runOne(spec, rank, at);
      } catch (e) {
        if (!at.profile || !isProfileNotReady(e)) throw e;
        if (tries >= PROFILE_TRIES) {
          throw new ProvisionError(
            'cloud',
            'iam_profile_not_ready',
            `AWS EC2 does not accept the IAM instance profile ${at.profile} (it lets the nodes use S3) ` +
              `after ${tries} tries: ${errorFacts(e).code}: ${(e as Error).message}; try again in a minute`,
            { cause: e },
          );
        }
        await sleep(wait, signal);
        wait = Math.min(wait * 2, 10_000);
      }
    }
  }

  private async runOne(spec: ClusterSpec, rank: number, at: LaunchCtx): Promise<string> {
    const { sdk, client } = await this.conn();
    const tags = [
      ...Object.entries(nodeTags(spec.cluster, rank)).map(([Key, Value]) => ({ Key, Value })),
      { Key: 'Name', Value: `${spec.cluster}-${rank === 0 ? 'head' : `worker${rank}`}` },
      ...Object.entries(spec.labels ?? {})
        .filter(([k]) => !isSkyhopTag(k) && !k.toLowerCase().startsWith('aws:') && k !== 'Name')
        .map(([Key, Value]) => ({ Key, Value })),
    ];
    const r = await client.send(
      new sdk.RunInstancesCommand({
        ImageId: at.image.id,
        InstanceType: spec.instanceType as _InstanceType,
        MinCount: 1,
        MaxCount: 1,
        KeyName: at.keyName,
        // network_tier: best: the primary interface is an EFA one (subnet and group then go on it).
        ...(spec.networkTier === 'best'
          ? {
              NetworkInterfaces: [
                {
                  DeviceIndex: 0,
                  NetworkCardIndex: 0,
                  InterfaceType: 'efa',
                  SubnetId: at.subnetId,
                  Groups: [at.groupId],
                  DeleteOnTermination: true,
                },
              ],
            }
          : { SubnetId: at.subnetId, SecurityGroupIds: [at.groupId] }),
        ClientToken: `skyhop-${randomBytes(12).toString('hex')}`,
        IamInstanceProfile: at.profile ? { Name: at.profile } : undefined,
        TagSpecifications: [
          { ResourceType: 'instance', Tags: tags },
          { ResourceType: 'volume', Tags: tags.slice(0, 3) },
        ],
        BlockDeviceMappings: spec.diskSize
          ? [
              {
                DeviceName: at.image.rootDevice,
                Ebs: { VolumeSize: spec.diskSize, VolumeType: 'gp3', DeleteOnTermination: true },
              },
            ]
          : undefined,
        InstanceMarketOptions: spec.useSpot
          ? {
              MarketType: 'spot',
              SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate' },
            }
          : undefined,
      }),
    );
    const id = r.Instances?.[0]?.InstanceId;
    if (!id)
      throw new CloudError(`AWS RunInstances in ${this.region} returned no instance for ${spec.cluster}`);
    return id;
  }

  /**
   * Polls until every instance is in one of `states` (and, with `needIp`, has a private IP). An instance
   * that ends (terminated) while waiting for something else fails the wait.
   */
  private async waitStates(
    ids: string[],
    states: string[],
    signal?: AbortSignal,
    needIp = false,
  ): Promise<Instance[]> {
    if (ids.length === 0) return [];
    const deadline = Date.now() + this.waitTimeoutMs;
    for (;;) {
      // By filter, not InstanceIds: an id EC2 does not know (yet: it is eventually consistent; or any
      // more: terminated instances vanish after a while) is then simply absent instead of an error.
      const listed = await this.describe([{ Name: 'instance-id', Values: ids }], undefined, signal);
      const found = new Map(listed.map((i) => [i.InstanceId ?? '', i] as const));
      const gone = states.includes('terminated');
      let pending = 0;
      const out: Instance[] = [];
      for (const id of ids) {
        const i = found.get(id);
        if (!i && gone) continue;
        const state = i?.State?.Name ?? 'pending';
        if (!states.includes(state) && (state === 'terminated' || state === 'shutting-down')) {
          const why = i?.StateReason?.Message ? ` (${i.StateReason.Message})` : '';
          throw new ProvisionError(
            'zone',
            'boot_failed',
            `AWS instance ${id} in ${this.region} was terminated while waiting${why}`,
          );
        }
        if (!i || !states.includes(state) || (needIp && !i.PrivateIpAddress)) pending++;
        if (i) out.push(i);
      }
      if (pending === 0) return out;
      if (Date.now() > deadline) {
        throw new CloudError(
          `${pending} AWS instance(s) in ${this.region} were not ${states.join('/')} after ` +
            `${Math.round(this.waitTimeoutMs / 1000)} s; run \`skyhop status --refresh\` or \`skyhop down\``,
        );
      }
      await sleep(this.pollMs, signal);
    }
  }

  /** Terminates instances (no signal: cleanup must finish) and waits until they are terminated. */
  private async terminateIds(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const { sdk, client } = await this.conn();
    try {
      await client.send(new sdk.TerminateInstancesCommand({ InstanceIds: [...ids] }));
    } catch (e) {
      if (codeOf(e) !== 'InvalidInstanceID.NotFound') throw e;
    }
    await this.waitStates([...ids], ['terminated']);
  }

  async queryInstances(cluster: string): Promise<NodeInfo[]> {
    const found = await this.clusterInstances(cluster);
    return found.map((i) => this.toNodeInfo(i, cluster)).sort(byRank);
  }

  /** DescribeInstances in this region filtered by the tag key `skyhop-cluster` (all pages). */
  async listClusters(): Promise<string[]> {
    const found = await this.describe([
      { Name: 'tag-key', Values: [TAG_CLUSTER] },
      { Name: 'instance-state-name', Values: LIVE_STATES },
    ]);
    const names = new Set<string>();
    for (const i of found) {
      const cluster = tagMap(i)[TAG_CLUSTER];
      if (cluster) names.add(cluster);
    }
    return [...names].sort();
  }

  async terminateInstances(cluster: string): Promise<void> {
    const found = await this.clusterInstances(cluster, NOT_GONE);
    await this.terminateIds(found.map((i) => i.InstanceId ?? '').filter(Boolean));
    await this.deleteBootstrap(cluster);
  }

  /** The ids of the cluster's security groups: named after it and tagged with it. */
  private async clusterGroupIds(cluster: string): Promise<string[]> {
    const { sdk, client } = await this.conn();
    const groups = await client.send(
      new sdk.DescribeSecurityGroupsCommand({
        Filters: [
          { Name: 'group-name', Values: [securityGroupName(cluster)] },
          { Name: `tag:${TAG_CLUSTER}`, Values: [cluster] },
        ],
      }),
    );
    return (groups.SecurityGroups ?? []).map((g) => g.GroupId).filter((x): x is string => !!x);
  }

  /** Deletes the cluster's security groups and key pairs (found by tag / name); repeat-safe. */
  private async deleteBootstrap(cluster: string): Promise<void> {
    const { sdk, client } = await this.conn();
    for (const groupId of await this.clusterGroupIds(cluster)) {
      // A terminated instance's network interface can hold the group for a while after it ends
      // (up to 60 polls).
      for (let attempt = 0; ; attempt++) {
        try {
          await client.send(new sdk.DeleteSecurityGroupCommand({ GroupId: groupId }));
          break;
        } catch (e) {
          const code = codeOf(e);
          if (code === 'InvalidGroup.NotFound') break;
          if (code !== 'DependencyViolation' || attempt >= 60) throw e;
          await sleep(this.pollMs);
        }
      }
    }
    const keys = await client.send(new sdk.DescribeKeyPairsCommand({}));
    const mine = new RegExp(`^skyhop-${cluster.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-[0-9a-f]{8}$`);
    for (const k of keys.KeyPairs ?? []) {
      if (!k.KeyName || !mine.test(k.KeyName)) continue;
      try {
        await client.send(new sdk.DeleteKeyPairCommand({ KeyName: k.KeyName }));
      } catch (e) {
        if (codeOf(e) !== 'InvalidKeyPair.NotFound') throw e;
      }
    }
  }

  /** A cluster on spot instances cannot stop (the table's 'stop-spot', which AWS lacks). */
  private refuseSpotStop(cluster: string, fix: string): never {
    const problem = featureMessage('stop-spot', 'AWS', { features: AWS_FEATURES }, {}, '');
    throw new UserError(`${problem}, and cluster ${cluster} runs on them; ${fix}`);
  }

  async stopInstances(cluster: string): Promise<void> {
    const found = await this.clusterInstances(cluster);
    const spot = found.filter((i) => i.InstanceLifecycle === 'spot');
    if (spot.length > 0) this.refuseSpotStop(cluster, `use \`skyhop down ${cluster}\``);
    const ids = found.filter((i) => i.State?.Name !== 'stopped').map((i) => i.InstanceId ?? '');
    if (ids.length === 0) return;
    const { sdk, client } = await this.conn();
    await client.send(new sdk.StopInstancesCommand({ InstanceIds: ids }));
    await this.waitStates(ids, ['stopped']);
  }

  async startInstances(cluster: string): Promise<NodeInfo[]> {
    const found = await this.clusterInstances(cluster);
    if (found.length === 0) return [];
    const stopping = found.filter((i) => i.State?.Name === 'stopping').map((i) => i.InstanceId ?? '');
    if (stopping.length > 0) await this.waitStates(stopping, ['stopped']);
    const toStart = found.filter((i) => i.State?.Name !== 'running' && i.State?.Name !== 'pending');
    const { sdk, client } = await this.conn();
    if (toStart.length > 0) {
      await client.send(
        new sdk.StartInstancesCommand({ InstanceIds: toStart.map((i) => i.InstanceId ?? '') }),
      );
    }
    const running = await this.waitStates(
      found.map((i) => i.InstanceId ?? ''),
      ['running'],
      undefined,
      true,
    );
    return running.map((i) => this.toNodeInfo(i, cluster)).sort(byRank);
  }

  /**
   * Autostop on AWS is each node shutting itself down (Cloud.autostopCommand); what a shutdown
   * does is the instance's InstanceInitiatedShutdownBehavior, set here on every node: `stop` keeps
   * the disks (the cluster can be started again), `terminate` removes the instances. Spot
   * instances cannot stop, so autostop there must be autodown.
   */
  async prepareAutostop(cluster: string, action: 'stop' | 'down'): Promise<void> {
    const found = await this.clusterInstances(cluster);
    if (action === 'stop' && found.some((i) => i.InstanceLifecycle === 'spot')) {
      this.refuseSpotStop(cluster, `use \`skyhop autostop --down ${cluster}\``);
    }
    const { sdk, client } = await this.conn();
    for (const i of found) {
      await client.send(
        new sdk.ModifyInstanceAttributeCommand({
          InstanceId: i.InstanceId,
          // The Attribute/Value form (EC2 documents it for this attribute; moto implements only it).
          Attribute: 'instanceInitiatedShutdownBehavior',
          Value: action === 'down' ? 'terminate' : 'stop',
        }),
      );
    }
  }

  async openPorts(cluster: string, ports: string[]): Promise<void> {
    for (const p of ports) portRange(p);
    const ids = await this.clusterGroupIds(cluster);
    if (ids.length === 0) {
      throw new UserError(
        `AWS cluster ${cluster} has no security group ${securityGroupName(cluster)} in ${this.region}; launch it first`,
      );
    }
    for (const id of ids) await this.authorize(id, ports);
  }
}
