// waitReachable, the one wait for nodes to answer over SSH (every cloud, after runInstances), with the
// real SSH runner against an address where nothing listens. Reachable nodes are covered against real
// sshd hosts in test/unit/fluffycloud/provider.test.ts and the conformance kit.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ProvisionError } from '../../../src/clouds/errors.js';
import type { NodeInfo } from '../../../src/core/cluster.js';
import { launchReachable, waitReachable } from '../../../src/runtime/bootstrap.js';
import { InterruptedError } from '../../../src/util/errors.js';
import { tempRoot } from './helpers.js';

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

function node(id: string, connection: NodeInfo['connection']): NodeInfo {
  return {
    id,
    cluster: 'reach',
    role: 'head',
    rank: 0,
    status: 'running',
    internalIp: '127.0.0.1',
    externalIp: null,
    tags: {},
    connection,
  };
}

describe('waitReachable', () => {
  let tmp: ReturnType<typeof tempRoot>;
  let keyPath = '';
  before(() => {
    tmp = tempRoot('reachable');
    keyPath = join(tmp.root, 'id_ed25519');
    const k = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyPath], { encoding: 'utf8' });
    assert.equal(k.status, 0, k.stderr);
  });
  after(async () => {
    await tmp.cleanup();
  });

  const sshNode = async () =>
    node('i-1', {
      kind: 'ssh',
      host: '127.0.0.1',
      port: await closedPort(),
      user: 'nobody',
      keyPath,
      knownHostsPath: join(tmp.root, 'known_hosts'),
    });

  test('local nodes need no wait', async () => {
    const local = node('n0', { kind: 'local', home: tmp.root, nodeId: 'reach/n0' });
    assert.deepEqual(await waitReachable([local], { timeoutMs: 1 }), [local]);
  });

  test('a node that never answers: ProvisionError(fatal, ssh_unreachable) naming it and the wait', async () => {
    const n = await sshNode();
    const port = n.connection.kind === 'ssh' ? n.connection.port : 0;
    await assert.rejects(waitReachable([n], { timeoutMs: 1500 }), (e: unknown) => {
      assert.ok(e instanceof ProvisionError);
      assert.deepEqual([e.scope, e.reason], ['fatal', 'ssh_unreachable']);
      assert.equal(
        e.message,
        `node i-1 (reach rank 0) does not answer over SSH at nobody@127.0.0.1:${port} within 2 s`,
      );
      return true;
    });
  });

  test('an abort ends the wait with InterruptedError', async () => {
    const ac = new AbortController();
    const wait = waitReachable([await sshNode()], { signal: ac.signal });
    setTimeout(() => ac.abort(), 200);
    await assert.rejects(wait, InterruptedError);
    await assert.rejects(waitReachable([await sshNode()], { signal: ac.signal }), InterruptedError);
  });

  test('launchReachable: a check started from onRunning is ended when the launch fails; its error wins', async () => {
    const n = await sshNode();
    const boom = new Error('capacity');
    await assert.rejects(
      launchReachable(
        async (onRunning) => {
          onRunning(n); // its SSH check starts (and would retry for the whole timeout)
          throw boom;
        },
        { timeoutMs: 60_000 },
      ),
      (e: unknown) => e === boom,
    );
  });
});
