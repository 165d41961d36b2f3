/**
 * `skyhop catalog show [CLOUD...]`: renders the SDK's catalogs(): for each cloud, where its catalog
 * comes from (the bundled snapshot or a download from `skyhop catalog update`) and how much it holds.
 */
import { flags, type OptionsOf, options } from './options.js';

export const parse = options({ clouds: flags.words() });
export type CatalogShowOptions = OptionsOf<typeof parse>;

function pad(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  '))
    .join('\n');
}

export default async function catalogShow(opts: CatalogShowOptions): Promise<number> {
  const { catalogs } = await import('../sdk/catalogs.js');
  const infos = await catalogs(opts.clouds);
  const table = [['CLOUD', 'SOURCE', 'ROWS', 'INSTANCE TYPES', 'REGIONS', 'ZONES', 'PATH']];
  for (const c of infos) {
    table.push([
      c.cloud,
      c.source,
      String(c.rows),
      String(c.instanceTypes),
      String(c.regions),
      c.zones === null ? '-' : String(c.zones),
      c.path,
    ]);
  }
  process.stdout.write(`${pad(table)}\n`);
  for (const c of infos) if (c.note) process.stderr.write(`note: ${c.cloud}: ${c.note}\n`);
  return 0;
}
