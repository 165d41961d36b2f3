/**
 * The local cloud end to end, through the real CLI: real processes, real agent daemon, real
 * SQLite state. Each test has its own SKYHOP_HOME and HOME, and tears down what it launched.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pidsUnder, Sandbox, waitFor } from './harness.js';

function yaml(sb: Sandbox, name: string, text: string): string {
  const p = join(sb.dir, name);
  writeFileSync(p, text);
  return p;
}

async function statusJson(sb: Sandbox): Promise<Array<{ name: string; status: string; num_nodes: number }>> {
  const r = await sb.run(['status', '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).clusters;
}

async function queueJson(sb: Sandbox, cluster: string) {
  const r = await sb.run(['queue', cluster, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout)[cluster] as Array<{
    id: number;
    status: string;
    startedAt?: number;
    endedAt?: number;
    exitCode?: number;
    reason?: string;
  }>;
}

describe('local cloud, end to end', () => {
  const sb = new Sandbox({ SKYHOP_LOCAL_CPUS: '2' });
  before(() => mkdirSync(sb.home, { recursive: true }));
  after(() => sb.cleanup());

  test('hello world: launch runs the job, prints its output, and down leaves no process behind', async () => {
    const r = await sb.run(['launch', '-y', '-c', 'hello', 'examples/hello.yaml']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /hello from skyhop/);
    const st = await statusJson(sb);
    assert.deepEqual(
      st.map((c) => [c.name, c.status]),
      [['hello', 'UP']],
    );
    assert.ok(pidsUnder(join(sb.skyhopHome, 'local')).length > 0, 'the agent runs on the head node');
    const d = await sb.run(['down', '-y', 'hello']);
    assert.equal(d.code, 0, d.stderr);
    assert.deepEqual(pidsUnder(join(sb.skyhopHome, 'local')), []);
    assert.deepEqual(await statusJson(sb), []);
  });

  test('a 2-node job: each rank prints its rank and both node IPs', async () => {
    const f = yaml(
      sb,
      'two.yaml',
      'num_nodes: 2\nrun: |\n  echo "rank=$SKYPILOT_NODE_RANK n=$SKYPILOT_NUM_NODES ips=$(echo $SKYPILOT_NODE_IPS)"\n',
    );
    const r = await sb.run(['launch', '-y', '-c', 'two', f]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n').filter((l) => l.includes('rank='));
    assert.equal(lines.length, 2, r.stdout);
    const ips = lines[0]
      .match(/ips=(.*)$/)![1]
      .trim()
      .split(' ');
    assert.equal(ips.length, 2);
    assert.notEqual(ips[0], ips[1]);
    for (const ip of ips) assert.match(ip, /^127\.\d+\.\d+\.\d+$/);
    assert.ok(lines.some((l) => /rank=0 n=2/.test(l)));
    assert.ok(lines.some((l) => /rank=1 n=2/.test(l)));
    for (const l of lines) assert.ok(l.endsWith(`ips=${ips.join(' ')}`), l);
    // Multi-node output is prefixed with the rank.
    assert.ok(
      lines.some((l) => /rank=1/.test(l) && /\(worker1, rank=1\)/.test(l)),
      r.stdout,
    );
    assert.equal((await sb.run(['down', '-y', 'two'])).code, 0);
  });

  test("exec after a launch with a workdir runs in ~/sky_workdir, as SkyPilot's jobs do", async () => {
    const wd = join(sb.dir, 'wd');
    mkdirSync(wd, { recursive: true });
    writeFileSync(join(wd, 'eval.sh'), 'echo evaluated-from-workdir\n');
    const f = yaml(sb, 'wd.yaml', `workdir: ${wd}\nrun: echo launched\n`);
    assert.equal((await sb.run(['launch', '-y', '-c', 'wd', f])).code, 0);
    const e = await sb.run(['exec', 'wd', 'bash eval.sh; pwd']);
    assert.equal(e.code, 0, e.stderr);
    assert.match(e.stdout, /evaluated-from-workdir\n.*\/sky_workdir\n/);
    // A task without a workdir starts there too (the folder is made when missing).
    const plain = await sb.run(['launch', '-y', '-c', 'nowd', 'pwd']);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /\/sky_workdir\n/);
    assert.equal((await sb.run(['down', '-y', 'wd', 'nowd'])).code, 0);
  });

  test('exec racing a down: says the cluster is being torn down, not what the vanishing node printed', async () => {
    assert.equal((await sb.run(['launch', '-y', '-c', 'race', 'echo up'])).code, 0);
    const running = sb.run(['exec', 'race', 'echo started; sleep 60']);
    // Wait for the job to be running, then tear the cluster down under it.
    for (let i = 0; i < 100; i++) {
      const q = await queueJson(sb, 'race');
      if (q.some((j) => j.status === 'RUNNING' && j.id === 2)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await sb.run(['down', '-y', 'race'])).code, 0);
    const e = await running;
    assert.equal(e.code, 2, e.stderr);
    assert.match(
      e.stderr,
      /^error: cluster race (is being torn down \(by pid \d+: skyhop down -y race\)|was torn down); job 2 ended with it$/m,
    );
    assert.doesNotMatch(e.stderr, /Cannot read the log|No such file or directory|exit code 137/);
  });

  test('a failing setup ends the job FAILED_SETUP with a clear message', async () => {
    const f = yaml(sb, 'badsetup.yaml', 'setup: |\n  echo preparing\n  exit 7\nrun: echo never-runs\n');
    const r = await sb.run(['launch', '-y', '-c', 'bad', f]);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout, /preparing/);
    assert.doesNotMatch(r.stdout, /never-runs/);
    assert.match(r.stderr, /FAILED_SETUP/);
    assert.match(r.stderr, /setup/i);
    const q = await queueJson(sb, 'bad');
    assert.equal(q[0].status, 'FAILED_SETUP');
    assert.equal((await sb.run(['down', '-y', 'bad'])).code, 0);
  });

  test('exec reuses a cluster; queue, logs, cancel', async () => {
    const r = await sb.run(['launch', '-y', '-c', 'q', 'examples/hello.yaml']);
    assert.equal(r.code, 0, r.stderr);
    const e = await sb.run(['exec', 'q', 'echo exec-says-$((6*7))']);
    assert.equal(e.code, 0, e.stderr);
    assert.match(e.stdout, /exec-says-42/);
    assert.doesNotMatch(e.stderr, /Launching/);
    const failing = await sb.run(['exec', 'q', 'exit 3']);
    assert.equal(failing.code, 3);

    // Two jobs of 2 CPUs each cannot run at once on a 2-CPU node; a third waits behind them.
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await sb.run(['exec', 'q', '-d', '--cpus', '2', `sleep 1; echo job-${i}`]);
      assert.equal(s.code, 0, s.stderr);
      ids.push(Number(s.stderr.match(/Job (\d+)/)![1]));
    }
    const done = await waitFor('the 3 jobs to finish', async () => {
      const q = await queueJson(sb, 'q');
      const mine = q.filter((j) => ids.includes(j.id));
      return mine.every((j) => j.status === 'SUCCEEDED') && mine;
    });
    const byId = done.sort((a, b) => a.id - b.id);
    for (let i = 1; i < byId.length; i++) {
      assert.ok(
        byId[i].startedAt! >= byId[i - 1].endedAt!,
        `job ${byId[i].id} overlapped job ${byId[i - 1].id}`,
      );
    }
    const logs = await sb.run(['logs', 'q', String(ids[2]), '--no-follow']);
    assert.match(logs.stdout, /job-2/);

    // Cancel a long job, including a daemonised grandchild.
    const long = await sb.run(['exec', 'q', '-d', 'setsid nohup sleep 1000 >/dev/null 2>&1 & sleep 1000']);
    const longId = Number(long.stderr.match(/Job (\d+)/)![1]);
    await waitFor(
      'the long job to run',
      async () => (await queueJson(sb, 'q')).find((j) => j.id === longId)?.status === 'RUNNING',
    );
    const c = await sb.run(['cancel', 'q', String(longId)]);
    assert.equal(c.code, 0, c.stderr);
    await waitFor(
      'the cancel',
      async () => (await queueJson(sb, 'q')).find((j) => j.id === longId)?.status === 'CANCELLED',
    );
    await waitFor('no sleep 1000 left', () =>
      pidsUnder(join(sb.skyhopHome, 'local')).every((p) => {
        try {
          return !readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('sleep\u00001000');
        } catch {
          return true;
        }
      }),
    );
    assert.equal((await sb.run(['down', '-y', 'q'])).code, 0);
  });

  test('launch -c with resources the existing cluster lacks is refused clearly', async () => {
    assert.equal((await sb.run(['launch', '-y', '-c', 'small', 'examples/hello.yaml'])).code, 0);
    const r = await sb.run(['launch', '-y', '-c', 'small', '--num-nodes', '3', 'examples/hello.yaml']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cluster small exists with .*needs 3 nodes/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal((await sb.run(['down', '-y', 'small'])).code, 0);
  });

  test('two concurrent launches of one name make one cluster and both jobs run', async () => {
    const [a, b] = await Promise.all([
      sb.run(['launch', '-y', '-c', 'twin', 'echo first-run']),
      sb.run(['launch', '-y', '-c', 'twin', 'echo second-run']),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.match(a.stdout + b.stdout, /first-run/);
    assert.match(a.stdout + b.stdout, /second-run/);
    const st = await statusJson(sb);
    assert.equal(st.filter((c) => c.name === 'twin').length, 1);
    const nodesDir = join(sb.skyhopHome, 'local', 'clusters', 'twin');
    assert.equal(readdirSync(nodesDir).length, 1, 'one node, not two');
    assert.equal((await sb.run(['down', '-y', 'twin'])).code, 0);
  });

  test('autostop stops an idle cluster, and start brings it back', async () => {
    const r = await sb.run(['launch', '-y', '-c', 'auto', '-i', '0.05', 'examples/hello.yaml']);
    assert.equal(r.code, 0, r.stderr);
    await waitFor(
      'autostop',
      async () => (await statusJson(sb)).find((c) => c.name === 'auto')?.status === 'STOPPED',
      60_000,
    );
    assert.deepEqual(pidsUnder(join(sb.skyhopHome, 'local', 'clusters', 'auto')), []);
    const s = await sb.run(['start', '-y', 'auto']);
    assert.equal(s.code, 0, s.stderr);
    const e = await sb.run(['exec', 'auto', 'echo back']);
    assert.match(e.stdout, /back/);
    assert.equal((await sb.run(['down', '-y', 'auto'])).code, 0);
    const report = await sb.run(['cost-report', '--json']);
    assert.ok(JSON.parse(report.stdout).clusters.some((c: { cluster: string }) => c.cluster === 'auto'));
  });

  test('launch --down tears the cluster down when the job ends', async () => {
    const r = await sb.run(['launch', '-y', '-c', 'once', '--down', 'echo one-shot']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /one-shot/);
    assert.equal(
      (await statusJson(sb)).some((c) => c.name === 'once'),
      false,
    );
    assert.deepEqual(pidsUnder(join(sb.skyhopHome, 'local', 'clusters', 'once')), []);
  });
});

describe('bad input gets a clear error and loses nothing', () => {
  const sb = new Sandbox();
  after(() => sb.cleanup());

  test('a YAML typo names file, line and the nearest field; exit 1, no stack trace', async () => {
    mkdirSync(sb.dir, { recursive: true });
    const f = join(sb.dir, 'typo.yaml');
    writeFileSync(f, 'name: t\nreources:\n  cpus: 2\nrun: echo hi\n');
    const r = await sb.run(['launch', '-y', f]);
    assert.equal(r.code, 1);
    // The path as given (through a team server too: not the server's copy of the file).
    assert.ok(r.stderr.includes(`error: ${f}:2:1`), r.stderr);
    assert.match(r.stderr, /did you mean 'resources'/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.deepEqual(await statusJson(sb), []);
  });

  test('a request the machine cannot hold says so', async () => {
    const r = await sb.run(['launch', '-y', '--cpus', '4096', 'echo hi']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /4096/);
    assert.deepEqual(await statusJson(sb), []);
  });

  test('unknown cluster, bad job id, invalid cluster name', async () => {
    const a = await sb.run(['exec', 'nope', 'echo hi']);
    assert.equal(a.code, 1);
    assert.match(a.stderr, /cluster "nope" does not exist/);
    const b = await sb.run(['launch', '-y', '-c', 'bad name;rm', 'echo hi']);
    assert.equal(b.code, 1);
    assert.match(b.stderr, /invalid cluster name/);
  });
});

describe('shell injection and secrets', () => {
  const sb = new Sandbox();
  after(() => sb.cleanup());

  test('hostile env values, paths and names are passed literally and never executed', async () => {
    mkdirSync(sb.home, { recursive: true });
    const canary = join(sb.dir, 'PWNED');
    const payloads = [
      `$(touch ${canary})`,
      `\`touch ${canary}\``,
      `'; touch ${canary}; echo '`,
      `"; touch ${canary}; echo "`,
      `a\ntouch ${canary}\n`,
      `$HOME && touch ${canary}`,
    ];
    const dir = join(sb.dir, `work dir 'q' $(touch ${canary.replace(/\//g, '_')})`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `file "x" \`y\`.txt`), 'payload-file');
    const envs = payloads.map((p, i) => `  V${i}: ${JSON.stringify(p)}`).join('\n');
    const f = join(sb.dir, 'inject.yaml');
    writeFileSync(
      f,
      `name: ${JSON.stringify(`n$(touch ${canary})`)}\nworkdir: ${JSON.stringify(dir)}\nenvs:\n${envs}\nrun: |\n  for i in 0 1 2 3 4 5; do eval "printf '%s|' \\"\\$V$i\\""; done; echo; ls\n`,
    );
    const r = await sb.run(['launch', '-y', '-c', 'inj', f]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(existsSync(canary), false, 'a payload was executed');
    for (const p of payloads.slice(0, 4)) assert.ok(r.stdout.includes(p), `missing literal ${p}`);
    assert.match(r.stdout, /file "x" `y`\.txt/);
    for (const p of payloads) {
      const e = await sb.run(['exec', 'inj', '--env', `X=${p}`, 'printf "%s" "$X"']);
      assert.equal(e.code, 0, e.stderr);
      // Job logs are line-oriented: a last line without a newline gets one.
      assert.equal(e.stdout.replace(/\n$/, ''), p.replace(/\n$/, ''));
    }
    assert.equal(existsSync(canary), false, 'a payload was executed');
    assert.equal((await sb.run(['down', '-y', 'inj'])).code, 0);
  });

  test('secret values never appear in logs or the state database', async () => {
    const secret = 'sk-live-4f9c2e7a1b8d-TOPSECRET';
    const f = join(sb.dir, 'secret.yaml');
    writeFileSync(
      f,
      `secrets:\n  API_KEY: ${secret}\nrun: |\n  test "$(printf %s "$API_KEY" | sha256sum | cut -c1-16)" = "${createHash('sha256').update(secret).digest('hex').slice(0, 16)}" && echo key-ok\n  echo "leak: $API_KEY"\n`,
    );
    const r = await sb.run(['launch', '-y', '-c', 'sec', f]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /key-ok/);
    assert.doesNotMatch(r.stdout, new RegExp(secret));
    const hits: string[] = [];
    const walk = (d: string) => {
      for (const n of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, n.name);
        if (n.isDirectory()) walk(p);
        else if (n.isFile() && readFileSync(p).includes(secret)) hits.push(p);
      }
    };
    walk(sb.skyhopHome);
    assert.deepEqual(hits, [], 'secret left in logs, state or job files');
    assert.equal((await sb.run(['down', '-y', 'sec'])).code, 0);
  });
});
