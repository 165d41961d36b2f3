/**
 * `image_id: docker:<image>` end to end through the real CLI, with a real Docker Engine (Debian's
 * docker.io): the test starts its own private dockerd (own socket, data-root, exec-root), imports a
 * tiny image built from Debian's static busybox and this machine's bash (its /etc/os-release names
 * it, which only that image has), and pulls nothing from the network.
 *
 * - local cloud: examples/docker.yaml on 2 nodes runs setup and run in the container with the
 *   SKYPILOT_* variables and the workdir; `exec` runs there too; env values never appear in a
 *   command line; a missing image is a clear error before any job; `down` removes the containers.
 * - FluffyCloud: each node (an sshd in its own namespaces) has no engine, so node setup starts a
 *   private dockerd on it, which pulls the image from a private registry on a loopback port (Debian's
 *   docker-registry): the same example runs end to end and `down` leaves no daemon behind.
 *
 * Where the engine cannot run (not root, docker.io or busybox-static missing) the tests are skipped
 * saying why; under CI=true they fail instead (scripts/install-deps.sh installs what they need).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  buildTinyImage,
  dockerUnavailable,
  type Engine,
  type Registry,
  registryUnavailable,
  startDockerd,
  startRegistry,
} from '../helpers/docker.js';
import { type EmulatorHandle, startEmulator } from '../helpers/fluffycloud.js';
import type { NodeInfo } from '../../src/core/cluster.js';
import { startContainers } from '../../src/runtime/bootstrap.js';
import { containerExec, containerTeardown } from '../../src/runtime/docker.js';
import { makeRunner } from '../../src/runtime/index.js';
import { Sandbox, waitFor } from './harness.js';

const IMAGE = 'skyhop-test/tiny:1';
const MARK = 'skyhop tiny test image'; // PRETTY_NAME in the image's /etc/os-release
const why = dockerUnavailable() ?? registryUnavailable();
const skip = why && process.env.CI !== 'true' ? `the Docker Engine cannot run here: ${why}` : false;

/** Names of the containers of `cluster` in the engine (running or not). */
function containers(eng: Engine, cluster: string): string[] {
  const r = eng.docker(['ps', '-a', '--filter', `label=skyhop-cluster=${cluster}`, '--format', '{{.Names}}']);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean).sort();
}

/** Samples every process's command line until `stop` resolves; returns those holding `value`. */
async function argvsHolding(value: string, stop: Promise<unknown>): Promise<string[]> {
  const hits = new Set<string>();
  let done = false;
  void stop.finally(() => {
    done = true;
  });
  while (!done) {
    for (const p of readdirSync('/proc')) {
      if (!/^\d+$/.test(p)) continue;
      try {
        const cmd = readFileSync(`/proc/${p}/cmdline`, 'latin1');
        if (cmd.includes(value)) hits.add(cmd.replace(/\0/g, ' ').slice(0, 200));
      } catch {}
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return [...hits];
}

describe('image_id: docker:<image> end to end', { skip }, () => {
  let eng: Engine;
  let sb: Sandbox;
  before(async () => {
    if (why) throw new Error(`under CI=true the Docker Engine must run here: ${why}`);
    eng = await startDockerd();
    buildTinyImage(eng, IMAGE);
    sb = new Sandbox({ DOCKER_HOST: eng.host });
  });
  after(async () => {
    await sb?.cleanup();
    await eng?.stop();
  });

  test('local: setup and run in the container on 2 nodes, with SKYPILOT_* env and the workdir; down removes it', async () => {
    const r = await sb.run([
      'launch',
      '-y',
      '-c',
      'dl',
      '--image-id',
      `docker:${IMAGE}`,
      'examples/docker.yaml',
    ]);
    assert.equal(r.code, 0, r.stderr);
    for (const rank of [0, 1]) {
      assert.match(r.stdout, new RegExp(`setup on rank ${rank} in: ${MARK}`));
      assert.match(r.stdout, new RegExp(`hello from a container on rank ${rank} of 2: ${MARK}`));
    }
    assert.match(r.stdout, /workdir: \/\S+\/sky_workdir: this file came from the workdir/);
    const names = containers(eng, 'dl');
    assert.equal(names.length, 2, names.join(' '));
    assert.match(names[0], /^skyhop-dl-0-/);
    assert.match(names[1], /^skyhop-dl-1-/);

    // exec runs in the same container; env values reach it without ever being in a command line.
    const secret = `tok-${process.pid}-${Date.now()}`;
    const run = sb.run(
      [
        'exec',
        'dl',
        '--env',
        'TOKEN',
        'sleep 1; . /etc/os-release; echo "exec in $PRETTY_NAME token=$TOKEN"',
      ],
      { env: { TOKEN: secret } },
    );
    const argvs = await argvsHolding(secret, run);
    const e = await run;
    assert.equal(e.code, 0, e.stderr);
    assert.match(e.stdout, new RegExp(`exec in ${MARK} token=${secret}`));
    assert.deepEqual(argvs, [], 'an env value appeared in a command line');

    const d = await sb.run(['down', '-y', 'dl']);
    assert.equal(d.code, 0, d.stderr);
    assert.deepEqual(containers(eng, 'dl'), [], 'down leaves no container');
  });

  test('local: cancel ends the job inside the container; stop stops the container, start starts it', async () => {
    const r = await sb.run(['launch', '-y', '-c', 'dc', '--image-id', `docker:${IMAGE}`, 'echo up']);
    assert.equal(r.code, 0, r.stderr);
    const [dc] = containers(eng, 'dc');
    const ps = () => eng.docker(['exec', dc, 'ps', '-o', 'args']).stdout;
    const long = await sb.run(['exec', 'dc', '-d', 'setsid sleep 1001 & sleep 1002']);
    assert.equal(long.code, 0, long.stderr);
    const id = long.stderr.match(/Job (\d+)/)?.[1];
    assert.ok(id, long.stderr);
    await waitFor('the job to run in the container', () => /sleep 1002/.test(ps()));
    const c = await sb.run(['cancel', '-y', 'dc', id]);
    assert.equal(c.code, 0, c.stderr);
    await waitFor('no job process left in the container', () => !/sleep 100[12]/.test(ps()));

    const running = () => eng.docker(['inspect', '-f', '{{.State.Running}}', dc]).stdout.trim();
    assert.equal((await sb.run(['stop', '-y', 'dc'])).code, 0);
    assert.equal(running(), 'false');
    const st = await sb.run(['start', '-y', 'dc']);
    assert.equal(st.code, 0, st.stderr);
    assert.equal(running(), 'true');
    const e = await sb.run(['exec', 'dc', '. /etc/os-release; echo "back in $PRETTY_NAME"']);
    assert.equal(e.code, 0, e.stderr);
    assert.match(e.stdout, new RegExp(`back in ${MARK}`));
    // The cluster runs one image: a task asking for another is told so, naming both.
    const other = await sb.run([
      'launch',
      '-y',
      '-c',
      'dc',
      '--image-id',
      'docker:skyhop-test/other:1',
      'echo x',
    ]);
    assert.notEqual(other.code, 0);
    assert.match(
      other.stderr,
      /image_id: docker:skyhop-test\/other:1 \(cluster: docker:skyhop-test\/tiny:1\)/,
    );
    assert.equal((await sb.run(['down', '-y', 'dc'])).code, 0);
    assert.deepEqual(containers(eng, 'dc'), []);
  });

  test('run options (docker.run_options) reach docker run; env names, never values, reach docker exec', async () => {
    const home = join(sb.dir, 'opts-node');
    mkdirSync(home, { recursive: true });
    const node: NodeInfo = {
      id: 'n0',
      cluster: 'ro',
      role: 'head',
      rank: 0,
      status: 'running',
      internalIp: '127.0.0.1',
      externalIp: null,
      tags: {},
      connection: { kind: 'local', home, nodeId: 'ro/n0' },
    };
    const runner = makeRunner(node.connection);
    const saved = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = eng.host;
    try {
      const [name] = await startContainers([node], [runner], {
        image: IMAGE,
        runOptions: ['--label', 'team=ml docs', '-e', 'FROM_OPTS=yes'],
      });
      assert.equal(name, 'skyhop-ro-0-n0');
      assert.equal(
        eng.docker(['inspect', '-f', '{{index .Config.Labels "team"}}', name]).stdout.trim(),
        'ml docs',
      );
      const line = containerExec(name, ['SECRET_ONE'], 'echo "$FROM_OPTS $SECRET_ONE $HOME"');
      assert.doesNotMatch(line, /s3cr3t/);
      const r = await runner.run(line, { env: { SECRET_ONE: 's3cr3t\nline two' } });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `yes s3cr3t\nline two ${home}\n`);
      // Ready again: the running container is kept, not re-created.
      const id = eng.docker(['inspect', '-f', '{{.Id}}', name]).stdout;
      await startContainers([node], [runner], { image: IMAGE });
      assert.equal(eng.docker(['inspect', '-f', '{{.Id}}', name]).stdout, id);
      assert.equal((await runner.run(containerTeardown('rm'))).code, 0);
      assert.deepEqual(containers(eng, 'ro'), []);
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved;
      await runner.close();
    }
  });

  test("a task's config: docker.run_options reach the containers of a launch", async () => {
    mkdirSync(sb.dir, { recursive: true });
    const f = join(sb.dir, 'opts.yaml');
    writeFileSync(
      f,
      [
        'resources:',
        `  image_id: docker:${IMAGE}`,
        'config:',
        '  docker:',
        '    run_options: --label from=task-config',
        'run: echo in-container',
        '',
      ].join('\n'),
    );
    const r = await sb.run(['launch', '-y', '-c', 'cfg', f]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /in-container/);
    const [name] = containers(eng, 'cfg');
    assert.ok(name, 'a container');
    assert.equal(
      eng.docker(['inspect', '-f', '{{index .Config.Labels "from"}}', name]).stdout.trim(),
      'task-config',
    );
    assert.equal((await sb.run(['down', '-y', 'cfg'])).code, 0);
    assert.deepEqual(containers(eng, 'cfg'), []);
  });

  test('local: a missing image is a clear error naming it, before any job runs', async () => {
    const r = await sb.run([
      'launch',
      '-y',
      '-c',
      'dm',
      '--image-id',
      'docker:skyhop-test/missing:1',
      'echo SHOULD-NOT-RUN',
    ]);
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /the Docker image skyhop-test\/missing:1 is not in this machine's Docker Engine and could not be pulled/,
    );
    assert.doesNotMatch(r.stdout + r.stderr, /SHOULD-NOT-RUN\n/);
    assert.doesNotMatch(r.stderr, /Job \d+ submitted/);
    assert.equal((await sb.run(['down', '-y', 'dm'])).code, 0);
    assert.deepEqual(containers(eng, 'dm'), []);
  });

  test('a cloud whose nodes cannot run Docker is a planning error', async () => {
    const r = await sb.run([
      'launch',
      '-y',
      '--dryrun',
      '--cloud',
      'lambda',
      '--image-id',
      `docker:${IMAGE}`,
      'echo x',
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /lambda cannot run tasks in a Docker container/i);
  });

  describe('FluffyCloud', () => {
    let emu: EmulatorHandle;
    let reg: Registry;
    let image: string;
    before(async () => {
      reg = await startRegistry();
      image = `${reg.address}/${IMAGE}`;
      assert.equal(eng.docker(['tag', IMAGE, image]).code, 0);
      const push = eng.docker(['push', image]);
      assert.equal(push.code, 0, push.stderr);
      emu = await startEmulator({
        scenario: { users: { e2e: { api_key: 'fc-docker-e2e-key' } }, boot_delay_s: 0 },
      });
      mkdirSync(sb.home, { recursive: true });
      emu.writeCredentials(sb.home);
    });
    after(async () => {
      await sb.run(['down', '-a', '-y', '--purge'], { timeoutMs: 120_000 }).catch(() => {});
      await emu?.stop();
      await reg?.stop();
    });

    test('each node starts its own engine, pulls the image and runs the example in it; down leaves nothing', async () => {
      const r = await sb.run(
        [
          'launch',
          '-y',
          '-c',
          'fd',
          '--cloud',
          'fluffycloud',
          '--image-id',
          `docker:${image}`,
          'examples/docker.yaml',
        ],
        { timeoutMs: 300_000 },
      );
      assert.equal(r.code, 0, r.stderr);
      for (const rank of [0, 1]) {
        assert.match(r.stdout, new RegExp(`hello from a container on rank ${rank} of 2: ${MARK}`));
      }
      assert.match(r.stdout, /workdir: \/root\/sky_workdir: this file came from the workdir/);
      const e = await sb.run([
        'exec',
        'fd',
        '. /etc/os-release; echo "exec in $PRETTY_NAME rank=$SKYPILOT_NODE_RANK"',
      ]);
      assert.equal(e.code, 0, e.stderr);
      assert.match(e.stdout, new RegExp(`exec in ${MARK} rank=0`));

      const missing = await sb.run(
        [
          'launch',
          '-y',
          '-c',
          'fm',
          '--cloud',
          'fluffycloud',
          '--image-id',
          `docker:${reg.address}/skyhop-test/missing:1`,
          'echo x',
        ],
        { timeoutMs: 300_000 },
      );
      assert.notEqual(missing.code, 0);
      assert.match(
        missing.stderr,
        /the Docker image \S+\/skyhop-test\/missing:1 is not on node \S+ and could not be pulled/,
      );

      assert.equal((await sb.run(['down', '-y', 'fd', 'fm'], { timeoutMs: 120_000 })).code, 0);
      const all = await emu.listInstances();
      assert.deepEqual(
        Object.values(all).filter((i) => i.status !== 'terminated'),
        [],
      );
      // The nodes' daemons died with their namespaces.
      const left = readdirSync('/proc').filter((p) => {
        try {
          const cmd = readFileSync(`/proc/${p}/cmdline`, 'latin1');
          return cmd.startsWith('dockerd\0') && cmd.includes('/skyhop-docker-');
        } catch {
          return false;
        }
      });
      assert.deepEqual(left, [], 'a node engine outlived its node');
    });
  });
});
