// Runs the test suite with node's own test runner (TypeScript through tsx). Node 20 has no
// glob support in `node --test`, so the files are listed here.
// Usage: node scripts/test.mjs [unit|e2e|conformance|<path>...]
//
// A run that includes e2e/ (the default run does) runs the CLI e2e suite (CLI_E2E below) twice more:
// through a team server on SQLite and through one on PostgreSQL (SKYHOP_TEST_VIA_SERVER, see
// test/e2e/harness.ts), each test's name suffixed with its pass. SKYHOP_TEST_PASSES=local,sqlite
// picks passes (for the files given too: SKYHOP_TEST_PASSES=sqlite node scripts/test.mjs
// test/e2e/local-crash.test.ts); a SKYHOP_TEST_VIA_SERVER set by the caller runs the given files that
// way only.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** The e2e files that drive the CLI on the local cloud (and emulators): run again through a server. */
const CLI_E2E = [
  'agent-killed',
  'fluffycloud',
  'local-launch',
  'task-compat',
  'secrets-argv',
  'lost-state',
  'local-crash',
  'terminal',
  'storage',
  'managed-jobs-local',
  'serve-local',
  'serve-clouds',
].map((n) => join('test', 'e2e', `${n}.test.ts`));

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

const env = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...process.env, SKYHOP_TEST: '1' };
const wanted = (process.env.SKYHOP_TEST_PASSES ?? 'local,sqlite,postgres').split(',');
const passes = [];
if (wanted.includes('local') || process.env.SKYHOP_TEST_VIA_SERVER) passes.push({ name: null, files });
if (!process.env.SKYHOP_TEST_VIA_SERVER && (dirs.includes('e2e') || process.env.SKYHOP_TEST_PASSES)) {
  for (const via of ['sqlite', 'postgres']) {
    if (wanted.includes(via)) passes.push({ name: via, files: CLI_E2E.filter((f) => files.includes(f)) });
  }
}

/** One `node --test` run; through a server, each test's line in the spec report gets the pass's label. */
function run(pass) {
  const label = pass.name && ` [via ${pass.name} server]`;
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--test',
        '--test-reporter=spec',
        `--test-concurrency=${process.env.TEST_CONCURRENCY || 2}`,
        ...pass.files,
      ],
      {
        stdio: ['inherit', 'pipe', 'inherit'],
        env: pass.name ? { ...env, SKYHOP_TEST_VIA_SERVER: pass.name } : env,
      },
    );
    // The run's own summary ("ℹ pass 12", "ℹ fail 0", "ℹ skipped 2"), added up over the passes.
    const counts = { pass: 0, fail: 0, skipped: 0 };
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (l) => {
      const c = /^ℹ (pass|fail|skipped) (\d+)$/.exec(l);
      if (c) counts[c[1]] = Number(c[2]);
      // "  ✔ name (12ms)", "▶ suite", "﹣ name (1ms) # SKIP why": a pass's label goes after the name.
      const m =
        !label || /:$/.test(l) ? null : /^(\s*(?:✔|✖|﹣|▶) )(.*?)( \(\d+(?:\.\d+)?ms\))?( # .*)?$/.exec(l);
      process.stdout.write(`${m ? `${m[1]}${m[2]}${label}${m[3] ?? ''}${m[4] ?? ''}` : l}\n`);
    });
    // Both ended: the process, and the reading of its last lines.
    const lines = new Promise((r) => rl.on('close', r));
    child.on('close', (code, signal) =>
      lines.then(() => resolve({ code: code ?? (signal ? 1 : 0), counts })),
    );
  });
}

const results = [];
for (const pass of passes) {
  if (pass.files.length === 0) continue;
  if (pass.name) {
    process.stdout.write(
      `\n=== the CLI e2e suite through a team server on ${pass.name === 'sqlite' ? 'SQLite' : 'PostgreSQL'} (SKYHOP_TEST_VIA_SERVER=${pass.name}) ===\n`,
    );
  }
  const t0 = Date.now();
  const { code, counts } = await run(pass);
  results.push({ name: pass.name ?? 'local', code, counts, s: Math.round((Date.now() - t0) / 1000) });
}
if (results.length > 1) {
  process.stdout.write('\n=== passes ===\n');
  for (const r of results) {
    const c = r.counts;
    process.stdout.write(
      `${r.code === 0 ? '✔' : '✖'} ${r.name} (${r.s} s): ${c.pass} passed, ${c.fail} failed, ${c.skipped} skipped\n`,
    );
  }
}
// The last line, for CI: every pass together. A run that failed without failing a test (a crash) counts one.
const passed = results.reduce((n, r) => n + r.counts.pass, 0);
const failed = results.reduce((n, r) => n + (r.counts.fail || (r.code === 0 ? 0 : 1)), 0);
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(results.every((r) => r.code === 0) ? 0 : 1);
