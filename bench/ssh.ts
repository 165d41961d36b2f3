/**
 * The SSH runner against a real local sshd (test/helpers/sshd.ts; needs root, sshd and unshare):
 * - first command of a runner with no master (connect: `ssh true`, then the command);
 * - first command of a new runner while a master is alive (one ssh call on it, no connect);
 * - a command on the master (the cost of every later command);
 * - upload of a 64 KiB file, syncDir of a 20-file directory with nothing changed.
 * Usage: node --import tsx bench/ssh.ts [runs]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { masterAlive, SshRunner } from '../src/runtime/ssh-runner.js';
import { createSshd, sshdUnavailable } from '../test/helpers/sshd.js';
import { printRows, type Row, summarize } from './lib.js';

const RUNS = Number(process.argv[2] ?? 20);
const why = sshdUnavailable();
if (why) {
  console.log(`\n### SSH runner\n\nskipped: ${why}`);
  process.exit(0);
}

const root = mkdtempSync(join(tmpdir(), 'skyhop-bench-ssh-'));
process.env.SKYHOP_HOME = join(root, 'skyhop');
const sshd = await createSshd();
const runners: SshRunner[] = [];
const runner = () => {
  const r = new SshRunner(sshd.connection);
  runners.push(r);
  return r;
};
const ms = async (fn: () => Promise<unknown>) => {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
};
const ok = async (r: SshRunner, cmd: string) => {
  const res = await r.run(cmd);
  if (res.code !== 0) throw new Error(`${cmd}: exit ${res.code}: ${res.stderr}`);
};

try {
  const rows: Row[] = [];
  const warm = runner();
  await ok(warm, 'true'); // sshd's and ssh's binaries in the page cache

  const connect: number[] = [];
  for (let i = 0; i < Math.min(RUNS, 10); i++) {
    const r = runner();
    await r.stopMaster();
    await waitMasterGone(r);
    connect.push(await ms(() => ok(r, 'true')));
  }
  rows.push(summarize('first command, no master (connect + command)', connect));

  const live = runner();
  await ok(live, 'true');
  const ride: number[] = [];
  for (let i = 0; i < RUNS; i++) ride.push(await ms(() => ok(runner(), 'true')));
  rows.push(summarize('first command of a new runner, master alive', ride));

  const next: number[] = [];
  for (let i = 0; i < RUNS; i++) next.push(await ms(() => ok(live, 'true')));
  rows.push(summarize('a command on the master', next));

  const file = join(root, 'payload.bin');
  writeFileSync(file, Buffer.alloc(64 * 1024, 7));
  const up: number[] = [];
  for (let i = 0; i < RUNS; i++) up.push(await ms(() => live.upload(file, '~/bench/payload.bin')));
  rows.push(summarize('upload 64 KiB', up));

  const dir = join(root, 'tree');
  mkdirSync(dir);
  for (let i = 0; i < 20; i++) writeFileSync(join(dir, `f${i}.txt`), `file ${i}\n`.repeat(100));
  await live.syncDir(dir, '~/bench/tree');
  const sync: number[] = [];
  for (let i = 0; i < RUNS; i++) sync.push(await ms(() => live.syncDir(dir, '~/bench/tree')));
  rows.push(summarize('syncDir 20 files, unchanged', sync));

  printRows('SSH runner (local sshd)', rows);
} finally {
  for (const r of runners) await r.stopMaster().catch(() => {});
  await sshd.destroy();
  rmSync(root, { recursive: true, force: true });
}

async function waitMasterGone(r: SshRunner): Promise<void> {
  const end = Date.now() + 10_000;
  while (await masterAlive(r.controlPath())) {
    if (Date.now() > end) throw new Error('the master did not stop');
    await new Promise((res) => setTimeout(res, 10));
  }
}
