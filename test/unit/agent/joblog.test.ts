import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DISK_FULL_NOTE, JobLog } from '../../../src/agent/joblog.js';
import { waitFor } from '../runtime/helpers.js';

describe('JobLog', () => {
  const root = mkdtempSync(join(tmpdir(), 'skyhop-joblog-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  let n = 0;
  const path = () => join(root, `log${++n}`);

  test('prefixes each line per stream, even when chunks split lines', () => {
    const p = path();
    const log = new JobLog(p, []);
    const a = log.stream('(head, rank=0) ');
    const b = log.stream('(worker1, rank=1) ');
    a.write('hel');
    b.write('one\ntw');
    a.write('lo\nworld\n');
    b.write('o\n');
    a.write('no newline at end');
    log.close();
    assert.equal(
      readFileSync(p, 'utf8'),
      '(worker1, rank=1) one\n(head, rank=0) hello\n(head, rank=0) world\n(worker1, rank=1) two\n' +
        '(head, rank=0) no newline at end\n',
    );
  });

  test('redacts exact secret values, longest first, and each line of a multi-line secret', () => {
    const p = path();
    const log = new JobLog(p, ['hunter2', 'hunter2-long', 'BEGIN KEY\nabc123def\nEND KEY', '']);
    const s = log.stream('');
    s.write('token=hunter2-long and hunter2\n');
    s.write('abc123def\n');
    s.write('nothing secret here\n');
    log.close();
    assert.equal(
      readFileSync(p, 'utf8'),
      'token=<redacted> and <redacted>\n<redacted>\nnothing secret here\n',
    );
  });

  test('an unfinished line is written after a pause and continued without a second prefix', async () => {
    const p = path();
    const log = new JobLog(p, []);
    const s = log.stream('(head, rank=0) ');
    s.write('progress 10%');
    await waitFor('the unfinished line', () => readFileSync(p, 'utf8') === '(head, rank=0) progress 10%');
    s.write(' 20%\nnext\n');
    log.close();
    assert.equal(readFileSync(p, 'utf8'), '(head, rank=0) progress 10% 20%\n(head, rank=0) next\n');
  });

  test('a full disk (/dev/full: ENOSPC) stops the log without throwing, once, and says why', () => {
    const errors: string[] = [];
    const log = new JobLog('/dev/full', [], (e) => errors.push(e.code ?? ''));
    const out = log.stream('');
    assert.doesNotThrow(() => {
      out.write('a line\n');
      out.write('another line\n');
      out.end();
      log.close();
    });
    assert.deepEqual(errors, ['ENOSPC']);
    assert.equal(log.truncated, DISK_FULL_NOTE);
  });
});
