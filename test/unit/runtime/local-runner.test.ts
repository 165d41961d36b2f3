import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeRunner } from '../../../src/runtime/index.js';
import type { LocalRunner } from '../../../src/runtime/local-runner.js';
import { listByMarker } from '../../../src/runtime/procs.js';
import { prepareCommand } from '../../../src/runtime/ssh/session.js';
import { shq } from '../../../src/util/shell.js';
import { alive, tempRoot, uniqueNodeId, waitFor } from './helpers.js';

describe('LocalRunner', () => {
  const t = tempRoot('runner');
  let home: string;
  let nodeId: string;
  let runner: LocalRunner;

  before(() => {
    home = join(t.root, 'node0');
    mkdirSync(home);
    nodeId = uniqueNodeId('runner');
    t.nodeIds.push(nodeId);
    runner = makeRunner({ kind: 'local', home, nodeId }) as LocalRunner;
  });
  after(() => t.cleanup());

  test('runs bash with a clean environment, the node marker and opts.env', async () => {
    process.env.SKYHOP_TEST_LEAK = 'leaked';
    try {
      const r = await runner.run('env', { env: { FOO: 'bar baz', SKYHOP_NODE_ID: 'override-attempt' } });
      assert.equal(r.code, 0);
      const env = Object.fromEntries(
        r.stdout
          .trim()
          .split('\n')
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      );
      assert.equal(env.HOME, home);
      assert.equal(env.SKYHOP_NODE_ID, nodeId, 'the marker cannot be overridden');
      assert.equal(env.FOO, 'bar baz');
      assert.equal(env.TERM, 'dumb');
      assert.equal(env.PATH, process.env.PATH);
      assert.equal(env.SKYHOP_TEST_LEAK, undefined);
      assert.equal(env.SKYHOP_HOME, undefined);
      assert.ok(env.USER);
    } finally {
      delete process.env.SKYHOP_TEST_LEAK;
    }
  });

  test("the client's own variables (the state database, a server's user) never reach a node", async () => {
    const saved = { ...process.env };
    process.env.SKYHOP_DB = 'postgresql://u:secret-pw@127.0.0.1:5432/db';
    process.env.SKYHOP_API_USER = 'alice';
    process.env.SKYHOP_API_ROLE = 'admin';
    try {
      // Neither from this process's environment nor passed along in opts.env (a caller that copies it).
      const r = await runner.run('env', {
        env: {
          SKYHOP_DB: process.env.SKYHOP_DB,
          SKYHOP_API_USER: 'alice',
          SKYHOP_API_ROLE: 'admin',
          KEEP: '1',
        },
      });
      assert.equal(r.code, 0);
      assert.doesNotMatch(r.stdout, /SKYHOP_DB|SKYHOP_API_USER|SKYHOP_API_ROLE|secret-pw/);
      assert.match(r.stdout, /^KEEP=1$/m);
      // An SSH node gets its environment on the session's stdin: the same variables are dropped there.
      const p = prepareCommand('node', 'true', { env: { SKYHOP_DB: 'postgresql://u:pw@h/db', KEEP: '1' } });
      assert.ok(p.stdinPrefix?.includes('KEEP'));
      assert.doesNotMatch(p.stdinPrefix ?? '', /SKYHOP_DB/);
    } finally {
      for (const k of ['SKYHOP_DB', 'SKYHOP_API_USER', 'SKYHOP_API_ROLE']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  });

  test('rc files are not read', async () => {
    writeFileSync(join(home, '.bashrc'), 'echo FROM_BASHRC\n');
    writeFileSync(join(home, '.bash_profile'), 'echo FROM_PROFILE\n');
    const r = await runner.run('echo ok');
    assert.equal(r.stdout, 'ok\n');
  });

  test('cwd: HOME by default, ~/x and relative paths under HOME, missing dir -> code 1', async () => {
    mkdirSync(join(home, 'sub dir'), { recursive: true });
    assert.equal((await runner.run('pwd')).stdout.trim(), home);
    assert.equal((await runner.run('pwd', { cwd: '~/sub dir' })).stdout.trim(), join(home, 'sub dir'));
    assert.equal((await runner.run('pwd', { cwd: 'sub dir' })).stdout.trim(), join(home, 'sub dir'));
    assert.equal((await runner.run('pwd', { cwd: t.root })).stdout.trim(), t.root);
    const missing = await runner.run('echo should-not-run', { cwd: '~/nope' });
    assert.equal(missing.code, 1);
    assert.equal(missing.stdout, '');
    assert.match(missing.stderr, /nope/);
  });

  test('exit codes, signals as 128+N, stderr, stdin', async () => {
    assert.equal((await runner.run('exit 7')).code, 7);
    assert.equal((await runner.run('kill -TERM $$')).code, 143);
    const r = await runner.run('echo out; echo err >&2');
    assert.deepEqual([r.stdout, r.stderr], ['out\n', 'err\n']);
    const s = await runner.run('cat; echo', { stdin: 'line1\nline2' });
    assert.equal(s.stdout, 'line1\nline2\n');
    const ignored = await runner.run('true', { stdin: 'x'.repeat(1 << 20) });
    assert.equal(ignored.code, 0);
  });

  test('streams output chunks to callbacks as they arrive', async () => {
    const chunks: string[] = [];
    let sawFirstBeforeEnd = false;
    const errs: string[] = [];
    const r = await runner.run(
      'echo first; while [ ! -f ~/go ]; do sleep 0.02; done; echo second; echo e >&2',
      {
        onStdout: (c) => {
          chunks.push(c);
          if (c.includes('first') && !c.includes('second')) {
            sawFirstBeforeEnd = true;
            writeFileSync(join(home, 'go'), '');
          }
        },
        onStderr: (c) => errs.push(c),
      },
    );
    assert.equal(r.code, 0);
    assert.equal(r.stdout, '', 'stdout is not collected when streamed');
    assert.ok(sawFirstBeforeEnd);
    assert.equal(chunks.join(''), 'first\nsecond\n');
    assert.equal(errs.join(''), 'e\n');
  });

  test('timeout kills the process group and gives 124', async () => {
    const r = await runner.run('sleep 1000 & echo $! > ~/bgpid; wait', { timeoutMs: 300 });
    assert.equal(r.code, 124);
    assert.match(r.stderr, /timed out/);
    const pid = Number(readFileSync(join(home, 'bgpid'), 'utf8'));
    await waitFor('the group member to die', () => !alive(pid));
  });

  test('abort kills the command and gives 130; an aborted signal runs nothing', async () => {
    const ac = new AbortController();
    const p = runner.run('echo started; sleep 1000', {
      signal: ac.signal,
      onStdout: (c) => c.includes('started') && ac.abort(),
    });
    assert.equal((await p).code, 130);
    const pre = await runner.run(`touch ${shq(join(home, 'ran'))}`, { signal: ac.signal });
    assert.equal(pre.code, 130);
    assert.equal(existsSync(join(home, 'ran')), false);
  });

  test('returns when the shell exits even if a background child keeps the output pipe open', async () => {
    const r = await runner.run('setsid sleep 1000 & echo $!', {});
    assert.equal(r.code, 0);
    const pid = Number(r.stdout.trim());
    assert.ok(alive(pid));
    assert.ok(
      listByMarker('SKYHOP_NODE_ID', nodeId).includes(pid),
      'the escaped child still carries the marker',
    );
  });

  test('upload keeps the mode or sets it, resolves ~, creates parents, survives odd names', async () => {
    const src = join(t.root, "it's $(x) `y`.sh");
    writeFileSync(src, '#!/bin/sh\necho hi\n');
    chmodSync(src, 0o750);
    await runner.upload(src, "~/a/b/it's $(x).sh");
    const dest = join(home, 'a', 'b', "it's $(x).sh");
    assert.equal(readFileSync(dest, 'utf8'), '#!/bin/sh\necho hi\n');
    assert.equal(statSync(dest).mode & 0o777, 0o750);
    await runner.upload(src, '~/a/b/other', { mode: 0o600 });
    assert.equal(statSync(join(home, 'a', 'b', 'other')).mode & 0o777, 0o600);
    await assert.rejects(runner.upload(join(t.root, 'missing'), '~/x'));
  });

  test('ssh connections get the SSH runner', () => {
    const r = makeRunner({ kind: 'ssh', host: '127.0.0.1', port: 22, user: 'u', keyPath: '/k' });
    assert.equal(r.constructor.name, 'SshRunner');
  });

  test('a relative home is refused', () => {
    assert.throws(() => makeRunner({ kind: 'local', home: 'rel', nodeId: 'x' }), /absolute/);
  });
});
