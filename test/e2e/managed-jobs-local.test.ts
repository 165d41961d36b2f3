/**
 * Managed jobs end to end on the local cloud, through the built CLI: the jobs controller is a real
 * local cluster running `skyhop jobs-controller serve`, each job runs on a cluster of its own that the
 * controller launches and tears down. Covers restarts after the code fails (`max_restarts_on_errors`,
 * `recover_on_exit_codes`) and the CLI's user experience (a task typo, an unknown id, the queue).
 * Preemption and failover across regions are in managed-jobs-fluffycloud.test.ts.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { JobsSandbox } from './jobs-harness.js';

describe('managed jobs on the local cloud (built CLI)', () => {
  let js: JobsSandbox;

  before(() => {
    js = new JobsSandbox();
  });
  // Each test leaves no unfinished job and no job cluster behind.
  afterEach(async () => {
    await js.endAll();
  });
  after(async () => {
    await js?.finish();
  });

  test('jobs launch with a typo in the task: file:line:col, nothing submitted, no controller started', async () => {
    const yaml = js.file(
      'typo.yaml',
      [
        'name: typo',
        'resources:',
        '  cloud: local',
        '  job_recovery:',
        '    max_restarts_on_error: 1',
        'run: echo never',
      ].join('\n'),
    );
    const r = await js.run(['jobs', 'launch', '-y', yaml]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `${yaml.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5:5: .*'max_restarts_on_error'.*did you mean 'max_restarts_on_errors'`,
      ),
    );
    assert.doesNotMatch(r.stderr, /Managed job ID|controller/i, 'nothing was submitted');
    assert.equal(js.controllerHome(), null, 'no controller was started');
    const s = await js.run(['status', '--json']);
    assert.deepEqual(JSON.parse(s.stdout).clusters, []);
    const q = await js.run(['jobs', 'queue']);
    assert.equal(q.code, 0, q.stderr);
    assert.match(q.stdout, /No managed jobs/);
  });

  test('max_restarts_on_errors: 1 runs a failing job twice, then FAILED with its exit code', async () => {
    const yaml = js.file(
      'flaky.yaml',
      [
        'name: flaky',
        'resources:',
        '  cloud: local',
        '  job_recovery:',
        '    max_restarts_on_errors: 1',
        'run: |',
        '  echo "attempt of $SKYPILOT_TASK_ID"',
        '  exit 3',
      ].join('\n'),
    );
    const id = await js.launch([yaml]);
    const j = await js.waitEnded(id);
    assert.equal(j.status, 'FAILED', js.controllerLog(id));
    assert.equal(j.tasks[0]!.exitCode, 3);
    assert.equal(j.tasks[0]!.restartsOnErrors, 1);
    assert.equal(j.recoveryCount, 1);
    assert.match(j.reason ?? '', /exit code 3/);

    const logs = await js.run(['jobs', 'logs', String(id)]);
    assert.equal(logs.code, 1, 'logs of a failed job exit 1');
    const attempts = logs.stdout.match(/^attempt of \S+$/gm) ?? [];
    assert.equal(attempts.length, 2, logs.stdout);
    assert.equal(new Set(attempts).size, 1, 'the same SKYPILOT_TASK_ID in both runs');
    assert.match(logs.stderr, new RegExp(`Managed job ${id} FAILED`));

    // The queue table shows the end and the exit code.
    const q = await js.run(['jobs', 'queue']);
    assert.match(q.stdout, new RegExp(`^${id}\\s+0\\s+flaky\\s.*\\bFAILED\\b.*exit code 3`, 'm'));
  });

  test('recover_on_exit_codes restarts on that code (not counted against max_restarts_on_errors); another code fails', async () => {
    const counter = join(js.sb.dir, 'runs-of-picky');
    const picky = js.file(
      'picky.yaml',
      [
        'name: picky',
        'resources:',
        '  cloud: local',
        '  job_recovery:',
        '    recover_on_exit_codes: [7]',
        'run: |',
        `  n=$(cat ${counter} 2>/dev/null || echo 0); n=$((n + 1)); echo $n > ${counter}`,
        '  echo "run $n"',
        '  if [ $n -lt 3 ]; then exit 7; fi',
      ].join('\n'),
    );
    const other = js.file(
      'other.yaml',
      [
        'name: other',
        'resources:',
        '  cloud: local',
        '  job_recovery:',
        '    recover_on_exit_codes: [7]',
        'run: |',
        '  echo "other ran"',
        '  exit 5',
      ].join('\n'),
    );
    const [a, b] = await Promise.all([js.launch([picky]), js.launch([other])]);
    const ja = await js.waitEnded(a);
    assert.equal(ja.status, 'SUCCEEDED', js.controllerLog(a));
    assert.equal(ja.recoveryCount, 2);
    assert.equal(ja.tasks[0]!.restartsOnErrors, 0, 'restarts by exit code are not counted');
    assert.equal(ja.tasks[0]!.exitCode, 0);
    const la = await js.run(['jobs', 'logs', String(a)]);
    assert.equal(la.code, 0, la.stderr);
    assert.deepEqual(la.stdout.match(/^run \d+$/gm), ['run 1', 'run 2', 'run 3']);

    const jb = await js.waitEnded(b);
    assert.equal(jb.status, 'FAILED', js.controllerLog(b));
    assert.equal(jb.tasks[0]!.exitCode, 5);
    assert.equal(jb.recoveryCount, 0);
    const lb = await js.run(['jobs', 'logs', '--no-follow', String(b)]);
    assert.equal(lb.stdout.match(/^other ran$/gm)?.length, 1, lb.stdout);
  });

  test('UX: cancel of an unknown id is a clear error; logs --controller; the queue has SkyPilot columns', async () => {
    const id = await js.launch(['-n', 'hello', '--cloud', 'local', 'echo hello from a managed job']);
    const j = await js.waitEnded(id);
    assert.equal(j.status, 'SUCCEEDED', js.controllerLog(id));

    const unknown = await js.run(['jobs', 'cancel', '-y', '9999']);
    assert.equal(unknown.code, 1, unknown.stderr);
    assert.equal(unknown.stderr.trim(), 'error: there is no managed job 9999');

    const ctl = await js.run(['jobs', 'logs', '--controller', String(id)]);
    assert.equal(ctl.code, 0, ctl.stderr);
    assert.match(ctl.stdout, new RegExp(`launching hello-${id} on local/local`));
    assert.match(ctl.stdout, new RegExp(`tearing down hello-${id}`));
    assert.match(ctl.stdout, new RegExp(`job ${id}: SUCCEEDED`));

    const out = await js.run(['jobs', 'logs', String(id)]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /hello from a managed job/);

    const q = await js.run(['jobs', 'queue']);
    assert.equal(q.code, 0, q.stderr);
    const header = q.stdout.split('\n').find((l) => l.startsWith('ID'));
    assert.ok(header, q.stdout);
    assert.deepEqual(header.trim().split(/\s{2,}/), [
      'ID',
      'TASK',
      'NAME',
      'RESOURCES',
      'SUBMITTED',
      'TOT. DURATION',
      'JOB DURATION',
      '#RECOVERIES',
      'STATUS',
      'COST',
      'DETAILS',
    ]);
    assert.match(q.stdout, new RegExp(`^${id}\\s+0\\s+hello\\s+1x local\\s.*\\bSUCCEEDED\\b`, 'm'));
    const all = await js.run(['jobs', 'queue', '-a']);
    assert.match(all.stdout, /\bSTARTED\s+CLUSTER\s+INFRA\b/);
    assert.match(all.stdout, /local\/local/);
  });
});
