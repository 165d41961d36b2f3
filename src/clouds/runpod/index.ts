/**
 * RunPod, planning side. Provisioning comes with a later issue; `provider()` says so.
 *
 * Facts from SkyPilot's RunPod cloud (read 2026): no stop and no multi-node; spot (interruptible
 * pods), ports (opened at launch), images (a Docker image) and disk size (the container disk) work;
 * the catalog's AvailabilityZone is RunPod's data center; no labels; cluster names up to 120
 * characters; GPUs are part of the pod type and its price; egress is free.
 */
import type { Catalog } from '../../catalog/types.js';
import { loadCatalog } from '../../catalog/index.js';
import type { Resources } from '../../core/task.js';
import { ProvisioningUnavailableError } from '../errors.js';
import { feasibleFromCatalog } from '../feasible.js';
import type { Cloud, NodeProvider } from '../types.js';
import type { Feature } from '../../core/cluster.js';
import { checkRunpodCredentials } from './credentials.js';
import { classifyRunpodError } from './errors.js';

const FEATURES: ReadonlySet<Feature> = new Set<Feature>([
  'autostop',
  'spot',
  'ports',
  'image-id',
  'disk-size',
  'zones',
]);

export function createCloud(): Cloud {
  let catalog: Catalog | null = null;
  const cloud: Cloud = {
    name: 'runpod',
    displayName: 'RunPod',
    features: FEATURES,
    maxClusterNameLength: 120,
    catalog(): Catalog {
      catalog ??= loadCatalog('runpod');
      return catalog;
    },
    checkCredentials() {
      return checkRunpodCredentials();
    },
    feasibleResources(r: Resources, alternative: number) {
      return feasibleFromCatalog(cloud, r, alternative);
    },
    egressCostPerGb(): number {
      return 0;
    },
    provider(_region: string): NodeProvider {
      throw new ProvisioningUnavailableError('RunPod');
    },
    classifyError: classifyRunpodError,
  };
  return cloud;
}
