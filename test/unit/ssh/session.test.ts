/**
 * The command session's state machine (src/runtime/ssh/session.ts): `step` decides every
 * transition of one command's ssh session, so the rules that keep a command from running twice,
 * from surviving a timeout on the node, or from losing its exit status are checked here one by one,
 * without timing luck; MarkedStream finds the wrapper's start and exit lines however the pipes
 * split them. (The same session against a real sshd: runner.test.ts and connect.test.ts.)
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  MarkedStream,
  type SessionEvent,
  type SessionState,
  step,
} from '../../../src/runtime/ssh/session.js';

/** Feed events from `waiting`; the final state and every effect asked for on the way. */
function run(events: SessionEvent[], from: SessionState = { kind: 'waiting' }) {
  let state = from;
  const effects: string[] = [];
  for (const e of events) {
    const next = step(state, e);
    state = next.state;
    effects.push(...next.effects);
  }
  return { state, effects };
}

const start: SessionEvent = { type: 'start-line' };
const exitLine = (code: number): SessionEvent => ({ type: 'exit-line', code });
const force = (code: number): SessionEvent => ({ type: 'force', code });
const close = (sshExit: number | null): SessionEvent => ({ type: 'close', sshExit });
const fail: SessionEvent = { type: 'fail', error: new Error('cannot read f: EACCES') };

describe('command session: state transitions', () => {
  test('a command that runs and exits: its own status, ssh drained then ended', () => {
    const r = run([start, exitLine(7)]);
    assert.deepEqual(r.state, { kind: 'exited', code: 7 });
    assert.deepEqual(r.effects, ['drain']);
    // ssh killed by the drain (SIGTERM: 255) changes nothing: the exit line decided.
    assert.deepEqual(run([close(255)], r.state).state, { kind: 'closed', end: { kind: 'exit', code: 7 } });
  });

  test('a session that fails before either start line was not started: safe to retry', () => {
    for (const sshExit of [255, null]) {
      assert.deepEqual(run([close(sshExit)]).state, { kind: 'closed', end: { kind: 'not-started' } });
    }
  });

  test('the wrapper ending before the command (cd failed) gives its own exit status, not a retry', () => {
    assert.deepEqual(run([close(1)]).state, { kind: 'closed', end: { kind: 'wrapper-exit', code: 1 } });
  });

  test('started but no exit line is lost, never a retry, whatever ssh exited with', () => {
    for (const sshExit of [255, 0, 1, null]) {
      assert.deepEqual(run([start, close(sshExit)]).state, { kind: 'closed', end: { kind: 'lost' } });
    }
  });

  test('a timeout before the start line still kills on the node, quietly', () => {
    const r = run([force(124)]);
    assert.deepEqual(r.state, { kind: 'killing', code: 124, quiet: true });
    assert.deepEqual(r.effects, ['kill-remote-quietly', 'end-local']);
    // ssh ends (255, killed) without a start line: still the timeout's code, not a retry.
    assert.deepEqual(run([close(255)], r.state).state, {
      kind: 'closed',
      end: { kind: 'killed', code: 124, quiet: true },
    });
  });

  test('output before the stderr start line counts as started: the kill is reported (0a78542)', () => {
    // The stdout start line came (the command's output behind it), stderr's is still in its pipe.
    const r = run([start, force(130)]);
    assert.deepEqual(r.state, { kind: 'killing', code: 130, quiet: false });
    assert.deepEqual(r.effects, ['kill-remote', 'end-local']);
    // The stderr start line arriving afterwards changes nothing.
    assert.deepEqual(run([start], r.state).state, r.state);
  });

  test('the first force wins; an exit line after it does not undo the kill', () => {
    const r = run([start, force(124), force(130), exitLine(0), close(0)]);
    assert.deepEqual(r.state, { kind: 'closed', end: { kind: 'killed', code: 124, quiet: false } });
    assert.deepEqual(r.effects, ['kill-remote', 'end-local'], 'one kill only');
  });

  test('a force after the exit line kills nothing: the command is over', () => {
    const r = run([start, exitLine(3), force(124), close(255)]);
    assert.deepEqual(r.state, { kind: 'closed', end: { kind: 'exit', code: 3 } });
    assert.deepEqual(r.effects, ['drain']);
  });

  test('an exit line reported before a start line is still the command`s status', () => {
    // The stream reads exit lines only after its start line; should one be reported, it is the status.
    assert.deepEqual(run([exitLine(5)]).state, { kind: 'exited', code: 5 });
  });

  test('an unreadable stdin file fails the session from any live state, and ends ssh', () => {
    const lives: SessionEvent[][] = [[], [start], [start, exitLine(0)], [force(124)]];
    for (const before of lives) {
      const r = run([...before, fail]);
      assert.equal(r.state.kind, 'failed', JSON.stringify(before));
      assert.equal(r.effects.at(-1), 'end-local');
      const end = run([close(0)], r.state).state;
      assert.ok(end.kind === 'closed' && end.end.kind === 'failed');
    }
    // A second failure keeps the first error.
    const twice = run([fail, { type: 'fail', error: new Error('second') }]);
    assert.ok(twice.state.kind === 'failed' && /EACCES/.test(twice.state.error.message));
  });

  test('closed is final: no event changes it or asks for anything', () => {
    const closed = run([start, exitLine(0), close(0)]).state;
    for (const e of [start, exitLine(1), force(124), fail, close(255)]) {
      const next = step(closed, e);
      assert.equal(next.state, closed);
      assert.deepEqual(next.effects, []);
    }
  });

  test('no event leads back to waiting, and close ends every live state', () => {
    const states: SessionState[] = [
      { kind: 'waiting' },
      { kind: 'running' },
      { kind: 'exited', code: 0 },
      { kind: 'killing', code: 124, quiet: false },
      { kind: 'failed', error: new Error('x') },
    ];
    for (const s of states) {
      for (const e of [start, exitLine(0), force(130), fail]) {
        if (s.kind !== 'waiting') assert.notEqual(step(s, e).state.kind, 'waiting', `${s.kind} + ${e.type}`);
        assert.notEqual(step(s, e).state.kind, 'closed', `${s.kind} + ${e.type} closes only on close`);
      }
      assert.equal(step(s, close(null)).state.kind, 'closed');
    }
  });
});

describe('command session: the marked streams', () => {
  const token = 'ab12'.repeat(8);

  function stream(withExit: boolean) {
    const seen = { out: '', starts: 0, exits: [] as number[] };
    const s = new MarkedStream(token, (x) => (seen.out += x), {
      start: () => seen.starts++,
      exit: withExit ? (c) => seen.exits.push(c) : undefined,
    });
    return { s, seen };
  }

  test('the preamble is kept aside, the start line found across chunks, reported once', () => {
    const { s, seen } = stream(true);
    for (const c of ['motd\nFROM_BASHRC\n', token.slice(0, 5), `${token.slice(5)}:st`, 'art\nhello\n'])
      s.push(c);
    assert.equal(s.preamble, 'motd\nFROM_BASHRC\n');
    assert.equal(seen.starts, 1);
    assert.equal(seen.out, 'hello\n');
    s.push(`${token}:start\n`); // a second start line is output, not a new start
    assert.equal(seen.starts, 1);
  });

  test('the exit line is taken out even when split byte by byte; text around it passes', () => {
    const { s, seen } = stream(true);
    s.push(`${token}:start\n`);
    for (const ch of `err1\n${token}:42\ntrailing`) s.push(ch);
    s.flush();
    assert.deepEqual(seen.exits, [42]);
    assert.equal(seen.out, 'err1\ntrailing');
  });

  test('text that merely looks like the token or an exit line passes through untouched', () => {
    const { s, seen } = stream(true);
    s.push(`${token}:start\n`);
    const lookalike = `${token.slice(0, 10)}:0\n${token}:x\n${token}:12`;
    s.push(lookalike);
    s.flush();
    assert.deepEqual(seen.exits, []);
    assert.equal(seen.out, lookalike);
  });

  test('nothing before the start line is output, and flush does not leak it', () => {
    const { s, seen } = stream(false);
    s.push('only preamble, no start line');
    s.flush();
    assert.equal(seen.out, '');
    assert.equal(seen.starts, 0);
    assert.equal(s.preamble, 'only preamble, no start line');
  });
});
