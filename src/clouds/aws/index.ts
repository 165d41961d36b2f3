/**
 * AWS: catalog, features, credential check, egress, failover classification, and provisioning
 * (provider.ts, over the AWS SDK v3; the SDK itself is imported only when a provider or the verbose
 * credential check first talks to AWS, so commands that never do stay fast).
 *
 * Facts from SkyPilot's AWS cloud (read 2026): every optional feature is supported (stopping spot
 * instances is not, which the provisioner must check: `features` is per cloud); cluster names up to
 * 248 characters (EC2 tag-value filter limit minus the `-worker` suffix); accelerators are part of
 * the instance type and its price; internet egress is billed in tiers (below).
 */
import type { Catalog } from '../../catalog/types.js';
import { loadCatalog } from '../../catalog/index.js';
import type { Resources } from '../../core/task.js';
import { type EgressTiers, feasibleFromCatalog, tieredEgressPerGb } from '../feasible.js';
import type { Cloud, NodeProvider } from '../types.js';
import type { AutostopCommand } from '../../core/cluster.js';
import { awsCredentialSources, checkAwsCredentials } from './credentials.js';
import { classifyAwsError } from './errors.js';
import { hasEfa } from './efa.js';
import { AWS_FEATURES, AwsProvider } from './provider.js';
import { callerIdentity } from './sts.js';

/**
 * Egress to the internet as SkyPilot models it (from US East): the first 1 GB free, then $0.09/GB up
 * to 10 TB, $0.085 to 50 TB, $0.07 to 150 TB, $0.05 beyond. Each GB is billed at its tier's rate
 * (SkyPilot's own arithmetic mis-prices volumes above 50 TB and bills everything at $0.05 above 150 TB).
 */
export const AWS_EGRESS_TIERS: EgressTiers = [
  [1, 0],
  [10 * 1024, 0.09],
  [50 * 1024, 0.085],
  [150 * 1024, 0.07],
  [Number.POSITIVE_INFINITY, 0.05],
];

/**
 * Autostop/autodown from the head node without AWS credentials there: every node shuts itself
 * down (the workers first, over the agent's connections, then the head), and the provider's
 * prepareAutostop has set what a shutdown means (stop or terminate) on each instance. The
 * security group and key pair left after an autodown are removed by the next `status --refresh`
 * (or `down`), which finds the instances gone.
 */
export function autostopCommand(_cluster: string, _action: 'stop' | 'down'): AutostopCommand {
  return {
    argv: ['sudo', '-n', 'shutdown', '-h', 'now'],
    env: {},
    // Detached, so the SSH session returns before the node goes down.
    workers: "setsid sh -c 'sleep 1; sudo -n shutdown -h now' </dev/null >/dev/null 2>&1 &",
  };
}

export function createCloud(): Cloud {
  let catalog: Catalog | null = null;
  // One provider (and so one EC2 client, with its connection pool) per region.
  const providers = new Map<string, AwsProvider>();
  const cloud: Cloud = {
    name: 'aws',
    displayName: 'AWS',
    features: AWS_FEATURES,
    maxClusterNameLength: 248,
    catalog(): Catalog {
      catalog ??= loadCatalog('aws');
      return catalog;
    },
    async checkCredentials(opts = {}) {
      const found = await checkAwsCredentials();
      if (!found.ok || !opts.verbose) return found;
      return callerIdentity(found);
    },
    feasibleResources(r: Resources, alternative: number) {
      return feasibleFromCatalog(cloud, r, alternative, { highPerformanceNetwork: hasEfa });
    },
    egressCostPerGb(gb: number): number {
      return tieredEgressPerGb(gb, AWS_EGRESS_TIERS);
    },
    provider(region: string): NodeProvider {
      let p = providers.get(region);
      if (!p) {
        p = new AwsProvider(region);
        providers.set(region, p);
      }
      return p;
    },
    classifyError: classifyAwsError,
    autostopCommand,
    credentialSources: awsCredentialSources,
  };
  return cloud;
}
