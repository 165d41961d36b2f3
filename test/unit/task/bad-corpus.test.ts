/**
 * The bad-YAML corpus: every file in test/fixtures/tasks/bad/ starts with `# expect: MESSAGE`, the
 * exact one-line UserError it must give ({file} = the path as passed, {dir} = the corpus folder,
 * absolute, {cwd} = the current directory, the repository root). Catalog checks run against the small test clouds of helpers.ts.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { parseTaskFile } from '../../../src/task/index.js';
import { UserError } from '../../../src/util/errors.js';
import { testKnown } from './helpers.js';

const dir = join('test', 'fixtures', 'tasks', 'bad');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

describe('bad task YAML corpus', () => {
  const known = testKnown();

  it('has at least 30 cases', () => {
    assert.ok(files.length >= 30, `only ${files.length} cases`);
  });

  for (const f of files) {
    it(f, () => {
      const path = join(dir, f);
      const first = readFileSync(path, 'utf8').split('\n')[0];
      const m = /^# expect: (.+)$/.exec(first);
      assert.ok(m, `${f} must start with '# expect: MESSAGE'`);
      const expected = m[1]
        .replaceAll('{file}', path)
        .replaceAll('{dir}', resolve(dir))
        .replaceAll('{cwd}', process.cwd());
      assert.throws(
        () => parseTaskFile(path, { known }),
        (e: unknown) => {
          assert.ok(e instanceof UserError, `not a UserError: ${String(e)}`);
          assert.equal(e.message, expected);
          assert.ok(!e.message.includes('\n'), 'a user error is one line');
          return true;
        },
      );
    });
  }
});
