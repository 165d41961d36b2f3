/**
 * What the AWS SDK costs a command: whole-process wall time of `--help`, `status` and `check aws`
 * without and with AWS credentials in the environment (none of them may load the SDK, and none
 * talks to AWS), and, in process, the time to import the SDK's bundled chunk the first time a
 * command does need it (`dist/`, as the CLI loads it).
 * Usage: npm run build && node --import tsx bench/aws-load.ts [runs]
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { freshHome, printRows, type Row, ROOT, summarize, timeCli } from './lib.js';

const RUNS = Number(process.argv[2] ?? 10);
const h = freshHome();
try {
  const withAws = {
    ...h.env,
    AWS_ACCESS_KEY_ID: 'AKIABENCHBENCHBENCH0',
    AWS_SECRET_ACCESS_KEY: 'bench-secret',
  };
  const rows: Row[] = [];
  const measure = (what: string, args: string[], env: Record<string, string>) => {
    timeCli(args, env); // warm the page cache and the parsed catalogs
    rows.push(
      summarize(
        what,
        Array.from({ length: RUNS }, () => timeCli(args, env)),
      ),
    );
  };
  measure('skyhop --help, no AWS credentials', ['--help'], h.env);
  measure('skyhop --help, AWS credentials in the environment', ['--help'], withAws);
  measure('skyhop status, no AWS credentials', ['status'], h.env);
  measure('skyhop status, AWS credentials in the environment', ['status'], withAws);
  measure('skyhop check aws, AWS credentials in the environment', ['check', 'aws'], withAws);

  // The EC2 SDK as the built CLI imports it on first use: its bundled chunk in dist/chunks.
  const chunks = join(ROOT, 'dist', 'chunks');
  const ec2Chunk = readdirSync(chunks)
    .filter((f) => f.endsWith('.js'))
    .map((f) => join(chunks, f))
    .find((f) => statSync(f).size > 1_000_000 && readFileSync(f, 'utf8').includes('EC2Client'));
  if (!ec2Chunk) throw new Error('no bundled EC2 SDK chunk in dist/chunks: run `npm run build` first');
  const importMs = (file: string) => {
    const probe = `const t = process.hrtime.bigint(); await import(${JSON.stringify(file)}); console.log(Number(process.hrtime.bigint() - t) / 1e6);`;
    const r = spawnSync(process.execPath, ['--no-warnings', '--input-type=module', '-e', probe], {
      encoding: 'utf8',
      env: h.env,
    });
    if (r.status !== 0) throw new Error(r.stderr);
    return Number(r.stdout.trim().split('\n').pop());
  };
  rows.push(
    summarize(
      'import the bundled EC2 SDK chunk (fresh process)',
      Array.from({ length: RUNS }, () => importMs(ec2Chunk)),
    ),
  );
  const unbundled = join(ROOT, 'node_modules', '@aws-sdk', 'client-ec2', 'dist-cjs', 'index.js');
  rows.push(
    summarize(
      'import @aws-sdk/client-ec2 unbundled (fresh process)',
      Array.from({ length: RUNS }, () => importMs(unbundled)),
    ),
  );
  printRows('The cost of the AWS SDK', rows);
} finally {
  h.dispose();
}
