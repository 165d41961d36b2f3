/**
 * The local cloud's hot paths, through the real CLI and SDK:
 * - launch of examples/hello.yaml until its first output line (fresh cluster each run);
 * - `exec CLUSTER 'echo hi'` on an UP cluster until its output;
 * - 200 jobs submitted to one cluster through the SDK: submissions per second, and the time
 *   until all of them have finished.
 * Usage: node --import tsx bench/launch.ts [runs]
 */
import { spawnSync } from 'node:child_process';
import { BIN, firstLine, freshHome, printRows, ROOT, type Row, summarize, timeCli } from './lib.js';

const RUNS = Number(process.argv[2] ?? 5);

const h = freshHome();
const cli = (args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: h.env, cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  return r;
};
try {
  const rows: Row[] = [];
  const launches: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    launches.push(await firstLine(['launch', '-y', '-c', `b${i}`, 'examples/hello.yaml'], h.env));
    cli(['down', '-y', `b${i}`]);
  }
  rows.push(
    summarize('launch hello.yaml → first output line (new local cluster)', launches, 'ms', '< 2000 ms'),
  );

  cli(['launch', '-y', '-c', 'bench', 'examples/hello.yaml']);
  timeCli(['exec', 'bench', 'echo hi'], h.env);
  const execs = Array.from({ length: RUNS * 2 }, () => timeCli(['exec', 'bench', 'echo hi'], h.env));
  rows.push(summarize("exec 'echo hi' on an UP cluster (whole process)", execs, 'ms', '< 300 ms'));
  const statuses = Array.from({ length: RUNS * 2 }, () => timeCli(['status'], h.env));
  rows.push(summarize('status (1 cluster)', statuses, 'ms', '< 150 ms'));

  // 200 submissions through the SDK path `exec -d` uses, in one process.
  process.env.SKYHOP_HOME = h.env.SKYHOP_HOME;
  const { openStore } = await import('../src/state/index.js');
  const { submitTask } = await import('../src/sdk/jobs.js');
  const { getQueue } = await import('../src/agent/client.js');
  const { headRunner } = await import('../src/sdk/clusters.js');
  const { taskFromCommand } = await import('../src/task/index.js');
  const store = openStore(h.env.SKYHOP_HOME);
  const rec = store.getCluster('bench')!;
  const task = taskFromCommand('true').tasks[0];
  const N = 200;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    await submitTask(store, rec, task, { withSetup: false, demand: { cpus: 0.5, accelerators: null } });
  }
  const submitMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const head = headRunner(rec);
  for (;;) {
    const q = await getQueue(head);
    if (q.filter((j) => j.status === 'SUCCEEDED').length >= N + 1) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const allDoneMs = Number(process.hrtime.bigint() - t0) / 1e6;
  await head.close();
  rows.push(
    summarize(
      `${N} jobs submitted (SDK, serial): submissions per second`,
      [(N * 1000) / submitMs],
      '/s',
      '≥ 50 /s',
    ),
  );
  rows.push(summarize(`${N} jobs: first submission → all SUCCEEDED`, [allDoneMs], 'ms'));
  cli(['down', '-y', 'bench']);
  printRows('Local cloud: launch, exec, status, job throughput', rows);
} finally {
  spawnSync(process.execPath, [BIN, 'down', '-a', '-y', '--purge'], { env: h.env, cwd: ROOT });
  h.dispose();
}
