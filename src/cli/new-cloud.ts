/**
 * `skyhop new-cloud NAME [--dir src/clouds] [--force] [--register]`: scaffolds a new cloud, one file
 * per step of docs/adding-a-cloud.md (api.ts, provider.ts, index.ts, setup.ts, errors.ts,
 * credentials.ts) in `<dir>/NAME/`, and a header-only catalog `catalogs/NAME/vms.csv` in the project
 * (two levels above `<dir>`). The scaffold typechecks and can be registered at once: planning sees an
 * empty catalog, and every provider call throws a CloudError "... is not implemented yet", which the
 * scaffold's classifyError maps to 'cloud' so failover moves on to other clouds.
 *
 * Prints the registry line to add; with --register, adds it to `<dir>/registry.ts` (the one edit
 * outside the new folder). NAME: a lower-case identifier that no registered cloud uses. An existing
 * folder is refused unless --force (which rewrites the scaffold's files; an existing catalog is kept).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { UserError } from '../util/errors.js';
import { options, type OptionsOf, flags } from './options.js';
import {
  CATALOG_HEADER,
  cloudScaffold,
  conformanceScaffold,
  pascalCase,
  registryImportLine,
} from './templates/new-cloud.js';

const NAME_RE = /^[a-z][a-z0-9_]*$/;
const MAX_NAME = 24;

/** Words that cannot name the registry's import binding. */
const RESERVED = new Set(
  (
    'break case catch class const continue debugger default delete do else enum export extends false finally ' +
    'for function if import in instanceof new null return super switch this throw true try typeof var void ' +
    'while with yield let static implements interface package private protected public await arguments eval'
  ).split(' '),
);

/** Cloud folders the registry imports (`from './NAME/index.js'`). */
export function registeredClouds(registrySource: string): string[] {
  return [...registrySource.matchAll(/from '\.\/([a-z0-9_-]+)\/index\.js'/g)].map((m) => m[1]);
}

export function validateCloudName(name: string, registered: readonly string[]): void {
  if (!NAME_RE.test(name) || name.length > MAX_NAME) {
    throw new UserError(
      `invalid cloud name ${JSON.stringify(name)}: use a lower-case identifier (a-z, then a-z, 0-9 or _), ` +
        `at most ${MAX_NAME} characters, e.g. \`skyhop new-cloud acme\``,
    );
  }
  if (RESERVED.has(name)) {
    throw new UserError(`${name} is a reserved word in TypeScript; choose another cloud name`);
  }
  if (registered.includes(name)) {
    throw new UserError(
      `a cloud named ${name} is already registered (clouds: ${registered.join(', ')}); choose another name`,
    );
  }
}

/** The binding the registry imports the cloud as: its name, or `<name>Cloud` if the name is taken there. */
export function registryBinding(name: string, registrySource: string): string {
  return new RegExp(`\\b${name}\\b`).test(registrySource) ? `${name}Cloud` : name;
}

/**
 * The registry with the cloud added: the import after the other clouds' imports (in name order) and the
 * binding at the end of the CLOUDS list. Null when the file does not have the expected shape.
 */
export function addToRegistry(source: string, name: string): string | null {
  if (registeredClouds(source).includes(name)) return source;
  const binding = registryBinding(name, source);
  const importLine = registryImportLine(name).replace(`as ${name} }`, `as ${binding} }`);
  const lines = source.split('\n');
  const cloudImport = /^import \{ createCloud as \w+ \} from '\.\/([a-z0-9_-]+)\/index\.js';$/;
  const imports = lines.map((l, i) => ({ i, m: cloudImport.exec(l) })).filter((x) => x.m !== null);
  const listStart = lines.findIndex((l) => /^const CLOUDS\b.*= \[$/.test(l));
  const listEnd = listStart < 0 ? -1 : lines.findIndex((l, i) => i > listStart && l === '];');
  if (imports.length === 0 || listStart < 0 || listEnd < 0) return null;
  lines.splice(listEnd, 0, `  ${binding},`);
  const after = imports.find((x) => x.m![1] > name);
  lines.splice(after ? after.i : imports[imports.length - 1].i + 1, 0, importLine);
  return lines.join('\n');
}

function writeAtomic(path: string, content: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, content);
  renameSync(tmp, path);
}

export interface ScaffoldResult {
  folder: string;
  files: string[];
  catalog: { path: string; created: boolean };
  registry: string;
  /** The lines to add to the registry (import, list entry). */
  registryLines: [string, string];
  registered: boolean;
  /** test/conformance/NAME.test.ts, or null when the folder is not in a checkout with the kit. */
  conformanceTest: string | null;
}

/** Writes the scaffold (the command without the printing). */
export function scaffoldCloud(
  name: string,
  opts: { dir?: string; force?: boolean; register?: boolean } = {},
): ScaffoldResult {
  validateCloudName(name, []);
  const dir = resolve(opts.dir ?? 'src/clouds');
  const registry = join(dir, 'registry.ts');
  if (!existsSync(join(dir, 'types.ts')) || !existsSync(registry)) {
    throw new UserError(
      `${dir} is not skyhop's clouds folder (no types.ts and registry.ts there); run this in the skyhop ` +
        'repository or pass --dir <path to src/clouds>',
    );
  }
  const source = readFileSync(registry, 'utf8');
  validateCloudName(name, registeredClouds(source));
  const folder = join(dir, name);
  if (existsSync(folder) && readdirSync(folder).length > 0 && !opts.force) {
    throw new UserError(
      `${folder} already exists and is not empty; pass --force to rewrite the scaffold's files`,
    );
  }
  mkdirSync(folder, { recursive: true });
  const files: string[] = [];
  for (const f of cloudScaffold(name)) {
    const p = join(folder, f.path);
    writeAtomic(p, f.content);
    files.push(p);
  }
  const catalogPath = join(dir, '..', '..', 'catalogs', name, 'vms.csv');
  const created = !existsSync(catalogPath);
  if (created) {
    mkdirSync(join(catalogPath, '..'), { recursive: true });
    writeAtomic(catalogPath, CATALOG_HEADER);
  }
  // The conformance test beside the others (when this is a whole checkout with the kit).
  const kit = join(dir, '..', '..', 'test', 'conformance', 'kit.ts');
  const testPath = join(dir, '..', '..', 'test', 'conformance', `${name}.test.ts`);
  let conformanceTest: string | null = null;
  if (existsSync(kit)) {
    if (!existsSync(testPath) || opts.force) writeAtomic(testPath, conformanceScaffold(name));
    conformanceTest = resolve(testPath);
  }
  const binding = registryBinding(name, source);
  const registryLines: [string, string] = [
    registryImportLine(name).replace(`as ${name} }`, `as ${binding} }`),
    `  ${binding},`,
  ];
  let registered = false;
  if (opts.register) {
    const updated = addToRegistry(source, name);
    if (updated === null) {
      throw new UserError(
        `could not find the cloud imports and the CLOUDS list in ${registry}; the scaffold is written, ` +
          'add these lines to the registry by hand:',
        { details: registryLines },
      );
    }
    writeAtomic(registry, updated);
    registered = true;
  }
  return {
    folder,
    files,
    catalog: { path: resolve(catalogPath), created },
    registry,
    registryLines,
    registered,
    conformanceTest,
  };
}

export const parse = options({
  name: flags.arg(),
  dir: flags.str(),
  force: flags.bool(),
  register: flags.bool(),
});
export type NewCloudOptions = OptionsOf<typeof parse>;

export default async function newCloud(opts: NewCloudOptions): Promise<number> {
  const { name } = opts;
  const r = scaffoldCloud(name, { dir: opts.dir, force: opts.force, register: opts.register });
  const cwd = process.cwd();
  const show = (p: string) => {
    const rel = relative(cwd, p);
    return rel.startsWith('..') ? p : rel;
  };
  const out: string[] = [`Scaffolded cloud ${name} in ${show(r.folder)}:`];
  for (const f of r.files) out.push(`  ${show(f)}`);
  out.push(
    `  ${show(r.catalog.path)}${r.catalog.created ? ' (header only: add rows)' : ' (kept as it was)'}`,
  );
  out.push('');
  if (r.registered) {
    out.push(`Registered in ${show(r.registry)}.`);
  } else {
    out.push(`To register it, add to ${show(r.registry)}:`);
    out.push(`  ${r.registryLines[0]}`);
    out.push(`and to the CLOUDS list:`);
    out.push(r.registryLines[1]);
    out.push('(`--register` does this when scaffolding.)');
  }
  if (r.conformanceTest) out.push(`Conformance test: ${show(r.conformanceTest)}`);
  out.push('');
  const steps = [
    ...(r.registered ? [] : [`register it in ${show(r.registry)} (the lines above)`]),
    'fill in the files step by step (docs/adding-a-cloud.md)',
    `add ${pascalCase(name)}'s instance types to ${show(r.catalog.path)}`,
    'npm run build                  # the skyhop command runs the built dist/',
    `npx skyhop check ${name}`,
    r.conformanceTest
      ? `node scripts/test.mjs ${show(r.conformanceTest)}   # needs ${name}'s credentials`
      : 'copy test/conformance/local.test.ts for the new cloud and run it',
  ];
  out.push('Next, in this order:');
  for (const [i, s] of steps.entries()) out.push(`  ${i + 1}. ${s}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}
