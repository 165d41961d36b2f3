// The FluffyCloud API client against the real emulator: the calls, and every error the API can give,
// mapped to FluffyCloudApiError (status, code, the server's message, never the key) and classified.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { FluffyCloudApi, FluffyCloudApiError, fluffyCloudApi } from '../../../src/clouds/fluffycloud/api.js';
import { classifyFluffyCloudError } from '../../../src/clouds/fluffycloud/errors.js';
import { API_KEY, baseScenario, emulatorUnavailable, type FluffyEnv, startFluffy } from './env.js';

const skip = emulatorUnavailable();
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBm7i5hK1v2mT0cU4yN1C0rNqGSN4o6Hk7Zb9o1f2x3Q test';

async function failure(p: Promise<unknown>): Promise<FluffyCloudApiError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  assert.ok(e instanceof FluffyCloudApiError, `expected a FluffyCloudApiError, got ${String(e)}`);
  assert.match(e.message, /^FluffyCloudError: /);
  assert.ok(!e.message.includes(API_KEY), 'the API key is never in a message');
  assert.ok(!String(e.stack).includes(API_KEY));
  return e;
}

describe('FluffyCloud API client', { skip: skip ?? false }, () => {
  let env: FluffyEnv;
  before(async () => {
    env = await startFluffy(
      baseScenario({
        regions: {
          'fluffy-west': { capacity: { '*': 0 } },
          'fluffy-eu': { unavailable: true },
        },
      }),
    );
  });
  after(async () => {
    await env?.stop();
  });

  test('types and regions come from the catalog', async () => {
    const api = env.api();
    const types = await api.instanceTypes();
    const small = types.find((t) => t.name === 'ff.small');
    assert.ok(small && small.vcpus > 0 && small.accelerator === null);
    assert.ok(types.some((t) => t.accelerator?.name === 'A100'));
    const regions = await api.regions();
    assert.deepEqual(regions.find((r) => r.name === 'fluffy-east')?.zones, [
      'fluffy-east-1a',
      'fluffy-east-1b',
    ]);
  });

  test('the client from ~/.fluffycloud/credentials works', async () => {
    const api = await fluffyCloudApi();
    assert.ok(Array.isArray(await api.listInstances()));
  });

  test("the seed's four calls and keys: launch, list, set tags, remove (repeatable)", async () => {
    const api = env.api();
    const key = await api.registerSshKey('t-key', KEY);
    assert.equal(key.name, 't-key');
    assert.deepEqual(await api.registerSshKey('t-key', KEY), key, 'same name and key again: fine');
    const { id } = await api.launch('api-one', 'ff.small', 'fluffy-east', 't-key', {
      tags: { a: '1', b: '2' },
    });
    let mine = (await api.listInstances()).find((i) => i.id === id)!;
    assert.equal(mine.name, 'api-one');
    assert.equal(mine.region, 'fluffy-east');
    assert.deepEqual(mine.tags, { a: '1', b: '2' });
    assert.match(mine.ip, /^127\.1\.\d+\.\d+$/);
    assert.deepEqual(await api.setTags(id, { b: null, c: '3' }), { a: '1', c: '3' });
    mine = (await api.listInstances()).find((i) => i.id === id)!;
    assert.deepEqual(mine.tags, { a: '1', c: '3' });
    assert.equal((await api.remove(id)).status, 'terminated');
    assert.equal((await api.remove(id)).status, 'terminated', 'a repeated remove is fine');
    const unknown = await failure(api.remove('ff-000000000000'));
    assert.equal(unknown.status, 404);
    assert.equal(unknown.code, 'not_found');
    await api.deleteSshKey('t-key');
    assert.ok(!(await api.listSshKeys()).some((k) => k.name === 't-key'));
  });

  test('401: a wrong key -> unauthorized, not retried, blocks the cloud; the key is not echoed', async () => {
    const api = new FluffyCloudApi({ endpoint: env.endpoint, apiKey: 'fc-wrong-key-1234', retries: 5 });
    const e = await failure(api.listInstances());
    assert.equal(e.status, 401);
    assert.equal(e.code, 'unauthorized');
    assert.ok(!e.message.includes('fc-wrong-key-1234'));
    assert.match(e.message, /check api_key in ~\/\.fluffycloud\/credentials/);
    assert.equal(e.transient, false);
    assert.equal(classifyFluffyCloudError(e), 'cloud');
  });

  test('capacity: the message names region and zone; blocks the region', async () => {
    const api = env.api();
    await api.registerSshKey('cap-key', KEY);
    const e = await failure(api.launch('cap-one', 'ff.small', 'fluffy-west', 'cap-key'));
    assert.equal(e.status, 503);
    assert.equal(e.code, 'capacity');
    assert.match(e.message, /no capacity for ff\.small in region fluffy-west \(zones? fluffy-west-1a/);
    assert.equal(classifyFluffyCloudError(e), 'region');
    const z = await failure(
      api.launch('cap-two', 'ff.small', 'fluffy-west', 'cap-key', { zone: 'fluffy-west-1b' }),
    );
    assert.match(z.message, /\(zone fluffy-west-1b\)/);
    assert.equal(classifyFluffyCloudError(z), 'region');
  });

  test('region_unavailable blocks the region; bad_request is fatal', async () => {
    const api = env.api();
    await api.registerSshKey('r-key', KEY);
    const down = await failure(api.launch('eu-one', 'ff.small', 'fluffy-eu', 'r-key'));
    assert.equal(down.code, 'region_unavailable');
    assert.equal(classifyFluffyCloudError(down), 'region');
    const bad = await failure(api.launch('bad-one', 'ff.nonesuch', 'fluffy-east', 'r-key'));
    assert.equal(bad.status, 400);
    assert.equal(bad.code, 'bad_request');
    assert.equal(classifyFluffyCloudError(bad), 'fatal');
    const noKey = await failure(api.launch('bad-two', 'ff.small', 'fluffy-east', 'no-such-key'));
    assert.equal(noKey.code, 'bad_request');
  });

  test('quota: the user limit -> 403 quota, blocks the whole cloud', async () => {
    await env.scenario(baseScenario({ users: { alice: { api_key: API_KEY, max_instances: 0 } } }));
    try {
      const api = env.api();
      await api.registerSshKey('q-key', KEY);
      const e = await failure(api.launch('q-one', 'ff.small', 'fluffy-east', 'q-key'));
      assert.equal(e.status, 403);
      assert.equal(e.code, 'quota');
      assert.match(e.message, /quota/);
      assert.equal(classifyFluffyCloudError(e), 'cloud');
    } finally {
      await env.scenario(baseScenario());
    }
  });

  test('timeouts (injected: never answered): code timeout, retried, then classified retry', async () => {
    await env.scenario(baseScenario({ failures: { timeout_rate: 1, calls: ['list_instances'] } }));
    try {
      const e = await failure(env.api({ timeoutMs: 300, retries: 1 }).listInstances());
      assert.equal(e.status, null);
      assert.equal(e.code, 'timeout');
      assert.ok(e.transient);
      assert.equal(classifyFluffyCloudError(e), 'retry');
    } finally {
      await env.scenario(baseScenario());
    }
  });

  test('500s and 429s on idempotent calls are retried until they pass; with no luck, internal -> retry', async () => {
    await env.scenario(
      baseScenario({ failures: { rate: 0.4, rate_limited_rate: 0.2, seed: 7, calls: ['list_instances'] } }),
    );
    try {
      const api = env.api({ retries: 12 });
      for (let i = 0; i < 10; i++) assert.ok(Array.isArray(await api.listInstances()));
      await env.scenario(baseScenario({ failures: { rate: 1, calls: ['list_instances'] } }));
      const e = await failure(env.api({ retries: 2 }).listInstances());
      assert.equal(e.status, 500);
      assert.equal(e.code, 'internal');
      assert.equal(classifyFluffyCloudError(e), 'retry');
    } finally {
      await env.scenario(baseScenario());
    }
  });

  test('launch is not blindly retried: an injected 500 is checked by name, then re-sent once safe', async () => {
    const api = env.api({ retries: 8 });
    await api.registerSshKey('l-key', KEY);
    await env.scenario(baseScenario({ failures: { rate: 0.5, seed: 3, calls: ['launch'] } }));
    try {
      const ids = new Set<string>();
      for (let i = 0; i < 6; i++) {
        ids.add(
          (await api.launch(`retry-${i}`, 'ff.small', 'fluffy-east', 'l-key', { tags: { t: 'retry' } })).id,
        );
      }
      const mine = (await api.listInstances()).filter(
        (i) => i.tags.t === 'retry' && i.status !== 'terminated',
      );
      assert.equal(mine.length, 6, 'exactly one instance per launch call');
      assert.deepEqual(new Set(mine.map((i) => i.id)), ids);
      for (const id of ids) await api.remove(id);
    } finally {
      await env.scenario(baseScenario());
    }
  });

  test('a launch whose answer never came: the error is thrown (not re-sent) and nothing was created', async () => {
    const api = env.api({ timeoutMs: 300, retries: 3 });
    await api.registerSshKey('t-key2', KEY);
    await env.scenario(baseScenario({ failures: { timeout_rate: 1, calls: ['launch'] } }));
    try {
      const e = await failure(api.launch('lost-one', 'ff.small', 'fluffy-east', 't-key2'));
      assert.equal(e.code, 'timeout');
      assert.equal(classifyFluffyCloudError(e), 'retry');
      assert.ok(!(await api.listInstances()).some((i) => i.name === 'lost-one'));
    } finally {
      await env.scenario(baseScenario());
    }
  });

  test('an endpoint where nothing listens: a network error that blocks the cloud, endpoint named', async () => {
    const port = await new Promise<number>((ok) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => ok(p));
      });
    });
    const api = new FluffyCloudApi({
      endpoint: `http://127.0.0.1:${port}`,
      apiKey: API_KEY,
      retries: 1,
      backoffMs: { initial: 10, max: 10 },
    });
    const e = await failure(api.listInstances());
    assert.equal(e.status, null);
    assert.equal(e.code, 'ECONNREFUSED');
    assert.match(e.message, new RegExp(`http://127\\.0\\.0\\.1:${port}`));
    assert.equal(classifyFluffyCloudError(e), 'cloud');
  });

  test('an aborted call stops at once with InterruptedError', async () => {
    await env.scenario(baseScenario({ failures: { timeout_rate: 1, calls: ['list_instances'] } }));
    try {
      const ac = new AbortController();
      const p = env.api({ timeoutMs: 30_000 }).listInstances({ signal: ac.signal });
      setTimeout(() => ac.abort(), 100);
      await assert.rejects(p, { name: 'InterruptedError' });
    } finally {
      await env.scenario(baseScenario());
    }
  });
});
