/**
 * `skyhop catalog update [CLOUD...]`: download the newest catalogs (default: every cloud with a
 * public one). A failed or corrupt download keeps the old catalog; the others still update.
 */
import { SkyhopError } from '../util/errors.js';

export default async function catalogUpdate(args: string[], opts: Record<string, unknown>): Promise<number> {
  const { checkUpdatable, publicCatalogClouds, updateCatalog } = await import('../catalog/index.js');
  const clouds = args.length ? [...new Set(args)] : publicCatalogClouds();
  for (const c of clouds) checkUpdatable(c); // refuse unknown or non-downloadable clouds before any download
  const baseUrl = typeof opts.baseUrl === 'string' ? opts.baseUrl : undefined;
  let code = 0;
  for (const cloud of clouds) {
    process.stderr.write(`Updating the ${cloud} catalog...\n`);
    try {
      const r = await updateCatalog(cloud, { baseUrl });
      process.stdout.write(`${cloud}: ${r.rows} rows from ${r.url} -> ${r.path}\n`);
    } catch (e) {
      if (!(e instanceof SkyhopError)) throw e;
      process.stderr.write(`error: ${e.message}\n`);
      for (const d of e.details) process.stderr.write(`  ${d}\n`);
      code = Math.max(code, e.exitCode);
    }
  }
  return code;
}
