import { openStore } from '../state/index.js';
import { duration, printJson, table } from './ui.js';

export default async function costReportCmd(_args: string[], opts: Record<string, unknown>): Promise<number> {
  const rows = openStore().costReport(Date.now());
  if (opts.json) {
    printJson({ clusters: rows, total_cost: rows.reduce((s, r) => s + r.cost, 0) });
    return 0;
  }
  if (rows.length === 0) {
    process.stdout.write('No clusters launched yet.\n');
    return 0;
  }
  const body = rows.map((r) => [
    r.cluster,
    r.resources ?? '-',
    `${r.cloud ?? ''}${r.region ? `/${r.region}` : ''}`,
    r.status,
    duration(r.durationMs),
    `$${r.cost.toFixed(2)}`,
  ]);
  process.stdout.write(
    `${await table(['NAME', 'RESOURCES', 'WHERE', 'STATUS', 'DURATION', 'COST'], body)}\n`,
  );
  const total = rows.reduce((s, r) => s + r.cost, 0);
  process.stdout.write(`Total: $${total.toFixed(2)}\n`);
  return 0;
}
