import { costReport } from '../sdk/status.js';
import { options, type OptionsOf, flags } from './options.js';
import { duration, printJson, table } from './ui.js';

export const parse = options({ json: flags.bool() });
export type CostReportOptions = OptionsOf<typeof parse>;

export default async function costReportCmd(o: CostReportOptions): Promise<number> {
  const { clusters: rows, totalCost } = costReport();
  if (o.json) {
    printJson({ clusters: rows, total_cost: totalCost });
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
  process.stdout.write(`Total: $${totalCost.toFixed(2)}\n`);
  return 0;
}
