import { openStore } from '../state/index.js';
import { ago, printJson, table } from './ui.js';

export default async function statusCmd(args: string[], opts: Record<string, unknown>): Promise<number> {
  const store = openStore();
  // Clusters that may stop or tear themselves down (autostop) are always asked, as SkyPilot does;
  // --refresh asks about every cluster.
  const selfStopping = store
    .listClusters()
    .filter((c) => c.autostop && c.status !== 'STOPPED' && (args.length === 0 || args.includes(c.name)))
    .map((c) => c.name);
  if (opts.refresh || selfStopping.length > 0) {
    const { refresh } = await import('../sdk/lifecycle.js');
    const changes = await refresh(store, opts.refresh ? args : selfStopping);
    for (const c of changes) {
      process.stderr.write(`${c.cluster}: ${c.from ?? 'unrecorded'} -> ${c.to ?? 'gone'} (${c.note})\n`);
    }
  }
  const recs = store.listClusters().filter((c) => args.length === 0 || args.includes(c.name));
  if (opts.json) {
    printJson({
      clusters: recs.map((c) => ({
        name: c.name,
        status: c.status,
        cloud: c.cloud,
        region: c.region,
        zone: c.zone,
        resources: c.resources,
        num_nodes: c.resources.numNodes,
        head_ip: c.headIp,
        launched_at: new Date(c.launchedAt).toISOString(),
        hourly_price: c.hourlyPrice,
        autostop: c.autostop,
      })),
    });
    return 0;
  }
  if (recs.length === 0) {
    process.stdout.write('No clusters.\n');
    return 0;
  }
  const { describeLaunched } = await import('../sdk/clusters.js');
  const now = Date.now();
  const rows = recs.map((c) => [
    c.name,
    ago(c.launchedAt, now),
    describeLaunched(c),
    c.zone ? `${c.region}/${c.zone}` : c.region,
    c.status,
    c.autostop ? `${c.autostop.idleMinutes}m${c.autostop.down ? ' (down)' : ''}` : '-',
  ]);
  process.stdout.write(
    `${await table(['NAME', 'LAUNCHED', 'RESOURCES', 'REGION', 'STATUS', 'AUTOSTOP'], rows)}\n`,
  );
  return 0;
}
