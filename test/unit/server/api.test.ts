/**
 * The team server's HTTP API on a real Fastify app and a real SQLite state (no worker processes run
 * here: the e2e suites run commands). Tokens, who sees what, and bad input: every 4xx has one clear
 * line and nothing answers 500 or a stack trace.
 */
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../../src/server/app.js';
import { createContext, issueToken, type ServerContext } from '../../../src/server/context.js';
import { cluster, tempHome } from '../state/helpers.js';

let t: ReturnType<typeof tempHome>;
let ctx: ServerContext;
let app: FastifyInstance;
const tok: Record<string, string> = {};

before(async () => {
  t = tempHome();
  ctx = await createContext({ home: t.home, dbUrl: null });
  app = await buildApp(ctx);
  tok.root = issueToken(ctx.api, 'root', 'admin').token;
  tok.alice = issueToken(ctx.api, 'alice', 'user').token;
  tok.bob = issueToken(ctx.api, 'bob', 'user').token;
  // Clusters as alice's and bob's launches would record them (through their scoped stores).
  ctx
    .storeFor({ name: 'alice', role: 'user' })
    .upsertCluster(cluster('alice-dev', { cloud: 'local', region: 'local', zone: null }));
  ctx
    .storeFor({ name: 'bob', role: 'user' })
    .upsertCluster(cluster('bob-dev', { cloud: 'local', region: 'local', zone: null }));
});
after(async () => {
  await app.close();
  ctx.close();
  t.cleanup();
});

const auth = (who: string) => ({ authorization: `Bearer ${tok[who]}` });

async function call(
  method: string,
  url: string,
  o: { who?: string; body?: unknown; headers?: Record<string, string>; payload?: string | Buffer } = {},
) {
  const res = await app.inject({
    method: method as 'GET',
    url,
    headers: { ...(o.who ? auth(o.who) : {}), ...(o.headers ?? {}) },
    ...(o.body !== undefined ? { payload: o.body as object } : {}),
    ...(o.payload !== undefined ? { payload: o.payload } : {}),
  });
  let json: { error?: string } & Record<string, unknown> = {};
  try {
    json = res.json();
  } catch {
    // not JSON
  }
  return { status: res.statusCode, json, text: res.body };
}

/** A 4xx with a one-line message and no stack trace. */
function clear4xx(r: { status: number; json: { error?: string }; text: string }, status?: number) {
  if (status !== undefined) assert.equal(r.status, status, r.text);
  assert.ok(r.status >= 400 && r.status < 500, `expected a 4xx, got ${r.status}: ${r.text}`);
  assert.equal(typeof r.json.error, 'string', r.text);
  assert.ok(!/\n\s+at /.test(r.text), `a stack trace leaked: ${r.text}`);
  assert.ok((r.json.error ?? '').length < 400, r.text);
}

const ENDPOINTS: Array<[string, string]> = [
  ['GET', '/api/v1/whoami'],
  ['GET', '/api/v1/status'],
  ['GET', '/api/v1/cost'],
  ['GET', '/api/v1/storage'],
  ['GET', '/api/v1/requests'],
  ['POST', '/api/v1/requests'],
  ['GET', '/api/v1/requests/abc'],
  ['GET', '/api/v1/requests/abc/stream'],
  ['POST', '/api/v1/requests/abc/stdin'],
  ['POST', '/api/v1/requests/abc/signal'],
  ['POST', '/api/v1/uploads'],
  ['GET', '/api/v1/users'],
  ['POST', '/api/v1/users'],
  ['DELETE', '/api/v1/users/alice/tokens'],
  ['GET', '/api/v1/audit'],
];

test('every endpoint under /api/v1/ refuses a missing or bad token with 401', async () => {
  for (const [m, u] of ENDPOINTS) {
    clear4xx(await call(m, u), 401);
    clear4xx(await call(m, u, { headers: { authorization: 'Bearer sky_not-a-token' } }), 401);
    clear4xx(await call(m, u, { headers: { authorization: `Basic ${tok.alice}` } }), 401);
  }
  const r = await call('GET', '/api/v1/whoami');
  assert.match(r.json.error ?? '', /token/);
});

test('/health and /openapi.json are open; the description lists the API from the same schemas', async () => {
  assert.equal((await call('GET', '/health')).status, 200);
  const doc = await call('GET', '/openapi.json');
  assert.equal(doc.status, 200);
  const paths = doc.json.paths as Record<string, Record<string, { requestBody?: unknown }>>;
  for (const [m, u] of ENDPOINTS) {
    const key = u.replace(/\/abc(?=\/|$)/, '/{id}').replace('/alice/', '/{name}/');
    assert.ok(paths[key]?.[m.toLowerCase()], `${m} ${key} missing from openapi.json`);
  }
  const submit = paths['/api/v1/requests'].post.requestBody as {
    content: { 'application/json': { schema: { properties: Record<string, unknown> } } };
  };
  assert.ok(submit.content['application/json'].schema.properties.argv);
});

test('whoami names the user; status shows a user only their clusters, an admin all', async () => {
  assert.equal((await call('GET', '/api/v1/whoami', { who: 'alice' })).json.user, 'alice');
  const names = async (who: string) =>
    (
      (await call('GET', '/api/v1/status', { who })).json.clusters as Array<{ name: string; owner: string }>
    ).map((c) => `${c.name}:${c.owner}`);
  assert.deepEqual(await names('alice'), ['alice-dev:alice']);
  assert.deepEqual(await names('bob'), ['bob-dev:bob']);
  assert.deepEqual(await names('root'), ['alice-dev:alice', 'bob-dev:bob']);
  // Another user's cluster is not there for bob, even by name.
  const r = await call('GET', '/api/v1/status?clusters=alice-dev', { who: 'bob' });
  assert.deepEqual(r.json.clusters, []);
});

test("a user cannot see another user's request; an admin can", async () => {
  const id = 'r123abc';
  ctx.api.createRequest({ id, user: 'alice', command: 'status', argv: ['status'], createdAt: Date.now() });
  ctx.api.finishRequest(id, { status: 'SUCCEEDED', exitCode: 0, endedAt: Date.now() });
  assert.equal((await call('GET', `/api/v1/requests/${id}`, { who: 'alice' })).status, 200);
  clear4xx(await call('GET', `/api/v1/requests/${id}`, { who: 'bob' }), 404);
  clear4xx(
    await call('POST', `/api/v1/requests/${id}/signal`, { who: 'bob', body: { signal: 'SIGINT' } }),
    404,
  );
  assert.equal((await call('GET', `/api/v1/requests/${id}`, { who: 'root' })).status, 200);
  const mine = (await call('GET', '/api/v1/requests', { who: 'bob' })).json.requests as unknown[];
  assert.equal(mine.length, 0);
  // A finished request's stream is its output and its ending.
  ctx.api.appendLog(id, 'out', 'hello\n');
  const s = await call('GET', `/api/v1/requests/${id}/stream`, { who: 'alice' });
  assert.match(s.text, /"type":"out".*hello/);
  assert.match(s.text, /"type":"end","status":"SUCCEEDED","exit_code":0/);
});

test('users: only admins manage them; a revoked token is refused; tokens are stored hashed', async () => {
  clear4xx(await call('GET', '/api/v1/users', { who: 'alice' }), 403);
  clear4xx(await call('POST', '/api/v1/users', { who: 'alice', body: { name: 'eve' } }), 403);
  const add = await call('POST', '/api/v1/users', { who: 'root', body: { name: 'carol', role: 'user' } });
  assert.equal(add.status, 200);
  const carol = add.json.token as string;
  assert.match(carol, /^sky_/);
  assert.equal(ctx.api.userByTokenHash(carol), null, 'the token itself is never a key');
  assert.equal(
    (await call('GET', '/api/v1/whoami', { headers: { authorization: `Bearer ${carol}` } })).status,
    200,
  );
  assert.equal((await call('DELETE', '/api/v1/users/carol/tokens', { who: 'root' })).status, 200);
  const r = await call('GET', '/api/v1/whoami', { headers: { authorization: `Bearer ${carol}` } });
  clear4xx(r, 401);
  clear4xx(await call('DELETE', '/api/v1/users/nobody/tokens', { who: 'root' }), 404);
  const audit = (await call('GET', '/api/v1/audit', { who: 'root' })).json.entries as Array<{
    action: string;
    target: string;
  }>;
  assert.ok(audit.some((a) => a.action === 'users revoke' && a.target === 'carol'));
});

test('bad input to every endpoint is a clear 4xx: wrong types, unknown commands, huge bodies, traversal', async () => {
  const bad: Array<[string, string, unknown, number?]> = [
    ['POST', '/api/v1/requests', {}, 400],
    ['POST', '/api/v1/requests', { argv: 'launch' }, 400],
    ['POST', '/api/v1/requests', { argv: [] }, 400],
    ['POST', '/api/v1/requests', { argv: [1, 2] }, 400],
    ['POST', '/api/v1/requests', { argv: ['rm', '-rf', '/'] }, 400],
    ['POST', '/api/v1/requests', { argv: ['api', 'users', 'add', 'x'] }, 400],
    ['POST', '/api/v1/requests', { argv: ['api-worker', 'x'] }, 400],
    ['POST', '/api/v1/requests', { argv: ['status'], extra: 1 }, 400],
    ['POST', '/api/v1/requests', { argv: ['status'], upload: '../../etc' }, 400],
    ['POST', '/api/v1/requests', { argv: ['status'], upload: 'nosuchupload' }, 404],
    ['POST', '/api/v1/users', { name: '../root' }, 400],
    ['POST', '/api/v1/users', { name: 'x', role: 'god' }, 400],
    ['POST', '/api/v1/requests/abc/stdin', { data: 5 }, 404],
    ['POST', '/api/v1/requests/r123abc/stdin', { data: 5 }, 400],
    ['POST', '/api/v1/requests/r123abc/stdin', { data: 'y\n' }, 409],
    ['POST', '/api/v1/requests/abc/signal', { signal: 'SIGKILL' }, 404],
    ['GET', '/api/v1/requests/..%2F..%2Fetc%2Fpasswd', undefined, 400],
    ['GET', '/api/v1/requests/abc/stream?after=-1', undefined, 404],
    ['GET', '/api/v1/requests?limit=abc', undefined, 400],
    ['GET', '/api/v1/status?clusters=../../x', undefined, 400],
    ['DELETE', '/api/v1/users/..%2F..%2Fx/tokens', undefined, 400],
    ['GET', '/api/v1/nothing-here', undefined, 404],
  ];
  for (const [m, u, body, status] of bad) {
    const r = await call(m, u, { who: 'root', ...(body !== undefined ? { body } : {}) });
    clear4xx(r, status);
  }
  // Not JSON, and a body over the limit.
  clear4xx(
    await call('POST', '/api/v1/requests', {
      who: 'root',
      headers: { 'content-type': 'application/json' },
      payload: '{"argv": [',
    }),
    400,
  );
  const huge = JSON.stringify({ argv: ['status', 'x'.repeat(2 * 1024 * 1024)] });
  clear4xx(
    await call('POST', '/api/v1/requests', {
      who: 'root',
      headers: { 'content-type': 'application/json' },
      payload: huge,
    }),
    413,
  );
  clear4xx(
    await call('POST', '/api/v1/requests', {
      who: 'root',
      headers: { 'content-type': 'text/plain' },
      payload: 'hi',
    }),
    400,
  );
});

/** A one-file tar (ustar) holding `name`. */
function tarOf(name: string, data: string, type = '0'): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100);
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${Buffer.byteLength(data).toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h.write(type, 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const body = Buffer.alloc(Math.ceil(Buffer.byteLength(data) / 512) * 512);
  body.write(data);
  return Buffer.concat([h, body, Buffer.alloc(1024)]);
}

test('uploads: a gzipped tar lands under the user’s upload; traversal and garbage are refused', async () => {
  const gz = { 'content-type': 'application/gzip' };
  const ok = await call('POST', '/api/v1/uploads', {
    who: 'alice',
    headers: gz,
    payload: gzipSync(tarOf('home/u/task.yaml', 'run: echo hi\n')),
  });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.files, 1);
  clear4xx(
    await call('POST', '/api/v1/uploads', {
      who: 'alice',
      headers: gz,
      payload: gzipSync(tarOf('../../escape.txt', 'x')),
    }),
    400,
  );
  clear4xx(
    await call('POST', '/api/v1/uploads', {
      who: 'alice',
      headers: gz,
      payload: gzipSync(tarOf('home/link', '', '2')),
    }),
    400,
  );
  clear4xx(
    await call('POST', '/api/v1/uploads', { who: 'alice', headers: gz, payload: Buffer.from('not a tar') }),
    400,
  );
  // Bob cannot use alice's upload.
  const id = ok.json.upload_id as string;
  clear4xx(
    await call('POST', '/api/v1/requests', { who: 'bob', body: { argv: ['status'], upload: id } }),
    404,
  );
});

test('the token check is not skipped by a percent-encoded address', async () => {
  for (const url of ['/%61pi/v1/whoami', '/api/v1/%72equests', '/%61pi/v1/users']) {
    const r = await call('GET', url);
    clear4xx(r, 401);
    assert.match(r.json.error ?? '', /Authorization: Bearer/, url);
  }
  const ok = await call('GET', '/%61pi/v1/whoami', { who: 'bob' });
  assert.equal(ok.status, 200, ok.text);
});
