/**
 * The team server used as an attacker and a careless user would (review of issue 13): a real server
 * (`skyhop api start`, SQLite) on a loopback port, two users' CLIs in their own homes, the local cloud.
 * - bob's `status --refresh` works while alice has a cluster, and neither shows nor adopts hers;
 * - a request never reads the server's own files: a task file named by its server path (bob's own
 *   upload, named without it) is not found, so its `workdir` (the server's home) never ships;
 * - `--secret` values never reach the command line of any process on the server.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { create } from 'tar';
import { type Run, Sandbox } from './harness.js';

describe('team server review', { timeout: 600_000 }, () => {
  const srv = new Sandbox();
  const alice = new Sandbox();
  const bob = new Sandbox();
  let endpoint = '';
  const tokens: Record<string, string> = {};

  const as = (who: 'alice' | 'bob') => ({
    SKYHOP_API_SERVER_ENDPOINT: endpoint,
    SKYHOP_API_TOKEN: tokens[who],
  });
  const show = (r: Run) => `code ${r.code}\n${r.stdout}\n${r.stderr}`;

  before(async () => {
    const r = await srv.run(['api', 'start', '--port', '0']);
    assert.equal(r.code, 0, show(r));
    endpoint = /running at (http:\/\/127\.0\.0\.1:\d+)/.exec(r.stderr)?.[1] ?? '';
    assert.ok(endpoint, r.stderr);
    for (const who of ['alice', 'bob'] as const) {
      const u = await srv.run(['api', 'users', 'add', who]);
      assert.equal(u.code, 0, show(u));
      tokens[who] = u.stdout.trim().split('\n')[0];
    }
    alice.env.SKYHOP_API_SERVER_ENDPOINT = endpoint;
    alice.env.SKYHOP_API_TOKEN = tokens.alice;
    bob.env.SKYHOP_API_SERVER_ENDPOINT = endpoint;
    bob.env.SKYHOP_API_TOKEN = tokens.bob;
  });
  after(async () => {
    await alice.cleanup();
    await bob.cleanup();
    await srv.run(['api', 'stop']);
    await srv.cleanup();
  });

  test("bob's status --refresh neither fails on nor adopts alice's cluster", async () => {
    const a = await alice.run(['launch', '-y', '-d', '-c', 'rv-alice', '--infra', 'local', 'sleep 600']);
    assert.equal(a.code, 0, show(a));
    const b = await bob.run(['status', '--refresh'], { env: as('bob') });
    assert.equal(b.code, 0, show(b));
    assert.doesNotMatch(b.stdout + b.stderr, /rv-alice/);
    const again = await bob.run(['status']);
    assert.doesNotMatch(again.stdout, /rv-alice/, 'bob adopted it');
    const mine = await alice.run(['status']);
    assert.match(mine.stdout, /rv-alice\s.*UP/);
  });

  test("a request never reads the server's own files, even named by their server path", async () => {
    // bob uploads a task whose workdir is the server's home, then names it by its server path
    // without the upload (what a worker with no client root once read from the server's disk).
    const dir = join(bob.dir, 'evil');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'evil.yaml'), `workdir: ${srv.skyhopHome}\nrun: ls\n`);
    const tgz = create({ gzip: true, cwd: '/', portable: true }, [join(dir, 'evil.yaml').slice(1)]);
    const chunks: Buffer[] = [];
    for await (const c of tgz as unknown as AsyncIterable<Buffer>) chunks.push(c);
    const h = { authorization: `Bearer ${tokens.bob}` };
    const up = await fetch(`${endpoint}/api/v1/uploads`, {
      method: 'POST',
      headers: { ...h, 'content-type': 'application/gzip' },
      body: Buffer.concat(chunks),
    });
    assert.equal(up.status, 200, await up.clone().text());
    const { upload_id } = (await up.json()) as { upload_id: string };
    const serverPath = join(srv.skyhopHome, 'api', 'uploads', 'bob', upload_id, dir.slice(1), 'evil.yaml');
    for (const argv of [
      ['launch', '-y', '-c', 'rv-evil', '--infra', 'local', serverPath],
      ['launch', '-y', '-c', 'rv-evil', '--infra', 'local', `../../../../../../../../..${serverPath}`],
    ]) {
      const sub = await fetch(`${endpoint}/api/v1/requests`, {
        method: 'POST',
        headers: { ...h, 'content-type': 'application/json' },
        body: JSON.stringify({ argv, cwd: '/' }),
      });
      assert.equal(sub.status, 202);
      const { request_id } = (await sub.json()) as { request_id: string };
      const logs = await bob.run(['api', 'logs', request_id]);
      assert.notEqual(logs.code, 0, show(logs));
      assert.match(logs.stderr, /no such file/, show(logs));
    }
    const st = await bob.run(['status']);
    assert.doesNotMatch(st.stdout, /rv-evil/);
  });

  test('--secret and --env values never reach a command line on the server', async () => {
    const secret = `s3cr3t-${randomBytes(8).toString('hex')}`;
    const envValue = `envv-${randomBytes(8).toString('hex')}`;
    const hits = new Set<string>();
    let scanning = true;
    const scan = async () => {
      while (scanning) {
        for (const p of readdirSync('/proc')) {
          if (!/^\d+$/.test(p)) continue;
          let cmd: string;
          try {
            cmd = readFileSync(`/proc/${p}/cmdline`, 'latin1');
          } catch {
            continue;
          }
          // The client's own command line carries them, as a local run's does; no process on the server may.
          if ((cmd.includes(secret) || cmd.includes(envValue)) && !clients.has(Number(p))) {
            hits.add(`${p}: ${cmd.replace(/\0/g, ' ').slice(0, 200)}`);
          }
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const clients = new Set<number>();
    const sampler = scan();
    const child = alice.spawn([
      'exec',
      'rv-alice',
      '--secret',
      `TOK=${secret}`,
      `--env=E=${envValue}`,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell's ${#VAR}
      'sleep 3; echo "got ${#TOK} ${#E}"',
    ]);
    if (child.pid) clients.add(child.pid);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    scanning = false;
    await sampler;
    assert.equal(code, 0, out);
    assert.match(out, new RegExp(`got ${secret.length} ${envValue.length}`), out);
    assert.deepEqual([...hits], []);
  });
});
