/**
 * A SCRIPTED CLOUD for the failover-loop and SDK-launch tests. It is a fake, and says so: the cloud is
 * the collaborator of the units under test (src/provision/failover.ts, src/sdk/launch.ts), and these
 * tests need it to fail in a chosen way on a chosen attempt (no capacity in one zone, a quota in a
 * region, a connection reset, a cleanup that fails, Ctrl-C mid-create), which no real cloud or the
 * emulator does on cue. Everything around it is real: its catalog is a real Catalog (catalogFromRows)
 * that the real optimizer plans over (feasibleFromCatalog, planLaunch), and the nodes it "creates" are
 * real local sandboxes made by the local cloud's LocalProvider, so an SDK launch prepares them,
 * installs the real agent and runs the job for real.
 *
 * Places: instance type `s.small` in region r1 (zones r1a, r1b; $1/h) and region r2 (zone r2a; $2/h),
 * so failover goes r1a -> r1b -> r2a.
 */
import { catalogFromRows } from '../../../src/catalog/catalog.js';
import type { Catalog, CatalogRow } from '../../../src/catalog/types.js';
import { feasibleFromCatalog } from '../../../src/clouds/feasible.js';
import { LocalProvider } from '../../../src/clouds/local/provider.js';
import type { Cloud, NodeProvider } from '../../../src/clouds/types.js';
import type { BlockScope, ClusterSpec, Feature, NodeInfo } from '../../../src/core/cluster.js';
import type { Dag, Resources, Task } from '../../../src/core/task.js';
import { skyhopHome } from '../../../src/util/paths.js';

/** One runInstances (or startInstances) call's fate: succeed, or throw `fail` (after creating the nodes, with `partial`). */
export type Step = 'ok' | { fail: unknown; partial?: boolean; before?: () => void };

export interface Call {
  op: 'run' | 'start' | 'terminate' | 'query';
  region: string;
  spec?: ClusterSpec;
}

/** An error of the scripted cloud's own API: `code` is what its classifyError maps. */
export class ScriptedApiError extends Error {
  constructor(
    readonly code: 'NoCapacity' | 'RegionQuota' | 'AccountBanned',
    message: string,
  ) {
    super(message);
    this.name = 'ScriptedApiError';
  }
}

function row(region: string, zone: string, price: number): CatalogRow {
  return {
    instanceType: 's.small',
    acceleratorName: null,
    acceleratorCount: null,
    vcpus: 2,
    memoryGiB: 4,
    gpuInfo: null,
    price,
    spotPrice: null,
    region,
    zone,
  };
}

const FEATURES: Feature[] = ['stop', 'multi-node', 'ports', 'disk-size', 'labels', 'zones', 'image-id'];

export class ScriptedCloud implements Cloud {
  readonly displayName: string;
  readonly features: ReadonlySet<Feature> = new Set(FEATURES);
  readonly maxClusterNameLength = 40;
  /** What the loop asked, in order. */
  readonly calls: Call[] = [];
  /** Consumed one per runInstances/startInstances call; an empty script means 'ok'. */
  script: Step[] = [];
  /** The next this-many terminateInstances calls throw (after doing nothing). */
  terminateFailures = 0;
  /** How often the failover loop consulted this cloud's classifier. */
  classified = 0;
  private cat: Catalog | undefined;

  /** `priceFactor` scales the catalog's prices (to order several scripted clouds). */
  constructor(
    readonly name = 'scripted',
    private readonly priceFactor = 1,
  ) {
    this.displayName = name.toUpperCase();
  }

  catalog(): Catalog {
    this.cat ??= catalogFromRows(
      this.name,
      [row('r1', 'r1a', 1), row('r1', 'r1b', 1), row('r2', 'r2a', 2)].map((r) => ({
        ...r,
        price: (r.price ?? 0) * this.priceFactor,
      })),
      { kind: 'generated', path: `<${this.name}>` },
    );
    return this.cat;
  }
  async checkCredentials() {
    return { ok: true as const, source: 'the test' };
  }
  feasibleResources(r: Resources, alternative: number) {
    return feasibleFromCatalog(this, r, alternative);
  }
  egressCostPerGb() {
    return 0;
  }
  provider(region: string): NodeProvider {
    return new ScriptedProvider(this, region);
  }
  classifyError(e: unknown): BlockScope | undefined {
    this.classified++;
    if (!(e instanceof ScriptedApiError)) return undefined;
    return ({ NoCapacity: 'zone', RegionQuota: 'region', AccountBanned: 'cloud' } as const)[e.code];
  }
}

/** Nodes are local sandboxes: the spec's place is the scripted cloud's, the machine is this one. */
class ScriptedProvider implements NodeProvider {
  private readonly local = new LocalProvider(skyhopHome());
  constructor(
    private readonly cloud: ScriptedCloud,
    private readonly region: string,
  ) {}

  private async create(op: 'run' | 'start', spec: ClusterSpec, make: () => Promise<NodeInfo[]>) {
    this.cloud.calls.push({ op, region: this.region, spec });
    const step = this.cloud.script.shift() ?? 'ok';
    if (step !== 'ok') {
      step.before?.();
      if (step.partial) await make();
      throw step.fail;
    }
    const nodes = await make();
    return nodes.map((n) => ({ ...n, zone: spec.zone, instanceType: spec.instanceType }));
  }

  runInstances(spec: ClusterSpec): Promise<NodeInfo[]> {
    return this.create('run', spec, () =>
      this.local.runInstances({
        ...spec,
        instanceType: 'local',
        region: 'local',
        zone: null,
        ports: undefined,
        imageId: undefined,
      }),
    );
  }
  startInstances(cluster: string): Promise<NodeInfo[]> {
    return this.create(
      'start',
      {
        cluster,
        numNodes: 0,
        instanceType: 's.small',
        region: this.region,
        zone: null,
        useSpot: false,
        accelerators: null,
      },
      () => this.local.startInstances(cluster),
    );
  }
  async stopInstances(cluster: string): Promise<void> {
    await this.local.stopInstances(cluster);
  }
  async queryInstances(cluster: string): Promise<NodeInfo[]> {
    this.cloud.calls.push({ op: 'query', region: this.region });
    return this.local.queryInstances(cluster);
  }
  listClusters(): Promise<string[]> {
    return this.local.listClusters();
  }
  async terminateInstances(cluster: string): Promise<void> {
    this.cloud.calls.push({ op: 'terminate', region: this.region });
    if (this.cloud.terminateFailures > 0) {
      this.cloud.terminateFailures--;
      throw new Error('the API timed out while deleting');
    }
    await this.local.terminateInstances(cluster);
  }
}

/** A one-task DAG asking for the scripted cloud's instance type, with labels, a port and a disk size. */
export function scriptedDag(over: Partial<Resources> = {}, task: Partial<Task> = {}): Dag {
  return {
    tasks: [
      {
        name: 't',
        numNodes: 1,
        envs: {},
        secrets: {},
        fileMounts: {},
        run: 'echo hello from $SKYPILOT_NODE_RANK',
        resources: [
          {
            useSpot: false,
            instanceType: 's.small',
            labels: { team: 'ml', project: 'skyhop' },
            ports: ['8080'],
            diskSize: 64,
            ...over,
          },
        ],
        ordered: false,
        ...task,
      },
    ],
    edges: [],
  };
}
