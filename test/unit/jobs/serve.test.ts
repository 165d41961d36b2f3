/**
 * The controller's process (`serve`): one per $SKYHOP_HOME, seen by `controllerServing`, exits 0 once
 * idle, and a job submitted through the rpc `submit` is picked up, run on the local cloud and ended.
 */
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { afterEach, beforeEach, test } from 'node:test';
import { controllerServing, EXIT_ALREADY_SERVED, serve } from '../../../src/jobs/controller.js';
import { jobFiles, secretsPath } from '../../../src/jobs/files.js';
import { openStore } from '../../../src/state/index.js';
import { tempHome } from '../state/helpers.js';

let t: ReturnType<typeof tempHome>;
beforeEach(() => {
  t = tempHome();
});
afterEach(() => {
  openStore().close();
  t.cleanup();
});

test('one controller per home; it is seen serving, and exits 0 once idle', async () => {
  assert.equal(await controllerServing(), false);
  const first = serve({ idleMs: 600, pollMs: 100 });
  for (let i = 0; i < 50 && !(await controllerServing()); i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(await controllerServing(), true);
  assert.equal(await serve({ idleMs: 100, pollMs: 100 }), EXIT_ALREADY_SERVED);
  assert.equal(await first, 0);
  assert.equal(await controllerServing(), false);
});

test('a submitted job runs on its own local cluster, ends SUCCEEDED, and its cluster is gone', async () => {
  const { recordSubmission } = await import('../../../src/jobs/rpc.js');
  const store = openStore();
  // What `jobs-controller submit` does with the client's submission.
  const submission = {
    name: 'hello',
    user: 'u',
    dag: {
      tasks: [
        {
          name: 'hello',
          numNodes: 1,
          envs: {},
          secrets: { TOKEN: '' },
          fileMounts: {},
          run: 'echo "task $SKYPILOT_TASK_ID token ${#TOKEN}"',
          resources: [{ cloud: 'local', useSpot: false }],
          ordered: false,
        },
      ],
      edges: [],
    },
    secrets: [{ TOKEN: 'sekret' }],
    request: { clouds: ['local'], preferred: [{ cloud: 'local', region: 'local' }] },
  };
  const id = recordSubmission(submission);
  const f = jobFiles(t.home, id);
  const key = (JSON.parse(store.managedJobInput(id)!.request) as { secretsKey: string }).secretsKey;
  const secrets = secretsPath(t.home, key);
  assert.equal(statSync(secrets).mode & 0o777, 0o600);
  const done = serve({ idleMs: 300, pollMs: 100 });
  assert.equal(await done, 0);
  const j = store.getManagedJob(id)!;
  assert.equal(j.status, 'SUCCEEDED', j.reason ?? '');
  assert.equal(j.phase, 'idle');
  assert.equal(j.tasks[0]!.cluster, null);
  assert.equal(store.listClusters().length, 0);
  const { readFileSync } = await import('node:fs');
  const out = readFileSync(f.runLog, 'utf8');
  assert.match(out, /task skyhop-managed-\S+_hello_1-0 token 6/);
  assert.doesNotMatch(readFileSync(f.controllerLog, 'utf8'), /sekret/);
  // Ended: its secrets (kept only for relaunches) are gone.
  assert.equal(existsSync(secrets), false);
});

test('a job whose secret values are gone from the controller ends FAILED_PRECHECKS, naming the secret', async () => {
  const { recordSubmission } = await import('../../../src/jobs/rpc.js');
  const store = openStore();
  const id = recordSubmission({
    name: 'nosecret',
    user: 'u',
    dag: {
      tasks: [
        {
          name: 'nosecret',
          numNodes: 1,
          envs: {},
          secrets: { TOKEN: '' },
          fileMounts: {},
          run: 'echo never',
          resources: [{ cloud: 'local', useSpot: false }],
          ordered: false,
        },
      ],
      edges: [],
    },
    secrets: [{}],
    request: { clouds: ['local'], preferred: [null] },
  });
  assert.equal(await serve({ idleMs: 300, pollMs: 100 }), 0);
  const j = store.getManagedJob(id)!;
  assert.equal(j.status, 'FAILED_PRECHECKS');
  assert.match(j.reason ?? '', /secret TOKEN are gone/);
  assert.equal(store.listClusters().length, 0);
});
