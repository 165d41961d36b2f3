import type { Store } from '../state/index.js';
import { UserError } from '../util/errors.js';

/** The clusters a stop/down names: the arguments, or every cluster with --all. */
export function targetClusters(
  store: Store,
  args: string[],
  opts: Record<string, unknown>,
  verb: string,
): string[] {
  if (opts.all) {
    if (args.length) throw new UserError(`${verb}: give cluster names or --all, not both`);
    const names = new Set(store.listClusters().map((c) => c.name));
    for (const i of store.openIntents()) names.add(i.cluster);
    return [...names];
  }
  if (args.length === 0) throw new UserError(`${verb}: name the clusters, or --all`);
  return args;
}
