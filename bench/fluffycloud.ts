/**
 * FluffyCloud through the real CLI against its emulator (0 s boot delay):
 * - launch → first output line for 1, 8 and 32 nodes (with a setup, which runs on every node in parallel);
 * - `exec` latency over SSH on an UP cluster;
 * - failover overhead per blocked region beyond the emulator's own reply.
 * Usage: node --import tsx bench/fluffycloud.ts [runs]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startEmulator } from '../test/helpers/fluffycloud.js';
import { BIN, firstLine, freshHome, printRows, ROOT, type Row, summarize, timeCli } from './lib.js';

const RUNS = Number(process.argv[2] ?? 3);
const KEY = 'fc-bench-key';
const scenario = (extra: object = {}) => ({ users: { bench: { api_key: KEY } }, boot_delay_s: 0, ...extra });

const h = freshHome();
mkdirSync(h.env.HOME, { recursive: true });
const emu = await startEmulator({ scenario: scenario() });
emu.writeCredentials(h.env.HOME);
const cli = (args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: h.env, cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  return r;
};
try {
  const rows: Row[] = [];
  const task = join(h.dir, 'task.yaml');
  writeFileSync(
    task,
    'resources:\n  cloud: fluffycloud\n  cpus: 2\nsetup: sleep 0.2\nrun: echo "rank $SKYPILOT_NODE_RANK"\n',
  );
  for (const n of [1, 8, 32]) {
    const xs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      xs.push(await firstLine(['launch', '-y', '-c', `n${n}-${i}`, '--num-nodes', String(n), task], h.env));
      cli(['down', '-y', `n${n}-${i}`]);
    }
    rows.push(summarize(`launch → first output, ${n} node${n > 1 ? 's' : ''} (setup 0.2 s on each)`, xs));
  }

  cli(['launch', '-y', '-c', 'ex', '--cloud', 'fluffycloud', '--cpus', '2', 'true']);
  timeCli(['exec', 'ex', 'echo hi'], h.env);
  const execs = Array.from({ length: RUNS * 3 }, () => timeCli(['exec', 'ex', 'echo hi'], h.env));
  rows.push(summarize("exec 'echo hi' over SSH (whole process)", execs, 'ms', '< 500 ms'));
  cli(['down', '-y', 'ex']);

  // Failover: the cheapest region (fluffy-east for 2 CPUs) has no capacity; compare with launching
  // straight into the region it fails over to, and subtract the emulator's own 503 reply time.
  const direct: number[] = [];
  const failover: number[] = [];
  const reply: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    direct.push(
      timeCli(
        [
          'launch',
          '-y',
          '-c',
          `d${i}`,
          '--cloud',
          'fluffycloud',
          '--region',
          'fluffy-west',
          '--cpus',
          '2',
          'true',
        ],
        h.env,
      ),
    );
    cli(['down', '-y', `d${i}`]);
    await emu.setScenario(scenario({ regions: { 'fluffy-east': { capacity: { '*': 0 } } } }));
    const t = process.hrtime.bigint();
    const res = await fetch(`${emu.url}/v1/instances`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'probe',
        instance_type: 'ff.small',
        region: 'fluffy-east',
        ssh_key_name: 'none',
      }),
    });
    await res.text();
    reply.push(Number(process.hrtime.bigint() - t) / 1e6);
    failover.push(
      timeCli(['launch', '-y', '-c', `f${i}`, '--cloud', 'fluffycloud', '--cpus', '2', 'true'], h.env),
    );
    cli(['down', '-y', `f${i}`]);
    await emu.setScenario(scenario());
  }
  rows.push(summarize('launch straight into fluffy-west (whole process)', direct));
  rows.push(summarize('launch failing over fluffy-east → fluffy-west (whole process)', failover));
  rows.push(summarize("the emulator's own capacity-error reply", reply));
  const overhead = failover.map((f, i) => f - direct[i] - reply[i]);
  rows.push(summarize('failover overhead per blocked region, beyond the reply', overhead, 'ms', '< 200 ms'));
  printRows('FluffyCloud (emulator, 0 s boot delay)', rows);
} finally {
  spawnSync(process.execPath, [BIN, 'down', '-a', '-y', '--purge'], { env: h.env, cwd: ROOT });
  await emu.stop();
  h.dispose();
}
