#!/usr/bin/env node
// The skyhop command. Everything lives in dist/ (built by `npm ci` / `npm run build`).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
import('../dist/cli.js').catch((e) => {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/cli.js')) {
    // A git checkout has no node_modules until `npm ci`; an installed package always has dist/.
    const fix = existsSync(join(root, 'node_modules'))
      ? '`npm run build`'
      : '`npm ci` (it installs the dependencies and builds skyhop)';
    console.error(`skyhop is not built yet: run ${fix} in ${root}, then \`npx skyhop ...\`.`);
    process.exit(1);
  }
  throw e;
});
