/** A team server's records (ApiStore: users, tokens, requests and their logs, audit) on both databases. */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { type ApiStore, openApiStore, openStore } from '../../../src/state/index.js';
import { BACKENDS, backendSuite, type StateEnv, tempState } from './backends.js';

for (const backend of BACKENDS) {
  describe(backend, backendSuite(backend), () => {
    let t: StateEnv;
    let api: ApiStore;
    beforeEach(async () => {
      t = await tempState(backend);
      api = await openApiStore();
    });
    afterEach(() => {
      api.close();
      openStore().close();
      t.cleanup();
    });

    test('users and tokens: add, role, look up by hash, revoke, remove (tokens go with the user)', () => {
      api.addUser('bob', 'user');
      api.addUser('alice', 'admin');
      assert.throws(() => api.addUser('bob', 'user'));
      assert.deepEqual(
        api.listUsers().map((u) => [u.name, u.role]),
        [
          ['alice', 'admin'],
          ['bob', 'user'],
        ],
      );
      assert.equal(typeof api.getUser('bob')!.createdAt, 'number');
      assert.equal(api.setRole('bob', 'admin'), true);
      assert.equal(api.setRole('nobody', 'admin'), false);
      api.addToken('bob', 'h1');
      api.addToken('bob', 'h2');
      assert.equal(api.userByTokenHash('h1')?.name, 'bob');
      assert.equal(api.userByTokenHash('nope'), null);
      assert.equal(api.revokeTokens('bob'), 2);
      assert.equal(api.revokeTokens('bob'), 0);
      assert.equal(api.userByTokenHash('h1'), null);
      api.addToken('alice', 'h3');
      assert.equal(api.removeUser('alice'), true);
      assert.equal(api.removeUser('alice'), false);
      assert.equal(api.userByTokenHash('h3'), null);
    });

    test('requests: create, update, finish once, list per user, unfinished; logs in order', () => {
      api.createRequest({
        id: 'r1',
        user: 'bob',
        command: 'launch',
        argv: ['launch', '-c', 'x'],
        createdAt: 1,
      });
      api.createRequest({ id: 'r2', user: 'amy', command: 'status', argv: ['status'], createdAt: 2 });
      assert.equal(api.updateRequest('r1', { status: 'RUNNING', pid: 42, pidStart: 7, startedAt: 3 }), true);
      assert.equal(api.updateRequest('r1', {}), true);
      assert.equal(api.updateRequest('zz', { status: 'RUNNING' }), false);
      const r1 = api.getRequest('r1')!;
      assert.deepEqual(
        { argv: r1.argv, status: r1.status, pid: r1.pid, pidStart: r1.pidStart, startedAt: r1.startedAt },
        { argv: ['launch', '-c', 'x'], status: 'RUNNING', pid: 42, pidStart: 7, startedAt: 3 },
      );
      assert.deepEqual(
        api.unfinishedRequests().map((r) => r.id),
        ['r1', 'r2'],
      );
      assert.equal(api.finishRequest('r1', { status: 'SUCCEEDED', exitCode: 0, endedAt: 9 }), true);
      assert.equal(api.finishRequest('r1', { status: 'FAILED', exitCode: 1 }), false, 'the first end wins');
      assert.equal(api.getRequest('r1')!.status, 'SUCCEEDED');
      assert.equal(api.getRequest('r1')!.exitCode, 0);
      assert.deepEqual(
        api.listRequests(null, 10).map((r) => r.id),
        ['r2', 'r1'],
      );
      assert.deepEqual(
        api.listRequests('bob', 10).map((r) => r.id),
        ['r1'],
      );
      assert.deepEqual(
        api.unfinishedRequests().map((r) => r.id),
        ['r2'],
      );
      api.appendLog('r1', 'out', 'hello\n');
      api.appendLog('r1', 'err', 'warn\n');
      api.appendLog('r1', 'out', 'bye\n');
      api.appendLog('r2', 'out', 'other request\n');
      api.appendLog('r1', 'in', 'y\n');
      const out = api.readLog('r1', 0, 10, ['out', 'err']);
      assert.deepEqual(
        out.map((c) => [c.stream, c.data]),
        [
          ['out', 'hello\n'],
          ['err', 'warn\n'],
          ['out', 'bye\n'],
        ],
      );
      // Sequence numbers grow (across requests); reading after one skips it.
      assert.ok(out[0].seq < out[1].seq && out[1].seq < out[2].seq);
      assert.deepEqual(
        api.readLog('r1', out[0].seq, 1, ['out', 'err']).map((c) => c.data),
        ['warn\n'],
      );
      // The client's side (stdin, signals) is its own stream.
      assert.deepEqual(
        api.readLog('r1', 0, 10, ['in', 'sig']).map((c) => [c.stream, c.data]),
        [['in', 'y\n']],
      );
    });

    test('audit: newest first', () => {
      api.audit('bob', 'launch', 'dev', 'ok');
      api.audit('amy', 'down', null, null);
      const rows = api.listAudit(10);
      assert.deepEqual(
        rows.map((r) => [r.user, r.action, r.target, r.outcome]),
        [
          ['amy', 'down', null, null],
          ['bob', 'launch', 'dev', 'ok'],
        ],
      );
      assert.equal(typeof rows[0].id, 'number');
      assert.equal(typeof rows[0].at, 'number');
    });
  });
}
