/**
 * Managed jobs through the real CLI (the jobs controller on the local cloud, the default):
 * - `jobs launch` → first output on a warm controller, against a plain `launch` of the same command
 *   (local cloud and FluffyCloud at 0 s boot delay), alternating A/B;
 * - a FluffyCloud spot instance preempted by the emulator's admin call: → detected by the controller,
 *   and → the job running again on a new cluster (the emulator boots in 0 s, so this is all skyhop's);
 * - 20 concurrent managed jobs on one controller: the controller process's CPU and memory per job.
 * Usage: node --import tsx bench/managed-jobs.ts [runs]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startEmulator } from '../test/helpers/fluffycloud.js';
import { BIN, firstLine, freshHome, printRows, ROOT, type Row, summarize } from './lib.js';

const RUNS = Number(process.argv[2] ?? 5);
const KEY = 'fc-bench-key';
const scenario = { users: { bench: { api_key: KEY } }, boot_delay_s: 0 };

const h = freshHome();
mkdirSync(h.env.SKYHOP_HOME, { recursive: true });
mkdirSync(h.env.HOME, { recursive: true });
writeFileSync(
  join(h.env.SKYHOP_HOME, 'config.yaml'),
  'jobs:\n  controller:\n    poll_interval_seconds: 0.5\n',
);
const emu = await startEmulator({ scenario });
emu.writeCredentials(h.env.HOME);
const cli = (args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: h.env, cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  return r;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Job {
  id: number;
  status: string;
  phase: string;
  tasks: Array<{ cluster: string | null; status: string }>;
}
const queue = (): Job[] => JSON.parse(cli(['jobs', 'queue', '--json']).stdout) as Job[];
async function waitFor(pred: (jobs: Job[]) => boolean, what: string, ms = 120_000): Promise<Job[]> {
  const end = Date.now() + ms;
  for (;;) {
    const q = queue();
    if (pred(q)) return q;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** The controller's log of job `id`, as [ms since the epoch, line] pairs. */
function controllerLog(id: number): Array<[number, string]> {
  const text = cli(['jobs', 'logs', '--controller', '--no-follow', String(id)]).stdout;
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => [Date.parse(l.slice(0, 24)), l.slice(25)] as [number, string]);
}

/** pid of the controller's serve process (its command line names this sandbox's node). */
function servePid(): number {
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ');
      // The node process itself, not the bash loop of its agent job (whose command line names it too).
      if (!cmd.includes('jobs-controller serve') || cmd.includes('while')) continue;
      const env = readFileSync(`/proc/${p}/environ`, 'utf8');
      if (env.includes(h.env.SKYHOP_HOME)) return Number(p);
    } catch {
      // gone
    }
  }
  throw new Error('no serving controller found');
}

/**
 * CPU seconds (user + system) of a process, and with its ended child processes (the commands it runs
 * on the nodes: a local node's are children), and its RSS (MiB).
 */
function usage(pid: number): { cpuS: number; allS: number; rssMiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const own = Number(f[11]) + Number(f[12]);
  const children = Number(f[13]) + Number(f[14]);
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuS: own / 100, allS: (own + children) / 100, rssMiB: Number(rss?.[1] ?? 0) / 1024 };
}

try {
  const rows: Row[] = [];
  // Warm the controller (its first launch starts the cluster and its process).
  cli(['jobs', 'launch', '-y', 'true']);

  for (const cloud of ['local', 'fluffycloud']) {
    const plain: number[] = [];
    const managed: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      plain.push(
        await firstLine(['launch', '-y', '-c', `p${i}`, '--cloud', cloud, '--down', 'echo hi'], h.env),
      );
      managed.push(await firstLine(['jobs', 'launch', '-y', '--cloud', cloud, 'echo hi'], h.env));
    }
    rows.push(summarize(`${cloud}: plain \`launch\` → first output`, plain));
    rows.push(summarize(`${cloud}: \`jobs launch\` → first output, warm controller`, managed));
    const extra = managed.map((m, i) => m - plain[i]!);
    rows.push(
      summarize(`${cloud}: \`jobs launch\` beyond the plain launch (pairwise)`, extra, 'ms', '≤ 2000 ms'),
    );
  }
  await waitFor((q) => q.every((j) => j.phase === 'idle'), 'the jobs to be cleaned up');

  // Preemption on FluffyCloud spot.
  const detect: number[] = [];
  const again: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const out = cli(['jobs', 'launch', '-y', '-d', '--cloud', 'fluffycloud', '--use-spot', 'sleep 600']);
    const id = Number(/Managed job ID: (\d+)/.exec(out.stderr)?.[1]);
    await waitFor((q) => q.find((j) => j.id === id)?.status === 'RUNNING', `job ${id} RUNNING`);
    const st = (await emu.adminState()).instances as Record<string, { status: string; name?: string }>;
    const live = Object.entries(st).filter(([, v]) => v.status === 'running');
    const mine = live.filter(([, v]) => (v.name ?? '').includes(`-${id}`));
    const target = (mine[0] ?? live[live.length - 1])![0];
    const t0 = Date.now();
    const r = await fetch(`${emu.url}/admin/instances/${target}/preempt`, {
      method: 'POST',
      headers: { authorization: `Bearer ${emu.adminToken}` },
    });
    if (!r.ok) throw new Error(`preempt failed: ${r.status}`);
    await waitFor((q) => {
      const j = q.find((x) => x.id === id);
      return j?.status === 'RUNNING' && controllerLog(id).some(([, l]) => l.includes('RECOVERING'));
    }, `job ${id} running again`);
    const log = controllerLog(id).filter(([t]) => t >= t0 - 5);
    const pre = log.find(([, l]) => l.includes('preempted'));
    const run = log.find(([, l]) => /RUNNING/.test(l) && !l.includes('RECOVERING'));
    if (!pre || !run) throw new Error(`job ${id}: no preemption/recovery lines in the controller log`);
    detect.push(pre[0] - t0);
    again.push(run[0] - t0);
    cli(['jobs', 'cancel', '-y', String(id)]);
  }
  rows.push(summarize('FluffyCloud spot preempted → detected by the controller', detect, 'ms', '≤ 3000 ms'));
  rows.push(
    summarize(
      'FluffyCloud spot preempted → job running again (boot 0 s)',
      again,
      'ms',
      '≤ 5000 ms beyond boot',
    ),
  );
  await waitFor((q) => q.every((j) => j.phase === 'idle'), 'the cancelled jobs to be cleaned up');

  // 20 concurrent jobs on one controller.
  const pid0 = servePid();
  const one = cli(['jobs', 'launch', '-y', '-d', 'sleep 600']);
  const firstId = Number(/Managed job ID: (\d+)/.exec(one.stderr)?.[1]);
  await waitFor((q) => q.find((j) => j.id === firstId)?.status === 'RUNNING', 'one job RUNNING');
  await sleep(2000);
  const a1 = usage(pid0);
  await sleep(10_000);
  const b1 = usage(pid0);
  for (let i = 1; i < 20; i++) cli(['jobs', 'launch', '-y', '-d', 'sleep 600']);
  await waitFor((q) => q.filter((j) => j.status === 'RUNNING').length >= 20, '20 jobs RUNNING', 300_000);
  await sleep(2000);
  const a20 = usage(pid0);
  await sleep(10_000);
  const b20 = usage(pid0);
  const pct = (a: number, b: number) => ((b - a) / 10) * 100;
  const cpu1 = pct(a1.cpuS, b1.cpuS);
  const cpu20 = pct(a20.cpuS, b20.cpuS);
  const all1 = pct(a1.allS, b1.allS);
  const all20 = pct(a20.allS, b20.allS);
  console.log('\n### One controller, 1 vs 20 running managed jobs (local cloud, poll 0.5 s)\n');
  console.log(
    '| jobs | controller CPU (% of a core) | per job | with its child processes | per job | controller RSS | per job beyond 1 |',
  );
  console.log('|---|---|---|---|---|---|---|');
  console.log(
    `| 1 | ${cpu1.toFixed(1)} % | ${cpu1.toFixed(1)} % | ${all1.toFixed(1)} % | ${all1.toFixed(1)} % | ${b1.rssMiB.toFixed(0)} MiB | |`,
  );
  console.log(
    `| 20 | ${cpu20.toFixed(1)} % | ${(cpu20 / 20).toFixed(2)} % | ${all20.toFixed(1)} % | ${(all20 / 20).toFixed(2)} % | ${b20.rssMiB.toFixed(0)} MiB | ${((b20.rssMiB - b1.rssMiB) / 19).toFixed(1)} MiB |`,
  );
  cli(['jobs', 'cancel', '-a', '-y']);
  await waitFor((q) => q.every((j) => j.phase === 'idle'), 'every job cleaned up', 300_000);
  printRows('Managed jobs (`bench/managed-jobs.ts`)', rows);
} finally {
  spawnSync(process.execPath, [BIN, 'jobs', 'cancel', '-a', '-y'], { env: h.env, cwd: ROOT });
  await sleep(3000);
  spawnSync(process.execPath, [BIN, 'down', '-a', '-y'], { env: h.env, cwd: ROOT });
  await emu.stop();
  h.dispose();
}
