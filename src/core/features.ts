/**
 * The one table of cloud features: which feature a request needs, and what to tell the user when
 * the cloud lacks it. The optimizer (clouds/feasible.ts, optimizer/infeasible.ts), the task checks
 * (task/resources.ts), the SDK's autostop checks (sdk/jobs.ts) and the providers all read it, so a
 * feature is added, required and explained in this file only.
 *
 * A message is `<problem>; <fix>`: the problem names the cloud and what it lacks, the fix says what
 * to do. Each entry has a fix in task-file terms (drop the field); a caller in another setting (a
 * CLI command, a provider) passes its own fix.
 */
import type { Feature } from './cluster.js';
import type { Resources } from './task.js';

/** What a request needs of a cloud: the fields of a Resources request, and how many nodes. */
export type FeatureRequest = Partial<
  Pick<
    Resources,
    'useSpot' | 'ports' | 'imageId' | 'dockerImage' | 'diskSize' | 'labels' | 'autostop' | 'networkTier'
  >
> & {
  /** A ClusterSpec spells "no zone" null. */
  zone?: string | null;
  numNodes?: number;
};

/** Anything that says which features it has (a Cloud, a PlanningCloud, a feature set). */
export interface HasFeatures {
  readonly features: { has(f: Feature): boolean };
}

/** The request field a feature comes from (YAML: use_spot, zone, ...; `numNodes`: num_nodes). */
export type FeatureField = keyof Resources | 'numNodes';

interface Entry {
  field: FeatureField;
  /** How the request shows the field, as in a task file: `use_spot: true`, `zone: us-east-1a`. */
  asked(r: FeatureRequest): string;
  /** Whether the request needs the feature. */
  needs(r: FeatureRequest): boolean;
  /** What the cloud cannot do, naming it (`cloud` is its registry or display name). */
  problem(cloud: string, r: FeatureRequest, has: HasFeatures): string;
  /** What to change in the task ('' when the problem says it all). */
  fix(r: FeatureRequest): string;
}

const autodownFix = (r: FeatureRequest) =>
  `ask for autodown (--down, or autostop: {idle_minutes: ${r.autostop?.idleMinutes ?? 10}, down: true})`;

/** In the order the checks report them (the first missing feature is the one a task check names). */
const TABLE: ReadonlyArray<readonly [Feature, Entry]> = [
  [
    'spot',
    {
      field: 'useSpot',
      asked: () => 'use_spot: true',
      needs: (r) => r.useSpot === true,
      problem: (c) => `${c} has no spot instances`,
      fix: () => 'drop use_spot or choose another cloud',
    },
  ],
  [
    'zones',
    {
      field: 'zone',
      asked: (r) => `zone: ${r.zone}`,
      needs: (r) => r.zone !== undefined && r.zone !== null,
      problem: (c) => `${c} has no zones`,
      fix: () => 'leave zone out',
    },
  ],
  [
    'ports',
    {
      field: 'ports',
      asked: (r) => `ports: ${r.ports?.join(',')}`,
      needs: (r) => r.ports !== undefined && r.ports.length > 0,
      problem: (c) => `${c} cannot open ports`,
      fix: () => 'drop ports',
    },
  ],
  [
    'image-id',
    {
      field: 'imageId',
      asked: (r) => `image_id: ${r.imageId}`,
      needs: (r) => r.imageId !== undefined,
      problem: (c) => `${c} does not take a custom image`,
      fix: () => 'drop image_id',
    },
  ],
  [
    'docker-image',
    {
      field: 'dockerImage',
      asked: (r) => `image_id: docker:${r.dockerImage}`,
      needs: (r) => r.dockerImage !== undefined,
      problem: (c) => `${c} cannot run tasks in a Docker container`,
      fix: () => 'drop image_id or choose another cloud (local, fluffycloud and aws run containers)',
    },
  ],
  [
    'disk-size',
    {
      field: 'diskSize',
      asked: (r) => `disk_size: ${r.diskSize}`,
      needs: (r) => r.diskSize !== undefined,
      problem: (c) => `${c} cannot set the disk size`,
      fix: () => 'drop disk_size or choose another cloud',
    },
  ],
  [
    'labels',
    {
      field: 'labels',
      asked: (r) => `labels: ${Object.keys(r.labels ?? {}).join(',')}`,
      needs: (r) => r.labels !== undefined && Object.keys(r.labels).length > 0,
      problem: (c) => `${c} cannot label instances`,
      fix: () => 'drop labels or choose another cloud',
    },
  ],
  [
    'network-tier-best',
    {
      field: 'networkTier',
      asked: () => 'network_tier: best',
      needs: (r) => r.networkTier === 'best',
      problem: (c) => `${c} has no high-performance network tier`,
      fix: () => 'drop network_tier or choose another cloud (AWS has one: EFA)',
    },
  ],
  [
    'autostop',
    {
      field: 'autostop',
      asked: (r) => `autostop: ${r.autostop?.idleMinutes} min`,
      needs: (r) => r.autostop !== undefined,
      problem: (c) => `${c} clusters cannot stop themselves`,
      fix: () => 'drop autostop or choose another cloud',
    },
  ],
  [
    'stop',
    {
      field: 'autostop',
      asked: (r) => `autostop: ${r.autostop?.idleMinutes} min (stop)`,
      needs: (r) => r.autostop !== undefined && !r.autostop.down && r.useSpot !== true,
      problem: (c) => `${c} cannot stop instances, only tear them down`,
      fix: autodownFix,
    },
  ],
  [
    'stop-spot',
    {
      field: 'autostop',
      asked: (r) => `autostop: ${r.autostop?.idleMinutes} min (stop) with use_spot: true`,
      needs: (r) => r.autostop !== undefined && !r.autostop.down && r.useSpot === true,
      // A cloud that cannot stop at all says so; one that stops only on-demand instances, that.
      problem: (c, _r, has) =>
        has.features.has('stop')
          ? `${c} cannot stop spot instances, only tear them down`
          : `${c} cannot stop instances, only tear them down`,
      fix: autodownFix,
    },
  ],
  [
    'multi-node',
    {
      field: 'numNodes',
      asked: (r) => `num_nodes: ${r.numNodes}`,
      needs: (r) => (r.numNodes ?? 1) > 1,
      problem: (c, r) => `${c} runs single-node clusters only, but ${r.numNodes} nodes are asked for`,
      fix: () => '',
    },
  ],
];

const BY_FEATURE = new Map(TABLE);

/**
 * 'provision' is not asked for by a request: it is what launch, exec and start need of every cloud
 * they plan over. A cloud without it (gcp, lambda, runpod today) is planning-only: `check` says so,
 * `optimize` shows it marked as not launchable, and a launch never plans on it.
 */
export function canProvision(cloud: HasFeatures): boolean {
  return cloud.features.has('provision');
}

/** What a planning-only cloud is, in one phrase: `planning only: skyhop cannot launch on Lambda yet`. */
export function planningOnlyProblem(displayName: string): string {
  return `planning only: skyhop cannot launch on ${displayName} yet`;
}

/**
 * The features a request needs, in the table's order. Autostop that stops (rather than tears down)
 * needs `stop`, or `stop-spot` for spot instances; more than one node needs `multi-node`.
 */
export function requiredFeatures(r: FeatureRequest): Feature[] {
  return TABLE.filter(([, e]) => e.needs(r)).map(([f]) => f);
}

/** The features the request needs that the cloud lacks, in the table's order. */
export function missingFeatures(r: FeatureRequest, cloud: HasFeatures): Feature[] {
  return requiredFeatures(r).filter((f) => !cloud.features.has(f));
}

/** The request field a feature comes from (where a task check points). */
export function featureField(f: Feature): FeatureField {
  return (BY_FEATURE.get(f) as Entry).field;
}

/** How the request asks for `f`, as in a task file: `use_spot: true`, `zone: us-east-1a`. */
export function featureAsked(f: Feature, r: FeatureRequest): string {
  return (BY_FEATURE.get(f) as Entry).asked(r);
}

/** What the cloud cannot do, naming it: `lambda has no spot instances` (a message without the fix). */
export function featureProblem(
  f: Feature,
  cloudName: string,
  cloud: HasFeatures,
  r: FeatureRequest = {},
): string {
  return (BY_FEATURE.get(f) as Entry).problem(cloudName, r, cloud);
}

/**
 * The one-line message for a request that needs `f` on a cloud that lacks it:
 * `<cloud> has no spot instances; drop use_spot or choose another cloud`. `fix` replaces the
 * task-file fix (e.g. a CLI command to run).
 */
export function featureMessage(
  f: Feature,
  cloudName: string,
  cloud: HasFeatures,
  r: FeatureRequest = {},
  fix?: string,
): string {
  const problem = featureProblem(f, cloudName, cloud, r);
  const how = fix ?? (BY_FEATURE.get(f) as Entry).fix(r);
  return how === '' ? problem : `${problem}; ${how}`;
}
