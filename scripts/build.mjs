// Builds dist/: the CLI (ESM, split per lazily-loaded command, npm packages left external)
// and the agent (one self-contained CommonJS file with no native dependencies, shipped to
// the head node of every cluster).
import { build } from 'esbuild';
import { rmSync } from 'node:fs';

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });

await Promise.all([
  build({
    entryPoints: { cli: 'src/cli/main.ts' },
    outdir: 'dist',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
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
