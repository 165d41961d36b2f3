/**
 * The built-in `local` cloud: clusters of sandboxes on this machine (see provider.ts). Always
 * enabled, free, one instance type `local` describing this machine (see machine.ts).
 *
 * Fitting rule: a request fits when the machine can hold it. `cpus: 4` and `cpus: 4+` both mean
 * "the machine has at least 4 CPUs" (a node is not limited to what was asked; it sees the whole
 * machine); the same for memory; accelerators must match the detected GPU model with a count no
 * larger than the machine has. Spot, zones, ports and images do not exist here; disk size and
 * labels are accepted and not enforced (a node's disk is this machine's disk): LOCAL_FEATURES.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { catalogFromRows } from '../../catalog/catalog.js';
import type { Catalog, CatalogRow } from '../../catalog/types.js';
import type { Resources } from '../../core/task.js';
import { UserError } from '../../util/errors.js';
import { skyhopHome } from '../../util/paths.js';
import { packageRoot } from '../../util/package-root.js';
import type { Cloud, CredentialSources } from '../types.js';
import type { Launchable } from '../../core/cluster.js';
import { featureAsked, featureProblem, missingFeatures } from '../../core/features.js';
import {
  describeMachine,
  detectMachine,
  gpuNameMatches,
  type LocalMachine,
  machineCachePath,
} from './machine.js';
import { MAX_CLUSTER_NAME } from './nodes.js';
import { LOCAL_FEATURES, LOCAL_INSTANCE_TYPE, LOCAL_REGION, LocalProvider, NODE_MARKER } from './provider.js';

export { LocalProvider } from './provider.js';
export { describeMachine, detectMachine, type LocalMachine } from './machine.js';

function amount(a: { value: number; orMore: boolean }): string {
  return `${a.value}${a.orMore ? '+' : ''}`;
}

/**
 * Why the local machine cannot satisfy `r`, as one line, or null when it can:
 * "the local machine has 2 CPUs and 23.4 GiB of memory and no GPUs; the task asks for cpus: 8+".
 */
export function explainInfeasible(r: Resources, machine: LocalMachine = detectMachine()): string | null {
  const asks: string[] = [];
  if (r.cloud !== undefined && r.cloud !== 'local') asks.push(`cloud: ${r.cloud}`);
  if (r.region !== undefined && r.region !== LOCAL_REGION)
    asks.push(`region: ${r.region} (local has only 'local')`);
  if (r.instanceType !== undefined && r.instanceType !== LOCAL_INSTANCE_TYPE) {
    asks.push(`instance_type: ${r.instanceType} (local has only 'local')`);
  }
  if (r.cpus && r.cpus.value > machine.cpus) asks.push(`cpus: ${amount(r.cpus)}`);
  if (r.memory && r.memory.value > machine.memoryGiB) asks.push(`memory: ${amount(r.memory)}`);
  if (r.accelerators) {
    const a = machine.accelerator;
    if (!a || !gpuNameMatches(r.accelerators.name, a.name) || r.accelerators.count > a.count) {
      asks.push(`accelerators: ${r.accelerators.name}:${r.accelerators.count}`);
    }
  }
  const local = { features: LOCAL_FEATURES };
  for (const f of missingFeatures(r, local)) {
    asks.push(`${featureAsked(f, r)} (${featureProblem(f, 'local', local, r)})`);
  }
  if (asks.length === 0) return null;
  return `the local machine has ${describeMachine(machine)}; the task asks for ${asks.join(', ')}`;
}

/** SkyPilot's GpuInfo column format, so `show-gpus` reads local like any catalog. */
function gpuInfo(a: NonNullable<LocalMachine['accelerator']>): string {
  const mem = a.memoryMiB ?? 0;
  return (
    `{'Gpus': [{'Name': '${a.name}', 'Manufacturer': 'NVIDIA', 'Count': ${a.count.toFixed(1)}, ` +
    `'MemoryInfo': {'SizeInMiB': ${mem}}}], 'TotalGpuMemoryInMiB': ${mem * a.count}}`
  );
}

/** The one catalog row: this machine, free, in region `local`. */
export function localCatalogRows(m: LocalMachine): CatalogRow[] {
  return [
    {
      instanceType: LOCAL_INSTANCE_TYPE,
      acceleratorName: m.accelerator?.name ?? null,
      acceleratorCount: m.accelerator?.count ?? null,
      vcpus: m.cpus,
      memoryGiB: m.memoryGiB,
      gpuInfo: m.accelerator ? gpuInfo(m.accelerator) : null,
      price: 0,
      spotPrice: null,
      region: LOCAL_REGION,
      zone: null,
    },
  ];
}

/**
 * The command the on-cluster agent runs (on this machine) to stop or tear down its local
 * cluster when idle: this skyhop's CLI with the client's SKYHOP_HOME.
 *
 * Call it on the client (where SKYHOP_HOME and HOME are the user's), not inside a node. Run it
 * with `env` as its whole environment, detached (own session), and do not wait for it: `down`
 * kills every process of the cluster, the agent included. `SKYHOP_NODE_ID` is set to '' so that,
 * even when a caller merges `env` over a node's environment, the command does not carry the
 * node's marker and kill itself.
 */
export function autostopCommand(
  cluster: string,
  action: 'stop' | 'down',
): { argv: string[]; env: Record<string, string> } {
  return {
    argv: [process.execPath, join(packageRoot(), 'bin', 'skyhop.js'), action, cluster, '-y'],
    env: {
      SKYHOP_HOME: skyhopHome(),
      HOME: process.env.HOME || homedir(),
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      [NODE_MARKER]: '',
    },
  };
}

/**
 * What another process on this machine needs to see the local cloud as this user does: the
 * variables that resize the pretended machine (machine.ts). No files: nodes live under SKYHOP_HOME.
 */
export async function localCredentialSources(): Promise<CredentialSources> {
  return { files: [], env: ['SKYHOP_LOCAL_CPUS', 'SKYHOP_LOCAL_MEMORY_GB'] };
}

export function createCloud(): Cloud {
  let machine: LocalMachine | null = null;
  let catalog: Catalog | null = null;
  const getMachine = (): LocalMachine => {
    machine ??= detectMachine();
    return machine;
  };
  return {
    name: 'local',
    displayName: 'Local',
    features: LOCAL_FEATURES,
    maxClusterNameLength: MAX_CLUSTER_NAME,
    catalog(): Catalog {
      if (catalog === null) {
        catalog = catalogFromRows('local', localCatalogRows(getMachine()), {
          kind: 'generated',
          path: machineCachePath(),
        });
      }
      return catalog;
    },
    async checkCredentials() {
      // A team server shared by people who should not read each other's data turns it off: local nodes
      // are folders of the server's machine, run as the server's user.
      if (process.env.SKYHOP_LOCAL_CLOUD === '0') {
        return {
          ok: false,
          reason: 'turned off on this machine (SKYHOP_LOCAL_CLOUD=0)',
          hint: 'unset SKYHOP_LOCAL_CLOUD to launch on this machine again',
        };
      }
      return { ok: true, source: 'this machine' };
    },
    feasibleResources(r: Resources, alternative: number): Launchable[] {
      const m = getMachine();
      if (explainInfeasible(r, m) !== null) return [];
      const accelerators = r.accelerators
        ? { name: m.accelerator!.name, count: r.accelerators.count }
        : m.accelerator
          ? { name: m.accelerator.name, count: m.accelerator.count }
          : null;
      return [
        {
          cloud: 'local',
          instanceType: LOCAL_INSTANCE_TYPE,
          region: LOCAL_REGION,
          zones: [],
          zone: null,
          accelerators,
          vcpus: m.cpus,
          memoryGiB: m.memoryGiB,
          useSpot: false,
          hourlyPrice: 0,
          alternative,
          request: r,
        },
      ];
    },
    egressCostPerGb(): number {
      return 0;
    },
    provider(region: string) {
      if (region !== LOCAL_REGION) {
        throw new UserError(`the local cloud has only region 'local' (asked: ${region}); use region: local`);
      }
      return new LocalProvider(skyhopHome());
    },
    classifyError() {
      // One machine: no zone, region or capacity to fail over from; every error is final.
      return 'fatal';
    },
    autostopCommand,
    credentialSources: localCredentialSources,
  };
}
