/**
 * Injected API failures (scenario `failures`): 500 internal, 429 rate_limited, slow answers and answers
 * that never come; seeded, so the same seed and calls give the same failures. Admin calls are never hit.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type EmulatorHandle, startEmulator } from '../../helpers/fluffycloud.js';
import { api, type KeyPair, makeKeyPair } from './helpers.js';

const KEY = 'fc-failures-key';
const users = { dave: { api_key: KEY } };
let fc: EmulatorHandle;
let key: KeyPair;

before(async () => {
  key = makeKeyPair();
  fc = await startEmulator({ scenario: { users, boot_delay_s: 3600 } });
  assert.equal(
    (await api(fc.url, KEY, 'POST', '/v1/ssh-keys', { name: 'k', public_key: key.publicKey })).status,
    201,
  );
});

after(async () => {
  await fc?.stop();
  key?.cleanup();
});

async function statuses(n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await api(fc.url, KEY, 'GET', '/v1/regions')).status);
  return out;
}

test('rate 1.0: every /v1 call answers 500 internal and does nothing; admin calls still work', async () => {
  await fc.setScenario({ users, boot_delay_s: 3600, failures: { rate: 1, seed: 1 } });
  const r = await api(fc.url, KEY, 'POST', '/v1/instances', {
    name: 'x',
    instance_type: 'ff.small',
    region: 'fluffy-east',
    ssh_key_name: 'k',
  });
  assert.equal(r.status, 500);
  assert.equal(r.body.error.code, 'internal');
  assert.match(r.body.error.message, /^FluffyCloudError: internal error \(injected\) in launch/);
  assert.deepEqual(await statuses(5), [500, 500, 500, 500, 500]);
  // Even a call without a key fails first: the failure is the server's, before anything else.
  assert.equal((await api(fc.url, null, 'GET', '/v1/instances')).status, 500);
  const st = await fc.adminState();
  assert.deepEqual(Object.keys(st.instances), []);
  assert.equal((await api(fc.url, fc.adminToken, 'POST', '/admin/teardown')).status, 200);
});

test('seeded: the same seed gives the same failures, another seed others', async () => {
  const scenario = (seed: number) => ({ users, failures: { rate: 0.5, seed } });
  await fc.setScenario(scenario(7));
  const first = await statuses(24);
  assert.ok(first.includes(500) && first.includes(200), `both outcomes: ${first}`);
  await fc.setScenario(scenario(7));
  assert.deepEqual(await statuses(24), first);
  await fc.setScenario(scenario(8));
  assert.notDeepEqual(await statuses(24), first);
});

test('calls: failures hit only the named calls', async () => {
  await fc.setScenario({ users, boot_delay_s: 3600, failures: { rate: 1, calls: ['launch'] } });
  assert.equal((await api(fc.url, KEY, 'GET', '/v1/instances')).status, 200);
  const r = await api(fc.url, KEY, 'POST', '/v1/instances', {
    name: 'x',
    instance_type: 'ff.small',
    region: 'fluffy-east',
    ssh_key_name: 'k',
  });
  assert.equal(r.status, 500);
});

test('rate_limited_rate: 429 rate_limited with Retry-After', async () => {
  await fc.setScenario({ users, failures: { rate_limited_rate: 1 } });
  const res = await fetch(`${fc.url}/v1/regions`, { headers: { authorization: `Bearer ${KEY}` } });
  assert.equal(res.status, 429);
  assert.equal(res.headers.get('retry-after'), '1');
  assert.equal(((await res.json()) as any).error.code, 'rate_limited');
});

test('timeout_rate: the call is never answered; the client gives up; the emulator goes on', async () => {
  await fc.setScenario({ users, failures: { timeout_rate: 1 } });
  await assert.rejects(api(fc.url, KEY, 'GET', '/v1/regions', undefined, 400), { name: 'TimeoutError' });
  assert.equal((await api(fc.url, fc.adminToken, 'GET', '/admin/state')).status, 200);
  await fc.setScenario({ users });
  assert.equal((await api(fc.url, KEY, 'GET', '/v1/regions')).status, 200);
});

test('slow_rate: answers come, but only after slow_ms (a shorter client timeout fires)', async () => {
  await fc.setScenario({ users, failures: { slow_rate: 1, slow_ms: 1500 } });
  await assert.rejects(api(fc.url, KEY, 'GET', '/v1/regions', undefined, 200), { name: 'TimeoutError' });
  assert.equal((await api(fc.url, KEY, 'GET', '/v1/regions')).status, 200);
  await fc.setScenario({ users });
});
