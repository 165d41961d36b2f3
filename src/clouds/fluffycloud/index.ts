/**
 * FluffyCloud, planning side: the emulated cloud of src/emulators/fluffycloud, added the way the
 * SkyPilot new-cloud guide describes (catalog, cloud with credential check; the node provider, setup
 * and failover wiring come with the FluffyCloud provisioning issue; `provider()` says so until then).
 *
 * Choices (FluffyCloud is ours, so these are skyhop's numbers, not SkyPilot's):
 * - features: spot (the emulator preempts spot instances), multi-node, zones, autostop (tear-down
 *   when idle). No stop, ports, custom images, disk sizes or labels yet.
 * - cluster names up to 48 characters: instance names are DNS labels (63) and leave room for a node
 *   suffix of up to 15 characters.
 * - egress: a flat $0.02/GB to the internet or another cloud; cheaper than AWS/GCP and dearer than
 *   Lambda/RunPod's free egress, so plans that cross clouds show the term.
 */
import type { Catalog } from '../../catalog/types.js';
import { loadCatalog } from '../../catalog/index.js';
import type { Resources } from '../../task/types.js';
import { ProvisioningUnavailableError } from '../credentials.js';
import { feasibleFromCatalog } from '../feasible.js';
import type { Cloud, Feature, NodeProvider } from '../types.js';
import { checkFluffyCloudCredentials } from './credentials.js';
import { classifyFluffyCloudError } from './errors.js';

export { loadFluffyCloudCredentials } from './credentials.js';

const FEATURES: ReadonlySet<Feature> = new Set<Feature>(['autostop', 'spot', 'multi-node', 'zones']);

/** USD per GB leaving FluffyCloud, any volume. */
export const FLUFFYCLOUD_EGRESS_PER_GB = 0.02;

export function createCloud(): Cloud {
  let catalog: Catalog | null = null;
  const cloud: Cloud = {
    name: 'fluffycloud',
    displayName: 'FluffyCloud',
    features: FEATURES,
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
    provider(_region: string): NodeProvider {
      throw new ProvisioningUnavailableError('FluffyCloud');
    },
    classifyError: classifyFluffyCloudError,
  };
  return cloud;
}
