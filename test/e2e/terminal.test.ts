/**
 * The built CLI as a person at a terminal sees it: a real pseudo-terminal (util-linux `script`),
 * once with a width (spinner progress) and once with none (plain lines). Also the suggestion paths
 * of the bundled build, which load packages lazily.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { BIN, ROOT, Sandbox, viaServer } from './harness.js';
import { shJoin } from '../../src/util/shell.js';

const hasScript = spawnSync('script', ['--version']).status === 0;

describe('at a terminal', () => {
  const sb = new Sandbox();
  after(() => sb.cleanup());
  const env = { ...sb.env };
  delete (env as Record<string, string>).CI;

  for (const cols of [100, 0]) {
    test(`launch in a ${cols}-column terminal finishes and shows the job output`, {
      skip: !hasScript && 'no `script` command',
    }, () => {
      mkdirSync(sb.home, { recursive: true });
      const cmd = `stty cols ${cols}; ${shJoin([process.execPath, BIN, 'launch', '-y', '-c', `t${cols}`, 'echo from-a-tty'])}`;
      const r = spawnSync('script', ['-qec', cmd, '/dev/null'], {
        env,
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /from-a-tty/);
      assert.match(r.stdout, /Job 1 submitted/);
      // Through a team server the command runs on the server without a terminal: its progress comes
      // as plain lines (a spinner there would need a pseudo-terminal on the server's side).
      if (cols > 0 && !viaServer) assert.match(r.stdout, /\x1b\[\?25l/, 'a spinner drew on the terminal');
      assert.equal(
        spawnSync(process.execPath, [BIN, 'down', '-y', `t${cols}`], { env, cwd: ROOT }).status,
        0,
      );
    });
  }

  test('without -y and without a terminal: the plan, then the refusal on its own line; nothing launched', () => {
    mkdirSync(sb.home, { recursive: true });
    const r = spawnSync(process.execPath, [BIN, 'launch', '-c', 'noy', 'echo hi'], {
      env,
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
      input: '',
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /CHOSEN\n/);
    assert.match(
      r.stderr,
      /\n[^\n]*✔\n(error: )?Launching a new cluster 'noy'\. Proceed: needs confirmation and stdin is not a terminal; add -y\n/,
    );
    const st = spawnSync(process.execPath, [BIN, 'status', '--json'], { env, cwd: ROOT, encoding: 'utf8' });
    assert.doesNotMatch(st.stdout, /noy/);
  });

  test('--version, and --help on every command', () => {
    const v = spawnSync(process.execPath, [BIN, '--version'], { env, cwd: ROOT, encoding: 'utf8' });
    assert.match(v.stdout, /^\d+\.\d+\.\d+/);
    const top = spawnSync(process.execPath, [BIN, '--help'], { env, cwd: ROOT, encoding: 'utf8' });
    const commands = [...top.stdout.matchAll(/^ {2}([a-z][a-z-]+)\b/gm)]
      .map((m) => m[1])
      .filter((c) => c !== 'help');
    assert.ok(commands.length >= 16, `commands listed: ${commands.join(' ')}`);
    for (const c of [...commands, 'catalog update', 'catalog show']) {
      const r = spawnSync(process.execPath, [BIN, ...c.split(' '), '--help'], {
        env,
        cwd: ROOT,
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, `${c} --help: ${r.stderr}`);
      assert.match(r.stdout, /^Usage: skyhop /, c);
    }
  });

  test('typo suggestions work in the bundled CLI', () => {
    const gpus = spawnSync(process.execPath, [BIN, 'show-gpus', 'A1000'], {
      env,
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(gpus.status, 1);
    assert.match(gpus.stderr, /nearest names: A100/);
    const region = spawnSync(process.execPath, [BIN, 'show-gpus', '--region', 'us-eest-1'], {
      env,
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.match(region.stderr, /did you mean us-east-1/);
    const cmd = spawnSync(process.execPath, [BIN, 'lauch'], { env, cwd: ROOT, encoding: 'utf8' });
    assert.match(cmd.stderr, /Did you mean launch/);
  });
});
