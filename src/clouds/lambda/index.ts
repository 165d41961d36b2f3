/**
 * Lambda Cloud, planning side. Provisioning comes with a later issue; `provider()` says so.
 *
 * Facts from SkyPilot's Lambda cloud (read 2026): no stop (so idle clusters can only be torn down,
 * not stopped), no spot, no custom images, no disk size or tier, no zones; ports and multi-node
 * work; cluster names up to 57 characters (Lambda's 64 minus the `-worker` suffix); GPUs are part
 * of the instance type and its price; egress is free.
 */
import type { Catalog } from '../../catalog/types.js';
import { loadCatalog } from '../../catalog/index.js';
import type { Resources } from '../../core/task.js';
import { ProvisioningUnavailableError } from '../errors.js';
import { feasibleFromCatalog } from '../feasible.js';
import type { Cloud, NodeProvider } from '../types.js';
import type { Feature } from '../../core/cluster.js';
import { checkLambdaCredentials } from './credentials.js';
import { classifyLambdaError } from './errors.js';

const FEATURES: ReadonlySet<Feature> = new Set<Feature>(['autostop', 'multi-node', 'ports']);

export function createCloud(): Cloud {
  let catalog: Catalog | null = null;
  const cloud: Cloud = {
    name: 'lambda',
    displayName: 'Lambda',
    features: FEATURES,
    maxClusterNameLength: 57,
    catalog(): Catalog {
      catalog ??= loadCatalog('lambda');
      return catalog;
    },
    checkCredentials() {
      return checkLambdaCredentials();
    },
    feasibleResources(r: Resources, alternative: number) {
      return feasibleFromCatalog(cloud, r, alternative);
    },
    egressCostPerGb(): number {
      return 0;
    },
    provider(_region: string): NodeProvider {
      throw new ProvisioningUnavailableError('Lambda');
    },
    classifyError: classifyLambdaError,
  };
  return cloud;
}
