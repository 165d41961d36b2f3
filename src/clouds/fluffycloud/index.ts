/**
 * Step 3 of the new-cloud guide: the FluffyCloud `Cloud` — the cloud of SkyPilot's new-cloud guide,
 * served here by the emulator in src/emulators/fluffycloud (docs/fluffycloud-api.md). The files, one
 * per step: api.ts (0, API client), provider.ts (1, NodeProvider), catalogs/fluffycloud/vms.csv (2),
 * this file (3), setup.ts (4, SSH keys and node setup), errors.ts (5, failover classification);
 * credentials.ts holds the credential check. docs/adding-a-cloud.md walks through them.
 *
 * Choices (FluffyCloud is ours, so these are skyhop's numbers, not SkyPilot's):
 * - features: spot (the emulator preempts spot instances), multi-node, zones, autostop (tear-down
 *   when idle; FluffyCloud cannot stop instances, so only `autostop --down`), ports (FluffyCloud has
 *   no firewall: every port of an instance's address is open, so there is nothing to open). No stop,
 *   custom images, disk sizes or labels.
 * - cluster names up to 48 characters: instance names are DNS labels (63) and leave room for a node
 *   suffix of up to 15 characters (`-head-1a2b`, `-w12-1a2b`).
 * - egress: a flat $0.02/GB to the internet or another cloud; cheaper than AWS/GCP and dearer than
 *   Lambda/RunPod's free egress, so plans that cross clouds show the term.
 *
 * Start-up cost: importing this file loads no API client, provider or SSH code; `provider()` hands
 * out a thin object that imports provider.ts on its first call.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Catalog } from '../../catalog/types.js';
import { loadCatalog } from '../../catalog/index.js';
import type { Resources } from '../../core/task.js';
import { UserError } from '../../util/errors.js';
import { skyhopHome } from '../../util/paths.js';
import { packageRoot } from '../../util/package-root.js';
import { feasibleFromCatalog } from '../feasible.js';
import type { Cloud, NodeProvider } from '../types.js';
import type { Feature } from '../../core/cluster.js';
import { featureMessage } from '../../core/features.js';
import { checkFluffyCloudCredentials, fluffyCredentialSources } from './credentials.js';
import { classifyFluffyCloudError } from './errors.js';
import type { FluffyCloudProvider, FluffyCloudProviderOptions } from './provider.js';
import { nodeSetup } from './setup.js';

export { loadFluffyCloudCredentials } from './credentials.js';

export const FLUFFYCLOUD_FEATURES: ReadonlySet<Feature> = new Set<Feature>([
  'provision',
  'autostop',
  'spot',
  'multi-node',
  'zones',
  'docker-image',
  'ports',
]);

/** USD per GB leaving FluffyCloud, any volume. */
export const FLUFFYCLOUD_EGRESS_PER_GB = 0.02;

/**
 * A NodeProvider for `region` that loads provider.ts (and with it the API client and the SSH
 * runner) only when a method is first called.
 */
export function lazyProvider(region: string, opts: FluffyCloudProviderOptions = {}): NodeProvider {
  let real: Promise<FluffyCloudProvider> | null = null;
  const get = () => {
    real ??= import('./provider.js').then((m) => new m.FluffyCloudProvider(region, opts));
    return real;
  };
  return {
    runInstances: async (spec, signal, onRunning) => (await get()).runInstances(spec, signal, onRunning),
    queryInstances: async (cluster) => (await get()).queryInstances(cluster),
    terminateInstances: async (cluster) => (await get()).terminateInstances(cluster),
    listClusters: async () => (await get()).listClusters(),
  };
}

/**
 * What the cluster's agent runs when autodown fires: this machine's skyhop CLI, `down <cluster>`,
 * with the client's SKYHOP_HOME and HOME (where ~/.fluffycloud/credentials is).
 *
 * This works because the emulator's instances are hosts on this very machine: the head node can run
 * the client's node binary and skyhop, and reach the API on loopback. Two limits, both from the
 * emulator's isolation of a node: (1) a node has its own /root and /tmp, so the client's SKYHOP_HOME
 * and ~/.fluffycloud must live elsewhere for the head to see them; (2) the command runs inside the
 * head's PID namespace, which ends when the head is removed, so `down` dies right after the cloud
 * has removed the nodes and before it forgets the cluster locally: `skyhop status --refresh` then
 * reconciles the record (measured: the instances are terminated; the record says UP until then).
 * A real remote cloud would instead call its own API from the head (remove the instances that carry
 * the cluster's tag, with a credential scoped to that cluster), since the client's files are not
 * there. The API key is never put in `env`: the agent stores this command on the node.
 */
export function autostopCommand(
  cluster: string,
  action: 'stop' | 'down',
): { argv: string[]; env: Record<string, string> } {
  if (action !== 'down') {
    const fix = `use \`skyhop autostop --down ${cluster}\` to tear the cluster down when idle`;
    throw new UserError(featureMessage('stop', 'FluffyCloud', { features: FLUFFYCLOUD_FEATURES }, {}, fix));
  }
  return {
    argv: [process.execPath, join(packageRoot(), 'bin', 'skyhop.js'), 'down', cluster, '-y'],
    env: {
      SKYHOP_HOME: skyhopHome(),
      HOME: process.env.HOME || homedir(),
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    },
  };
}

export function createCloud(): Cloud {
  let catalog: Catalog | null = null;
  const cloud: Cloud = {
    name: 'fluffycloud',
    displayName: 'FluffyCloud',
    features: FLUFFYCLOUD_FEATURES,
    emulator: true,
    maxClusterNameLength: 48,
    catalog(): Catalog {
      catalog ??= loadCatalog('fluffycloud');
      return catalog;
    },
    checkCredentials() {
      return checkFluffyCloudCredentials();
    },
    feasibleResources(r: Resources, alternative: number) {
      return feasibleFromCatalog(cloud, r, alternative);
    },
    egressCostPerGb(gb: number): number {
      return gb > 0 ? FLUFFYCLOUD_EGRESS_PER_GB : 0;
    },
    provider(region: string): NodeProvider {
      const regions = cloud.catalog().regions();
      if (!regions.includes(region)) {
        throw new UserError(`FluffyCloud has no region ${region}; its regions: ${regions.join(', ')}`);
      }
      return lazyProvider(region);
    },
    classifyError: classifyFluffyCloudError,
    nodeSetup,
    autostopCommand,
    credentialSources: fluffyCredentialSources,
  };
  return cloud;
}
