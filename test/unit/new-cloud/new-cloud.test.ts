// `skyhop new-cloud`: name rules, the registry edit, and a scaffold generated into a temporary copy of
// the project that (1) typechecks with the project's tsconfig (tsc on the copy; only errors in the
// generated files and the registry count, since other folders may be mid-edit), (2) passes biome, and
// (3) imports and works at run time: registered, a Cloud, and every provider call a clear CloudError.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import newCloud, {
  addToRegistry,
  registeredClouds,
  scaffoldCloud,
  validateCloudName,
} from '../../../src/cli/new-cloud.js';
import { cloudScaffold } from '../../../src/cli/templates/new-cloud.js';
import { UserError } from '../../../src/util/errors.js';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const REGISTRY = readFileSync(join(ROOT, 'src', 'clouds', 'registry.ts'), 'utf8');

let tmp = '';
let copy = '';
const saved = { SKYHOP_HOME: process.env.SKYHOP_HOME, HOME: process.env.HOME };

/** A copy of the project's sources and configs, with node_modules linked, as a git repo (for biome). */
function projectCopy(): string {
  const d = join(tmp, 'project');
  mkdirSync(d);
  for (const f of ['src', 'tsconfig.json', 'package.json', 'biome.json', '.gitignore']) {
    cpSync(join(ROOT, f), join(d, f), { recursive: true });
  }
  mkdirSync(join(d, 'test', 'conformance'), { recursive: true });
  cpSync(join(ROOT, 'test', 'conformance', 'kit.ts'), join(d, 'test', 'conformance', 'kit.ts'));
  mkdirSync(join(d, 'catalogs'));
  cpSync(join(ROOT, 'catalogs'), join(d, 'catalogs'), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(d, 'node_modules'));
  spawnSync('git', ['init', '-q', d]);
  return d;
}

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'skyhop-new-cloud-'));
  process.env.SKYHOP_HOME = join(tmp, 'skyhop');
  process.env.HOME = join(tmp, 'home');
  mkdirSync(process.env.HOME);
  copy = projectCopy();
});
after(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  rmSync(tmp, { recursive: true, force: true });
});

describe('cloud names', () => {
  const registered = registeredClouds(REGISTRY);
  test('the registry lists its clouds', () => {
    for (const c of ['aws', 'gcp', 'lambda', 'runpod', 'fluffycloud', 'local'])
      assert.ok(registered.includes(c), c);
  });
  for (const bad of ['Acme', '1acme', 'ac-me', 'ac.me', '', 'a'.repeat(25), 'class', 'fluffycloud', 'aws']) {
    test(`refused: ${JSON.stringify(bad)}`, () => {
      assert.throws(() => validateCloudName(bad, registered), UserError);
    });
  }
  for (const good of ['acme', 'my_cloud2', 'a'.repeat(24)]) {
    test(`accepted: ${good}`, () => validateCloudName(good, registered));
  }
});

describe('the registry edit', () => {
  test('adds the import and the list entry once', () => {
    const out = addToRegistry(REGISTRY, 'acme')!;
    assert.ok(out.includes("import { createCloud as acme } from './acme/index.js';\n"));
    assert.match(out, /const CLOUDS[\s\S]*\n {2}acme,\n\];/);
    assert.equal(addToRegistry(out, 'acme'), out, 'idempotent');
    assert.deepEqual(
      registeredClouds(out).filter((c) => !registeredClouds(REGISTRY).includes(c)),
      ['acme'],
    );
  });

  test('a name already used in the file is imported under another binding', () => {
    const out = addToRegistry(REGISTRY, 'hint')!;
    assert.ok(out.includes("import { createCloud as hintCloud } from './hint/index.js';"));
    assert.match(out, /\n {2}hintCloud,\n\];/);
  });

  test('an unexpected file shape is reported, not guessed at', () => {
    assert.equal(addToRegistry('export const x = 1;\n', 'acme'), null);
  });
});

describe('a scaffold in a copy of the project', () => {
  test('generated files carry TODOs but no throw-new-Error placeholders', () => {
    for (const f of cloudScaffold('acme')) {
      assert.ok(!/throw new Error\(/.test(f.content), f.path);
    }
    assert.ok(cloudScaffold('acme').some((f) => f.content.includes('TODO')));
  });

  test('new-cloud acme --register: files, catalog, registry, printed next steps', async () => {
    const chunks: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((c: string) => {
      chunks.push(String(c));
      return true;
    }) as typeof process.stdout.write;
    let code: number;
    try {
      code = await newCloud({ name: 'acme', dir: join(copy, 'src', 'clouds'), register: true });
    } finally {
      process.stdout.write = write;
    }
    assert.equal(code, 0);
    const out = chunks.join('');
    assert.match(out, /Scaffolded cloud acme/);
    assert.match(out, /Registered in/);
    // Steps that work in this order: build before `check` (the CLI runs dist/), then the new cloud's own
    // conformance test (scaffolded, so the step really tests the cloud).
    const steps = out.slice(out.indexOf('Next, in this order:')).split('\n').slice(1, 6);
    assert.match(steps[0], /^ {2}1\. fill in the files step by step/);
    assert.match(steps[1], /^ {2}2\. add Acme's instance types to .*catalogs\/acme\/vms\.csv/);
    assert.match(steps[2], /^ {2}3\. npm run build/);
    assert.match(steps[3], /^ {2}4\. npx skyhop check acme$/);
    assert.match(steps[4], /^ {2}5\. node scripts\/test\.mjs .*test\/conformance\/acme\.test\.ts/);
    const conf = readFileSync(join(copy, 'test', 'conformance', 'acme.test.ts'), 'utf8');
    assert.match(conf, /conformance\(\{\n {2}name: 'acme'/);
    assert.match(conf, /createCloud \} from '\.\.\/\.\.\/src\/clouds\/acme\/index\.js'/);
    for (const f of ['api.ts', 'provider.ts', 'index.ts', 'setup.ts', 'errors.ts', 'credentials.ts']) {
      assert.ok(existsSync(join(copy, 'src', 'clouds', 'acme', f)), f);
    }
    assert.equal(
      readFileSync(join(copy, 'catalogs', 'acme', 'vms.csv'), 'utf8').trim(),
      'InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,GpuInfo,Region,AvailabilityZone,Price,SpotPrice',
    );
    const registry = readFileSync(join(copy, 'src', 'clouds', 'registry.ts'), 'utf8');
    assert.ok(registeredClouds(registry).includes('acme'));
    assert.match(registry, /\n {2}acme,\n\];/);
  });

  test('a second scaffold without --register prints the registry lines; refusals', () => {
    const r = scaffoldCloud('zeta', { dir: join(copy, 'src', 'clouds') });
    assert.equal(r.registered, false);
    assert.deepEqual(r.registryLines, ["import { createCloud as zeta } from './zeta/index.js';", '  zeta,']);
    assert.throws(
      () => scaffoldCloud('zeta', { dir: join(copy, 'src', 'clouds') }),
      /already exists.*--force/,
    );
    assert.throws(
      () => scaffoldCloud('acme', { dir: join(copy, 'src', 'clouds'), force: true }),
      /already registered/,
    );
    assert.throws(() => scaffoldCloud('x', { dir: tmp }), /not skyhop's clouds folder/);
    // --force rewrites the scaffold and keeps a catalog that has rows.
    writeFileSync(join(copy, 'catalogs', 'zeta', 'vms.csv'), 'edited\n');
    const again = scaffoldCloud('zeta', { dir: join(copy, 'src', 'clouds'), force: true });
    assert.equal(again.catalog.created, false);
    assert.equal(readFileSync(join(copy, 'catalogs', 'zeta', 'vms.csv'), 'utf8'), 'edited\n');
    rmSync(join(copy, 'src', 'clouds', 'zeta'), { recursive: true });
    rmSync(join(copy, 'catalogs', 'zeta'), { recursive: true });
  });

  test('the longest allowed name: typechecks and passes biome as generated', () => {
    const long = 'abcdefghijklmnopqrstuvwx';
    scaffoldCloud(long, { dir: join(copy, 'src', 'clouds'), register: true });
    const tsc = spawnSync(
      join(ROOT, 'node_modules', '.bin', 'tsc'),
      ['-p', 'tsconfig.json', '--pretty', 'false'],
      {
        cwd: copy,
        encoding: 'utf8',
      },
    );
    const ours = (tsc.stdout + tsc.stderr)
      .split('\n')
      .filter((l) =>
        /^src\/clouds\/(acme|abcdefghijklmnopqrstuvwx)\/|^src\/clouds\/registry\.ts|^test\/conformance\/(acme|abcdefghijklmnopqrstuvwx)\./.test(
          l,
        ),
      );
    assert.deepEqual(ours, [], 'no type errors in the scaffolds or the registry');
    const biome = spawnSync(
      join(ROOT, 'node_modules', '.bin', 'biome'),
      [
        'check',
        'src/clouds/acme',
        `src/clouds/${long}`,
        'src/clouds/registry.ts',
        'test/conformance/acme.test.ts',
        `test/conformance/${long}.test.ts`,
      ],
      { cwd: copy, encoding: 'utf8' },
    );
    assert.equal(biome.status, 0, biome.stdout + biome.stderr);
  });

  test('at run time: registered, a Cloud, provider calls fail with "not implemented yet" -> cloud', async () => {
    const reg = await import(pathToFileURL(join(copy, 'src', 'clouds', 'registry.ts')).href);
    const cloud = reg.getCloud('acme');
    assert.equal(cloud.name, 'acme');
    assert.equal(cloud.displayName, 'Acme');
    assert.deepEqual(cloud.catalog().regions(), [], 'header-only catalog: offers nothing');
    assert.deepEqual(cloud.feasibleResources({ useSpot: false }, 0), []);
    const cred = await cloud.checkCredentials();
    assert.equal(cred.ok, false);
    assert.match(cred.reason, /\.acme\/credentials not found/);
    assert.throws(() => cloud.provider('r1'), /Acme has no region r1/);
    const { AcmeProvider } = await import(
      pathToFileURL(join(copy, 'src', 'clouds', 'acme', 'provider.ts')).href
    );
    const p = new AcmeProvider('r1');
    for (const call of [
      () =>
        p.runInstances({
          cluster: 'c',
          numNodes: 1,
          instanceType: 't',
          region: 'r1',
          zone: null,
          useSpot: false,
          accelerators: null,
        }),
      () => p.queryInstances('c'),
      () => p.terminateInstances('c'),
    ]) {
      const err = await call().then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(err instanceof Error);
      assert.match(
        err.message,
        /^Acme: \w+ is not implemented yet; fill it in: src\/clouds\/acme\/provider\.ts/,
      );
      assert.equal((err as { exitCode?: number }).exitCode, 2, 'a CloudError');
      assert.equal(cloud.classifyError(err), 'cloud');
    }
    assert.deepEqual(cloud.nodeSetup({ role: 'head' }), ['mkdir -p ~/.skyhop']);
  });
});
