/**
 * A request on a team server reads every local path the command names from the client's uploaded
 * mirror (SKYHOP_CLIENT_ROOT), never from the server's own files: absolute paths, relative ones whose
 * `..` climb above the mirror, `~`, and a task file named on the command line that the client did not
 * upload. Real files in a temp folder; the worker's environment is set as the server sets it.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { isYamlPath } from '../../../src/sdk/tasks.js';
import { clientPath } from '../../../src/task/command.js';
import { parseTaskFile } from '../../../src/task/parse.js';

let dir: string;
let root: string;
let serverFiles: string;
const saved = { ...process.env };

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'skyhop-client-paths-'));
  root = join(dir, 'uploads', 'bob', 'U1');
  serverFiles = join(dir, 'server-secrets');
  mkdirSync(serverFiles, { recursive: true });
  writeFileSync(join(serverFiles, 'id_rsa'), 'SERVER KEY');
  writeFileSync(join(serverFiles, 'task.yaml'), 'run: echo server\n');
  // The client's files, mirrored by absolute path.
  mkdirSync(join(root, 'home', 'bob', 'proj'), { recursive: true });
  writeFileSync(join(root, 'home', 'bob', 'proj', 'x.txt'), 'client');
});
afterEach(() => {
  for (const k of ['SKYHOP_CLIENT_ROOT', 'SKYHOP_CLIENT_CWD', 'SKYHOP_CLIENT_HOME']) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

function asServer(o: { cwd?: string; home?: string } = {}) {
  process.env.SKYHOP_CLIENT_ROOT = root;
  process.env.SKYHOP_CLIENT_CWD = o.cwd ?? '/home/bob';
  process.env.SKYHOP_CLIENT_HOME = o.home ?? '/home/bob';
}

test('without a server, paths are this machine’s', () => {
  assert.equal(clientPath('/etc/passwd'), '/etc/passwd');
  assert.equal(clientPath('a/b', '/x'), '/x/a/b');
});

test('absolute, relative, ~ and .. paths of a request all land in the mirror', () => {
  asServer();
  const base = join(root, 'home', 'bob'); // the worker's cwd: the client's cwd in the mirror
  assert.equal(clientPath('/etc/passwd', base), join(root, 'etc', 'passwd'));
  assert.equal(clientPath(serverFiles, base), join(root, serverFiles));
  assert.equal(clientPath('proj/x.txt', base), join(root, 'home/bob/proj/x.txt'));
  assert.equal(clientPath('~/proj', base), join(root, 'home/bob/proj'));
  assert.equal(clientPath('~', base), join(root, 'home/bob'));
  // `..` stop at the client's `/`, as on the client: never the mirror's parents.
  assert.equal(clientPath('../../../../../../../../..', base), root);
  assert.equal(clientPath(`../../../../../../../../..${serverFiles}`, base), join(root, serverFiles));
  // A worker whose cwd is outside the mirror (an empty folder): relative to the client's cwd.
  const empty = join(dir, 'empty');
  assert.equal(clientPath('..', empty), join(root, 'home'));
  assert.equal(clientPath('../../..', empty), root);
  // A path already in the mirror (the server mapped it) stays.
  assert.equal(clientPath(join(root, 'home/bob/proj'), base), join(root, 'home/bob/proj'));
});

test('a task file the client did not upload is not the server’s own file', () => {
  asServer();
  // The file exists on the server, not in the mirror.
  assert.equal(isYamlPath(join(serverFiles, 'id_rsa')), false);
  assert.throws(() => parseTaskFile(join(serverFiles, 'task.yaml')), /no such file/);
  assert.throws(() => parseTaskFile(`../../../../../../../..${serverFiles}/task.yaml`), /no such file/);
});

test('a task’s workdir and file_mounts never name the server’s own folders', () => {
  asServer();
  const tdir = join(root, 'home', 'bob');
  const cases = [
    `workdir: ${serverFiles}\nrun: ls\n`,
    `workdir: ../../../../../../../../../..${serverFiles}\nrun: ls\n`,
    `file_mounts:\n  /k: ${serverFiles}/id_rsa\nrun: ls\n`,
    `file_mounts:\n  /k: ../../../../../../../../../..${serverFiles}/id_rsa\nrun: ls\n`,
  ];
  for (const [i, text] of cases.entries()) {
    writeFileSync(join(tdir, `t${i}.yaml`), text);
    assert.throws(
      () => parseTaskFile(`/home/bob/t${i}.yaml`),
      (e: Error) => /does not exist/.test(e.message) && e.message.includes(root),
      text,
    );
  }
  // What the client uploaded is found, by its own absolute, relative or ~ path.
  writeFileSync(
    join(tdir, 'ok.yaml'),
    'workdir: ~/proj\nfile_mounts:\n  /a: proj/x.txt\n  /b: /home/bob/proj/x.txt\nrun: ls\n',
  );
  const dag = parseTaskFile('/home/bob/ok.yaml', { baseDir: tdir });
  const t = dag.tasks[0];
  assert.equal(t.workdir, join(root, 'home/bob/proj'));
  assert.equal(t.fileMounts['/a'], join(root, 'home/bob/proj/x.txt'));
  assert.equal(t.fileMounts['/b'], join(root, 'home/bob/proj/x.txt'));
});
