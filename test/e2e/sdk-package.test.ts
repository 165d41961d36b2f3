/**
 * The SDK as a user gets it: `npm pack` of this repo, installed into a scratch TypeScript project in a
 * temp dir, an example (docs/sdk.md's) type-checked there with the repo's `tsc` and run with node
 * against the local cloud, with its own SKYHOP_HOME and HOME.
 *
 * How the install stays fast and offline (no registry, no compiler):
 * - `npm pack --ignore-scripts` packs the dist/ that `npm run build` made (test:e2e builds first), so
 *   packing does not rebuild.
 * - The scratch project gets a package-lock.json cut from the repo's own: the tarball, plus the lock
 *   entries of skyhop's dependencies (and @types/node, a user's usual dev dependency). With a complete
 *   lock npm needs no registry metadata, and every tarball is in the npm cache after the repo's
 *   `npm ci`, so `npm install --offline --no-audit --no-fund` works without a network.
 * - `--ignore-scripts` skips better-sqlite3's install script, which would compile SQLite from source
 *   (~85 s). Its native binding is copied instead from the repo's node_modules/better-sqlite3/build:
 *   the same package version (the same lock entry) built for the same node, so the same file.
 * Under CI=true a failed install is a test failure; elsewhere (a machine whose npm cache lacks a
 * tarball) the test skips with npm's message.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ROOT, Sandbox } from './harness.js';

const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const BINDING = join('better-sqlite3', 'build', 'Release', 'better_sqlite3.node');

interface LockEntry {
  version?: string;
  resolved?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  [k: string]: unknown;
}

/** The lock entries `roots` need: each package and, recursively, what it depends on (npm's lookup rule). */
function lockClosure(packages: Record<string, LockEntry>, roots: string[]): Record<string, LockEntry> {
  const out: Record<string, LockEntry> = {};
  const find = (from: string, name: string): string | null => {
    for (let dir = from; ; dir = dir.slice(0, Math.max(0, dir.lastIndexOf('/node_modules/')))) {
      const p = dir ? `${dir}/node_modules/${name}` : `node_modules/${name}`;
      if (packages[p]) return p;
      if (!dir) return null;
    }
  };
  const visit = (path: string) => {
    if (out[path]) return;
    out[path] = packages[path];
    const e = packages[path];
    for (const dep of Object.keys({ ...e.dependencies, ...e.optionalDependencies })) {
      const p = find(path, dep);
      if (p) visit(p);
    }
  };
  for (const r of roots) {
    const p = find('', r);
    assert.ok(p, `the repo's package-lock.json has no entry for ${r}`);
    visit(p);
  }
  return out;
}

/** A scratch project depending on the packed tarball, with a lock cut from the repo's. */
function scratchProject(dir: string, tarball: string): void {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const me = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
    dependencies: Record<string, string>;
    bin: Record<string, string>;
    license: string;
    engines: Record<string, string>;
  };
  const typesNode = lock.packages['node_modules/@types/node'];
  const spec = `file:../${tarball}`;
  const pkg = {
    name: 'skyhop-sdk-scratch',
    version: '1.0.0',
    private: true,
    type: 'module',
    dependencies: { skyhop: spec },
    devDependencies: { '@types/node': typesNode.version },
  };
  const packages = {
    '': {
      name: pkg.name,
      version: pkg.version,
      dependencies: pkg.dependencies,
      devDependencies: pkg.devDependencies,
    },
    'node_modules/skyhop': {
      version: me.version,
      resolved: spec,
      license: me.license,
      dependencies: me.dependencies,
      bin: me.bin,
      engines: me.engines,
    },
    ...lockClosure(lock.packages, [...Object.keys(me.dependencies), '@types/node']),
  };
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  writeFileSync(
    join(dir, 'package-lock.json'),
    `${JSON.stringify({ name: pkg.name, version: pkg.version, lockfileVersion: 3, requires: true, packages }, null, 2)}\n`,
  );
}

/** docs/sdk.md's example: a task object, a YAML task and a command on the local cloud. */
const EXAMPLE = `import {
  type Dag,
  down,
  enabledClouds,
  exec,
  type JobOutcome,
  launch,
  loadTask,
  logs,
  queue,
  status,
  UserError,
} from 'skyhop';

const clouds = (await enabledClouds()).filter((c) => c.name === 'local');
let out = '';
const onOutput = (chunk: string) => {
  out += chunk;
};

// A task built in code, on a new cluster; the SDK's launch plans, provisions, runs and follows it.
const task: Dag = {
  tasks: [
    {
      name: 'from-code',
      numNodes: 1,
      envs: { GREETING: 'hello from a task object' },
      secrets: {},
      fileMounts: {},
      run: 'echo "$GREETING"',
      resources: [{ useSpot: false }],
      ordered: false,
    },
  ],
  edges: [],
};
const r = await launch({ dag: await loadTask(task), clouds, cluster: 'sdk-demo', onOutput });
const outcome: JobOutcome | null = r.outcome;
console.log(\`launch: job \${r.jobId} \${outcome?.status}\`);

// A YAML task, then a command, on the same cluster.
const y = await exec({ cluster: 'sdk-demo', task: 'hello.yaml', onOutput });
console.log(\`exec yaml: job \${y.jobId} \${y.outcome?.status}\`);
const c = await exec({ cluster: 'sdk-demo', task: ['echo', 'hello', 'from', 'exec'], detach: true });
const ended = await logs({ cluster: 'sdk-demo', jobId: c.jobId, onOutput });
console.log(\`exec command: job \${c.jobId} \${ended.status}\`);

const st = await status();
console.log(\`status: \${st.clusters.map((x) => \`\${x.name}=\${x.status}\`).join(',')}\`);
const q = await queue({ clusters: ['sdk-demo'] });
console.log(\`queue: \${q['sdk-demo'].map((j) => \`\${j.id}:\${j.status}\`).join(',')}\`);

try {
  await exec({ cluster: 'no-such-cluster', task: ['true'] });
} catch (e) {
  console.log(\`error: \${e instanceof UserError ? 'UserError' : 'other'}\`);
}

await down('sdk-demo');
console.log(\`after down: \${(await status()).clusters.length} clusters\`);
console.log(\`output: \${JSON.stringify(out)}\`);
`;

/** Misuses the types: tsc must refuse it, or the declarations are not checking anything. */
const WRONG = `import { exec, launch } from 'skyhop';
await launch({ dag: 'hello.yaml', clouds: [] });
await exec({ cluster: 1, task: ['true'] });
`;

function tsconfig(files: string[], outDir: string | null): string {
  return JSON.stringify({
    compilerOptions: {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      // The package's own declarations are checked too.
      skipLibCheck: false,
      types: ['node'],
      ...(outDir ? { outDir } : { noEmit: true }),
    },
    files,
  });
}

/**
 * The environment for npm: this process's, without what an enclosing `npm test` exports
 * (npm_config_local_prefix and friends would point the scratch install at this repo), except where
 * the npm cache is.
 */
function npmEnv(): NodeJS.ProcessEnv {
  const keep = new Set(['npm_config_cache', 'npm_config_userconfig']);
  return Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !k.toLowerCase().startsWith('npm_') || keep.has(k.toLowerCase()),
    ),
  );
}

function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = npmEnv()) {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status ?? 1, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

describe('the packed SDK in a scratch project', () => {
  const sb = new Sandbox();
  after(() => sb.cleanup());

  test('npm pack, install offline, type-check the example with tsc, run it on the local cloud', async (t) => {
    for (const f of ['sdk.js', 'sdk.d.ts', 'agent.cjs']) {
      assert.ok(existsSync(join(ROOT, 'dist', f)), `dist/${f} is missing: run \`npm run build\` first`);
    }
    // npm itself runs with the real HOME (its cache is there); the example runs in the sandbox.
    const pack = sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', sb.dir], ROOT);
    assert.equal(pack.code, 0, pack.out);
    const tarball = (JSON.parse(pack.out.slice(pack.out.indexOf('['))) as Array<{ filename: string }>)[0]
      .filename;
    assert.ok(existsSync(join(sb.dir, tarball)), `npm pack wrote no ${tarball}`);

    const proj = join(sb.dir, 'project');
    mkdirSync(proj);
    scratchProject(proj, tarball);
    const install = sh('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], proj);
    if (install.code !== 0) {
      if (process.env.CI === 'true') assert.fail(`npm install of the packed tarball failed:\n${install.out}`);
      t.skip(
        `npm install --offline failed (is the npm cache filled by \`npm ci\`?): ${install.out.slice(-300)}`,
      );
      return;
    }
    const binding = join(proj, 'node_modules', BINDING);
    mkdirSync(dirname(binding), { recursive: true });
    copyFileSync(join(ROOT, 'node_modules', BINDING), binding);

    // The types: the example compiles with strict checks, and a misuse does not.
    writeFileSync(join(proj, 'example.ts'), EXAMPLE);
    writeFileSync(join(proj, 'wrong.ts'), WRONG);
    writeFileSync(join(proj, 'tsconfig.json'), tsconfig(['example.ts'], 'out'));
    writeFileSync(join(proj, 'tsconfig.wrong.json'), tsconfig(['wrong.ts'], null));
    const tsc = sh(process.execPath, [TSC, '-p', 'tsconfig.json'], proj);
    assert.equal(tsc.code, 0, `tsc failed on the example:\n${tsc.out}`);
    const wrong = sh(process.execPath, [TSC, '-p', 'tsconfig.wrong.json'], proj);
    assert.notEqual(wrong.code, 0, 'tsc accepted a misuse of the SDK: its types check nothing');
    assert.match(wrong.out, /wrong\.ts\(2,\d+\): error TS2322/);
    assert.match(wrong.out, /wrong\.ts\(3,\d+\): error TS2322/);

    // The installed package is the packed one, not this checkout.
    const resolved = sh(
      process.execPath,
      ['--input-type=module', '-e', "console.log(import.meta.resolve('skyhop'))"],
      proj,
    );
    assert.match(resolved.out, /project\/node_modules\/skyhop\/dist\/sdk\.js/);

    writeFileSync(join(proj, 'hello.yaml'), 'name: hello-yaml\nrun: echo "hello from a YAML task"\n');
    mkdirSync(sb.home, { recursive: true });
    const run = sh(process.execPath, [join('out', 'example.js')], proj, sb.env);
    assert.equal(run.code, 0, run.out);
    const lines = run.out.trim().split('\n');
    assert.deepEqual(lines.slice(0, 7), [
      'launch: job 1 SUCCEEDED',
      'exec yaml: job 2 SUCCEEDED',
      'exec command: job 3 SUCCEEDED',
      'status: sdk-demo=UP',
      'queue: 1:SUCCEEDED,2:SUCCEEDED,3:SUCCEEDED',
      'error: UserError',
      'after down: 0 clusters',
    ]);
    assert.equal(
      lines[7],
      `output: ${JSON.stringify('hello from a task object\nhello from a YAML task\nhello from exec\n')}`,
    );
  });
});
