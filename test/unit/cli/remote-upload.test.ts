/**
 * What a command through a team server uploads: the task's folders minus what the sync to the nodes
 * would leave out (.skyignore, else .gitignore) and .git; files named on their own always go.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { uploadFilter } from '../../../src/cli/remote.js';

test('the upload leaves out what the workdir ignores, and .git', async () => {
  const root = mkdtempSync(join(tmpdir(), 'skyhop-upload-'));
  try {
    const wd = join(root, 'proj');
    for (const d of ['src', 'node_modules/x', '.git/objects', 'data'])
      mkdirSync(join(wd, d), { recursive: true });
    writeFileSync(join(wd, '.gitignore'), 'node_modules/\n*.log\n!keep.log\n');
    for (const f of ['src/a.ts', 'node_modules/x/i.js', '.git/HEAD', 'run.log', 'keep.log', 'data/d.csv']) {
      writeFileSync(join(wd, f), 'x');
    }
    const single = join(root, 'task.log');
    writeFileSync(single, 'a file named on its own');
    const keep = await uploadFilter([join(root, 'proj'), single]);
    const sent = (rel: string) => {
      const abs = join(root, rel);
      return keep(abs.slice(1), statSync(abs));
    };
    assert.equal(sent('proj/src/a.ts'), true);
    assert.equal(sent('proj/data/d.csv'), true);
    assert.equal(sent('proj/keep.log'), true);
    assert.equal(sent('proj/.gitignore'), true);
    assert.equal(sent('proj/node_modules'), false);
    assert.equal(sent('proj/run.log'), false);
    assert.equal(sent('proj/.git'), false);
    assert.equal(sent('task.log'), true, 'a file given on its own is not under an ignoring folder');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
