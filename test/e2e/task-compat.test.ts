/**
 * A SkyPilot-style task file through the real CLI (issue 10): launched from the project folder with
 * `workdir: .`, a `service:` section ignored with one warning on stderr, the job run on the local cloud.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Sandbox } from './harness.js';

describe('SkyPilot task files unchanged', () => {
  const sb = new Sandbox({ SKYHOP_LOCAL_CPUS: '2' });
  const proj = join(sb.dir, 'proj');
  before(() => {
    mkdirSync(sb.home, { recursive: true });
    mkdirSync(join(proj, 'recipes'), { recursive: true });
    writeFileSync(join(proj, 'marker.txt'), 'workdir-is-the-project\n');
    // As in SkyPilot's repositories: the YAML lives in a sub-folder, its paths are relative to the root.
    writeFileSync(
      join(proj, 'recipes', 'serve.yaml'),
      [
        'service:',
        '  readiness_probe: /',
        '  replicas: 2',
        'workdir: .',
        'resources:',
        '  infra: local',
        'run: cat marker.txt',
        '',
      ].join('\n'),
    );
  });
  after(() => sb.cleanup());

  test('launch warns once about service:, syncs the current directory and runs the task', async () => {
    const dry = await sb.run(['launch', '--dryrun', 'recipes/serve.yaml'], { cwd: proj });
    assert.equal(dry.code, 0, dry.stderr);
    const warning =
      'Warning: recipes/serve.yaml:1:1: service: ignored; services run with skyhop serve up, so the task runs without it';
    assert.equal(dry.stderr.split('\n').filter((l) => l === warning).length, 1, dry.stderr);

    const r = await sb.run(['launch', '-y', '-c', 'compat', 'recipes/serve.yaml'], { cwd: proj });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /workdir-is-the-project/);
    assert.equal(r.stderr.split('\n').filter((l) => l === warning).length, 1, r.stderr);
    // exec of the same file: the same warning once, and the job runs in ~/sky_workdir.
    const e = await sb.run(['exec', 'compat', 'recipes/serve.yaml'], { cwd: proj });
    assert.equal(e.code, 0, e.stderr);
    assert.match(e.stdout, /workdir-is-the-project/);
    assert.equal(e.stderr.split('\n').filter((l) => l === warning).length, 1, e.stderr);
    assert.equal((await sb.run(['down', '-y', 'compat'])).code, 0);
  });
});
