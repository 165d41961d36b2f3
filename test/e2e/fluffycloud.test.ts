/**
 * FluffyCloud end to end through the real CLI: the emulator over real HTTP, its instances real SSH
 * hosts, the agent on the head node over SSH. Each scenario sets the emulator's behaviour and
 * checks what a user sees; every test leaves the emulator with zero instances.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { getCloud } from '../../src/clouds/registry.js';
import { optimize } from '../../src/optimizer/index.js';
import { taskFromCommand } from '../../src/task/index.js';
import { type EmulatorHandle, startEmulator } from '../helpers/fluffycloud.js';
import { Sandbox } from './harness.js';

const KEY = 'fc-e2e-key';
const scenario = (extra: object = {}) => ({ users: { e2e: { api_key: KEY } }, boot_delay_s: 0, ...extra });

async function live(emu: EmulatorHandle): Promise<string[]> {
  const all = await emu.listInstances();
  return Object.entries(all)
    .filter(([, i]) => i.status !== 'terminated')
    .map(([id]) => id);
}

/** The cheapest region for an inline command on FluffyCloud, given blocked regions. */
function cheapestRegion(blocked: string[]): string {
  const dag = taskFromCommand('true');
  dag.tasks[0].resources = [{ cloud: 'fluffycloud', useSpot: false }];
  const plan = optimize(dag, {
    clouds: [getCloud('fluffycloud')],
    blocklist: blocked.map((region) => ({ cloud: 'fluffycloud', region })),
  });
  return plan.tasks[0].choice.region;
}

describe('FluffyCloud end to end', () => {
  let emu: EmulatorHandle;
  const sb = new Sandbox();
  before(async () => {
    mkdirSync(sb.home, { recursive: true });
    emu = await startEmulator({ scenario: scenario() });
    emu.writeCredentials(sb.home);
  });
  after(async () => {
    await sb.cleanup();
    await emu?.stop();
  });
  const reset = () => emu.setScenario(scenario());

  test('hello world and a 2-node job; down leaves the emulator with zero instances', async () => {
    const r = await sb.run(['launch', '-y', '-c', 'fh', '--cloud', 'fluffycloud', 'examples/hello.yaml']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /hello from skyhop/);
    assert.match(r.stderr, /Launching fh on fluffycloud\//);
    const e = await sb.run(['exec', 'fh', 'hostname; echo home=$HOME']);
    assert.equal(e.code, 0, e.stderr);
    assert.match(e.stdout, /home=\/root/);
    assert.ok(existsSync(join(sb.skyhopHome, 'keys', 'fh')), 'the cluster has its own SSH key');
    assert.equal((await sb.run(['down', '-y', 'fh'])).code, 0);
    assert.deepEqual(await live(emu), []);
    assert.equal(existsSync(join(sb.skyhopHome, 'keys', 'fh')), false, 'down removes the cluster key');

    const two = await sb.run([
      'launch',
      '-y',
      '-c',
      'f2',
      '--cloud',
      'fluffycloud',
      '--num-nodes',
      '2',
      'echo "rank=$SKYPILOT_NODE_RANK host=$(hostname) ips=$(echo $SKYPILOT_NODE_IPS)"',
    ]);
    assert.equal(two.code, 0, two.stderr);
    const lines = two.stdout.split('\n').filter((l) => l.includes('rank='));
    assert.equal(lines.length, 2, two.stdout);
    assert.ok(lines.some((l) => l.includes('rank=0')) && lines.some((l) => l.includes('rank=1')));
    const hosts = new Set(lines.map((l) => l.match(/host=(\S+)/)![1]));
    assert.equal(hosts.size, 2, 'each rank ran on its own host');
    const ips = lines[0]
      .match(/ips=(.*)$/)![1]
      .trim()
      .split(' ');
    assert.equal(ips.length, 2);
    assert.equal((await sb.run(['down', '-y', 'f2'])).code, 0);
    assert.deepEqual(await live(emu), []);
  });

  test('no capacity in the cheapest region: fails over to the next-cheapest', async () => {
    const first = cheapestRegion([]);
    const second = cheapestRegion([first]);
    await emu.setScenario(scenario({ regions: { [first]: { capacity: { '*': 0 } } } }));
    try {
      const r = await sb.run(['launch', '-y', '-c', 'fo', '--cloud', 'fluffycloud', 'echo landed']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /landed/);
      assert.match(r.stderr, new RegExp(`FluffyCloudError: .*${first}`));
      assert.match(r.stderr, new RegExp(`blocking fluffycloud/${first}`));
      const st = JSON.parse((await sb.run(['status', '--json'])).stdout).clusters;
      assert.equal(st.find((c: { name: string }) => c.name === 'fo').region, second);
      assert.equal((await sb.run(['down', '-y', 'fo'])).code, 0);
    } finally {
      await reset();
    }
    assert.deepEqual(await live(emu), []);
  });

  test('FluffyCloud exhausted everywhere: fails over to the next cloud in the plan', async () => {
    const none = { capacity: { '*': 0 } };
    await emu.setScenario(
      scenario({ regions: { 'fluffy-east': none, 'fluffy-west': none, 'fluffy-eu': none } }),
    );
    const f = join(sb.dir, 'ordered.yaml');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(
      f,
      'resources:\n  ordered:\n    - cloud: fluffycloud\n    - cloud: local\nrun: echo fell-back\n',
    );
    try {
      const r = await sb.run(['launch', '-y', '-c', 'fx', f]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /fell-back/);
      for (const region of ['fluffy-east', 'fluffy-west', 'fluffy-eu']) {
        assert.match(r.stderr, new RegExp(`blocking fluffycloud/${region}`));
      }
      assert.match(r.stderr, /Launching fx on local/);
      assert.equal((await sb.run(['down', '-y', 'fx'])).code, 0);
    } finally {
      await reset();
    }
    assert.deepEqual(await live(emu), []);
  });

  test('--retry-until-up keeps cycling with backoff until capacity comes back', async () => {
    const none = { capacity: { '*': 0 } };
    await emu.setScenario(
      scenario({ regions: { 'fluffy-east': none, 'fluffy-west': none, 'fluffy-eu': none } }),
    );
    try {
      const child = sb.spawn([
        'launch',
        '-y',
        '-c',
        'fu',
        '--cloud',
        'fluffycloud',
        '--retry-until-up',
        'echo finally-up',
      ]);
      let err = '';
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      const code = await new Promise<number>((resolve) => {
        let restored = false;
        child.stderr.on('data', (d) => {
          err += d;
          if (!restored && /retrying all of them/.test(err)) {
            restored = true;
            void reset();
          }
        });
        child.on('close', (c) => resolve(c ?? -1));
      });
      assert.equal(code, 0, err);
      assert.match(out, /finally-up/);
      assert.equal((await sb.run(['down', '-y', 'fu'])).code, 0);
    } finally {
      await reset();
    }
    assert.deepEqual(await live(emu), []);
  });

  test('a teardown the cloud keeps refusing: one clear message, the cluster kept; the next down works', async () => {
    const r = await sb.run(['launch', '-y', '-c', 'rm', '--cloud', 'fluffycloud', 'echo up']);
    assert.equal(r.code, 0, r.stderr);
    await emu.setScenario(scenario({ failures: { rate: 1, calls: ['remove'] } }));
    try {
      const d = await sb.run(['down', '-y', 'rm']);
      assert.equal(d.code, 2, d.stderr);
      assert.match(
        d.stderr,
        /could not tear down rm on fluffycloud\/[\w-]+ \([^\n]*in remove[^\n]*\)\. Run `skyhop down rm` again, or `skyhop down --purge rm` to forget it locally/,
      );
      assert.doesNotMatch(d.stderr, /retry; retry/);
    } finally {
      await reset();
    }
    assert.equal((await sb.run(['down', '-y', 'rm'])).code, 0);
    assert.deepEqual(await live(emu), []);
  });

  test('API errors are retried and survived', async () => {
    await emu.setScenario(scenario({ failures: { rate: 0.3, seed: 7 } }));
    try {
      const r = await sb.run(['launch', '-y', '-c', 'fr', '--cloud', 'fluffycloud', 'echo survived']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /survived/);
      assert.equal((await sb.run(['down', '-y', 'fr'])).code, 0);
    } finally {
      await reset();
    }
    assert.deepEqual(await live(emu), []);
  });

  for (const at of [/Launching/, /Preparing/, /submitted/]) {
    test(`kill -9 of the CLI on ${at.source}, then down: the emulator lists zero instances`, async () => {
      await emu.setScenario(scenario({ boot_delay_s: 1 }));
      try {
        const child = sb.spawn([
          'launch',
          '-y',
          '-c',
          'fk',
          '--cloud',
          'fluffycloud',
          '--num-nodes',
          '2',
          'sleep 300',
        ]);
        let err = '';
        await new Promise<void>((resolve) => {
          child.stderr.on('data', (d) => {
            err += d;
            if (at.test(err)) child.kill('SIGKILL');
          });
          child.on('close', () => resolve());
        });
        const d = await sb.run(['down', '-a', '-y']);
        assert.equal(d.code, 0, d.stderr);
        assert.deepEqual(await live(emu), []);
        assert.deepEqual(JSON.parse((await sb.run(['status', '--json'])).stdout).clusters, []);
      } finally {
        await reset();
      }
    });
  }

  test('Ctrl-C during provisioning removes what the launch created', async () => {
    await emu.setScenario(scenario({ boot_delay_s: 3 }));
    try {
      const child = sb.spawn([
        'launch',
        '-y',
        '-c',
        'fc',
        '--cloud',
        'fluffycloud',
        '--num-nodes',
        '2',
        'echo never',
      ]);
      let err = '';
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      const code = await new Promise<number>((resolve) => {
        child.stderr.on('data', (d) => {
          err += d;
          if (/Launching/.test(err)) setTimeout(() => child.kill('SIGINT'), 500);
        });
        child.on('close', (c) => resolve(c ?? -1));
      });
      assert.equal(code, 130, err);
      assert.doesNotMatch(out, /never/);
      assert.deepEqual(await live(emu), [], 'instances left after Ctrl-C');
      assert.deepEqual(JSON.parse((await sb.run(['status', '--json'])).stdout).clusters, []);
    } finally {
      await reset();
    }
  });

  test('spot preemption ends the job as failed with a clear reason; status --refresh shows the cluster gone', async () => {
    await emu.setScenario(scenario({ spot: { preempt_after_s: 4 } }));
    try {
      const r = await sb.run([
        'launch',
        '-y',
        '-c',
        'fs',
        '--cloud',
        'fluffycloud',
        '--use-spot',
        'echo started; sleep 300',
      ]);
      assert.notEqual(r.code, 0);
      assert.match(r.stdout, /started/);
      assert.match(r.stderr, /FAILED/);
      assert.match(r.stderr, /preempted|lost .* node/);
      const s = await sb.run(['status', '--refresh', '--json']);
      assert.equal(s.code, 0, s.stderr);
      assert.equal(
        JSON.parse(s.stdout).clusters.some((c: { name: string }) => c.name === 'fs'),
        false,
      );
    } finally {
      await reset();
    }
    assert.deepEqual(await live(emu), []);
  });
});
