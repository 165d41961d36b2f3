import { type StatusResult, status } from '../sdk/status.js';
import { options, type OptionsOf, flags } from './options.js';
import { ago, printJson, table } from './ui.js';

export const parse = options({ clusters: flags.words(), refresh: flags.bool(), json: flags.bool() });
export type StatusOptions = OptionsOf<typeof parse>;

export default async function statusCmd(o: StatusOptions): Promise<number> {
  return renderStatus(o, await status({ clusters: o.clusters, refresh: o.refresh }));
}

/** Prints a status answer (this machine's, or a team server's). */
export async function renderStatus(o: StatusOptions, r: StatusResult): Promise<number> {
  const { clusters: recs, changes } = r;
  for (const c of changes) {
    if (c.from === null && c.to === null) process.stderr.write(`${c.cluster}: ${c.note}\n`);
    else process.stderr.write(`${c.cluster}: ${c.from ?? 'unrecorded'} -> ${c.to ?? 'gone'} (${c.note})\n`);
  }
  if (o.json) {
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
