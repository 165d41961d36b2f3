/**
 * Whole-process wall time of CLI commands that must feel instant: --help, optimize over every
 * cloud (one task and a 20-task chain), status with 50 clusters in state.
 * Usage: node --import tsx bench/cli.ts [runs]
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freshHome, printRows, type Row, summarize, timeCli } from './lib.js';

const RUNS = Number(process.argv[2] ?? 10);
const h = freshHome();
try {
  const a100 = join(h.dir, 'a100.yaml');
  writeFileSync(a100, 'resources:\n  accelerators: A100:8\nrun: python train.py\n');
  const cpu = join(h.dir, 'cpu.yaml');
  writeFileSync(cpu, 'resources:\n  cpus: 4+\nrun: echo hi\n');
  const chain = join(h.dir, 'chain.yaml');
  const accs = ['A100:8', 'V100:4', 'T4:1', 'L4:1', 'H100:8'];
  const docs = ['name: pipeline'];
  for (let i = 0; i < 20; i++) {
    docs.push(
      `name: step${i}\nresources:\n  accelerators: ${accs[i % accs.length]}\noutputs:\n  s3://bucket/out${i}: ${10 + i}\nrun: echo ${i}`,
    );
  }
  writeFileSync(chain, `${docs.join('\n---\n')}\n`);

  const rows: Row[] = [];
  const measure = (what: string, args: string[], target?: string) => {
    const cold = timeCli(args, h.env); // first run of a fresh SKYHOP_HOME (parsed catalog cache written)
    const xs = Array.from({ length: RUNS }, () => timeCli(args, h.env));
    rows.push(summarize(what, xs, 'ms', target));
    rows.push(summarize(`${what} (first run, fresh SKYHOP_HOME)`, [cold]));
  };
  measure('skyhop --help', ['--help'], '< 150 ms');
  measure('skyhop optimize --all-clouds (A100:8)', ['optimize', '--all-clouds', a100], '< 300 ms');
  measure('skyhop optimize --all-clouds (cpus: 4+)', ['optimize', '--all-clouds', cpu], '< 300 ms');
  measure('skyhop optimize --all-clouds (20-task chain)', ['optimize', '--all-clouds', chain]);

  // status with 50 clusters on record.
  const { openStore } = await import('../src/state/index.js');
  process.env.SKYHOP_HOME = h.env.SKYHOP_HOME;
  const store = openStore(h.env.SKYHOP_HOME);
  for (let i = 0; i < 50; i++) {
    store.upsertCluster({
      name: `c${i}`,
      cloud: 'local',
      region: 'local',
      zone: null,
      status: 'UP',
      resources: {
        instanceType: 'local',
        accelerators: null,
        useSpot: false,
        vcpus: 2,
        memoryGiB: 8,
        numNodes: 1,
      },
      nodes: [],
      launchedAt: Date.now() - i * 60_000,
      statusUpdatedAt: Date.now(),
      hourlyPrice: 0,
      autostop: null,
      headIp: `127.0.0.${i + 2}`,
    });
  }
  store.close();
  measure('skyhop status (50 clusters)', ['status'], '< 150 ms');
  rows.push(
    summarize(
      'node -e 0 (floor)',
      Array.from({ length: RUNS }, () => {
        const t = process.hrtime.bigint();
        spawnSync(process.execPath, ['-e', '0']);
        return Number(process.hrtime.bigint() - t) / 1e6;
      }),
    ),
  );
  printRows('CLI wall time (whole process)', rows);
} finally {
  h.dispose();
}
