/** Runs every benchmark in turn; paste the output into docs/benchmarks.md with the machine noted. */
import { spawnSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';

console.log(
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
);
for (const script of [
  'bench/cli.ts',
  'bench/optimizer.ts',
  'bench/launch.ts',
  'bench/fluffycloud.ts',
  'bench/ssh.ts',
  'bench/parse.ts',
]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', script], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
