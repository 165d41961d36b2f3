import assert from 'node:assert/strict';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
  chmodSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { makeRunner } from '../../../src/runtime/index.js';
import { compileIgnore, mirrorDir } from '../../../src/runtime/sync.js';
import { tempRoot, uniqueNodeId } from './helpers.js';

function put(root: string, rel: string, content = rel): void {
  const p = join(root, rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, content);
}

describe('compileIgnore (gitignore subset)', () => {
  test('names match at any depth; anchored paths only at the top', () => {
    const ex = compileIgnore(['*.log', '/build', 'docs/tmp', '# comment', '', 'cache/']);
    assert.equal(ex('a.log', false), true);
    assert.equal(ex('x/y/a.log', false), true);
    assert.equal(ex('a.logx', false), false);
    assert.equal(ex('build', true), true);
    assert.equal(ex('src/build', true), false);
    assert.equal(ex('docs/tmp', true), true);
    assert.equal(ex('x/docs/tmp', true), false);
    assert.equal(ex('cache', true), true);
    assert.equal(ex('cache', false), false, 'trailing slash: directories only');
    assert.equal(ex('# comment', false), false);
  });

  test('negation, ** and character classes', () => {
    const ex = compileIgnore(['*.txt', '!keep.txt', '**/gen/**', 'file[0-9].c', 'a?c']);
    assert.equal(ex('x.txt', false), true);
    assert.equal(ex('keep.txt', false), false);
    assert.equal(ex('d/keep.txt', false), false);
    assert.equal(ex('gen/x', false), true);
    assert.equal(ex('a/b/gen/x/y', false), true);
    assert.equal(ex('file7.c', false), true);
    assert.equal(ex('filex.c', false), false);
    assert.equal(ex('abc', false), true);
    assert.equal(ex('a/c', false), false, '? does not match /');
  });
});

describe('mirrorDir and LocalRunner.syncDir', () => {
  const t = tempRoot('sync');
  after(() => t.cleanup());

  test('.skyignore wins over .gitignore; .git is kept; exclude adds patterns', async () => {
    const src = join(t.root, 'w1');
    put(src, '.skyignore', 'secret.env\nbig/\n');
    put(src, '.gitignore', 'main.py\n');
    put(src, 'main.py');
    put(src, 'secret.env');
    put(src, 'big/blob');
    put(src, 'sub/big/x', 'file under sub/big: a dir named big at depth');
    put(src, '.git/HEAD', 'ref: refs/heads/main\n');
    put(src, 'notes.tmp');
    const home = join(t.root, 'n1');
    mkdirSync(home);
    const nodeId = uniqueNodeId('sync');
    t.nodeIds.push(nodeId);
    const runner = makeRunner({ kind: 'local', home, nodeId });
    await runner.syncDir(src, '~/sky_workdir', { exclude: ['*.tmp'] });
    const d = join(home, 'sky_workdir');
    assert.ok(existsSync(join(d, 'main.py')), '.gitignore is not used when .skyignore exists');
    assert.ok(!existsSync(join(d, 'secret.env')));
    assert.ok(!existsSync(join(d, 'big')));
    assert.ok(!existsSync(join(d, 'sub/big')), 'a name pattern matches at any depth');
    assert.ok(existsSync(join(d, '.git/HEAD')));
    assert.ok(existsSync(join(d, '.skyignore')));
    assert.ok(!existsSync(join(d, 'notes.tmp')));
  });

  test('.gitignore is used when there is no .skyignore', async () => {
    const src = join(t.root, 'w2');
    put(src, '.gitignore', '__pycache__/\n*.pyc\n');
    put(src, 'a.py');
    put(src, 'a.pyc');
    put(src, '__pycache__/x');
    const dest = join(t.root, 'd2');
    await mirrorDir(src, dest);
    assert.ok(existsSync(join(dest, 'a.py')));
    assert.ok(!existsSync(join(dest, 'a.pyc')));
    assert.ok(!existsSync(join(dest, '__pycache__')));
  });

  test('copies new and changed files only, keeps modes and symlinks, deletes with delete', async () => {
    const src = join(t.root, 'w3');
    put(src, 'a.txt', 'one');
    put(src, 'run.sh', '#!/bin/sh\n');
    chmodSync(join(src, 'run.sh'), 0o755);
    symlinkSync('a.txt', join(src, 'link'));
    const dest = join(t.root, 'd3');
    const first = await mirrorDir(src, dest);
    assert.equal(first.copied, 3);
    assert.equal(statSync(join(dest, 'run.sh')).mode & 0o777, 0o755);
    assert.ok(lstatSync(join(dest, 'link')).isSymbolicLink());
    assert.equal(readlinkSync(join(dest, 'link')), 'a.txt');
    const again = await mirrorDir(src, dest);
    assert.equal(again.copied, 0, 'unchanged files are not copied again');
    writeFileSync(join(src, 'a.txt'), 'two!');
    utimesSync(join(src, 'a.txt'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    put(dest, 'stale.txt');
    const third = await mirrorDir(src, dest);
    assert.equal(third.copied, 1);
    assert.equal(readFileSync(join(dest, 'a.txt'), 'utf8'), 'two!');
    assert.ok(existsSync(join(dest, 'stale.txt')), 'nothing is deleted without delete');
    const fourth = await mirrorDir(src, dest, { delete: true });
    assert.equal(fourth.deleted, 1);
    assert.ok(!existsSync(join(dest, 'stale.txt')));
  });

  test('a missing source is an error', async () => {
    await assert.rejects(mirrorDir(join(t.root, 'none'), join(t.root, 'dx')), /not a directory/);
  });
});
