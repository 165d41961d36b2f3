/**
 * A job submission on a head node whose disk is full to the last byte fails with a clear line at
 * once. (It used to loop forever: the exclusive create of jobs/<id>.json succeeded, the write failed,
 * and the file then existing read as "this id is taken", so it tried the next id, and the next.)
 * Real parts: a 1 MiB tmpfs as the node's HOME, the local runner, the real submission script.
 * Needs root (mount): outside CI a failed mount skips; under CI=true it fails.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { submitJob } from '../../../src/agent/client.js';
import { AGENT_DIR } from '../../../src/agent/types.js';
import { makeRunner } from '../../../src/runtime/index.js';
import { CloudError } from '../../../src/util/errors.js';
import { fillDisk, mountTmpfs, type Tmpfs } from '../../helpers/tmpfs.js';
import { baseSpec } from './cluster.js';

describe('submitting a job on a full disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'skyhop-fullsubmit-'));
  let fs: Tmpfs;
  before(() => {
    fs = mountTmpfs(dir, '1m');
  });
  after(() => {
    try {
      fs?.unmount();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('fails with one line naming the spec file, and claims one id at most', {
    timeout: 60_000,
  }, async (t) => {
    if (fs.error) {
      t.skip(fs.error);
      return;
    }
    const home = join(dir, 'home');
    const jobs = join(home, AGENT_DIR.replace(/^~\//, ''), 'jobs');
    mkdirSync(jobs, { recursive: true });
    fillDisk(join(dir, 'filler'));
    const head = makeRunner({ kind: 'local', home, nodeId: 'full-head' });
    try {
      await assert.rejects(
        submitJob(head, { ...baseSpec, name: 'big', run: `echo ${'x'.repeat(8000)}` }),
        (e: unknown) => {
          assert.ok(e instanceof CloudError, String(e));
          assert.match((e as Error).message, /cannot write .*jobs\/1\.json.*disk/);
          return true;
        },
      );
      assert.ok(readdirSync(jobs).length <= 1, `ids claimed: ${readdirSync(jobs).join(' ')}`);
    } finally {
      await head.close();
    }
  });
});
