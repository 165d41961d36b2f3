import { storage } from '../sdk/storage.js';
import { options, type OptionsOf, flags } from './options.js';
import { ago, printJson, table } from './ui.js';

export const parse = options({ json: flags.bool() });
export type StorageLsOptions = OptionsOf<typeof parse>;

export default async function storageLsCmd(o: StorageLsOptions): Promise<number> {
  const recs = storage.ls();
  if (o.json) {
    printJson({
      storage: recs.map((r) => ({
        name: r.name,
        store: r.store,
        region: r.region,
        endpoint: r.endpoint,
        source: r.source,
        created_at: new Date(r.createdAt).toISOString(),
        status: r.status,
        interrupted: r.interrupted,
        clusters: r.clusters,
        created_by_skyhop: r.createdBySkyhop,
        persistent: r.persistent,
      })),
    });
    return 0;
  }
  if (recs.length === 0) {
    process.stdout.write('No storage.\n');
    return 0;
  }
  const now = Date.now();
  const rows = recs.map((r) => [
    r.name,
    r.store.toUpperCase(),
    r.source ?? '-',
    ago(r.createdAt, now),
    r.interrupted ? `${r.status} (interrupted)` : r.status,
    r.clusters.length ? r.clusters.join(', ') : '-',
  ]);
  process.stdout.write(
    `${await table(['NAME', 'STORE', 'SOURCE', 'CREATED', 'STATUS', 'CLUSTERS'], rows)}\n`,
  );
  if (recs.some((r) => r.interrupted)) {
    process.stderr.write(
      'An interrupted row was left by a skyhop that stopped mid-way: `skyhop storage delete NAME` finishes it.\n',
    );
  }
  return 0;
}
