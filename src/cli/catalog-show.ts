/**
 * `skyhop catalog show [CLOUD...]`: for each cloud, where its catalog comes from (the bundled
 * snapshot or a download from `skyhop catalog update`) and how much it holds.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { skyhopHome } from '../util/paths.js';
import { options, type OptionsOf, flags } from './options.js';

export const parse = options({ clouds: flags.words() });
export type CatalogShowOptions = OptionsOf<typeof parse>;

function pad(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  '))
    .join('\n');
}

/** Clouds with a downloaded catalog under $SKYHOP_HOME/catalogs. */
function downloadedClouds(): string[] {
  const dir = join(skyhopHome(), 'catalogs');
  try {
    return readdirSync(dir).filter((c) => existsSync(join(dir, c, 'vms.csv')));
  } catch {
    return [];
  }
}

export default async function catalogShow(opts: CatalogShowOptions): Promise<number> {
  const args = opts.clouds;
  const { bundledCatalogClouds, loadCatalog } = await import('../catalog/index.js');
  const clouds = args.length
    ? [...new Set(args)]
    : [...new Set([...bundledCatalogClouds(), ...downloadedClouds()])].filter((c) => c !== 'common').sort();
  const table = [['CLOUD', 'SOURCE', 'ROWS', 'INSTANCE TYPES', 'REGIONS', 'ZONES', 'PATH']];
  const notes: string[] = [];
  for (const cloud of clouds) {
    const cat = loadCatalog(cloud);
    const types = new Set<string>();
    const zones = new Set<string>();
    for (const r of cat.rows) {
      if (r.instanceType) types.add(r.instanceType);
      if (r.zone !== null) zones.add(r.zone);
    }
    table.push([
      cloud,
      cat.source.kind === 'cache' ? 'downloaded' : cat.source.kind,
      String(cat.rows.length),
      String(types.size),
      String(cat.regions().length),
      cat.hasZones ? String(zones.size) : '-',
      cat.source.path,
    ]);
    if (cat.source.note) notes.push(`${cloud}: ${cat.source.note}`);
  }
  process.stdout.write(`${pad(table)}\n`);
  for (const n of notes) process.stderr.write(`note: ${n}\n`);
  return 0;
}
