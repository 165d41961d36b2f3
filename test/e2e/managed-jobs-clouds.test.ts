/**
 * Managed jobs across clouds through the built CLI, with the jobs controller on the local cloud:
 * - a 3-task pipeline whose tasks run on three clouds (local, the FluffyCloud emulator, AWS on moto
 *   hosts: real sshd hosts behind moto's instances) and pass a file from one to the next through an
 *   S3 bucket on moto that each task mounts;
 * - a spot job on AWS whose instance is terminated behind skyhop's back mid-run: the controller
 *   notices, launches it again, and the second attempt finishes from the first one's checkpoint.
 * The controller gets the AWS keys and the moto endpoint from the client's environment (carried as
 * credentials at `jobs launch`). Each test leaves no job running and no instance or host up; the
 * suite tears everything down (controller included) and stops the emulators, also on failure.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { type EmulatorHandle, startEmulator } from '../helpers/fluffycloud.js';
import {
  type MotoHandle,
  type MotoHosts,
  motoHostsMissing,
  motoMissing,
  startMoto,
} from '../helpers/moto.js';
import { Sandbox } from './harness.js';
import { MANAGED_TERMINAL_STATUSES } from '../../src/state/index.js';

const missing = motoMissing() ?? motoHostsMissing();
if (missing) console.log(`# managed jobs across clouds skipped: ${missing}`);

type S3 = typeof import('@aws-sdk/client-s3');
type EC2 = typeof import('@aws-sdk/client-ec2');

interface QueueTask {
  name: string;
  status: string;
  infra: string | null;
  recoveryCount: number;
}
interface QueueJob {
  id: number;
  name: string;
  status: string;
  phase: string;
  reason: string | null;
  recoveryCount: number;
  tasks: QueueTask[];
}

const ENDED: ReadonlySet<string> = new Set(MANAGED_TERMINAL_STATUSES);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('managed jobs across clouds (local, FluffyCloud, AWS on moto hosts)', {
  skip: missing ?? false,
}, () => {
  let moto: MotoHandle;
  let hosts: MotoHosts;
  let emu: EmulatorHandle;
  let sb: Sandbox;
  let s3sdk: S3;
  let ec2sdk: EC2;
  let s3: InstanceType<S3['S3Client']>;
  const buckets: string[] = [];
  const suffix = randomBytes(4).toString('hex');

  before(async () => {
    moto = await startMoto({ hosts: true });
    hosts = moto.hosts!;
    emu = await startEmulator({ bootDelayS: 0 });
    sb = new Sandbox({
      SKYHOP_AWS_ENDPOINT_URL: moto.endpoint,
      // No Price List API on moto: a loopback address with nothing listening answers at once.
      SKYHOP_AWS_PRICING_ENDPOINT_URL: 'http://127.0.0.1:9',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_REGION: 'us-east-1',
    });
    mkdirSync(sb.home, { recursive: true });
    mkdirSync(sb.skyhopHome, { recursive: true });
    emu.writeCredentials(sb.home);
    writeFileSync(
      join(sb.skyhopHome, 'config.yaml'),
      'jobs:\n  controller:\n    poll_interval_seconds: 0.5\n',
    );
    s3sdk = await import('@aws-sdk/client-s3');
    ec2sdk = await import('@aws-sdk/client-ec2');
    s3 = new s3sdk.S3Client({
      endpoint: moto.motoEndpoint,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
  });

  /** Every managed job, newest first ([] when the controller is not up). */
  const queue = async (): Promise<QueueJob[]> => {
    const q = await sb.run(['jobs', 'queue', '--json'], { timeoutMs: 60_000 });
    assert.equal(q.code, 0, q.stdout + q.stderr);
    return JSON.parse(q.stdout) as QueueJob[];
  };

  /** Polls (bounded: the bound only keeps a broken run from hanging) until `ok()` holds. */
  const until = async (what: string, ok: () => Promise<boolean> | boolean, tries = 600) => {
    for (let i = 0; !(await ok()); i++) {
      if (i >= tries) assert.fail(`gave up waiting until ${what}`);
      await sleep(500);
    }
  };

  const fluffyInstances = async () =>
    Object.values((await emu.adminState()).instances as Record<string, { status: string }>).filter(
      (i) => i.status !== 'terminated',
    ).length;

  /** Instances moto itself lists as pending or running, in every region a host was launched in. */
  const ec2Running = async () => {
    const regions = new Set(['us-east-1', ...hosts.list().map((h) => h.region)]);
    let n = 0;
    for (const region of regions) {
      const ec2 = new ec2sdk.EC2Client({
        endpoint: moto.motoEndpoint,
        region,
        credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      });
      try {
        const r = await ec2.send(
          new ec2sdk.DescribeInstancesCommand({
            Filters: [{ Name: 'instance-state-name', Values: ['pending', 'running'] }],
          }),
        );
        for (const res of r.Reservations ?? []) n += res.Instances?.length ?? 0;
      } finally {
        ec2.destroy();
      }
    }
    return n;
  };

  /** moto's InstanceLifecycle of an instance ('spot', or undefined for on-demand). */
  const lifecycle = async (region: string, instanceId: string) => {
    const ec2 = new ec2sdk.EC2Client({
      endpoint: moto.motoEndpoint,
      region,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
    try {
      const r = await ec2.send(new ec2sdk.DescribeInstancesCommand({ InstanceIds: [instanceId] }));
      return r.Reservations?.[0]?.Instances?.[0]?.InstanceLifecycle;
    } finally {
      ec2.destroy();
    }
  };

  /** Cancels every job and waits until each has ended and its clusters are gone. */
  const settleJobs = async () => {
    const c = await sb.run(['jobs', 'cancel', '-a', '-y'], { timeoutMs: 60_000 }).catch(() => null);
    if (!c) return;
    await until(
      'every managed job ended and was cleaned up',
      async () => {
        const q = await sb.run(['jobs', 'queue', '--json'], { timeoutMs: 60_000 }).catch(() => null);
        if (q?.code !== 0) return false;
        return (JSON.parse(q.stdout) as QueueJob[]).every((j) => ENDED.has(j.status) && j.phase === 'idle');
      },
      240,
    );
  };

  /** Nothing but the controller is left: no FluffyCloud instance, no moto instance or host. */
  const assertNothingRuns = async () => {
    await until('no FluffyCloud instance is left', async () => (await fluffyInstances()) === 0, 120);
    await until('no moto host is left', () => hosts.running() === 0, 120);
    assert.equal(await ec2Running(), 0, 'moto lists no pending or running instance');
    const st = await sb.run(['status', '--json']);
    const names = (JSON.parse(st.stdout) as { clusters: Array<{ name: string }> }).clusters.map(
      (c) => c.name,
    );
    assert.deepEqual(
      names.filter((n) => n !== 'skyhop-jobs-controller'),
      [],
    );
  };

  afterEach(async () => {
    if (!sb) return;
    await settleJobs();
    await assertNothingRuns();
  });

  after(async () => {
    try {
      if (sb) {
        let d: Awaited<ReturnType<Sandbox['run']>> | null = null;
        try {
          await settleJobs().catch(() => {});
          d = await sb.run(['down', '-a', '-y'], { timeoutMs: 180_000 });
        } finally {
          // Whatever happened: every cluster's record purged, every process of the sandbox killed.
          await sb.cleanup();
        }
        assert.equal(d.code, 0, d.stdout + d.stderr);
        if (emu) assert.equal(await fluffyInstances(), 0, 'no FluffyCloud instance left');
        if (hosts) {
          assert.equal(hosts.running(), 0, 'no moto host left');
          assert.equal(await ec2Running(), 0, 'no moto instance left');
          assert.deepEqual([...hosts.errors], [], 'the moto hosts had no trouble');
        }
      }
    } finally {
      if (s3) {
        for (const b of buckets) await emptyAndDelete(b).catch(() => {});
        s3.destroy();
      }
      await emu?.stop();
      await moto?.stop();
    }
  });

  const emptyAndDelete = async (bucket: string) => {
    const l = await s3.send(new s3sdk.ListObjectsV2Command({ Bucket: bucket }));
    for (const o of l.Contents ?? [])
      await s3.send(new s3sdk.DeleteObjectCommand({ Bucket: bucket, Key: o.Key! }));
    await s3.send(new s3sdk.DeleteBucketCommand({ Bucket: bucket }));
  };
  const getText = async (bucket: string, key: string) => {
    const r = await s3.send(new s3sdk.GetObjectCommand({ Bucket: bucket, Key: key }));
    return r.Body!.transformToString();
  };
  const hasObject = (bucket: string, key: string) =>
    s3.send(new s3sdk.HeadObjectCommand({ Bucket: bucket, Key: key })).then(
      () => true,
      () => false,
    );

  const file = (name: string, text: string) => {
    const p = join(sb.dir, name);
    writeFileSync(p, text);
    return p;
  };

  test('a pipeline of 3 tasks on local, FluffyCloud and AWS passes a file along through a bucket', async () => {
    const bucket = `skyhop-e2e-relay-${suffix}`;
    buckets.push(bucket);
    const token = `tok-${randomBytes(6).toString('hex')}`;
    const mount = ['file_mounts:', '  ~/data:', `    name: ${bucket}`, '    mode: MOUNT'];
    const yaml = file(
      'relay.yaml',
      [
        'name: relay',
        '---',
        'name: produce',
        'resources:',
        '  cloud: local',
        'envs:',
        `  TOKEN: ${token}`,
        ...mount,
        'run: |',
        '  echo "$TOKEN" > ~/data/one.txt',
        '  echo "produced $TOKEN on $SKYPILOT_TASK_ID"',
        '---',
        'name: transform',
        'resources:',
        '  cloud: fluffycloud',
        ...mount,
        'run: |',
        '  t=$(cat ~/data/one.txt)',
        '  echo "$t-via-fluffy" > ~/data/two.txt',
        '  echo "transformed $t"',
        '---',
        'name: consume',
        'resources:',
        '  cloud: aws',
        '  region: us-east-1',
        '  instance_type: t3.micro',
        ...mount,
        'run: |',
        '  echo "final: $(cat ~/data/two.txt)-on-aws"',
        '  echo "task ids: $(printf "%s\\n" "$SKYPILOT_TASK_IDS" | wc -l)"',
        '  printf "%s\\n" "$SKYPILOT_TASK_IDS" | sed "s/^/id: /"',
      ].join('\n'),
    );
    const r = await sb.run(['jobs', 'launch', '-y', yaml], { timeoutMs: 600_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.ok(r.stdout.includes(`final: ${token}-via-fluffy-on-aws`), r.stdout + r.stderr);
    assert.match(r.stdout, /task ids: 3\b/);
    const ids = [...r.stdout.matchAll(/^id: (\S+)$/gm)].map((m) => m[1]);
    assert.equal(ids.length, 3, r.stdout);
    for (const [i, id] of ids.entries())
      assert.match(id!, new RegExp(`^skyhop-managed-\\S+_relay_\\d+-${i}$`));

    const [job] = await queue();
    assert.equal(job?.name, 'relay');
    assert.equal(job?.status, 'SUCCEEDED', JSON.stringify(job));
    assert.deepEqual(
      job!.tasks.map((t) => [t.name, t.status]),
      [
        ['produce', 'SUCCEEDED'],
        ['transform', 'SUCCEEDED'],
        ['consume', 'SUCCEEDED'],
      ],
    );
    const infra = job!.tasks.map((t) => t.infra ?? '');
    assert.match(infra[0]!, /^local\//);
    assert.match(infra[1]!, /^fluffycloud\//);
    assert.match(infra[2]!, /^aws\/us-east-1/);
    assert.equal(hosts.list().length, 1, 'one AWS instance was launched (task 3)');

    await until('every cluster of the job is gone', async () => (await queue())[0]?.phase === 'idle');
    await assertNothingRuns();
    assert.equal((await getText(bucket, 'one.txt')).trim(), token);
    assert.equal((await getText(bucket, 'two.txt')).trim(), `${token}-via-fluffy`);
  });

  /** A spot job whose instance the cloud terminates (or stops) behind skyhop's back. */
  async function spotRecovery(how: 'terminate' | 'stop'): Promise<void> {
    const bucket = `skyhop-e2e-spot-${how}-${suffix}`;
    buckets.push(bucket);
    const yaml = file(
      'spot.yaml',
      [
        'name: spotty',
        'resources:',
        '  cloud: aws',
        '  instance_type: t3.micro',
        '  use_spot: true',
        'file_mounts:',
        '  ~/ckpt:',
        `    name: ${bucket}`,
        '    mode: MOUNT',
        'run: |',
        '  if [ -f ~/ckpt/started ]; then',
        '    echo "attempt 2 resumes after: $(cat ~/ckpt/started)"',
        '    exit 0',
        '  fi',
        '  echo "attempt 1 on $(hostname)" > ~/ckpt/started',
        '  echo "attempt 1 running on $(hostname)"',
        '  while :; do echo tick; sleep 1; done',
      ].join('\n'),
    );
    const before = hosts.list().length;
    const l = await sb.run(['jobs', 'launch', '-y', '-d', '--use-spot', yaml], { timeoutMs: 300_000 });
    assert.equal(l.code, 0, l.stdout + l.stderr);
    const id = Number(/Managed job ID: (\d+)/.exec(l.stdout + l.stderr)?.[1]);
    assert.ok(id > 0, l.stdout + l.stderr);

    const logs = async () => {
      const g = await sb.run(['jobs', 'logs', '--no-follow', String(id)], { timeoutMs: 60_000 });
      return g.stdout;
    };
    // The first attempt is running: its checkpoint is in the bucket and its output in the job's log.
    const stillOn = async () => {
      const j = (await queue()).find((x) => x.id === id);
      if (j && ENDED.has(j.status)) assert.fail(`the job ended early: ${JSON.stringify(j)}`);
    };
    await until('the first attempt wrote its checkpoint', async () => {
      await stillOn();
      return hasObject(bucket, 'started');
    });
    await until('the first attempt shows in the log', async () =>
      /attempt 1 running on \S+\ntick\n/.test(await logs()),
    );
    const running = await queue();
    const job1 = running.find((j) => j.id === id)!;
    assert.equal(job1.status, 'RUNNING');
    const firstInfra = job1.tasks[0]!.infra ?? '';
    assert.match(firstInfra, /^aws\//);
    const live = hosts.list().filter((h) => h.state === 'running');
    assert.equal(live.length, 1);
    assert.equal(hosts.list().length, before + 1);
    const victim = live[0]!;
    assert.ok(firstInfra.startsWith(`aws/${victim.region}`), `${firstInfra} vs ${victim.region}`);

    assert.equal(await lifecycle(victim.region, victim.instanceId), 'spot', 'launched as a spot instance');

    if (how === 'terminate') await hosts.terminateBehindBack(victim.instanceId);
    else await hosts.stopBehindBack(victim.instanceId);
    assert.equal(hosts.get(victim.instanceId)?.state, how === 'terminate' ? 'terminated' : 'stopped');

    let end: QueueJob | undefined;
    await until('the job ended', async () => {
      end = (await queue()).find((j) => j.id === id);
      return end !== undefined && ENDED.has(end.status);
    });
    assert.equal(end!.status, 'SUCCEEDED', JSON.stringify(end));
    assert.equal(end!.recoveryCount, 1);
    assert.equal(end!.tasks[0]!.recoveryCount, 1);
    assert.match(end!.tasks[0]!.infra ?? '', /^aws\//);
    assert.equal(hosts.list().length, before + 2, 'a second instance was launched');
    const second = hosts.list().at(-1)!;
    assert.ok(end!.tasks[0]!.infra?.startsWith(`aws/${second.region}`), `${end!.tasks[0]!.infra}`);
    assert.notEqual(second.region, victim.region, 'EAGER_NEXT_REGION: recovered in another region');
    assert.equal(await lifecycle(second.region, second.instanceId), 'spot', 'recovered on spot too');

    const out = await logs();
    assert.match(out, /attempt 1 running on/);
    assert.match(out, /tick/);
    assert.match(out, /recovery 1/);
    assert.match(out, new RegExp(`attempt 2 resumes after: attempt 1 on ${victim.hostname}`));

    await until(
      'the recovered cluster is gone',
      async () => (await queue()).find((j) => j.id === id)?.phase === 'idle',
    );
    await assertNothingRuns();
    // The first cluster was torn down during the recovery, stopped or not.
    assert.equal(hosts.get(victim.instanceId)?.state, 'terminated');
  }

  test('a spot job on AWS whose instance is terminated behind its back recovers and succeeds', () =>
    spotRecovery('terminate'));

  test('a spot job on AWS whose instance is stopped behind its back recovers and succeeds', () =>
    spotRecovery('stop'));
});
