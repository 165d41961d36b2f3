/**
 * Secret and env values never appear in a process's command line (issue 9 item 1): a job with a
 * secret and an env value, on the local cloud and on FluffyCloud (2 nodes: the client's ssh to the
 * head, the agent's ssh to the head and to the worker), while a sampler in a worker thread reads
 * every `/proc/*\/cmdline` of this machine in a tight loop from before the submission to after the
 * job. The emulator's nodes are namespaces on this machine: their processes are in this /proc too,
 * which the test checks by finding the running job's processes (by their environment) there.
 * The job itself still sees both values and the SKYPILOT_* variables.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { type EmulatorHandle, startEmulator } from '../helpers/fluffycloud.js';
import { pidsWithEnv, type Run, Sandbox } from './harness.js';

const SAMPLER = `
const { workerData, parentPort } = require('node:worker_threads');
const { readdirSync, readFileSync } = require('node:fs');
const { values, stop } = workerData;
const flag = new Int32Array(stop);
const hits = new Map();
let scans = 0;
while (Atomics.load(flag, 0) === 0) {
  for (const p of readdirSync('/proc')) {
    if (p.charCodeAt(0) > 57) continue;
    let cmd;
    try { cmd = readFileSync('/proc/' + p + '/cmdline', 'latin1'); } catch { continue; }
    for (const v of values) {
      const i = cmd.indexOf(v);
      if (i === -1 || hits.size >= 20) continue;
      const argv0 = cmd.slice(0, cmd.indexOf('\\0'));
      hits.set(p + ' ' + argv0, 'pid ' + p + ' ' + argv0 + ': ...' + cmd.slice(Math.max(0, i - 60), i + v.length).replace(/\\0/g, ' '));
    }
  }
  scans++;
}
parentPort.postMessage({ hits: [...hits.values()], scans });
`;

/** Reads every /proc/PID/cmdline in a loop until `stop()`; then says which held one of `values`. */
function startSampler(values: string[]) {
  const stop = new SharedArrayBuffer(4);
  const w = new Worker(SAMPLER, { eval: true, workerData: { values, stop } });
  const result = new Promise<{ hits: string[]; scans: number }>((res, rej) => {
    w.once('message', res);
    w.once('error', rej);
  });
  return {
    async stop() {
      Atomics.store(new Int32Array(stop), 0, 1);
      const r = await result;
      await w.terminate();
      return r;
    },
  };
}

const hash = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 16);

/**
 * A task with secret YS and env YE whose run checks both (by hash: the script is a command line
 * too), prints the SKYPILOT_* variables, and waits until the file `release` appears in its working
 * directory (at most ~2 minutes).
 */
function taskYaml(secret: string, env: string, release: string | null): string {
  const wait = release
    ? `  i=0; until [ -e ${release} ] || [ $i -ge 1200 ]; do sleep 0.1; i=$((i + 1)); done\n`
    : '';
  return [
    'envs:',
    `  YE: ${env}`,
    'secrets:',
    `  YS: ${secret}`,
    'run: |',
    '  h() { printf %s "$1" | sha256sum | cut -c1-16; }',
    `  [ "$(h "$YS")" = ${hash(secret)} ] && [ "$(h "$YE")" = ${hash(env)} ] && echo "env-ok rank=$SKYPILOT_NODE_RANK nodes=$SKYPILOT_NUM_NODES task=\${SKYPILOT_TASK_ID:+set} ips=\${SKYPILOT_NODE_IPS:+set}"`,
    wait,
  ].join('\n');
}

function collect(child: ChildProcess): Promise<Run> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  child.stdin!.end();
  return new Promise((res) =>
    child.on('close', (code, sig) => res({ code: code ?? (sig ? 128 : 1), stdout, stderr })),
  );
}

/** The job's own shells on this machine (their `sleep` children come and go): bash with YS=secret. */
function jobShells(secret: string): number[] {
  return pidsWithEnv('YS', secret).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'bash';
    } catch {
      return false;
    }
  });
}

/** A process's mount namespace (each FluffyCloud node has its own), or null when it is gone. */
function mountNs(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return null;
  }
}

/**
 * Waits until the job's shells run on `nodes` different nodes (mount namespaces), seen in this
 * machine's /proc; fails if the CLI ends first.
 */
async function waitJobOnNodes(secret: string, nodes: number, cli: Promise<Run>): Promise<void> {
  let ended: Run | null = null;
  void cli.then((r) => (ended = r));
  const deadline = Date.now() + 180_000;
  for (;;) {
    const seen = new Set(
      jobShells(secret)
        .map(mountNs)
        .filter((n) => n !== null),
    );
    if (seen.size >= nodes) return;
    if (ended)
      assert.fail(`the launch ended before its job ran on ${nodes} node(s): ${JSON.stringify(ended)}`);
    if (Date.now() > deadline) assert.fail(`the job did not start on ${nodes} node(s)`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Lets the waiting job go until `cli` ends: creates `name` in the working directory of its shells. */
async function releaseUntil(secret: string, name: string, cli: Promise<Run>): Promise<Run> {
  let ended: Run | null = null;
  void cli.then((r) => (ended = r));
  while (!ended) {
    for (const p of jobShells(secret)) {
      try {
        writeFileSync(`/proc/${p}/cwd/${name}`, '');
      } catch {
        // that shell has ended meanwhile
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return ended;
}

async function scenario(
  sb: Sandbox,
  opts: { cluster: string; cloud: string; nodes: number; execs: number },
): Promise<void> {
  const secret = `ys-${randomBytes(12).toString('hex')}`;
  const env = `ye-${randomBytes(12).toString('hex')}`;
  const rel = `release-${randomBytes(4).toString('hex')}`;
  const job = join(sb.dir, `${opts.cluster}-job.yaml`);
  const quick = join(sb.dir, `${opts.cluster}-quick.yaml`);
  writeFileSync(job, taskYaml(secret, env, rel));
  writeFileSync(quick, taskYaml(secret, env, null));

  const sampler = startSampler([secret, env]);
  let sampled: Awaited<ReturnType<typeof sampler.stop>> | null = null;
  try {
    const launch = collect(
      sb.spawn([
        'launch',
        '-y',
        '-c',
        opts.cluster,
        '--cloud',
        opts.cloud,
        '--num-nodes',
        String(opts.nodes),
        job,
      ]),
    );
    // The job runs on every node, and its processes are in this machine's /proc: the sampler sees them.
    await waitJobOnNodes(secret, opts.nodes, launch);
    const r = await releaseUntil(secret, rel, launch);
    assert.equal(r.code, 0, r.stderr);
    for (let rank = 0; rank < opts.nodes; rank++) {
      assert.match(r.stdout, new RegExp(`env-ok rank=${rank} nodes=${opts.nodes} task=set ips=set`));
    }
    // More submissions (each a short-lived command on the head, sampled too), then one followed.
    for (let i = 0; i < opts.execs; i++) {
      const e = await sb.run(['exec', '-d', opts.cluster, quick]);
      assert.equal(e.code, 0, e.stderr);
    }
    const e = await sb.run(['exec', opts.cluster, quick]);
    assert.equal(e.code, 0, e.stderr);
    assert.match(e.stdout, /env-ok rank=0/);
  } finally {
    sampled = await sampler.stop();
  }
  assert.ok(sampled.scans > 0);
  assert.deepEqual(sampled.hits, [], 'a secret or env value appeared in a process command line');
  assert.equal((await sb.run(['down', '-y', opts.cluster])).code, 0);
}

describe('secret and env values never appear in command lines', () => {
  test('local cloud: during submission and while the job runs', async () => {
    const sb = new Sandbox();
    try {
      mkdirSync(sb.home, { recursive: true });
      await scenario(sb, { cluster: 'argv-local', cloud: 'local', nodes: 1, execs: 15 });
    } finally {
      await sb.cleanup();
    }
  });

  describe('FluffyCloud', () => {
    const KEY = 'fc-argv-key';
    let emu: EmulatorHandle;
    const sb = new Sandbox();
    before(async () => {
      mkdirSync(sb.home, { recursive: true });
      emu = await startEmulator({ scenario: { users: { e2e: { api_key: KEY } }, boot_delay_s: 0 } });
      emu.writeCredentials(sb.home);
    });
    after(async () => {
      await sb.cleanup();
      await emu?.stop();
    });

    test('2 nodes: the client, the agent on the head and its ssh to the worker', async () => {
      await scenario(sb, { cluster: 'argv-fc', cloud: 'fluffycloud', nodes: 2, execs: 3 });
    });
  });
});
