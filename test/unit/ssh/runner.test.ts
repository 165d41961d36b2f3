/**
 * SshRunner against a real sshd (test/helpers/sshd.ts; root in its own mount and pid namespace with a
 * temp dir as /root): commands, environment, cwd, stdin, streaming, exit codes, hostile strings,
 * multiplexing, MaxSessions fallback, background children, timeout/abort and close.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeRunner } from '../../../src/runtime/index.js';
import { SshRunner } from '../../../src/runtime/ssh-runner.js';
import { CloudError } from '../../../src/util/errors.js';
import { shq } from '../../../src/util/shell.js';
import { hostileCorpus, type SshEnv, sshdUnavailable, sshEnv } from './helpers.js';

const skip = sshdUnavailable();
/** Shell test: process $p exists on the node and is not a zombie (killed, not yet reaped). */
const ALIVE = '{ s=$(cut -d" " -f3 "/proc/$p/stat" 2>/dev/null); [ -n "$s" ] && [ "$s" != Z ]; }';

function parseEnv(out: string): Record<string, string> {
  return Object.fromEntries(
    out
      .split('\0')
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

describe('SshRunner: commands', { skip }, () => {
  let env: SshEnv;
  let r: SshRunner;
  let home: string;
  const canary = `/tmp/skyhop-canary-${process.pid}-${Date.now()}`;

  before(async () => {
    env = await sshEnv();
    home = env.sshd.home;
    r = env.runner();
  });
  after(async () => {
    rmSync(canary, { force: true });
    await env?.cleanup();
  });

  test('makeRunner gives an SshRunner for ssh connections', () => {
    const m = makeRunner(env.sshd.connection);
    assert.ok(m instanceof SshRunner);
    assert.equal(m.connection, env.sshd.connection);
  });

  test('runs bash without rc files, in HOME, with opts.env and the run marker', async () => {
    // The login shell that sshd starts may read ~/.bashrc; what it prints is not the command's output.
    writeFileSync(join(home, '.bashrc'), 'echo FROM_BASHRC; echo FROM_BASHRC_ERR >&2\n');
    try {
      const res = await r.run('env -0; echo "$0" >&2', {
        env: { FOO: 'bar baz', SKYHOP_RUN_ID: 'override' },
      });
      assert.equal(res.code, 0);
      const e = parseEnv(res.stdout);
      assert.equal(e.FOO, 'bar baz');
      assert.equal(e.HOME, '/root');
      assert.equal(e.PWD, '/root');
      assert.match(e.SKYHOP_RUN_ID, /^\d+-[0-9a-f]{16}$/, 'the run marker cannot be overridden');
      assert.equal(res.stderr, 'bash\n');
      assert.deepEqual(await r.run('echo "[$(cat)]"', { stdin: 'in' }), {
        code: 0,
        stdout: '[in]\n',
        stderr: '',
      });
    } finally {
      rmSync(join(home, '.bashrc'));
    }
  });

  test('cwd: ~/x, relative (under HOME), absolute; a missing directory gives code 1', async () => {
    mkdirSync(join(home, 'sub dir'), { recursive: true });
    assert.equal((await r.run('pwd', { cwd: '~/sub dir' })).stdout, '/root/sub dir\n');
    assert.equal((await r.run('pwd', { cwd: 'sub dir' })).stdout, '/root/sub dir\n');
    assert.equal((await r.run('pwd', { cwd: '/tmp' })).stdout, '/tmp\n');
    assert.equal((await r.run('pwd', { cwd: '~' })).stdout, '/root\n');
    const miss = await r.run('echo should-not-run', { cwd: '~/missing' });
    assert.equal(miss.code, 1);
    assert.equal(miss.stdout, '');
    assert.match(miss.stderr, /cd: .*missing: No such file or directory/);
  });

  test('stdin: text and binary bytes reach the command', async () => {
    assert.equal((await r.run('cat', { stdin: 'line1\nline2' })).stdout, 'line1\nline2');
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const res = await r.run('od -An -v -tx1 | tr -d " \\n"', { stdin: bytes });
    assert.equal(res.stdout, bytes.toString('hex'));
    const none = await r.run('cat; echo end');
    assert.equal(none.stdout, 'end\n', 'no stdin reads as empty');
  });

  test('exit codes: the command`s own, 128+N for a signal, 255 is not an ssh failure', async () => {
    assert.equal((await r.run('exit 0')).code, 0);
    assert.equal((await r.run('exit 7')).code, 7);
    assert.deepEqual(await r.run('echo out; echo err >&2; exit 255'), {
      code: 255,
      stdout: 'out\n',
      stderr: 'err\n',
    });
    assert.deepEqual(await r.run('kill -TERM $$'), { code: 143, stdout: '', stderr: '' });
    assert.deepEqual(await r.run('kill -KILL $$'), { code: 137, stdout: '', stderr: '' });
    assert.equal((await r.run('syntax error (')).code, 2);
    assert.equal((await r.run('no-such-command-xyz')).code, 127);
  });

  test('a failed command is never run twice', async () => {
    const res = await r.run('echo x >> ~/ran-once; exit 255');
    assert.equal(res.code, 255);
    assert.equal(readFileSync(join(home, 'ran-once'), 'utf8'), 'x\n');
  });

  test('streaming: stdout and stderr chunks arrive while the command runs', async () => {
    // The command waits for a file that the callbacks create: it only finishes if output streams.
    const outs: string[] = [];
    const errs: string[] = [];
    const res = await r.run(
      [
        'echo first-out',
        'i=0; while [ ! -e ~/go-out ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i+1)); done',
        'echo first-err >&2',
        'i=0; while [ ! -e ~/go-err ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i+1)); done',
        '[ -e ~/go-out ] && [ -e ~/go-err ] && echo streamed || echo not-streamed',
      ].join('\n'),
      {
        onStdout: (c) => {
          outs.push(c);
          if (c.includes('first-out')) writeFileSync(join(home, 'go-out'), '');
        },
        onStderr: (c) => {
          errs.push(c);
          if (c.includes('first-err')) writeFileSync(join(home, 'go-err'), '');
        },
      },
    );
    assert.deepEqual(res, { code: 0, stdout: '', stderr: '' });
    assert.equal(outs.join(''), 'first-out\nstreamed\n');
    assert.equal(errs.join(''), 'first-err\n');
  });

  test('stderr that looks like ssh notices or a sentinel passes through untouched', async () => {
    const text =
      'mux_client_request_session: not really\nControlSocket x already exists, disabling multiplexing\n' +
      'deadbeefdeadbeef:0\nno newline at end';
    const res = await r.run(`printf %s ${shq(text)} >&2`);
    assert.equal(res.code, 0);
    assert.equal(res.stderr, text);
    const big = 'x'.repeat(300_000);
    const res2 = await r.run('head -c 300000 /dev/zero | tr "\\0" x | tee /dev/stderr');
    assert.equal(res2.stdout, big);
    assert.equal(res2.stderr, big);
  });

  test('a command too long for a command line is refused with a clear error', async () => {
    await assert.rejects(r.run(`echo ${'y'.repeat(140_000)}`), (e: unknown) => {
      return e instanceof CloudError && /too long for a command line/.test(e.message);
    });
    const longOk = 'z'.repeat(100_000);
    assert.equal((await r.run(`printf %s ${longOk}`)).stdout, longOk);
  });

  test('hostile strings in env values, cwd and commands never execute', async () => {
    rmSync(canary, { force: true });
    for (const v of hostileCorpus(canary)) {
      const res = await r.run('printf %s "$V"', { env: { V: v } });
      assert.equal(res.stdout, v, `env value ${JSON.stringify(v)}`);
      const dir = `~/hostile/${v}`;
      const mk = await r.run(`mkdir -p -- ~/hostile/${shq(v)}`);
      assert.equal(mk.code, 0, mk.stderr);
      const pwd = await r.run('pwd', { cwd: dir });
      assert.equal(pwd.code, 0, `cwd ${JSON.stringify(v)}: ${pwd.stderr}`);
      assert.equal(pwd.stdout, `/root/hostile/${v}\n`);
      const echo = await r.run(`printf %s ${shq(v)}`);
      assert.equal(echo.stdout, v);
    }
    assert.equal(existsSync(canary), false, 'a hostile string was executed');
  });

  test('opts.env travels on stdin, never in a command line; the command`s own stdin follows whole', async () => {
    const secret = `sv-${process.pid}-${Date.now()}`;
    const multi = `line1\n${secret}\n'quoted' $(x) \\`;
    // While the command runs, this machine's /proc (the node's processes included: its pid namespace
    // is a child of ours) is read over and over: no command line may hold the value, and some process
    // must hold it in its environment (so the scans did overlap the command).
    let running = true;
    let inCmdline = 0;
    let inEnviron = 0;
    const scanner = (async () => {
      while (running) {
        for (const p of readdirSync('/proc')) {
          if (!/^\d+$/.test(p)) continue;
          try {
            if (readFileSync(`/proc/${p}/cmdline`, 'latin1').includes(secret)) inCmdline++;
            if (readFileSync(`/proc/${p}/environ`, 'latin1').includes(`\0S=${secret}\0`)) inEnviron++;
          } catch {
            // gone
          }
        }
        await new Promise((res) => setImmediate(res));
      }
    })();
    let res: Awaited<ReturnType<SshRunner['run']>>;
    try {
      res = await r.run(
        [
          `printf '%s|%s|%s|' "$S" "$e" "$MULTI"`,
          'IFS= read -r l; printf "[%s]" "$l"; od -An -tx1 | tr -d " \\n"; echo',
          // The node's own view: no command line there holds the value either.
          `for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < "$f"; echo; done | grep -c -F -f <(printf '%s\\n' "$S")`,
          'sleep 0.5',
        ].join('\n'),
        { env: { S: secret, e: 'env-named-e', MULTI: multi }, stdin: Buffer.from('first line\nx\0y') },
      );
    } finally {
      running = false;
      await scanner;
    }
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, `${secret}|env-named-e|${multi}|[first line]780079\n0\n`);
    assert.equal(inCmdline, 0, 'an env value appeared in a command line');
    assert.ok(inEnviron > 0, 'the scans did not see the command running');
  });

  test('multiplexing: later commands reuse the master connection', async () => {
    const t0 = performance.now();
    const conns = new Set<string>();
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      const res = await r.run('echo "$SSH_CONNECTION"');
      times.push(performance.now() - t);
      assert.equal(res.code, 0);
      conns.add(res.stdout.trim());
    }
    const total = performance.now() - t0;
    // One TCP connection (same client port) carried all 20 commands.
    assert.equal(conns.size, 1, [...conns].join(' | '));
    const sorted = [...times].sort((a, b) => a - b);
    console.log(
      `# ssh: 20 commands on the master: total ${total.toFixed(0)} ms, median ${sorted[10].toFixed(1)} ms, ` +
        `min ${sorted[0].toFixed(1)} ms, max ${sorted[19].toFixed(1)} ms`,
    );
    const check = spawnSync('ssh', [...r.sshOptions(), '-O', 'check', env.sshd.host], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stderr);
  });

  test('the command returns soon after it exits, even when background children hold its output', async () => {
    const res = await r.run('sleep 30 & echo $! > ~/bg-pid; echo started; echo warn >&2');
    assert.deepEqual(res, { code: 0, stdout: 'started\n', stderr: 'warn\n' });
    // The background child keeps running on the node.
    const ps = await r.run(`p=$(cat ~/bg-pid); ${ALIVE} && echo running; kill "$p"`);
    assert.equal(ps.stdout, 'running\n');
  });

  test('timeout: code 124, a note, and the command`s processes on the node are killed', async () => {
    const res = await r.run(
      'echo $$ > ~/t-pid; setsid nohup sleep 300 >/dev/null 2>&1 & echo $! > ~/t-bg; echo go; sleep 300',
      { timeoutMs: 1000 },
    );
    assert.equal(res.code, 124);
    assert.equal(res.stdout, 'go\n');
    assert.match(res.stderr, /timed out after 1000 ms on root@127\.0\.0\.1:\d+/);
    const check = await r.run(
      `for p in $(cat ~/t-pid) $(cat ~/t-bg); do ${ALIVE} && echo "alive $p"; done; true`,
    );
    assert.equal(check.stdout, '', 'processes survived the timeout');
  });

  test('abort: code 130, the remote command is killed; an aborted signal runs nothing', async () => {
    const ac = new AbortController();
    const res = await r.run('echo $$ > ~/a-pid; echo ready; exec sleep 300', {
      signal: ac.signal,
      onStdout: (c) => {
        if (c.includes('ready')) ac.abort();
      },
    });
    assert.equal(res.code, 130);
    const check = await r.run(`p=$(cat ~/a-pid); ${ALIVE} && echo alive; true`);
    assert.equal(check.stdout, '');
    const pre = await r.run('touch ~/never', { signal: AbortSignal.abort() });
    assert.equal(pre.code, 130);
    assert.equal(existsSync(join(home, 'never')), false);
  });
});

describe('SshRunner: sessions beyond sshd`s MaxSessions', { skip }, () => {
  let env: SshEnv;
  before(async () => {
    env = await sshEnv({ maxSessions: 2 });
  });
  after(() => env?.cleanup());

  test('extra concurrent commands get their own connection, without notices in stderr', async () => {
    const r = env.runner();
    await r.connect();
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => r.run(`sleep 0.5; echo ${i}; echo e${i} >&2`)),
    );
    results.forEach((res, i) => {
      assert.deepEqual(res, { code: 0, stdout: `${i}\n`, stderr: `e${i}\n` });
    });
  });
});

describe('SshRunner: close', { skip }, () => {
  let env: SshEnv;
  before(async () => {
    env = await sshEnv();
  });
  after(() => env?.cleanup());

  const check = (r: SshRunner) =>
    spawnSync('ssh', [...r.sshOptions(), '-O', 'check', env.sshd.host], { encoding: 'utf8' }).status;

  test('close keeps the shared master, so the next runner (or CLI call) reuses the connection', async () => {
    const r = env.runner();
    await r.connect();
    await r.close();
    assert.equal(check(r), 0, 'the master outlives close()');
    const next = env.runner();
    assert.equal((await next.run('echo reused')).stdout, 'reused\n');
    await next.stopMaster();
  });

  test('stopMaster stops the master; running commands finish; the next command connects again', async () => {
    const r = env.runner();
    await r.connect();
    assert.equal(check(r), 0);
    const running = r.run('sleep 1; echo finished');
    await new Promise((res) => setTimeout(res, 300));
    await r.stopMaster();
    assert.deepEqual(await running, { code: 0, stdout: 'finished\n', stderr: '' });
    await waitUntil(() => check(r) !== 0);
    assert.equal((await r.run('echo again')).stdout, 'again\n');
    assert.equal(check(r), 0);
    await r.stopMaster();
    await r.stopMaster(); // safe to repeat
  });

  test('a lost connection rejects with a CloudError naming the node', async () => {
    const r = env.runner();
    await r.connect();
    const running = r.run('echo $$ > ~/lost-pid; sleep 30');
    await waitUntil(() => existsSync(join(env.sshd.home, 'lost-pid')));
    spawnSync('ssh', [...r.sshOptions(), '-O', 'exit', env.sshd.host]);
    await assert.rejects(
      running,
      (e: unknown) => e instanceof CloudError && /root@127\.0\.0\.1/.test(e.message),
    );
  });
});

async function waitUntil(fn: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}
