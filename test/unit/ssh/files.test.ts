/**
 * SshRunner's file transfer (rsync over the multiplexed ssh) against a real sshd: upload with modes
 * and parents, syncDir with .skyignore/.gitignore/exclude and delete, the same result as
 * LocalRunner's mirrorDir for a corpus of ignore patterns, hostile file names, and the time of 50
 * small files.
 */
import assert from 'node:assert/strict';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { rsyncFilterRules, type SshRunner } from '../../../src/runtime/ssh-runner.js';
import { mirrorDir } from '../../../src/runtime/sync.js';
import { CloudError } from '../../../src/util/errors.js';
import { hostileCorpus, type SshEnv, sshdUnavailable, sshEnv } from './helpers.js';

const skip = sshdUnavailable();

/** Every path under `dir` (files as `f:path`, dirs as `d:path/`, links as `l:path->target`), sorted. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(rel ? join(dir, rel) : dir)) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(dir, r));
      if (st.isSymbolicLink()) out.push(`l:${r}->${readlinkSync(join(dir, r))}`);
      else if (st.isDirectory()) {
        out.push(`d:${r}/`);
        walk(r);
      } else out.push(`f:${r}:${readFileSync(join(dir, r), 'utf8')}`);
    }
  };
  walk('');
  return out.sort();
}

function write(root: string, rel: string, content = rel): void {
  mkdirSync(join(root, rel, '..'), { recursive: true });
  writeFileSync(join(root, rel), content);
}

/** A source tree with names that ignore patterns like to match. */
function makeSource(root: string): void {
  for (const f of [
    'a.txt',
    'b.log',
    'keep.log',
    'build/out.o',
    'build/sub/deep.o',
    'src/main.c',
    'src/build/gen.c',
    'src/x.log',
    'docs/a/b/c.md',
    'docs/build',
    'foo/bar/baz.txt',
    'x/foo/bar/baz.txt',
    'node_modules/m/index.js',
    '.git/HEAD',
    '.env',
    '#hash',
    'sp ace.txt',
    'data/1.csv',
    'data/2.csv',
    'data/keep/3.csv',
    'abc1.tmp',
    'abd2.tmp',
  ]) {
    write(root, f);
  }
  symlinkSync('a.txt', join(root, 'link-to-a'));
}

describe('rsyncFilterRules', () => {
  test('reverses the order, maps ! to +, anchors patterns with a slash, keeps dir-only', () => {
    assert.deepEqual(rsyncFilterRules(['# c', '', '*.log', '!keep.log', 'build/', '/top', 'a/b', 'x\\#y']), [
      '- x#y',
      '- /a/b',
      '- /top',
      '- build/',
      '+ keep.log',
      '- *.log',
    ]);
  });

  test('a segment-starting ** also matches zero directories', () => {
    assert.deepEqual(rsyncFilterRules(['**/foo']), ['- /**/foo', '- /foo']);
    assert.deepEqual(rsyncFilterRules(['a/**/b/']).sort(), ['- /a/**/b/', '- /a/b/'].sort());
    assert.deepEqual(rsyncFilterRules(['a**/b']), ['- /a**/b']);
  });
});

describe('SshRunner: upload and syncDir', { skip }, () => {
  let env: SshEnv;
  let r: SshRunner;
  let home: string;
  let local: string;
  const canary = `/tmp/skyhop-canary-files-${process.pid}-${Date.now()}`;

  before(async () => {
    env = await sshEnv();
    r = env.runner();
    home = env.sshd.home;
    local = join(env.root, 'local');
    mkdirSync(local);
  });
  after(async () => {
    rmSync(canary, { force: true });
    await env?.cleanup();
  });

  test('upload: parents created, mode kept or set, replaced atomically, ~ and absolute paths', async () => {
    const src = join(local, 'script.sh');
    writeFileSync(src, '#!/bin/sh\necho hi\n', { mode: 0o750 });
    await r.upload(src, '~/a/b/c/script.sh');
    const dest = join(home, 'a/b/c/script.sh');
    assert.equal(readFileSync(dest, 'utf8'), '#!/bin/sh\necho hi\n');
    assert.equal(statSync(dest).mode & 0o777, 0o750);
    await r.upload(src, '~/a/b/c/script.sh', { mode: 0o600 });
    assert.equal(statSync(dest).mode & 0o777, 0o600);
    writeFileSync(src, 'v2\n'); // same size class, new content: always copied
    await r.upload(src, 'rel/dir/file');
    assert.equal(readFileSync(join(home, 'rel/dir/file'), 'utf8'), 'v2\n');
    const abs = join(env.root, 'abs-dest', 'deeper', 'f');
    await r.upload(src, abs, { mode: 0o644 });
    assert.equal(readFileSync(abs, 'utf8'), 'v2\n');
    assert.equal(readdirSync(join(home, 'a/b/c')).length, 1, 'no temp files left');
    await assert.rejects(r.upload(join(local, 'missing'), '~/x'), /not a file/);
    assert.equal((await r.run('cat ~/a/b/c/script.sh')).stdout, '#!/bin/sh\necho hi\n');
  });

  test('upload: a failure is a CloudError naming the node and the path', async () => {
    const src = join(local, 'f');
    writeFileSync(src, 'x');
    writeFileSync(join(home, 'blocker'), 'a file, not a directory');
    await assert.rejects(r.upload(src, '~/blocker/sub/f'), (e: unknown) => {
      assert.ok(e instanceof CloudError);
      assert.match(e.message, /Cannot upload .* to root@127\.0\.0\.1:\d+:~\/blocker\/sub\/f/);
      return true;
    });
  });

  test('syncDir: .gitignore, exclude, nested target, delete keeps excluded files', async () => {
    const src = join(local, 'wd');
    makeSource(src);
    writeFileSync(join(src, '.gitignore'), '*.log\n!keep.log\nbuild/\nnode_modules\n');
    await r.syncDir(src, '~/deep/sky_workdir', { exclude: ['*.tmp'] });
    const dest = join(home, 'deep/sky_workdir');
    const got = tree(dest);
    assert.ok(got.includes('f:keep.log:keep.log'));
    assert.ok(got.includes('f:.git/HEAD:.git/HEAD'), '.git is synced like SkyPilot');
    assert.ok(got.includes('l:link-to-a->a.txt'), 'symlinks stay symlinks');
    assert.ok(got.includes('f:docs/build:docs/build'), 'build/ is directories only');
    for (const gone of ['b.log', 'src/x.log', 'build/', 'src/build/', 'node_modules/', 'abc1.tmp']) {
      assert.ok(!got.some((p) => p.slice(2).startsWith(gone)), `${gone} was synced`);
    }
    // Changes and deletion: remote-only files go, except those the patterns exclude.
    rmSync(join(src, 'a.txt'));
    writeFileSync(join(src, 'new.txt'), 'new');
    write(home, 'deep/sky_workdir/remote-only.txt');
    write(home, 'deep/sky_workdir/remote-only.log');
    await r.syncDir(src, '~/deep/sky_workdir', { exclude: ['*.tmp'], delete: true });
    const after2 = tree(dest);
    assert.ok(after2.includes('f:new.txt:new'));
    assert.ok(!after2.some((p) => p.startsWith('f:a.txt')));
    assert.ok(!after2.some((p) => p.startsWith('f:remote-only.txt')));
    assert.ok(
      after2.some((p) => p.startsWith('f:remote-only.log')),
      'excluded files are kept',
    );
    // Without delete, remote-only files stay.
    write(home, 'deep/sky_workdir/stays.txt');
    await r.syncDir(src, '~/deep/sky_workdir');
    assert.ok(existsSync(join(dest, 'stays.txt')));
    await assert.rejects(r.syncDir(join(local, 'nope'), '~/x'), /not a directory/);
  });

  test('syncDir: .skyignore wins over .gitignore', async () => {
    const src = join(local, 'wd-sky');
    makeSource(src);
    writeFileSync(join(src, '.gitignore'), 'a.txt\n');
    writeFileSync(join(src, '.skyignore'), 'data/\n');
    await r.syncDir(src, '~/skyig');
    const got = tree(join(home, 'skyig'));
    assert.ok(got.includes('f:a.txt:a.txt'));
    assert.ok(!got.some((p) => p.startsWith('d:data') || p.startsWith('f:data/')));
  });

  test('syncDir gives the same tree as LocalRunner`s mirrorDir for each ignore pattern set', async () => {
    const corpus: string[][] = [
      [],
      ['*.log'],
      ['*.log', '!keep.log'],
      ['build/'],
      ['build'],
      ['/build'],
      ['src/build'],
      ['**/foo'],
      ['**/bar'],
      ['foo/bar'],
      ['foo/**'],
      ['docs/**/c.md'],
      ['docs/**'],
      ['a/**/b'],
      ['ab?[12].tmp'],
      ['ab[!c]*'],
      ['*.csv', '!data/keep/3.csv'],
      ['data/*', '!data/keep'],
      ['\\#hash', 'sp ace.txt'],
      ['.*', '!.git'],
      ['*', '!*.c', '!src/'],
      ['node_modules/', '.git/', '*.o'],
      ['**/*.txt', '!**/baz.txt'],
      ['link-to-a'],
    ];
    const src = join(local, 'equiv');
    makeSource(src);
    for (const [i, patterns] of corpus.entries()) {
      const mirror = join(env.root, `mirror-${i}`);
      await mirrorDir(src, mirror, { exclude: patterns });
      await r.syncDir(src, `~/equiv-${i}`, { exclude: patterns });
      assert.deepEqual(tree(join(home, `equiv-${i}`)), tree(mirror), `patterns ${JSON.stringify(patterns)}`);
    }
  });

  test('hostile file names and destinations never execute', async () => {
    rmSync(canary, { force: true });
    const src = join(local, 'hostile');
    mkdirSync(src);
    const corpus = hostileCorpus(canary).filter((v) => !v.includes('/'));
    for (const [i, v] of corpus.entries()) {
      writeFileSync(join(src, v), `content ${i}`);
    }
    await r.syncDir(src, `~/hostile dest/$(touch ${canary})`, { exclude: [] });
    const dest = join(home, `hostile dest/$(touch ${canary})`);
    for (const [i, v] of corpus.entries()) {
      assert.equal(readFileSync(join(dest, v), 'utf8'), `content ${i}`, JSON.stringify(v));
    }
    for (const v of hostileCorpus(canary)) {
      const f = join(src, 'one');
      writeFileSync(f, v);
      await r.upload(f, `~/hostile-up/${v}`);
      assert.equal(readFileSync(join(home, 'hostile-up', v), 'utf8'), v);
    }
    assert.equal(existsSync(canary), false, 'a hostile string was executed');
  });

  test('time: 50 small files by syncDir and by upload', async () => {
    const src = join(local, 'fifty');
    mkdirSync(src);
    for (let i = 0; i < 50; i++) writeFileSync(join(src, `f${i}.txt`), `file ${i}\n`.repeat(20));
    let t = performance.now();
    await r.syncDir(src, '~/fifty');
    const sync = performance.now() - t;
    t = performance.now();
    await r.syncDir(src, '~/fifty');
    const resync = performance.now() - t;
    t = performance.now();
    for (let i = 0; i < 50; i++) await r.upload(join(src, `f${i}.txt`), `~/fifty-up/f${i}.txt`);
    const uploads = performance.now() - t;
    assert.equal(readdirSync(join(home, 'fifty')).length, 50);
    assert.equal(readdirSync(join(home, 'fifty-up')).length, 50);
    console.log(
      `# ssh: 50 small files: syncDir ${sync.toFixed(0)} ms, unchanged re-sync ${resync.toFixed(0)} ms, ` +
        `50 uploads ${uploads.toFixed(0)} ms (${(uploads / 50).toFixed(1)} ms each)`,
    );
  });
});
