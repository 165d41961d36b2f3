/**
 * Adopting clusters the clouds have and the local state does not (a lost, emptied or moved-away
 * `state.db`): the record is rebuilt from the nodes the cloud lists by tag (cloud, region, zone,
 * instance type, node count, status; prices from the catalog), so `status` shows the cluster and
 * `down` tears it down. Used by `status --refresh` and by `down NAME` for a name not on record.
 */
import { discoverClusters, type Discovery, type FoundCluster } from '../clouds/discover.js';
import { enabledClouds } from '../clouds/registry.js';
import { canProvision } from '../core/features.js';
import type { ClusterRecord, ClusterStatus, Store } from '../state/index.js';
import { TAG_CLUSTER } from '../clouds/tags.js';

/** What the enabled clouds that provision have, by tag (only `names` when given). */
export async function findClusters(names?: readonly string[]): Promise<Discovery> {
  const clouds = (await enabledClouds()).filter(canProvision);
  return discoverClusters(clouds, names);
}

/** The status the nodes say: all running -> UP, all stopped (or stopping) -> STOPPED, else INIT. */
function statusOf(f: FoundCluster): ClusterStatus {
  if (f.nodes.every((n) => n.status === 'running' && n.internalIp)) return 'UP';
  if (f.nodes.every((n) => n.status === 'stopped' || n.status === 'stopping')) return 'STOPPED';
  return 'INIT';
}

/** The record a found cluster gets: its place and resources from the nodes, prices from the catalog. */
export function adoptedRecord(f: FoundCluster, now: number = Date.now()): ClusterRecord {
  const nodes = f.nodes;
  const head = nodes.find((n) => n.rank === 0) ?? nodes[0];
  const instanceType = head.instanceType ?? 'unknown';
  const useSpot = head.spot === true;
  const catalog = f.cloud.catalog();
  const vm = catalog.vcpusMemory(instanceType);
  const zone = head.zone ?? null;
  const price =
    catalog.hourlyCostWithAccelerators(instanceType, {
      useSpot,
      region: f.region,
      zone: zone ?? undefined,
    }) ??
    catalog.hourlyCostWithAccelerators(instanceType, { useSpot, region: f.region }) ??
    0;
  return {
    name: f.name,
    cloud: f.cloud.name,
    region: f.region,
    zone,
    status: statusOf(f),
    resources: {
      instanceType,
      accelerators: catalog.acceleratorsOf(instanceType),
      useSpot,
      vcpus: vm?.vcpus ?? null,
      memoryGiB: vm?.memoryGiB ?? null,
      numNodes: nodes.length,
    },
    nodes,
    launchedAt: now,
    statusUpdatedAt: now,
    hourlyPrice: price,
    autostop: null,
    headIp: head.externalIp || head.internalIp || null,
  };
}

/** Records a found cluster (and a cost event from now on, when it runs); returns its record. */
export function adoptCluster(store: Store, f: FoundCluster, now: number = Date.now()): ClusterRecord {
  const rec = adoptedRecord(f, now);
  store.upsertCluster(rec);
  if (rec.status !== 'STOPPED') {
    store.recordEvent(rec.name, 'launch', now, rec.hourlyPrice, rec.resources.numNodes, {
      cloud: rec.cloud,
      region: rec.region,
      resources: `${rec.resources.numNodes}x ${rec.resources.instanceType}`,
    });
  }
  return rec;
}

/** How an adoption is told: where the cluster was found and what to do with it. */
export function adoptedNote(f: FoundCluster): string {
  const n = f.nodes.length;
  return (
    `adopted: ${n} instance${n === 1 ? '' : 's'} tagged ${TAG_CLUSTER}=${f.name} on ${f.cloud.name}/${f.region} ` +
    `that the local state did not know; \`skyhop down ${f.name}\` removes ${n === 1 ? 'it' : 'them'}`
  );
}

/** The places a cluster was found besides the one adopted (a name used in two places). */
export function otherPlaces(all: readonly FoundCluster[], chosen: FoundCluster): FoundCluster[] {
  return all.filter((f) => f.name === chosen.name && f !== chosen);
}

/** Of the places one name was found in, the one to adopt: the one with a head node, else the first. */
export function choosePlace(places: readonly FoundCluster[]): FoundCluster {
  return places.find((f) => f.nodes.some((n) => n.rank === 0)) ?? places[0];
}
