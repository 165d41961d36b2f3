/**
 * `skyhop catalog update [CLOUD...]`: renders the SDK's updateCatalogs (downloads) or, with
 * `--from-api` (aws only, optionally `--regions`), updateAwsCatalog.
 */
import { SkyhopError, UserError } from '../util/errors.js';
import { flags, type OptionsOf, options } from './options.js';

export const parse = options({
  clouds: flags.words(),
  baseUrl: flags.str(),
  fromApi: flags.bool(),
  regions: flags.str(),
});
export type CatalogUpdateOptions = OptionsOf<typeof parse>;

function printError(e: SkyhopError): void {
  process.stderr.write(`error: ${e.message}\n`);
  for (const d of e.details) process.stderr.write(`  ${d}\n`);
}

async function fromApi(opts: CatalogUpdateOptions): Promise<number> {
  const { updateAwsCatalog } = await import('../sdk/catalogs.js');
  const regions = opts.regions
    ?.split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  try {
    const r = await updateAwsCatalog(opts.clouds, {
      regions,
      onStart: () => process.stderr.write('Building the aws catalog from the EC2 APIs...\n'),
      onProgress: (msg) => process.stderr.write(`  ${msg}\n`),
    });
    process.stdout.write(
      `aws: ${r.rows} rows (${r.regions.length} region${r.regions.length === 1 ? '' : 's'} from the EC2 APIs, ` +
        `${r.added} new type/zone rows, ${r.listed} on-demand prices from the Price List API, ${r.kept} kept) -> ${r.path}\n`,
    );
    return 0;
  } catch (e) {
    if (!(e instanceof SkyhopError)) throw e;
    printError(e);
    return e.exitCode;
  }
}

export default async function catalogUpdate(opts: CatalogUpdateOptions): Promise<number> {
  if (opts.fromApi === true) return fromApi(opts);
  if (opts.regions !== undefined) throw new UserError('--regions works only with --from-api.');
  const { updateCatalogs } = await import('../sdk/catalogs.js');
  const results = await updateCatalogs(opts.clouds, {
    baseUrl: opts.baseUrl,
    onCloud: (cloud) => process.stderr.write(`Updating the ${cloud} catalog...\n`),
  });
  let code = 0;
  for (const r of results) {
    if ('result' in r) {
      process.stdout.write(`${r.cloud}: ${r.result.rows} rows from ${r.result.url} -> ${r.result.path}\n`);
    } else {
      printError(r.error);
      code = Math.max(code, r.error.exitCode);
    }
  }
  return code;
}
