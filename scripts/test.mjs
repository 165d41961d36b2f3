// Runs the test suite with node's own test runner (TypeScript through tsx). Node 20 has no
// glob support in `node --test`, so the files are listed here.
// Usage: node scripts/test.mjs [unit|e2e|conformance|<path>...]
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const args = process.argv.slice(2);
const dirs = args.length ? args : ['unit', 'e2e', 'conformance'];
const files = dirs.flatMap((a) => (a.endsWith('.ts') ? [a] : find(join('test', a)))).sort();
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
const r = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    '--test-reporter=spec',
    `--test-concurrency=${process.env.TEST_CONCURRENCY || 2}`,
    ...files,
  ],
  {
    stdio: 'inherit',
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...process.env, SKYHOP_TEST: '1' },
  },
);
process.exit(r.status ?? 1);
