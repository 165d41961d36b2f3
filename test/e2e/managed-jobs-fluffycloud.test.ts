/**
 * Managed spot jobs that survive preemption, end to end through the built CLI: the jobs controller
 * (a local cluster) launches each job on FluffyCloud spot instances of the real emulator, which the
 * test preempts with the emulator's admin call while the job runs, and whose capacity it changes so
 * that recovery has to go elsewhere. The job checkpoints into an S3 bucket on moto, mounted on every
 * cluster it runs on (`mode: MOUNT`, real rclone); a `persistent: false` bucket outlives the job's
 * recoveries and goes with the job. FluffyCloud's capacity errors block a whole region, so the
 * places a recovery can be forced to are regions. Every instance, cluster and job is gone at the end.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { type EmulatorHandle, startEmulator } from '../helpers/fluffycloud.js';
import { type MotoHandle, startMoto } from '../helpers/moto.js';
import { clusterInstances, JobsSandbox, liveInstances, preempt, type QueueJob } from './jobs-harness.js';

const KEY_ID = `AKIA${randomBytes(8).toString('hex').toUpperCase()}`;
const SECRET = randomBytes(20).toString('hex');
const API_KEY = `fc-jobs-${randomBytes(8).toString('hex')}`;
const BASE = { users: { e2e: { api_key: API_KEY } }, boot_delay_s: 0 };

type S3 = typeof import('@aws-sdk/client-s3');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const regionOf = (infra: string | null) => infra?.split('/')[1] ?? null;

/** A FluffyCloud spot task: `extra` lines go under `resources:`. */
function spotTask(name: string, run: string[], extra: string[] = []): string {
  return [
    `name: ${name}`,
    'resources:',
    '  cloud: fluffycloud',
    '  instance_type: ff.small',
    '  use_spot: true',
    ...extra.map((l) => `  ${l}`),
    'run: |',
    ...run.map((l) => `  ${l}`),
  ].join('\n');
}

describe('managed spot jobs on FluffyCloud survive preemption (built CLI, emulator, moto S3)', () => {
  let moto: MotoHandle;
  let emu: EmulatorHandle;
  let js: JobsSandbox;
  let sdk: S3;
  let s3: InstanceType<S3['S3Client']>;

  before(async () => {
    moto = await startMoto();
    emu = await startEmulator({ scenario: BASE });
    js = new JobsSandbox({
      SKYHOP_AWS_ENDPOINT_URL: moto.endpoint,
      AWS_ACCESS_KEY_ID: KEY_ID,
      AWS_SECRET_ACCESS_KEY: SECRET,
      AWS_REGION: 'us-east-1',
    });
    emu.writeCredentials(js.sb.home);
    sdk = await import('@aws-sdk/client-s3');
    s3 = new sdk.S3Client({
      endpoint: moto.endpoint,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: { accessKeyId: KEY_ID, secretAccessKey: SECRET },
    });
  });
  // Each test ends with every job ended, every job cluster and FluffyCloud instance gone.
  afterEach(async () => {
    await emu.setScenario(BASE);
    await js.endAll(emu);
  });
  after(async () => {
    try {
      if (js && emu) await js.finish(emu);
    } finally {
      s3?.destroy();
      await emu?.stop();
      await moto?.stop();
    }
  });

  /** The bucket's `key` as text, or null while it does not exist. */
  const object = async (bucket: string, key: string): Promise<string | null> => {
    try {
      const r = await s3.send(new sdk.GetObjectCommand({ Bucket: bucket, Key: key }));
      return await r.Body!.transformToString();
    } catch {
      return null;
    }
  };
  const lines = (text: string | null) => (text ?? '').split('\n').filter(Boolean);

  /** Polls the bucket until `key` has at least `n` lines; its lines. */
  const waitSteps = async (bucket: string, key: string, n: number, id: number): Promise<string[]> => {
    const deadline = Date.now() + 90_000;
    for (;;) {
      const l = lines(await object(bucket, key));
      if (l.length >= n) return l;
      if (Date.now() > deadline) {
        assert.fail(
          `${key} never had ${n} lines (has ${l.length}); controller log:\n${js.controllerLog(id)}`,
        );
      }
      await sleep(300);
    }
  };

  const bucketExists = (bucket: string) =>
    s3.send(new sdk.HeadBucketCommand({ Bucket: bucket })).then(
      () => true,
      () => false,
    );
  /** Polls until the bucket has `key`; its text. */
  const waitObject = async (bucket: string, key: string, id: number): Promise<string> => {
    const deadline = Date.now() + 90_000;
    for (;;) {
      const text = await object(bucket, key);
      if (text !== null) return text;
      if (Date.now() > deadline) assert.fail(`${bucket}/${key} never appeared:\n${js.controllerLog(id)}`);
      await sleep(300);
    }
  };
  /**
   * A bucket skyhop creates for the job and deletes when the job is done (`persistent: false`); each
   * run prints what the previous one left in it, then leaves its own host name.
   */
  const ephemeral = (bucket: string) => ({
    run: [
      'echo "found: $(cat ~/eph/mark 2>/dev/null)"',
      'hostname > ~/eph/mark.tmp && mv ~/eph/mark.tmp ~/eph/mark',
    ],
    mounts: ['file_mounts:', '  ~/eph:', `    name: ${bucket}`, '    mode: MOUNT', '    persistent: false'],
  });

  /** Preempts every instance of the job's current cluster (they must be running). */
  const preemptJob = async (j: QueueJob) => {
    const cluster = j.tasks[0]!.cluster!;
    const insts = await clusterInstances(emu, cluster);
    assert.ok(insts.length > 0, `${cluster} has instances to preempt`);
    for (const i of insts) await preempt(emu, i.id);
  };

  test('a checkpointing job preempted twice moves away, counts every step once, and SUCCEEDS', async () => {
    const bucket = `skyhop-e2e-jobs-${randomBytes(4).toString('hex')}`;
    // The bucket is the test's: skyhop never deletes a bucket it did not create.
    await s3.send(new sdk.CreateBucketCommand({ Bucket: bucket }));
    const N = 10;
    const yaml = js.file(
      'ckpt.yaml',
      [
        spotTask(
          'ckpt',
          [
            'echo "task id: $SKYPILOT_TASK_ID"',
            'C=~/ckpt',
            'while :; do',
            // The checkpoint is the list of steps done: the next step is the last one plus 1.
            '  next=$(( $(tail -n 1 $C/steps 2>/dev/null || echo 0) + 1 ))',
            `  [ $next -gt ${N} ] && break`,
            '  sleep 1',
            // A step counts once its number is in the checkpoint (written whole, then renamed).
            '  { cat $C/steps 2>/dev/null; echo $next; } > $C/steps.tmp && mv $C/steps.tmp $C/steps',
            '  echo "step $next done"',
            'done',
            `echo "all ${N} steps done"`,
          ],
          [],
        ),
        'file_mounts:',
        '  ~/ckpt:',
        `    name: ${bucket}`,
        '    mode: MOUNT',
      ].join('\n'),
    );
    const id = await js.launch([yaml]);
    const first = await js.waitJob(
      id,
      (j) => j.status === 'RUNNING' && j.tasks[0]!.infra !== null,
      'RUNNING',
    );
    const infra1 = first.tasks[0]!.infra!;
    assert.match(infra1, /^fluffycloud\/fluffy-east\//, 'the cheapest spot region first');

    // Preemption 1, once a few steps are in the bucket; its region has no capacity left.
    const seen1 = await waitSteps(bucket, 'steps', 2, id);
    await emu.setScenario({ ...BASE, regions: { 'fluffy-east': { capacity: { '*': 0 } } } });
    await preemptJob(first);
    const after1 = lines(await object(bucket, 'steps')).length;
    assert.ok(after1 >= seen1.length);
    const second = await js.waitJob(
      id,
      (j) => j.recoveryCount === 1 && j.status === 'RUNNING' && j.tasks[0]!.infra !== infra1,
      'RUNNING after the first recovery',
    );
    const infra2 = second.tasks[0]!.infra!;
    assert.equal(regionOf(infra2), 'fluffy-west', `recovered in another region (${infra2})`);

    // Preemption 2, once the second cluster has made progress. The first region still has no capacity,
    // so EAGER_NEXT_REGION's "anywhere but fluffy-west" fails and the job goes back to fluffy-west
    // (FluffyCloud's capacity errors block a whole region, so there is no third place to force).
    await waitSteps(bucket, 'steps', after1 + 2, id);
    await preemptJob(second);

    const end = await js.waitEnded(id, 120_000);
    assert.equal(end.status, 'SUCCEEDED', js.controllerLog(id));
    assert.equal(end.recoveryCount, 2);
    const infra3 = end.tasks[0]!.infra!;
    assert.notEqual(infra3, infra1, 'the last cluster is elsewhere than the first');
    assert.equal(regionOf(infra3), 'fluffy-west', infra3);
    assert.ok(end.cost >= 0, `cost ${end.cost}`);
    assert.equal(end.tasks[0]!.exitCode, 0);

    // Every step counted exactly once, in order.
    assert.deepEqual(
      lines(await object(bucket, 'steps')),
      Array.from({ length: N }, (_, k) => String(k + 1)),
    );

    // The job's output across all three clusters; the same task id in every attempt.
    const logs = await js.run(['jobs', 'logs', String(id)]);
    assert.equal(logs.code, 0, logs.stderr);
    const ids = logs.stdout.match(/^task id: .*$/gm) ?? [];
    assert.equal(ids.length, 3, logs.stdout);
    assert.equal(new Set(ids).size, 1, `one SKYPILOT_TASK_ID: ${ids.join(', ')}`);
    assert.match(ids[0]!, new RegExp(`^task id: skyhop-managed-\\S+_ckpt_${id}-0$`));
    assert.match(logs.stdout, /recovery 1:/);
    assert.match(logs.stdout, /recovery 2:/);
    assert.match(logs.stdout, new RegExp(`all ${N} steps done`));
    assert.match(logs.stdout, /^step 1 done$/m);

    // The controller's log of it: launches, the preemptions and where each recovery went.
    const ctl = await js.run(['jobs', 'logs', '--controller', String(id)]);
    assert.equal(ctl.code, 0, ctl.stderr);
    assert.match(ctl.stdout, new RegExp(`launching ckpt-${id} on fluffycloud/fluffy-east`));
    assert.equal(ctl.stdout.match(/task 0: preempted: /g)?.length, 2, ctl.stdout);
    assert.match(ctl.stdout, /launching ckpt-\d+ on anywhere but fluffycloud\/fluffy-east/);
    assert.match(ctl.stdout, /launch on anywhere but fluffycloud\/fluffy-west failed: /);
    assert.match(ctl.stdout, /launching ckpt-\d+ on any place that fits/);
    assert.match(ctl.stdout, new RegExp(`job ${id}: SUCCEEDED`));

    const { Contents = [] } = await s3.send(new sdk.ListObjectsV2Command({ Bucket: bucket }));
    await s3.send(
      new sdk.DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: Contents.map((o) => ({ Key: o.Key! })) },
      }),
    );
    await s3.send(new sdk.DeleteBucketCommand({ Bucket: bucket }));
  });

  test('EAGER_NEXT_REGION leaves the region after a preemption though it has capacity; FAILOVER stays', async () => {
    const run = ['echo "on $(hostname)"', 'sleep 600'];
    const eph = ephemeral(`skyhop-e2e-eph-${randomBytes(4).toString('hex')}`);
    const eager = js.file(
      'eager.yaml',
      [spotTask('eager', [...eph.run, ...run], ['job_recovery: EAGER_NEXT_REGION']), ...eph.mounts].join(
        '\n',
      ),
    );
    const failover = js.file(
      'failover.yaml',
      spotTask('failover', run, ['job_recovery:', '  strategy: failover']),
    );
    const [e, f] = await Promise.all([js.launch([eager]), js.launch([failover])]);
    const running = (j: QueueJob) => j.status === 'RUNNING' && j.tasks[0]!.infra !== null;
    const [e1, f1] = await Promise.all([
      js.waitJob(e, running, 'RUNNING'),
      js.waitJob(f, running, 'RUNNING'),
    ]);
    assert.equal(regionOf(e1.tasks[0]!.infra), 'fluffy-east');
    assert.equal(regionOf(f1.tasks[0]!.infra), 'fluffy-east');

    const bucket = eph.mounts[2]!.split(': ')[1]!;
    const mark = (await waitObject(bucket, 'mark', e)).trim();
    assert.ok(mark.length > 0);

    // Every region keeps its capacity.
    await Promise.all([preemptJob(e1), preemptJob(f1)]);
    const recovered = (j: QueueJob) => j.recoveryCount === 1 && running(j);
    const [e2, f2] = await Promise.all([
      js.waitJob(e, recovered, 'RUNNING after recovery'),
      js.waitJob(f, recovered, 'RUNNING after recovery'),
    ]);
    assert.equal(regionOf(e2.tasks[0]!.infra), 'fluffy-west', `EAGER_NEXT_REGION: ${e2.tasks[0]!.infra}`);
    assert.equal(regionOf(f2.tasks[0]!.infra), 'fluffy-east', `FAILOVER: ${f2.tasks[0]!.infra}`);
    const where = async (j: QueueJob) => (await clusterInstances(emu, j.tasks[0]!.cluster!))[0]?.region;
    assert.equal(await where(e2), 'fluffy-west', 'the emulator agrees');
    assert.equal(await where(f2), 'fluffy-east', 'the emulator agrees');

    // The recovered run found what the first one left: a recovery keeps even a `persistent: false`
    // bucket (SkyPilot deletes those when the job is done, not at each recovery).
    const deadline = Date.now() + 60_000;
    let found: string[] = [];
    while (found.length < 2 && Date.now() < deadline) {
      const l = await js.run(['jobs', 'logs', '--no-follow', String(e)]);
      found = l.stdout.match(/^found: .*$/gm) ?? [];
      if (found.length < 2) await sleep(300);
    }
    assert.deepEqual(found, ['found: ', `found: ${mark}`], js.controllerLog(e));

    const c = await js.run(['jobs', 'cancel', '-y', String(e), String(f)]);
    assert.equal(c.code, 0, c.stderr);
    for (const id of [e, f]) {
      const end = await js.waitEnded(id);
      assert.equal(end.status, 'CANCELLED', js.controllerLog(id));
    }
    assert.equal(
      await bucketExists(bucket),
      false,
      'the job is done: its persistent: false bucket is deleted',
    );
  });

  test('jobs cancel while RECOVERING (no capacity anywhere) ends CANCELLED and leaves nothing', async () => {
    const bucket = `skyhop-e2e-eph-${randomBytes(4).toString('hex')}`;
    const eph = ephemeral(bucket);
    const yaml = js.file(
      'stuck.yaml',
      [spotTask('stuck', [...eph.run, 'sleep 600']), ...eph.mounts].join('\n'),
    );
    const id = await js.launch([yaml]);
    const j1 = await js.waitJob(id, (j) => j.status === 'RUNNING' && j.tasks[0]!.infra !== null, 'RUNNING');
    await waitObject(bucket, 'mark', id);
    await emu.setScenario({
      ...BASE,
      regions: {
        'fluffy-east': { capacity: { '*': 0 } },
        'fluffy-west': { capacity: { '*': 0 } },
        'fluffy-eu': { unavailable: true },
      },
    });
    await preemptJob(j1);
    // At least one full round of places failed: it keeps retrying.
    const rec = await js.waitJob(
      id,
      (j) => j.status === 'RECOVERING' && /no place yet/.test(j.tasks[0]!.reason ?? ''),
      'RECOVERING with no place yet',
    );
    assert.equal(rec.recoveryCount, 1);
    // The failed launches of the recovery keep the job's bucket and what is in it.
    assert.notEqual(await object(bucket, 'mark'), null, 'the checkpoint survives failed relaunches');

    const c = await js.run(['jobs', 'cancel', '-y', String(id)]);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stderr, new RegExp(`Cancelling managed job\\(s\\) ${id}`));
    const end = await js.waitEnded(id);
    assert.equal(end.status, 'CANCELLED', js.controllerLog(id));
    // CANCELLED is written after the teardown: nothing of the job is left at this point.
    assert.deepEqual(await liveInstances(emu), []);
    assert.deepEqual(await js.controllerClusters(), []);
    assert.equal(
      await bucketExists(bucket),
      false,
      'the job is done: its persistent: false bucket is deleted',
    );
  });
});
