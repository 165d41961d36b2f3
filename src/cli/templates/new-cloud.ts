/**
 * The files `skyhop new-cloud NAME` writes: one per step of docs/adding-a-cloud.md. They are plain
 * strings (bundled into the CLI; nothing is read from disk at run time). What they must be:
 * - typecheck under the project's tsconfig and pass `biome check` as generated;
 * - registerable at once: the Cloud works for planning (empty catalog until vms.csv has rows,
 *   credentials checked from ~/.NAME/credentials), and every provider or API method throws a
 *   CloudError "... is not implemented yet" that classifyError maps to 'cloud' (failover skips the
 *   cloud instead of failing the launch);
 * - TODOs in comments that say what to fill in, never `throw new Error('TODO')`.
 */

export interface ScaffoldFile {
  /** Relative to the new cloud's folder (src/clouds/NAME/). */
  path: string;
  content: string;
}

/** SkyPilot's vms.csv columns (the catalog's header; one row per instance type, region and zone). */
export const CATALOG_HEADER =
  'InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,GpuInfo,Region,AvailabilityZone,Price,SpotPrice\n';

/** `acme` -> `Acme`, `my_cloud` -> `MyCloud` (class and display names). */
export function pascalCase(name: string): string {
  return name
    .split(/[_-]+/)
    .filter((p) => p !== '')
    .map((p) => p[0].toUpperCase() + p.slice(1))
    .join('');
}

/** The registry's import line for the cloud. */
export function registryImportLine(name: string): string {
  return `import { createCloud as ${name} } from './${name}/index.js';`;
}

export function cloudScaffold(name: string): ScaffoldFile[] {
  const D = pascalCase(name);
  const files: ScaffoldFile[] = [];

  files.push({
    path: 'credentials.ts',
    content: `/**
 * ${D} credentials, read by \`skyhop check\` (step 3's credential check) and by the API client.
 *
 * TODO: read the file (or environment variables) ${D}'s own tools write. This starter reads
 * \`~/.${name}/credentials\` with \`api_key = ...\` and \`endpoint = ...\` lines. The secret itself is
 * never returned by the check, printed or put in an error message.
 */
import { CloudError } from '../../util/errors.js';
import { displayPath, homePath, nonEmpty, parseIni, readTextIfExists } from '../credentials.js';
import type { CredentialStatus } from '../../core/cluster.js';

const CLOUD = '${D}';
const FILE = '~/.${name}/credentials';
const HINT = \`write "api_key = <KEY>" and "endpoint = <API URL>" lines to \${FILE}\`;

export function credentialsPath(): string {
  return homePath('.${name}', 'credentials');
}

async function read(): Promise<{ apiKey: string; endpoint: string } | { reason: string }> {
  const path = credentialsPath();
  const text = await readTextIfExists(path);
  if (text === null) return { reason: \`\${displayPath(path)} not found\` };
  const ini = parseIni(text);
  const section = ini.get('default') ?? ini.get('');
  const apiKey = nonEmpty(section, 'api_key');
  const endpoint = nonEmpty(section, 'endpoint');
  if (!apiKey || !endpoint) return { reason: \`\${displayPath(path)} needs both api_key and endpoint\` };
  return { apiKey, endpoint };
}

export async function checkCredentials(): Promise<CredentialStatus> {
  const c = await read();
  if ('reason' in c) return { ok: false, reason: c.reason, hint: HINT };
  return { ok: true, source: \`\${displayPath(credentialsPath())} (api_key, endpoint)\` };
}

/** The API key and endpoint for the API client; a CloudError naming the file (never the key) if unusable. */
export async function loadCredentials(): Promise<{ apiKey: string; endpoint: string }> {
  const c = await read();
  if ('reason' in c) throw new CloudError(\`\${CLOUD} credentials: \${c.reason}; \${HINT}\`);
  return c;
}
`,
  });

  files.push({
    path: 'api.ts',
    content: `/**
 * Step 0: the ${D} API client: the seed's four calls (launch, remove, set tags, list instances) and
 * SSH key registration. src/clouds/fluffycloud/api.ts is a complete example.
 *
 * TODO, for every call:
 * - node's fetch with the credentials from credentials.ts and a timeout per call (AbortSignal.timeout);
 * - failures thrown as ${D}ApiError with the HTTP status and the API's error code, so errors.ts can
 *   classify them; the API key never appears in a message or log;
 * - idempotent calls (list, remove, set tags, register key) retried with backoff on 429/5xx/timeouts;
 *   launch NOT retried blindly: after a timeout, list instances by name to see whether it happened.
 */
import { CloudError } from '../../util/errors.js';
import { loadCredentials } from './credentials.js';

const CLOUD = '${D}';
const FOLDER = 'src/clouds/${name}';

/** One instance as the provider needs it. */
export interface Instance {
  id: string;
  /** TODO: ${D}'s statuses; the provider maps them to pending | running | stopped | terminated. */
  status: string;
  tags: Record<string, string>;
  name: string;
  ip: string;
  sshPort: number;
  sshUser: string;
  region: string;
  zone: string | null;
  instanceType: string;
}

export interface LaunchOptions {
  zone?: string | null;
  spot?: boolean;
  tags?: Record<string, string>;
}

/** A failed ${D} API call. */
export class ${D}ApiError extends CloudError {
  readonly status: number | null;
  readonly code: string;
  constructor(message: string, status: number | null, code: string) {
    super(message);
    this.name = '${D}ApiError';
    this.status = status;
    this.code = code;
  }
}

/** Thrown by every call that is not written yet; errors.ts maps it to 'cloud' (failover skips ${D}). */
export class NotImplementedError extends CloudError {
  readonly code = 'NotImplemented';
  constructor(what: string, file: string) {
    super(\`\${CLOUD}: \${what} is not implemented yet; fill it in: \${FOLDER}/\${file} (docs/adding-a-cloud.md)\`);
    this.name = 'NotImplementedError';
  }
}

export class ${D}Api {
  readonly endpoint: string;
  readonly timeoutMs: number;

  constructor(endpoint: string, timeoutMs = 30_000) {
    // TODO: keep the API key too (private; used only in the Authorization header).
    this.endpoint = endpoint;
    this.timeoutMs = timeoutMs;
  }

  /** The seed's "launch an instance": returns the new instance's id. */
  async launch(
    _name: string,
    _instanceType: string,
    _region: string,
    _sshKeyName: string,
    _opts: LaunchOptions = {},
  ): Promise<{ id: string }> {
    throw new NotImplementedError('launch', 'api.ts');
  }

  /** The seed's "remove an instance" (terminate). */
  async remove(_id: string): Promise<void> {
    throw new NotImplementedError('remove', 'api.ts');
  }

  /** The seed's "set instance tags". */
  async setTags(_id: string, _tags: Record<string, string>): Promise<void> {
    throw new NotImplementedError('setTags', 'api.ts');
  }

  /** The seed's "list instances": every instance not yet terminated, with status, tags, name and IP. */
  async listInstances(): Promise<Instance[]> {
    throw new NotImplementedError('listInstances', 'api.ts');
  }

  /** Step 4: register a public key under a name, so that new instances accept it (idempotent). */
  async registerSshKey(_name: string, _publicKey: string): Promise<void> {
    throw new NotImplementedError('registerSshKey', 'api.ts');
  }
}

/** A client with the user's credentials. */
export async function ${name}Api(): Promise<${D}Api> {
  const { endpoint } = await loadCredentials();
  return new ${D}Api(endpoint);
}
`,
  });

  files.push({
    path: 'provider.ts',
    content: `/**
 * Step 1: the ${D} NodeProvider: ${D}'s API calls (api.ts), nothing else. What every provider does
 * the same way is shared, and the conformance kit (\`node scripts/test.mjs conformance\`) checks it:
 * - the tags nodes carry and are found by (skyhop-cluster, skyhop-role, skyhop-rank): ../tags.ts;
 * - runInstances (reuse the nodes there, remove strays, launch the missing ranks head first, wait until
 *   every node is running with an IP, remove what this call created when it fails): ../reconcile.ts,
 *   given the calls below (ClusterApi);
 * - waiting until the nodes answer over SSH: the caller does it, for every cloud
 *   (src/runtime/bootstrap.ts launchReachable, told of each node running through \`onRunning\`).
 * src/clouds/fluffycloud/provider.ts is a complete example.
 *
 * TODO: fill in list, remove, launch, describe and prepare with ${D}'s API calls; a failure that is
 * ${D}'s own (not an API error errors.ts classifies) is a ProvisionError(scope, reason, message).
 */
import { join } from 'node:path';
import type { ClusterSpec, NodeInfo } from '../../core/cluster.js';
import { clusterKeyDir, ensureClusterKey } from '../../runtime/ssh-keys.js';
import { type ClusterApi, type Described, nodeStatus, runCluster } from '../reconcile.js';
import { byRank, nodeTags, rankOf, TAG_CLUSTER } from '../tags.js';
import type { NodeProvider } from '../types.js';
import { type Instance, NotImplementedError } from './api.js';

const CLOUD = '${D}';

export class ${D}Provider implements NodeProvider {
  readonly region: string;

  constructor(region: string) {
    this.region = region;
  }

  /**
   * The cluster's instances that are not terminated, oldest first, in every region.
   * TODO: (await ${name}Api()).listInstances(), those whose tags[TAG_CLUSTER] is the cluster.
   */
  private async list(_cluster: string, _signal?: AbortSignal): Promise<Instance[]> {
    throw new NotImplementedError('list', 'provider.ts');
  }

  /** Removes instances and waits until the list shows them gone. TODO: api.remove(id) for each, then poll. */
  private async remove(_ids: readonly string[]): Promise<void> {
    throw new NotImplementedError('remove', 'provider.ts');
  }

  /** What every launch needs, made once: the SSH key's registered name (setup.ts registerClusterKey). */
  private async prepare(_cluster: string, _publicKey: string): Promise<string> {
    throw new NotImplementedError('prepare', 'provider.ts');
  }

  /**
   * Launches the node of \`rank\`, tagged at launch; returns its id.
   * TODO: api.launch(name, spec.instanceType, this.region, keyName, { zone: spec.zone, spot: spec.useSpot, tags }).
   */
  private async launch(_spec: ClusterSpec, _keyName: string, _tags: Record<string, string>): Promise<string> {
    throw new NotImplementedError('launch', 'provider.ts');
  }

  /** The instances \`ids\` as the cloud shows them now. TODO: api.listInstances(), those ids, as NodeInfo. */
  private async describe(_ids: readonly string[]): Promise<Described[]> {
    throw new NotImplementedError('describe', 'provider.ts');
  }

  toNodeInfo(i: Instance): NodeInfo {
    const rank = rankOf(i.tags) ?? undefined;
    const cluster = i.tags[TAG_CLUSTER] ?? '';
    const dir = clusterKeyDir(cluster);
    return {
      id: i.id,
      cluster,
      role: rank === 0 ? 'head' : 'worker',
      rank,
      // TODO: map ${D}'s statuses where they differ from pending | running | stopped | terminated.
      status: nodeStatus(i.status),
      internalIp: i.ip,
      externalIp: i.ip,
      tags: { ...i.tags },
      zone: i.zone,
      instanceType: i.instanceType,
      connection: {
        kind: 'ssh',
        host: i.ip,
        port: i.sshPort,
        user: i.sshUser,
        keyPath: join(dir, 'id_ed25519'),
        knownHostsPath: join(dir, 'known_hosts'),
      },
    };
  }

  async runInstances(
    spec: ClusterSpec,
    signal?: AbortSignal,
    onRunning?: (node: NodeInfo) => void,
  ): Promise<NodeInfo[]> {
    const { cluster } = spec;
    const api: ClusterApi<Instance, string> = {
      displayName: CLOUD,
      region: this.region,
      list: (s) => this.list(cluster, s),
      remove: (ids) => this.remove(ids),
      prepare: () => this.prepare(cluster, ensureClusterKey(cluster).publicKey),
      launch: (rank, keyName) => this.launch(spec, keyName, nodeTags(cluster, rank)),
      describe: (ids) => this.describe(ids),
      // TODO: how many launches may be in flight at once (after the head); the default is 1.
      concurrency: 1,
      // TODO: false if ${D}'s list may not show a new instance yet (eventually consistent).
      absentIsGone: true,
      // TODO: 'zone' if a node that dies while booting means only its zone is short.
      bootScope: 'region',
      pollMs: 1000,
      bootTimeoutMs: 10 * 60_000,
    };
    return runCluster(spec, api, signal, onRunning);
  }

  async queryInstances(cluster: string): Promise<NodeInfo[]> {
    return (await this.list(cluster)).map((i) => this.toNodeInfo(i)).sort(byRank);
  }

  async terminateInstances(cluster: string): Promise<void> {
    await this.remove((await this.list(cluster)).map((i) => i.id));
  }

  /**
   * The clusters with instances that are not terminated in this region, sorted: how
   * \`skyhop status --refresh\` finds clusters the local state has lost.
   * TODO: (await ${name}Api()).listInstances(), those in this.region that are not terminated; the
   * distinct values of tags[TAG_CLUSTER].
   */
  async listClusters(): Promise<string[]> {
    throw new NotImplementedError('listClusters', 'provider.ts');
  }
}
`,
  });

  files.push({
    path: 'setup.ts',
    content: `/**
 * Step 4: what runs around a launch besides the instances: SSH key registration with ${D}, and
 * shell lines that prepare each node after boot (run by src/runtime/bootstrap.ts).
 *
 * TODO: register the cluster's public key (src/runtime/ssh-keys.ts, ensureClusterKey) under a name
 * derived from the cluster before launching, and add the image-specific preparation ${D} needs.
 * Every string that goes into a shell line passes through src/util/shell.ts (shq, shPath).
 */
import type { NodeInfo } from '../../core/cluster.js';
import type { ${D}Api as Api } from './api.js';

/** The name the cluster's key is registered under. */
export function sshKeyName(cluster: string): string {
  return \`skyhop-\${cluster}\`;
}

/** Registers the cluster's public key with ${D} (idempotent) and returns its name. */
export async function registerClusterKey(api: Api, cluster: string, publicKey: string): Promise<string> {
  const name = sshKeyName(cluster);
  await api.registerSshKey(name, publicKey);
  return name;
}

/** Shell lines run on every node after boot. The agent needs node.js 20+ on the head node. */
export function nodeSetup(_node: NodeInfo): string[] {
  return ['mkdir -p ~/.skyhop'];
}
`,
  });

  files.push({
    path: 'errors.ts',
    content: `/**
 * Step 5: failover. What the failover loop blocks after one of ${D}'s own API errors:
 * 'zone' | 'region' | 'cloud' (move on), 'retry' (transient: same place after a backoff), 'fatal';
 * undefined when the error is not one ${D}'s API raises. What every cloud shares is decided once by the
 * failover loop (src/provision/classify.ts): interrupts, UserError, a ProvisionError your provider
 * raises for its own failures (it carries its scope), bugs, network hiccups and 429/5xx (retry), and
 * unknown errors (the zone tried). src/clouds/fluffycloud/errors.ts is a complete example.
 *
 * TODO: map ${D}'s error codes: no capacity -> 'zone' or 'region' (where its capacity is counted),
 * quota -> 'region' or 'cloud' (where it applies), bad credentials -> 'cloud', a malformed request ->
 * 'fatal'.
 */
import { errorFacts } from '../errors.js';
import type { BlockScope } from '../../core/cluster.js';

export function classifyError(e: unknown): BlockScope | undefined {
  const f = errorFacts(e);
  if (f.code === 'NotImplemented') return 'cloud';
  if (f.status === 401 || f.status === 403) return 'cloud';
  if (f.status === 400 || f.status === 404) return 'fatal';
  return undefined;
}
`,
  });

  files.push({
    path: 'index.ts',
    content: `/**
 * Step 3: the ${D} Cloud. The files, one per step of docs/adding-a-cloud.md: api.ts (0), provider.ts
 * (1), catalogs/${name}/vms.csv (2), this file (3), setup.ts (4), errors.ts (5); credentials.ts holds
 * the credential check. Registered by one line in src/clouds/registry.ts.
 *
 * TODO: the features ${D} supports, its longest cluster name, its egress price.
 */
import { readFileSync } from 'node:fs';
import { bundledCatalogPath, catalogFromRows, loadCatalog } from '../../catalog/index.js';
import type { Catalog } from '../../catalog/types.js';
import type { Resources } from '../../core/task.js';
import { UserError } from '../../util/errors.js';
import { feasibleFromCatalog } from '../feasible.js';
import type { Cloud, NodeProvider } from '../types.js';
import type { Feature } from '../../core/cluster.js';
import { checkCredentials } from './credentials.js';
import { classifyError } from './errors.js';
import { ${D}Provider } from './provider.js';
import { nodeSetup } from './setup.js';

const NAME = '${name}';
const CLOUD = '${D}';

// 'provision': launch may create nodes here (provider.ts); without it the cloud is planning-only.
// TODO: add 'stop', 'autostop', 'spot', 'multi-node', 'ports', 'image-id', 'disk-size', 'labels', 'zones',
// 'network-tier-best' as the provider learns them.
const FEATURES: ReadonlySet<Feature> = new Set<Feature>(['provision']);

/** Step 2: catalogs/${name}/vms.csv; until it has rows, the cloud offers nothing (and plans skip it). */
function loadOrEmpty(): Catalog {
  const path = bundledCatalogPath(NAME);
  const lines = readFileSync(path, 'utf8').split('\\n');
  if (lines.filter((l) => l.trim() !== '').length < 2) {
    return catalogFromRows(NAME, [], { kind: 'bundled', path, note: \`\${path} has no rows yet\` });
  }
  return loadCatalog(NAME);
}

export function createCloud(): Cloud {
  let catalog: Catalog | null = null;
  const cloud: Cloud = {
    name: NAME,
    displayName: CLOUD,
    features: FEATURES,
    maxClusterNameLength: 48,
    catalog(): Catalog {
      catalog ??= loadOrEmpty();
      return catalog;
    },
    checkCredentials() {
      return checkCredentials();
    },
    feasibleResources(r: Resources, alternative: number) {
      return feasibleFromCatalog(cloud, r, alternative);
    },
    egressCostPerGb(_gb: number): number {
      return 0;
    },
    provider(region: string): NodeProvider {
      const regions = cloud.catalog().regions();
      if (!regions.includes(region)) {
        throw new UserError(
          \`\${CLOUD} has no region \${region}; its regions: \${regions.join(', ') || 'none yet'}\`,
        );
      }
      return new ${D}Provider(region);
    },
    classifyError,
    nodeSetup,
  };
  return cloud;
}
`,
  });

  return files;
}

/**
 * test/conformance/NAME.test.ts: the kit against the new cloud's real API. Region and instance type come
 * from the cloud's catalog (its cheapest row), so nothing is left to fill in; without credentials or
 * catalog rows it fails and says which, never passes without testing the cloud.
 */
export function conformanceScaffold(name: string): string {
  const D = pascalCase(name);
  return `/**
 * ${D} passes the conformance kit against its real API (\`node scripts/test.mjs test/conformance/${name}.test.ts\`).
 * It needs ${D}'s credentials (see src/clouds/${name}/credentials.ts) and rows in catalogs/${name}/vms.csv;
 * without either it fails and says which. Scenarios ${D} cannot run yet are skipped with the reason printed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCloud } from '../../src/clouds/${name}/index.js';
import { conformance } from './kit.js';

// The cheapest instance type of the catalog, and its region: what the kit launches.
const cheapest = createCloud()
  .catalog()
  .rows.filter((r) => r.price !== null && r.instanceType !== '')
  .sort((a, b) => (a.price ?? 0) - (b.price ?? 0))[0];
if (!cheapest) {
  throw new Error(\`catalogs/${name}/vms.csv has no rows: add instance types first\`);
}

let dir = '';
let saved: string | undefined;
conformance({
  name: '${name}',
  region: cheapest.region,
  instanceType: cheapest.instanceType,
  reachable: true,
  noCapacityReason: \`no way to make the cloud report a capacity error is wired into this test yet\`,
  async setup() {
    dir = mkdtempSync(join(tmpdir(), 'skyhop-conf-${name}-'));
    saved = process.env.SKYHOP_HOME;
    process.env.SKYHOP_HOME = dir;
    const cloud = createCloud();
    const cred = await cloud.checkCredentials();
    if (!cred.ok) throw new Error(\`${D} credentials: \${cred.reason}; \${cred.hint}\`);
    return cloud;
  },
  async teardown() {
    if (saved === undefined) delete process.env.SKYHOP_HOME;
    else process.env.SKYHOP_HOME = saved;
    rmSync(dir, { recursive: true, force: true });
  },
});
`;
}
