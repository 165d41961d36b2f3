#!/usr/bin/env node
// The FluffyCloud emulator (docs/fluffycloud-api.md). Built into dist/ by `npm run build`.
import('../dist/fluffycloud.js').catch((e) => {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/fluffycloud.js')) {
    console.error('skyhop is not built yet: run `npm run build` (or `npm ci`) in the skyhop folder.');
    process.exit(1);
  }
  throw e;
});
