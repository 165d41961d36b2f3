/**
 * Per-cluster SSH keys (src/runtime/ssh-keys.ts): made once with ssh-keygen, private and reused,
 * agreed on by concurrent processes, usable against a real sshd, removed with the cluster.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { clusterKeyDir, ensureClusterKey, removeClusterKey } from '../../../src/runtime/ssh-keys.js';
import { SshRunner } from '../../../src/runtime/ssh-runner.js';
import { UserError } from '../../../src/util/errors.js';
import { createSshd } from '../../helpers/sshd.js';
import { sshdUnavailable } from './helpers.js';

const REPO = new URL('../../../', import.meta.url).pathname;

describe('cluster SSH keys', () => {
  let root: string;
  const oldHome = process.env.SKYHOP_HOME;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'skyhop-keys-'));
    process.env.SKYHOP_HOME = join(root, 'sh');
  });
  after(() => {
    if (oldHome === undefined) delete process.env.SKYHOP_HOME;
    else process.env.SKYHOP_HOME = oldHome;
    rmSync(root, { recursive: true, force: true });
  });

  test('made once under $SKYHOP_HOME/keys/<cluster>, private, then reused', () => {
    const k = ensureClusterKey('dev-1');
    assert.equal(k.keyPath, join(root, 'sh', 'keys', 'dev-1', 'id_ed25519'));
    assert.equal(k.knownHostsPath, join(root, 'sh', 'keys', 'dev-1', 'known_hosts'));
    assert.match(k.publicKey, /^ssh-ed25519 [A-Za-z0-9+/=]+ skyhop-dev-1$/);
    assert.equal(statSync(k.keyPath).mode & 0o777, 0o600);
    assert.equal(statSync(join(root, 'sh', 'keys', 'dev-1')).mode & 0o777, 0o700);
    assert.equal(statSync(join(root, 'sh', 'keys')).mode & 0o777, 0o700);
    assert.match(readFileSync(k.keyPath, 'utf8'), /BEGIN OPENSSH PRIVATE KEY/);
    const again = ensureClusterKey('dev-1');
    assert.deepEqual(again, k);
    assert.notEqual(ensureClusterKey('other').publicKey, k.publicKey, 'one key per cluster');
  });

  test('a lost public key is derived again from the private key', () => {
    const k = ensureClusterKey('lost-pub');
    rmSync(`${k.keyPath}.pub`);
    const again = ensureClusterKey('lost-pub');
    assert.equal(
      again.publicKey.split(' ').slice(0, 2).join(' '),
      k.publicKey.split(' ').slice(0, 2).join(' '),
    );
    assert.ok(existsSync(`${k.keyPath}.pub`));
  });

  test('names that are not one path segment are refused', () => {
    for (const bad of ['', '.', '..', 'a/b', '../x', 'x\0y', 'a\\b', 'x'.repeat(201)]) {
      assert.throws(() => ensureClusterKey(bad), UserError, JSON.stringify(bad));
      assert.throws(() => removeClusterKey(bad), UserError);
    }
    assert.equal(existsSync(join(root, 'sh', 'keys', 'b')), false);
    assert.ok(clusterKeyDir('my.cluster_1').endsWith('/keys/my.cluster_1'));
  });

  test('concurrent processes agree on one key', async () => {
    // Each child waits for the same moment, then makes the key: their ssh-keygen runs overlap.
    const go = Date.now() + 3000;
    const script = `import { ensureClusterKey } from ${JSON.stringify(join(REPO, 'src/runtime/ssh-keys.ts'))};
      while (Date.now() < ${go}) {}
      console.log(ensureClusterKey('race').publicKey);`;
    const file = join(root, 'race.mts');
    writeFileSync(file, script);
    const outs = await Promise.all(
      Array.from(
        { length: 4 },
        () =>
          new Promise<string>((resolve, reject) => {
            const c = spawn(process.execPath, ['--import', 'tsx', file], {
              cwd: REPO,
              env: { ...process.env },
              stdio: ['ignore', 'pipe', 'inherit'],
            });
            let out = '';
            c.stdout.on('data', (d) => {
              out += d;
            });
            c.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`exit ${code}`))));
          }),
      ),
    );
    assert.equal(new Set(outs).size, 1, outs.join('\n'));
    assert.equal(ensureClusterKey('race').publicKey, outs[0]);
  });

  test('removeClusterKey deletes the directory and is safe to repeat', () => {
    const k = ensureClusterKey('gone');
    writeFileSync(k.knownHostsPath, 'x');
    removeClusterKey('gone');
    assert.equal(existsSync(join(root, 'sh', 'keys', 'gone')), false);
    removeClusterKey('gone');
    assert.notEqual(ensureClusterKey('gone').publicKey, k.publicKey, 'a new cluster gets a new key');
  });

  test('the key logs in to a node that authorizes it; known_hosts is the cluster`s', {
    skip: sshdUnavailable(),
  }, async () => {
    const sshd = await createSshd();
    try {
      const k = ensureClusterKey('login');
      // Authorize the cluster key on the node (as a cloud does with the registered public key).
      writeFileSync(join(sshd.root, 'authorized_keys'), `${k.publicKey}\n`);
      const r = new SshRunner({
        kind: 'ssh',
        host: sshd.host,
        port: sshd.port,
        user: 'root',
        keyPath: k.keyPath,
        knownHostsPath: k.knownHostsPath,
      });
      try {
        assert.deepEqual(await r.run('echo in'), { code: 0, stdout: 'in\n', stderr: '' });
      } finally {
        await r.stopMaster();
      }
      assert.match(
        readFileSync(k.knownHostsPath, 'utf8'),
        new RegExp(`^\\[127\\.0\\.0\\.1\\]:${sshd.port} `),
      );
    } finally {
      await sshd.destroy();
    }
  });
});
