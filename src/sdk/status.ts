/**
 * What the local record says about clusters, and the costs: `status`, `cost-report`, and the
 * cluster names `stop --all` / `down --all` act on. Cheap to import: the clouds load only when a
 * cluster has to be reconciled with its cloud.
 */
import { openStore, type ClusterRecord, type CostRow, type Store } from '../state/index.js';
import { UserError } from '../util/errors.js';
import type { RefreshChange } from './lifecycle.js';

export interface StatusOptions {
  /** Only these clusters (default: all). */
  clusters?: string[];
  /** Reconcile every (named) cluster with its cloud first. */
  refresh?: boolean;
  store?: Store;
}

export interface StatusResult {
  clusters: ClusterRecord[];
  /** What reconciling with the clouds changed in the record. */
  changes: RefreshChange[];
}

/**
 * The clusters on record. Clusters that may stop or tear themselves down (autostop) are always
 * asked about first, as SkyPilot does; `refresh` asks about every cluster.
 */
export async function status(o: StatusOptions = {}): Promise<StatusResult> {
  const store = o.store ?? openStore();
  clearStaleLocks(store);
  const names = o.clusters ?? [];
  const wanted = (n: string) => names.length === 0 || names.includes(n);
  const selfStopping = store
    .listClusters()
    .filter((c) => c.autostop && c.status !== 'STOPPED' && wanted(c.name))
    .map((c) => c.name);
  let changes: RefreshChange[] = [];
  if (o.refresh || selfStopping.length > 0) {
    const { refresh } = await import('./lifecycle.js');
    // An explicit --refresh also asks the clouds for clusters the state does not know (lost state).
    changes = await refresh(store, o.refresh ? names : selfStopping, { adopt: o.refresh === true });
  }
  return { clusters: store.listClusters().filter((c) => wanted(c.name)), changes };
}

/** Every cluster a `--all` acts on: those on record and those a crashed launch left (open intents). */
export function allClusterNames(store: Store = openStore()): string[] {
  const names = new Set(store.listClusters().map((c) => c.name));
  for (const i of store.openIntents()) names.add(i.cluster);
  return [...names];
}

/** The clusters a command acts on: the named ones, or with `all` every one; not both, not neither. */
export function targetClusters(
  verb: string,
  names: string[],
  all: boolean | undefined,
  store: Store = openStore(),
): string[] {
  if (all) {
    if (names.length) throw new UserError(`${verb}: give cluster names or --all, not both`);
    return allClusterNames(store);
  }
  if (names.length === 0) throw new UserError(`${verb}: name the clusters, or --all`);
  return names;
}

export interface CostReport {
  clusters: CostRow[];
  /** USD, over every row. */
  totalCost: number;
}

/** Costs of every cluster life, live and torn down, up to `now`. */
export function costReport(o: { store?: Store; now?: number } = {}): CostReport {
  const rows = (o.store ?? openStore()).costReport(o.now ?? Date.now());
  return { clusters: rows, totalCost: rows.reduce((s, r) => s + r.cost, 0) };
}

/** Lock rows left by processes that died holding them (a `down` killed mid-way) are cleared; best effort. */
export function clearStaleLocks(store: Store): void {
  try {
    store.clearStaleLocks();
  } catch {
    // A read-only or full disk: the rows stay, and a later lock takes them over anyway.
  }
}
