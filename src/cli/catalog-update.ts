/**
 * `skyhop catalog update [CLOUD...]`: download the newest catalogs (default: every cloud with a
 * public one). A failed or corrupt download keeps the old catalog; the others still update.
 * `--from-api` (aws only) rebuilds the AWS catalog from EC2's own APIs instead (optionally `--regions`).
 */
import { SkyhopError, UserError } from '../util/errors.js';
import { options, type OptionsOf, flags } from './options.js';

export const parse = options({
  clouds: flags.words(),
  baseUrl: flags.str(),
  fromApi: flags.bool(),
  regions: flags.str(),
});
export type CatalogUpdateOptions = OptionsOf<typeof parse>;

async function fromApi(args: string[], opts: CatalogUpdateOptions): Promise<number> {
  const clouds = args.length ? [...new Set(args)] : ['aws'];
  const others = clouds.filter((c) => c !== 'aws');
  if (others.length) {
    throw new UserError(
      `--from-api builds only the aws catalog, not ${others.join(', ')}; ` +
        `run \`skyhop catalog update ${others.join(' ')}\` without --from-api to download theirs.`,
    );
  }
  let regions: string[] | undefined;
  if (opts.regions !== undefined) {
    regions = opts.regions
      .split(',')
      .map((r) => r.trim())
      .filter(Boolean);
    if (regions.length === 0)
      throw new UserError('--regions is empty; pass e.g. --regions us-east-1,us-west-2.');
  }
  const { updateAwsCatalogFromApi } = await import('../clouds/aws/catalog-update.js');
  process.stderr.write('Building the aws catalog from the EC2 APIs...\n');
  try {
    const r = await updateAwsCatalogFromApi({
      regions,
      onProgress: (msg) => process.stderr.write(`  ${msg}\n`),
    });
    process.stdout.write(
      `aws: ${r.rows} rows (${r.regions.length} region${r.regions.length === 1 ? '' : 's'} from the EC2 APIs, ` +
        `${r.added} new type/zone rows, ${r.listed} on-demand prices from the Price List API, ${r.kept} kept) -> ${r.path}\n`,
    );
    return 0;
  } catch (e) {
    if (!(e instanceof SkyhopError)) throw e;
    process.stderr.write(`error: ${e.message}\n`);
    for (const d of e.details) process.stderr.write(`  ${d}\n`);
    return e.exitCode;
  }
}

export default async function catalogUpdate(opts: CatalogUpdateOptions): Promise<number> {
  const args = opts.clouds;
  if (opts.fromApi === true) return fromApi(args, opts);
  if (opts.regions !== undefined) throw new UserError('--regions works only with --from-api.');
  const { checkUpdatable, publicCatalogClouds, updateCatalog } = await import('../catalog/index.js');
  const clouds = args.length ? [...new Set(args)] : publicCatalogClouds();
  for (const c of clouds) checkUpdatable(c); // refuse unknown or non-downloadable clouds before any download
  const baseUrl = opts.baseUrl;
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
