// Builds dist/: the CLI (ESM, split per lazily-loaded command, npm packages bundled in)
// and the agent (one self-contained CommonJS file with no native dependencies, shipped to
// the head node of every cluster).
import { build } from 'esbuild';
import { rmSync } from 'node:fs';

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });

await Promise.all([
  build({
    entryPoints: { cli: 'src/cli/main.ts', fluffycloud: 'src/emulators/fluffycloud/main.ts' },
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
    chunkNames: 'chunks/[name]-[hash]',
    logLevel: 'warning',
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
]);
