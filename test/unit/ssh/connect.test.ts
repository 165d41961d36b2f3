/**
 * SshRunner's connection handling against a real sshd: patient retries while a node's sshd comes up
 * (and never a retry of a command that ran), clear failures (deadline, refused key, changed host
 * key), timeouts while connecting, and immunity to a user's broken ~/.ssh/config.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { controlDir, masterAlive } from '../../../src/runtime/ssh-runner.js';
import { CloudError } from '../../../src/util/errors.js';
import { createSshd, freePort } from '../../helpers/sshd.js';
import { type SshEnv, sshdUnavailable, sshEnv } from './helpers.js';

const skip = sshdUnavailable();
const REPO = new URL('../../../', import.meta.url).pathname;

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Poll `fn` until it holds (10 s at most). */
async function waitFor(fn: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + 10_000;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('SshRunner: connecting', { skip }, () => {
  let env: SshEnv;
  before(async () => {
    env = await sshEnv({ start: false });
  });
  after(() => env?.cleanup());

  test('the first command waits for an sshd that starts 1.5 s later', async () => {
    assert.equal(await portOpen(env.sshd.port), false, 'nothing listens yet');
    const r = env.runner({ connectDeadlineMs: 30_000 });
    const starter = new Promise<void>((resolve, reject) => {
      setTimeout(() => env.sshd.start().then(resolve, reject), 1500);
    });
    const res = await r.run('echo up; echo x >> ~/ran');
    await starter;
    assert.deepEqual(res, { code: 0, stdout: 'up\n', stderr: '' });
    assert.equal(readFileSync(join(env.sshd.home, 'ran'), 'utf8'), 'x\n', 'the command ran once');
  });

  test('the first command opens the master; the next ones ride on its one connection', async () => {
    const r = env.runner();
    await r.stopMaster(); // the test above left a master on this socket: stop it
    await waitFor(async () => !(await masterAlive(r.controlPath())));
    const first = await r.run('echo "$SSH_CONNECTION"');
    assert.equal(first.code, 0);
    assert.equal(await masterAlive(r.controlPath()), true, 'the first command left a master up');
    const next = await r.run('echo "$SSH_CONNECTION"');
    assert.equal(next.stdout, first.stdout, 'the same TCP connection (client port) carried both');
    assert.match(first.stdout, /^127\.0\.0\.1 \d+ 127\.0\.0\.1 \d+\n$/);
  });

  test('a new runner rides on a live master: its first command is one ssh call, not a `true` first', async (t) => {
    const first = env.runner();
    await first.run('true');
    const path = first.controlPath();
    assert.equal(await masterAlive(path), true);
    // Count the ssh processes the next runner starts, through a logging `ssh` first on PATH.
    const bin = join(env.root, 'shim-bin');
    const log = join(env.root, 'ssh-calls');
    mkdirSync(bin, { recursive: true });
    const realSsh = execFileSync('sh', ['-c', 'command -v ssh'], { encoding: 'utf8' }).trim();
    writeFileSync(join(bin, 'ssh'), `#!/bin/sh\necho call >> '${log}'\nexec '${realSsh}' "$@"\n`, {
      mode: 0o755,
    });
    const oldPath = process.env.PATH;
    process.env.PATH = `${bin}:${oldPath}`;
    t.after(() => {
      process.env.PATH = oldPath;
    });
    const second = env.runner();
    assert.equal((await second.run('echo via-master')).stdout.trim(), 'via-master');
    assert.equal(readFileSync(log, 'utf8'), 'call\n');
    // No master (stopped): the runner connects first (`ssh true`), then runs the command.
    await first.stopMaster();
    assert.equal(await masterAlive(path), false);
    writeFileSync(log, '');
    const third = env.runner();
    assert.equal((await third.run('echo fresh')).stdout.trim(), 'fresh');
    assert.equal(readFileSync(log, 'utf8'), 'call\ncall\n');
  });

  test('masterAlive: false for no file, a plain file, and a socket nobody listens on', async () => {
    assert.equal(await masterAlive(join(env.root, 'no-such-socket')), false);
    const plain = join(env.root, 'plain-file');
    writeFileSync(plain, '');
    assert.equal(await masterAlive(plain), false);
    const sockPath = join(env.root, 'stale.sock');
    const server = createServer();
    await new Promise<void>((res) => server.listen(sockPath, res));
    assert.equal(await masterAlive(sockPath), true);
    // Keep the file, close the listener: a stale socket.
    await new Promise<void>((res) => server.close(() => res()));
    writeFileSync(sockPath, '');
    assert.equal(await masterAlive(sockPath), false);
  });

  test('a command whose session fails before it starts is tried again after reconnecting', async () => {
    const r = env.runner({ connectDeadlineMs: 30_000 });
    await r.connect();
    await env.sshd.stop(); // the master's connection dies with the node
    const restart = new Promise<void>((resolve, reject) => {
      setTimeout(() => env.sshd.start().then(resolve, reject), 1000);
    });
    const res = await r.run('echo back; echo y >> ~/ran2');
    await restart;
    assert.deepEqual(res, { code: 0, stdout: 'back\n', stderr: '' });
    assert.equal(readFileSync(join(env.sshd.home, 'ran2'), 'utf8'), 'y\n');
  });

  test('a timeout while still connecting gives 124 and runs nothing', async () => {
    const port = await freePort();
    const r = env.runner({ connectDeadlineMs: 30_000 }, { port });
    const res = await r.run('echo never', { timeoutMs: 700 });
    assert.equal(res.code, 124);
    assert.equal(res.stdout, '');
    assert.match(res.stderr, /timed out after 700 ms on root@127\.0\.0\.1:/);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    assert.equal((await r.run('echo never', { signal: ac.signal })).code, 130);
  });

  test('nothing listening past the deadline: a CloudError that names the node and the tries', async () => {
    const port = await freePort();
    const r = env.runner({ connectDeadlineMs: 1500 }, { port });
    await assert.rejects(r.run('true'), (e: unknown) => {
      assert.ok(e instanceof CloudError);
      assert.match(e.message, new RegExp(`root@127\\.0\\.0\\.1:${port}`));
      assert.match(e.message, /\d+ tries in \d+ s/);
      assert.match(e.message, /Connection refused/);
      return true;
    });
  });

  test('a key the node does not accept fails at once, without retries', async () => {
    const other = await createSshd({ start: false }); // just for its (unauthorized) client key
    try {
      const r = env.runner({ connectDeadlineMs: 30_000 }, { keyPath: other.keyPath });
      const t0 = Date.now();
      await assert.rejects(r.run('true'), (e: unknown) => {
        assert.ok(e instanceof CloudError);
        assert.match(e.message, /refused the key/);
        assert.match(e.message, /cluster's public key is authorized/);
        assert.doesNotMatch(e.message, /PRIVATE KEY|BEGIN/);
        return true;
      });
      assert.ok(Date.now() - t0 < 25_000, 'it did not wait for the connect deadline');
    } finally {
      await other.destroy();
    }
  });

  test('a changed host key is refused with a hint, not retried', async () => {
    const kh = join(env.root, 'changed_known_hosts');
    const fake = 'AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
    writeFileSync(kh, `[127.0.0.1]:${env.sshd.port} ssh-ed25519 ${fake}\n`);
    const r = env.runner({ connectDeadlineMs: 30_000 }, { knownHostsPath: kh });
    await assert.rejects(r.run('true'), /host key .* differs .* remove its line/);
  });

  test('bad input is refused up front: missing key, NUL in an env value, bad env name', async () => {
    const r = env.runner({}, { keyPath: join(env.root, 'no-such-key') });
    await assert.rejects(r.run('true'), /SSH key .*no-such-key does not exist/);
    const ok = env.runner();
    await assert.rejects(ok.run('true', { env: { A: 'x\0y' } }), /NUL/);
    await assert.rejects(ok.run('true', { env: { 'A-B': 'x' } }), /invalid environment variable name/);
  });

  test('a SKYHOP_HOME too long for a socket path: the control socket goes to /tmp/skyhop-<uid>/cm', async () => {
    const old = process.env.SKYHOP_HOME;
    process.env.SKYHOP_HOME = join(env.root, 'a-very-long-skyhop-home-directory-name'.repeat(2));
    try {
      const r = env.runner();
      assert.equal(controlDir(), `/tmp/skyhop-${process.getuid!()}/cm`);
      assert.ok(r.controlPath().startsWith(`/tmp/skyhop-${process.getuid!()}/cm/`));
      assert.ok(Buffer.byteLength(r.controlPath()) + 17 < 100);
      assert.deepEqual(await r.run('echo long'), { code: 0, stdout: 'long\n', stderr: '' });
      await r.stopMaster();
    } finally {
      process.env.SKYHOP_HOME = old;
    }
    assert.ok(controlDir().startsWith(env.root), 'a short SKYHOP_HOME keeps its sockets');
  });

  test("a user's broken ~/.ssh/config and /etc/ssh/ssh_config change nothing", async () => {
    // ssh reads ~ from the passwd entry, not $HOME: replace /root itself in a private mount namespace.
    const fakeHome = join(env.root, 'broken-home');
    mkdirSync(join(fakeHome, '.ssh'), { recursive: true, mode: 0o700 });
    const garbage =
      'this is not ssh config\nHost *\n  ProxyCommand /bin/false\n  Port 1\n  NoSuchOption yes\n';
    writeFileSync(join(fakeHome, '.ssh', 'config'), garbage);
    const globalGarbage = join(env.root, 'ssh_config');
    writeFileSync(globalGarbage, garbage);
    const file = join(env.root, 'payload.txt');
    writeFileSync(file, 'payload\n');
    const script = [
      'mount --bind "$1" /root || exit 90',
      'mount --bind "$2" /etc/ssh/ssh_config || exit 91',
      // The control: plain ssh is broken here.
      'ssh -o BatchMode=yes -p "$3" root@127.0.0.1 true 2>&1 | head -n 3 >&2',
      'exec node --import tsx "$4"',
    ].join('\n');
    const child = spawn(
      'unshare',
      [
        '--mount',
        'bash',
        '--noprofile',
        '--norc',
        '-c',
        script,
        'broken-home',
        fakeHome,
        globalGarbage,
        String(env.sshd.port),
        join(REPO, 'test/unit/ssh/fixtures/broken-home-child.ts'),
      ],
      {
        cwd: REPO,
        env: {
          ...process.env,
          HOME: fakeHome,
          SKYHOP_TEST_CONNECTION: JSON.stringify(env.sshd.connection),
          SKYHOP_TEST_FILE: file,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => {
      out += c;
    });
    child.stderr.on('data', (c) => {
      err += c;
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, err);
    assert.match(err, /Bad configuration option|bad configuration options/, 'the control ssh was not broken');
    const got = JSON.parse(out.trim().split('\n').pop() ?? '{}');
    assert.deepEqual(got, {
      res: { code: 0, stdout: 'ok /root\n', stderr: '' },
      up: { code: 0, stdout: 'payload\n', stderr: '' },
    });
  });
});
