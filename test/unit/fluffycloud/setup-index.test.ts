// FluffyCloud without the emulator: key names, node setup run by a real bash, known_hosts clean-up
// checked against ssh-keygen's own hashing, and the Cloud object (features, regions, autodown).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { autostopCommand, createCloud } from '../../../src/clouds/fluffycloud/index.js';
import { instanceName } from '../../../src/clouds/fluffycloud/provider.js';
import { nodeTags, rankOf } from '../../../src/clouds/tags.js';
import { isClusterKeyName, nodeSetup, sshKeyName } from '../../../src/clouds/fluffycloud/setup.js';
import type { NodeInfo } from '../../../src/core/cluster.js';
import { forgetHostKeys } from '../../../src/runtime/known-hosts.js';
import { UserError } from '../../../src/util/errors.js';

let dir = '';
const saved = { SKYHOP_HOME: process.env.SKYHOP_HOME, HOME: process.env.HOME };
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'skyhop-fluffy-setup-'));
  process.env.SKYHOP_HOME = join(dir, 'skyhop');
  process.env.HOME = join(dir, 'home');
  mkdirSync(process.env.HOME, { recursive: true });
});
after(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  rmSync(dir, { recursive: true, force: true });
});

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeButWellFormedKeyBodyForNamesOnly0000000';

function node(role: 'head' | 'worker', cluster = "it's-a-cluster"): NodeInfo {
  return {
    id: 'ff-1',
    cluster,
    role,
    rank: role === 'head' ? 0 : 1,
    status: 'running',
    internalIp: '127.1.0.2',
    externalIp: '127.1.0.2',
    tags: {},
    connection: { kind: 'ssh', host: '127.1.0.2', port: 2222, user: 'root', keyPath: '/k' },
  };
}

describe('SSH key names', () => {
  test('derived from cluster and key, stable, comment ignored', async () => {
    const a = await sshKeyName('dev', `${KEY} alice@laptop`);
    assert.match(a, /^skyhop-dev-[0-9a-f]{8}$/);
    assert.equal(await sshKeyName('dev', `${KEY} other-comment`), a);
    assert.notEqual(await sshKeyName('dev', KEY.replace('Fake', 'Fakf')), a);
    assert.notEqual(await sshKeyName('dev2', KEY), a);
    assert.match(await sshKeyName('My_Cluster.1', KEY), /^skyhop-my-cluster-1-[0-9a-f]{8}$/);
  });

  test('a cluster owns only names of its exact form', async () => {
    const a = await sshKeyName('a', KEY);
    assert.ok(isClusterKeyName('a', a));
    assert.ok(!isClusterKeyName('a', await sshKeyName('a-b', KEY)), "cluster a does not own a-b's key");
    assert.ok(!isClusterKeyName('a-b', a));
    assert.ok(!isClusterKeyName('a', 'skyhop-a-notahash'));
  });
});

describe('node setup', () => {
  function runSetup(lines: string[], path: string) {
    const home = mkdtempSync(join(dir, 'node-home-'));
    const r = spawnSync('/bin/bash', ['--noprofile', '--norc', '-c', lines.join('\n')], {
      env: { HOME: home, PATH: path },
      encoding: 'utf8',
    });
    return { ...r, home };
  }
  // A PATH with only mkdir in it: a node image without node.js.
  function binWith(names: Record<string, string | null>): string {
    const bin = mkdtempSync(join(dir, 'bin-'));
    for (const [name, script] of Object.entries(names)) {
      if (script === null) symlinkSync(`/usr/bin/${name}`, join(bin, name));
      else {
        writeFileSync(join(bin, name), script);
        chmodSync(join(bin, name), 0o755);
      }
    }
    return bin;
  }

  test('head with node 20+: ~/.skyhop made, exit 0', () => {
    const r = runSetup(
      nodeSetup(node('head')),
      `${binWith({ mkdir: null })}:${join(process.execPath, '..')}`,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.ok(existsSync(join(r.home, '.skyhop')));
  });

  test('head without node: a line naming the node and what to install', () => {
    const r = runSetup(nodeSetup(node('head')), binWith({ mkdir: null }));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /node\.js is not installed on it's-a-cluster head node ff-1; .*Node 20 or later/);
  });

  test('head with an old node (a stand-in script printing 18: no old node binary exists here)', () => {
    const r = runSetup(nodeSetup(node('head')), binWith({ mkdir: null, node: '#!/bin/sh\necho 18\n' }));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /has an older node\.js; .*Node 20 or later/);
  });

  test('workers only get ~/.skyhop', () => {
    assert.deepEqual(nodeSetup(node('worker')), ['mkdir -p ~/.skyhop']);
  });
});

describe('tags and names', () => {
  test('tags say cluster, role and rank; rank read back', () => {
    assert.deepEqual(nodeTags('c', 0), { 'skyhop-cluster': 'c', 'skyhop-role': 'head', 'skyhop-rank': '0' });
    assert.equal(nodeTags('c', 3)['skyhop-role'], 'worker');
    assert.equal(rankOf(nodeTags('c', 3)), 3);
    assert.equal(rankOf({ 'skyhop-role': 'head' }), 0);
    assert.equal(rankOf({ 'skyhop-role': 'worker' }), null);
  });

  test('instance names are unique, DNS-label-sized for the longest cluster name', () => {
    const cluster = 'c'.repeat(48);
    const names = new Set(Array.from({ length: 50 }, () => instanceName(cluster, 0)));
    assert.ok(names.size > 40, 'random suffix');
    for (const n of [instanceName(cluster, 0), instanceName(cluster, 99999)]) {
      assert.ok(n.length <= 63, n);
      assert.match(n, /^[a-z0-9][a-z0-9-]*$/);
    }
    assert.match(instanceName('My.Cluster', 2), /^my-cluster-w2-[0-9a-f]{4}$/);
  });
});

describe('known_hosts of fresh nodes', () => {
  test('entries for the new addresses go, hashed ones too (hashed by ssh-keygen -H); others stay', () => {
    const kh = join(dir, 'known_hosts');
    const line = (host: string) => `${host} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKey${host.length}`;
    writeFileSync(
      kh,
      `${[line('[127.1.0.2]:2222'), line('[127.1.0.3]:2222'), line('127.1.0.4')].join('\n')}\n`,
    );
    const hashed = join(dir, 'known_hosts_hashed');
    writeFileSync(hashed, readFileSync(kh));
    const h = spawnSync('ssh-keygen', ['-H', '-f', hashed], { encoding: 'utf8' });
    assert.equal(h.status, 0, h.stderr);
    assert.ok(readFileSync(hashed, 'utf8').startsWith('|1|'));

    for (const file of [kh, hashed]) {
      forgetHostKeys(file, [
        { ip: '127.1.0.2', port: 2222 },
        { ip: '127.1.0.4', port: 22 },
      ]);
      const left = readFileSync(file, 'utf8').trim().split('\n');
      assert.equal(left.length, 1, file);
      if (file === kh) assert.ok(left[0].startsWith('[127.1.0.3]:2222'));
      // ssh-keygen still finds the one that stayed, and not the removed ones.
      assert.equal(spawnSync('ssh-keygen', ['-F', '[127.1.0.3]:2222', '-f', file]).status, 0);
      assert.notEqual(spawnSync('ssh-keygen', ['-F', '[127.1.0.2]:2222', '-f', file]).status, 0);
    }
    forgetHostKeys(join(dir, 'missing'), [{ ip: '127.1.0.2', port: 2222 }]);
  });
});

describe('the FluffyCloud Cloud', () => {
  test('identity, features, regions', () => {
    const c = createCloud();
    assert.equal(c.name, 'fluffycloud');
    assert.deepEqual([...c.features].sort(), [
      'autostop',
      'docker-image',
      'multi-node',
      'ports',
      'provision',
      'spot',
      'zones',
    ]);
    assert.equal(c.maxClusterNameLength, 48);
    assert.throws(
      () => c.provider('mars-1'),
      (e: unknown) => e instanceof UserError && /no region mars-1/.test(String(e)),
    );
    const p = c.provider('fluffy-east');
    for (const m of ['runInstances', 'queryInstances', 'terminateInstances'] as const) {
      assert.equal(typeof p[m], 'function');
    }
    assert.equal(typeof c.nodeSetup, 'function');
  });

  test("autodown runs this skyhop's `down`; stopping is refused", () => {
    const cmd = autostopCommand('dev', 'down');
    assert.equal(cmd.argv[0], process.execPath);
    assert.match(cmd.argv[1], /bin\/skyhop\.js$/);
    assert.deepEqual(cmd.argv.slice(2), ['down', 'dev', '-y']);
    assert.equal(cmd.env.SKYHOP_HOME, process.env.SKYHOP_HOME);
    assert.equal(cmd.env.HOME, process.env.HOME);
    assert.ok(!JSON.stringify(cmd).includes('api_key'));
    assert.throws(() => autostopCommand('dev', 'stop'), /autostop --down dev/);
  });
});
