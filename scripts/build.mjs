// Builds dist/: the CLI (ESM, split per lazily-loaded command, npm packages bundled in), the SDK
// (dist/sdk.js, the package's import entry, with its type declarations: dist/sdk.d.ts over
// dist/types/), the PostgreSQL store's worker (dist/pg-worker.js), and the agent (one self-contained CommonJS file with no native dependencies,
// shipped to the head node of every cluster).
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

// Without the dependencies there is nothing to build with. As the `prepare` step of `npx skyhop` in a
// checkout where `npm ci` never ran, say so and let the command itself explain (bin/skyhop.js);
// as `npm run build`, fail.
let build;
try {
  ({ build } = await import('esbuild'));
} catch {
  console.error('skyhop: the dependencies are not installed; run `npm ci` in this folder first.');
  process.exit(process.env.npm_lifecycle_event === 'prepare' ? 0 : 1);
}

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });

/** Bundling shared by the CLI and the SDK. */
const esm = {
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // npm packages are bundled too: one file per command loads far faster than Node resolving
  // hundreds of package files (zod alone costs ~90 ms unbundled). Native and WASM ones stay out.
  external: ['better-sqlite3', 'highs'],
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
  sourcemap: true,
  logLevel: 'warning',
};

/**
 * The SDK's declarations: TypeScript 7's native `tsc` (no JS API) writes one .d.ts per source file
 * under dist/types/ (tsconfig.sdk.json); dist/sdk.d.ts re-exports the public surface.
 */
function declarations() {
  const pkg = createRequire(import.meta.url).resolve('typescript/package.json');
  const tsc = join(dirname(pkg), 'bin', 'tsc');
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [tsc, '-p', 'tsconfig.sdk.json'], { stdio: 'inherit' });
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`tsc -p tsconfig.sdk.json failed (exit ${code})`));
      // state/index.ts re-exports from the SQLite store, whose declarations name better-sqlite3's
      // `Database.Database` type: a user needs no @types/better-sqlite3 for them (they are internal).
      writeFileSync(
        'dist/types/ambient.d.ts',
        "declare module 'better-sqlite3' {\n  namespace Database {\n    type Database = unknown;\n  }\n  export default Database;\n}\n",
      );
      writeFileSync(
        'dist/sdk.d.ts',
        '/// <reference path="./types/ambient.d.ts" />\nexport * from \'./types/sdk/index.js\';\n',
      );
      resolve();
    });
  });
}

await Promise.all([
  build({
    ...esm,
    entryPoints: { cli: 'src/cli/main.ts', fluffycloud: 'src/emulators/fluffycloud/main.ts' },
    chunkNames: 'chunks/[name]-[hash]',
  }),
  // Its own build (own chunks), so the SDK entry cannot reshape the CLI's lazily loaded chunks.
  build({ ...esm, entryPoints: { sdk: 'src/sdk/index.ts' }, chunkNames: 'sdk-chunks/[name]-[hash]' }),
  // The PostgreSQL store's worker thread (src/state/pg-bridge.ts starts dist/pg-worker.js from the
  // CLI's and the SDK's chunks alike): the `pg` driver bundled in, no chunks of its own.
  build({
    ...esm,
    splitting: false,
    entryPoints: { 'pg-worker': 'src/state/pg-worker.ts' },
    external: [...esm.external, 'pg-native', 'pg-cloudflare'],
  }),
  build({
    entryPoints: ['src/agent/main.ts'],
    outfile: 'dist/agent.cjs',
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    sourcemap: false,
    logLevel: 'warning',
  }),
  declarations(),
]);
