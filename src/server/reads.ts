/**
 * The reads the server answers in its own process (no worker): fast, on the user's view of the store,
 * in the API's shapes.
 */
import type { z } from 'zod';
import type * as S from '../sdk/api-schemas.js';
import type { ClusterRecord } from '../state/index.js';
import type { ApiUser, ServerContext } from './context.js';

type StatusChange = z.infer<typeof S.statusAnswer>['changes'][number];

export function clusterInfo(
  c: ClusterRecord,
  owner: string | null,
  describe: (c: ClusterRecord) => string,
): z.infer<typeof S.clusterInfo> {
  return {
    name: c.name,
    owner,
    status: c.status,
    cloud: c.cloud,
    region: c.region,
    zone: c.zone,
    resources: { ...c.resources },
    resources_text: describe(c),
    num_nodes: c.resources.numNodes,
    head_ip: c.headIp,
    launched_at: c.launchedAt,
    status_updated_at: c.statusUpdatedAt,
    hourly_price: c.hourlyPrice,
    autostop: c.autostop,
    last_use: c.lastUse ?? null,
  };
}

/** `status` without --refresh: the user's clusters, self-stopping ones asked about first (as locally). */
export async function statusAnswer(
  ctx: ServerContext,
  user: ApiUser,
  clusters: string[] | undefined,
): Promise<z.infer<typeof S.statusAnswer>> {
  const store = ctx.storeFor(user);
  const { describeLaunched } = await import('../sdk/clusters.js');
  const wanted = (n: string) => clusters === undefined || clusters.length === 0 || clusters.includes(n);
  // The common case is one read: the SDK's status (which asks the clouds about self-stopping clusters
  // first, as a local status does) runs only when one of the wanted clusters may have stopped itself.
  let r = { clusters: store.listClusters().filter((c) => wanted(c.name)), changes: [] as StatusChange[] };
  if (r.clusters.some((c) => c.autostop && c.status !== 'STOPPED')) {
    const { status } = await import('../sdk/status.js');
    r = await status({ clusters, store });
  }
  const owners = ctx.store.owners('cluster');
  return {
    clusters: r.clusters.map((c) => clusterInfo(c, owners.get(c.name) ?? null, describeLaunched)),
    changes: r.changes,
  };
}

export function costAnswer(ctx: ServerContext, user: ApiUser): z.infer<typeof S.costAnswer> {
  const owners = ctx.store.owners('cluster');
  return {
    rows: ctx
      .storeFor(user)
      .costReport()
      .map((r) => ({ ...r, owner: owners.get(r.cluster) ?? null })),
  };
}

export function storageAnswer(ctx: ServerContext, user: ApiUser): z.infer<typeof S.storageAnswer> {
  const store = ctx.storeFor(user);
  const owners = ctx.store.owners('storage');
  return {
    buckets: store.listStorage().map((b) => ({
      name: b.name,
      owner: owners.get(b.name) ?? null,
      store: b.store,
      region: b.region,
      status: b.status,
      persistent: b.persistent,
      createdBySkyhop: b.createdBySkyhop,
      createdAt: b.createdAt,
      uses: store.storageUses(b.name).map((u) => ({ cluster: u.cluster, path: u.path, mode: u.mode })),
    })),
  };
}
