/**
 * The FluffyCloud emulator's HTTP API against docs/fluffycloud-api.md: auth, catalog calls, SSH keys,
 * launch validation, capacity, quota, unavailable regions, tags, list format, remove, admin calls.
 * A real emulator process; boot_delay_s is an hour so instances stay pending and no host starts here
 * (hosts.test.ts covers real hosts).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type EmulatorHandle, ROOT, startEmulator } from '../../helpers/fluffycloud.js';
import { api, type KeyPair, makeKeyPair } from './helpers.js';

const ALICE = 'fc-alice-0123456789';
const BOB = 'fc-bob-0123456789';
const SCENARIO = {
  users: {
    alice: { api_key: ALICE, max_instances: 5, max_vcpus: 20 },
    bob: { api_key: BOB },
  },
  boot_delay_s: 3600,
  regions: {
    'fluffy-east': { capacity: { 'ff.small': 2, '*': 3 } },
    'fluffy-west': { zones: { 'fluffy-west-1a': { capacity: { '*': 0 } } } },
    'fluffy-eu': { unavailable: true },
  },
};

let fc: EmulatorHandle;
let key: KeyPair;
let key2: KeyPair;

const call = (token: string | null, method: string, path: string, body?: unknown) =>
  api(fc.url, token, method, path, body);

function launchBody(over: Record<string, unknown> = {}) {
  return { name: 'n1', instance_type: 'ff.small', region: 'fluffy-east', ssh_key_name: 'k', ...over };
}

async function launch(token: string, over: Record<string, unknown> = {}) {
  return call(token, 'POST', '/v1/instances', launchBody(over));
}

/** The caller's instances that are not terminated (terminated ones stay listed for 10 minutes). */
async function activeInstances(token: string): Promise<Record<string, any>> {
  const all = (await call(token, 'GET', '/v1/instances')).body as Record<string, any>;
  return Object.fromEntries(Object.entries(all).filter(([, v]) => v.status !== 'terminated'));
}

function assertError(r: { status: number; body: any }, status: number, code: string, re?: RegExp) {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body.error.code, code);
  assert.match(r.body.error.message, /^FluffyCloudError: /);
  if (re) assert.match(r.body.error.message, re);
}

before(async () => {
  key = makeKeyPair();
  key2 = makeKeyPair();
  fc = await startEmulator({ scenario: SCENARIO });
  for (const token of [ALICE, BOB]) {
    const r = await call(token, 'POST', '/v1/ssh-keys', { name: 'k', public_key: key.publicKey });
    assert.equal(r.status, 201);
  }
});

after(async () => {
  await fc?.stop();
  key?.cleanup();
  key2?.cleanup();
});

describe('auth', () => {
  test('every /v1 call needs a valid API key (401 unauthorized), and the key is never echoed', async () => {
    for (const [method, path] of [
      ['GET', '/v1/instances'],
      ['GET', '/v1/regions'],
      ['POST', '/v1/instances'],
      ['DELETE', '/v1/instances/ff-000000000000'],
      ['PUT', '/v1/instances/ff-000000000000/tags'],
    ]) {
      assertError(await call(null, method!, path!), 401, 'unauthorized', /missing API key/);
      const wrong = await call('fc-wrong-key-42', method!, path!);
      assertError(wrong, 401, 'unauthorized', /invalid API key/);
      assert.doesNotMatch(JSON.stringify(wrong.body), /fc-wrong-key-42/);
    }
  });

  test('admin calls need the admin token; an API key is not one', async () => {
    assertError(await call(null, 'GET', '/admin/state'), 401, 'unauthorized');
    assertError(await call(ALICE, 'GET', '/admin/state'), 401, 'unauthorized');
    const r = await call(fc.adminToken, 'GET', '/admin/state');
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.body.users).sort(), ['alice', 'bob']);
    assert.doesNotMatch(JSON.stringify(r.body), new RegExp(ALICE));
  });

  test('unknown calls are 404, a wrong method 405', async () => {
    assertError(await call(ALICE, 'GET', '/v1/nothing'), 404, 'not_found');
    assertError(await call(ALICE, 'PATCH', '/v1/instances'), 405, 'bad_request', /use GET, POST/);
  });
});

describe('catalog calls', () => {
  test('instance types come from catalogs/fluffycloud/vms.csv', async () => {
    const r = await call(ALICE, 'GET', '/v1/instance-types');
    assert.equal(r.status, 200);
    const csv = readFileSync(join(ROOT, 'catalogs', 'fluffycloud', 'vms.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1);
    const names = [...new Set(csv.map((l) => l.split(',')[0]))].sort();
    assert.deepEqual(
      r.body.map((t: { name: string }) => t.name),
      names,
    );
    const byName = new Map(r.body.map((t: { name: string }) => [t.name, t]));
    assert.deepEqual(byName.get('ff.small'), {
      name: 'ff.small',
      vcpus: 2,
      memory_gib: 8,
      accelerator: null,
    });
    assert.deepEqual(byName.get('ff.gpu.a100.8'), {
      name: 'ff.gpu.a100.8',
      vcpus: 96,
      memory_gib: 680,
      accelerator: { name: 'A100', count: 8 },
    });
  });

  test('regions and zones come from the catalog; a region without zones lists none', async () => {
    const r = await call(BOB, 'GET', '/v1/regions');
    assert.deepEqual(r.body, [
      { name: 'fluffy-east', zones: ['fluffy-east-1a', 'fluffy-east-1b'] },
      { name: 'fluffy-eu', zones: [] },
      { name: 'fluffy-west', zones: ['fluffy-west-1a', 'fluffy-west-1b', 'fluffy-west-1c'] },
    ]);
  });
});

describe('ssh keys', () => {
  test('register (201), same again (200), same name with another key (400), list, delete', async () => {
    const first = await call(ALICE, 'POST', '/v1/ssh-keys', { name: 'laptop', public_key: key2.publicKey });
    assert.equal(first.status, 201);
    const keygen = spawnSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${key2.privateKey}.pub`], {
      encoding: 'utf8',
    });
    assert.equal(first.body.fingerprint, keygen.stdout.split(' ')[1]);
    assert.deepEqual(first.body, { name: 'laptop', fingerprint: first.body.fingerprint });
    const again = await call(ALICE, 'POST', '/v1/ssh-keys', { name: 'laptop', public_key: key2.publicKey });
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, first.body);
    assertError(
      await call(ALICE, 'POST', '/v1/ssh-keys', { name: 'laptop', public_key: key.publicKey }),
      400,
      'bad_request',
      /already exists with another key/,
    );
    const list = await call(ALICE, 'GET', '/v1/ssh-keys');
    assert.deepEqual(
      list.body.map((k: { name: string }) => k.name),
      ['k', 'laptop'],
    );
    // Bob sees only his own keys.
    assert.deepEqual(
      (await call(BOB, 'GET', '/v1/ssh-keys')).body.map((k: { name: string }) => k.name),
      ['k'],
    );
    assertError(await call(BOB, 'DELETE', '/v1/ssh-keys/laptop'), 404, 'not_found');
    const del = await call(ALICE, 'DELETE', '/v1/ssh-keys/laptop');
    assert.equal(del.status, 200);
    assert.deepEqual(del.body, {});
    assertError(await call(ALICE, 'DELETE', '/v1/ssh-keys/laptop'), 404, 'not_found');
  });

  test('malformed public keys are refused', async () => {
    for (const public_key of ['hello', 'ssh-ed25519 not-base64!', 'ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIA==']) {
      assertError(await call(ALICE, 'POST', '/v1/ssh-keys', { name: 'bad', public_key }), 400, 'bad_request');
    }
    assertError(await call(ALICE, 'POST', '/v1/ssh-keys', { name: 'bad' }), 400, 'bad_request', /public_key/);
  });
});

describe('launch', () => {
  test('bad requests name what is wrong', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ name: undefined }, /name/],
      [{ name: 'no spaces' }, /name/],
      [{ instance_type: 'ff.huge' }, /unknown instance type ff\.huge/],
      [{ region: 'mars-1' }, /unknown region mars-1 \(known: fluffy-east, fluffy-eu, fluffy-west\)/],
      [{ zone: 'fluffy-west-1a' }, /zone fluffy-west-1a is not in region fluffy-east/],
      [{ ssh_key_name: 'nope' }, /no SSH key named nope/],
      [
        { instance_type: 'ff.gpu.a100.1', spot: true },
        /spot ff\.gpu\.a100\.1 is not offered in region fluffy-east/,
      ],
      [{ instance_type: 'ff.gpu.h100.8', zone: 'fluffy-east-1b' }, /ff\.gpu\.h100\.8 is not offered in zone/],
      [{ colour: 'blue' }, /colour/],
      [{ tags: { a: 1 } }, /tags\.a/],
    ];
    for (const [over, re] of cases) assertError(await launch(ALICE, over), 400, 'bad_request', re);
    const notJson = await fetch(`${fc.url}/v1/instances`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ALICE}` },
      body: '{oops',
    });
    assert.equal(notJson.status, 400);
    assert.equal(Object.keys(await fc.listInstances()).length, 0);
  });

  test('an unavailable region answers 503 region_unavailable', async () => {
    assertError(
      await launch(BOB, { region: 'fluffy-eu' }),
      503,
      'region_unavailable',
      /^FluffyCloudError: region fluffy-eu is unavailable/,
    );
  });

  test('capacity per region and type (named, then "*"), counted over every user, freed by remove', async () => {
    const a = await launch(BOB, { name: 'cap-a' });
    const b = await launch(ALICE, { name: 'cap-b' });
    assert.equal(a.status, 201);
    assert.equal(b.status, 201);
    const full = await launch(BOB, { name: 'cap-c' });
    assertError(full, 503, 'capacity');
    assert.equal(
      full.body.error.message,
      'FluffyCloudError: no capacity for ff.small in region fluffy-east (zone fluffy-east-1a)',
    );
    assertError(
      await launch(BOB, { name: 'cap-c', zone: 'fluffy-east-1b' }),
      503,
      'capacity',
      /in region fluffy-east \(zone fluffy-east-1b\)$/,
    );
    // "*" gives every other type 3.
    for (let i = 0; i < 3; i++)
      assert.equal((await launch(BOB, { name: `m${i}`, instance_type: 'ff.medium' })).status, 201);
    assertError(
      await launch(BOB, { instance_type: 'ff.medium' }),
      503,
      'capacity',
      /ff\.medium in region fluffy-east/,
    );
    // Removing one frees its place.
    assert.equal((await call(BOB, 'DELETE', `/v1/instances/${a.body.id}`)).status, 200);
    assert.equal((await launch(BOB, { name: 'cap-d' })).status, 201);
    await call(fc.adminToken, 'POST', '/admin/teardown');
  });

  test('zone capacity: a full zone is skipped when no zone is asked for, and named when it is', async () => {
    assertError(
      await launch(BOB, { region: 'fluffy-west', zone: 'fluffy-west-1a' }),
      503,
      'capacity',
      /^FluffyCloudError: no capacity for ff\.small in region fluffy-west \(zone fluffy-west-1a\)$/,
    );
    const r = await launch(BOB, { region: 'fluffy-west' });
    assert.equal(r.status, 201);
    const inst = (await call(BOB, 'GET', '/v1/instances')).body[r.body.id];
    assert.equal(inst.zone, 'fluffy-west-1b');
    await call(fc.adminToken, 'POST', '/admin/teardown');
  });

  test('quota: vCPUs and instance count per user (403 quota), live scenario change', async () => {
    assert.equal((await launch(ALICE, { instance_type: 'ff.xlarge', region: 'fluffy-west' })).status, 201);
    assert.equal((await launch(ALICE, { instance_type: 'ff.medium', region: 'fluffy-west' })).status, 201);
    assertError(
      await launch(ALICE, { region: 'fluffy-west' }),
      403,
      'quota',
      /^FluffyCloudError: vCPU quota exceeded for user alice: 20 in use \+ 2 for ff\.small > max_vcpus 20$/,
    );
    // Bob has no limits.
    assert.equal((await launch(BOB, { instance_type: 'ff.xlarge', region: 'fluffy-west' })).status, 201);
    await fc.setScenario({
      ...SCENARIO,
      users: { ...SCENARIO.users, alice: { api_key: ALICE, max_instances: 2 } },
    });
    assertError(
      await launch(ALICE, { region: 'fluffy-west' }),
      403,
      'quota',
      /instance quota exceeded for user alice: 2 of max_instances 2 in use/,
    );
    await fc.setScenario(SCENARIO);
    await call(fc.adminToken, 'POST', '/admin/teardown');
  });
});

describe('instances', () => {
  test('list format; set_tags merges and deletes; remove is idempotent; users see only their own', async () => {
    const r = await launch(ALICE, { name: 'web-1', tags: { 'skyhop-cluster': 'c1', role: 'head' } });
    assert.equal(r.status, 201);
    assert.deepEqual(Object.keys(r.body), ['id']);
    const id = r.body.id as string;
    assert.match(id, /^ff-[0-9a-f]{12}$/);

    const list = await activeInstances(ALICE);
    assert.deepEqual(Object.keys(list), [id]);
    const inst = list[id];
    assert.deepEqual(Object.keys(inst).sort(), [
      'created_at',
      'instance_type',
      'ip',
      'name',
      'region',
      'spot',
      'ssh_port',
      'ssh_user',
      'status',
      'tags',
      'zone',
    ]);
    assert.equal(inst.status, 'pending');
    assert.equal(inst.name, 'web-1');
    assert.match(inst.ip, /^127\.1\.\d+\.\d+$/);
    assert.equal(inst.ssh_port, 2222);
    assert.equal(inst.ssh_user, 'root');
    assert.equal(inst.region, 'fluffy-east');
    assert.equal(inst.zone, 'fluffy-east-1a');
    assert.equal(inst.instance_type, 'ff.small');
    assert.equal(inst.spot, false);
    assert.ok(!Number.isNaN(Date.parse(inst.created_at)));
    assert.deepEqual(inst.tags, { 'skyhop-cluster': 'c1', role: 'head' });

    const t = await call(ALICE, 'PUT', `/v1/instances/${id}/tags`, { tags: { role: null, 'skyhop-x': 'y' } });
    assert.equal(t.status, 200);
    assert.deepEqual(t.body, { id, tags: { 'skyhop-cluster': 'c1', 'skyhop-x': 'y' } });
    assert.deepEqual((await call(ALICE, 'GET', '/v1/instances')).body[id].tags, t.body.tags);
    assertError(await call(ALICE, 'PUT', `/v1/instances/${id}/tags`, { tags: { a: 5 } }), 400, 'bad_request');
    assertError(await call(ALICE, 'PUT', `/v1/instances/${id}/tags`, { labels: {} }), 400, 'bad_request');

    // Bob can neither see nor touch it.
    assert.deepEqual(await activeInstances(BOB), {});
    assert.equal((await call(BOB, 'GET', '/v1/instances')).body[id], undefined);
    assertError(await call(BOB, 'PUT', `/v1/instances/${id}/tags`, { tags: {} }), 404, 'not_found');
    assertError(await call(BOB, 'DELETE', `/v1/instances/${id}`), 404, 'not_found');

    // Pending and never booted: no host was started.
    const state = (await call(fc.adminToken, 'GET', '/admin/state')).body;
    assert.equal(state.instances[id].host, undefined);

    assertError(await call(ALICE, 'DELETE', '/v1/instances/ff-000000000000'), 404, 'not_found');
    const del = await call(ALICE, 'DELETE', `/v1/instances/${id}`);
    assert.equal(del.status, 200);
    assert.deepEqual(del.body, { id, status: 'terminated' });
    assert.deepEqual((await call(ALICE, 'DELETE', `/v1/instances/${id}`)).body, { id, status: 'terminated' });
    const gone = (await call(ALICE, 'GET', '/v1/instances')).body[id];
    assert.equal(gone.status, 'terminated');
    assert.equal(gone.status_reason, 'removed');
    assertError(
      await call(ALICE, 'PUT', `/v1/instances/${id}/tags`, { tags: {} }),
      400,
      'bad_request',
      /terminated/,
    );
  });

  test('admin: a bad scenario is refused with the field named; the old one stays', async () => {
    const bad = await call(fc.adminToken, 'PUT', '/admin/scenario', {
      ...SCENARIO,
      regions: { 'mars-1': {} },
    });
    assertError(bad, 400, 'bad_request', /regions\.mars-1: not a FluffyCloud region/);
    const typo = await call(fc.adminToken, 'PUT', '/admin/scenario', { ...SCENARIO, boot_delay: 1 });
    assertError(typo, 400, 'bad_request', /boot_delay/);
    assertError(await launch(BOB, { region: 'fluffy-eu' }), 503, 'region_unavailable');
  });
});
