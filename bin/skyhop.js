#!/usr/bin/env node
// The skyhop command. Everything lives in dist/ (built by `npm ci` / `npm run build`).
import('../dist/cli.js').catch((e) => {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/cli.js')) {
    console.error('skyhop is not built yet: run `npm run build` (or `npm ci`) in the skyhop folder.');
    process.exit(1);
  }
  throw e;
});
