/**
 * The emulator's parts that need no running API: scenario validation, SSH public keys, the seeded PRNG,
 * address claims across emulators, hostnames, and the CLI's refusals (not root, not loopback, bad flags).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadEmulatorCatalog } from '../../../src/emulators/fluffycloud/catalog.js';
import { RUN_ROOT } from '../../../src/emulators/fluffycloud/hosts.js';
import { hostnameFor } from '../../../src/emulators/hosts.js';
import {
  claimIp,
  ensureClaim,
  ipOf,
  nextOffset,
  releaseIp,
} from '../../../src/emulators/fluffycloud/ipclaims.js';
import { parsePublicKey } from '../../../src/emulators/fluffycloud/keys.js';
import { seededRng } from '../../../src/emulators/fluffycloud/rng.js';
import {
  apiKeyHash,
  capacityOf,
  loadScenarioFile,
  parseScenario,
  parseScenarioText,
  scenarioForState,
  sha256Hex,
} from '../../../src/emulators/fluffycloud/scenario.js';
import { ROOT } from '../../helpers/fluffycloud.js';
import { makeKeyPair } from './helpers.js';

const catalog = loadEmulatorCatalog();

test('scenario: defaults, and one clear line for each kind of mistake', () => {
  const s = parseScenario({ users: { a: { api_key: 'k-12345678' } } }, catalog);
  assert.equal(s.boot_delay_s, 0);
  assert.deepEqual(s.regions, {});
  const full = parseScenarioText(
    'users:\n  a: {api_key: k-12345678, max_instances: 2}\nfailures: {rate: 0.5, seed: 3}\n',
    catalog,
    'x.yaml',
  );
  assert.deepEqual(full.failures, {
    rate: 0.5,
    seed: 3,
    slow_rate: 0,
    slow_ms: 1000,
    timeout_rate: 0,
    rate_limited_rate: 0,
  });
  const bad: [unknown, RegExp][] = [
    [
      { users: { a: { api_key: 'short' } } },
      /^ScenarioError: scenario: users\.a\.api_key: an API key of at least 8/,
    ],
    [{ users: { a: { api_key: 'same-key-1', x: 1 } } }, /users\.a: .*x/],
    [
      { users: { a: { api_key: 'same-key-1' }, b: { api_key: 'same-key-1' } } },
      /users a and b have the same api_key/,
    ],
    [
      { regions: { 'fluffy-moon': {} } },
      /regions\.fluffy-moon: not a FluffyCloud region \(fluffy-east, fluffy-eu/,
    ],
    [
      { regions: { 'fluffy-east': { capacity: { 'ff.tiny': 1 } } } },
      /'ff\.tiny' is not a FluffyCloud instance type/,
    ],
    [{ regions: { 'fluffy-east': { zones: { 'fluffy-west-1a': {} } } } }, /not a zone of fluffy-east/],
    [{ regions: { 'fluffy-eu': { zones: { z: {} } } } }, /it has none/],
    [{ failures: { rate: 2 } }, /failures\.rate/],
    [{ failures: { calls: ['reboot'] } }, /failures\.calls\.0/],
    [{ boot_delay_s: -1 }, /boot_delay_s/],
  ];
  for (const [raw, re] of bad) assert.throws(() => parseScenario(raw, catalog), re);
  assert.throws(
    () => parseScenarioText('users: [', catalog, 'f.yaml'),
    /^ScenarioError: f\.yaml: not valid YAML/,
  );
});

test('examples/fluffycloud-scenario.yaml is a valid scenario', () => {
  const s = loadScenarioFile(join(ROOT, 'examples', 'fluffycloud-scenario.yaml'), catalog);
  assert.deepEqual(Object.keys(s.users), ['alice', 'bob']);
  assert.equal(s.regions['fluffy-eu']?.unavailable, true);
});

test('scenario as saved: API keys only as SHA-256, and that form loads again', () => {
  const s = parseScenario({ users: { a: { api_key: 'k-12345678', max_vcpus: 4 } } }, catalog);
  const saved = scenarioForState(s);
  assert.deepEqual(saved.users.a, { api_key_sha256: sha256Hex('k-12345678'), max_vcpus: 4 });
  assert.equal(JSON.stringify(saved).includes('k-12345678'), false);
  const again = parseScenario(JSON.parse(JSON.stringify(saved)), catalog);
  assert.equal(apiKeyHash(again.users.a!), sha256Hex('k-12345678'));
});

test('capacity lookup: the named type, else "*", else no limit', () => {
  assert.equal(capacityOf({ 'ff.small': 8, '*': 16 }, 'ff.small'), 8);
  assert.equal(capacityOf({ 'ff.small': 8, '*': 16 }, 'ff.large'), 16);
  assert.equal(capacityOf({ 'ff.small': 0 }, 'ff.small'), 0);
  assert.equal(capacityOf({ 'ff.small': 8 }, 'ff.large'), undefined);
  assert.equal(capacityOf(undefined, 'ff.large'), undefined);
});

test('public keys: the fingerprint is the one ssh-keygen -l shows; junk is refused', () => {
  const k = makeKeyPair();
  try {
    const p = parsePublicKey(`  ${k.publicKey}\n`);
    const fp = spawnSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${k.privateKey}.pub`], {
      encoding: 'utf8',
    });
    assert.equal(p.fingerprint, fp.stdout.split(' ')[1]);
    assert.equal(p.publicKey, k.publicKey);
  } finally {
    k.cleanup();
  }
  for (const junk of ['', 'ssh-ed25519', 'ssh-dss AAAA', 'ssh-ed25519 AAAA\nssh-ed25519 AAAA']) {
    assert.throws(() => parsePublicKey(junk), { name: 'ApiError', code: 'bad_request' });
  }
});

test('seeded PRNG: same seed, same sequence; values in [0, 1)', () => {
  const a = seededRng(42);
  const b = seededRng(42);
  const c = seededRng(43);
  const xs = Array.from({ length: 100 }, () => a());
  assert.deepEqual(
    Array.from({ length: 100 }, () => b()),
    xs,
  );
  assert.notDeepEqual(
    Array.from({ length: 100 }, () => c()),
    xs,
  );
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  assert.ok(xs.some((x) => x < 0.5) && xs.some((x) => x >= 0.5));
});

test('addresses: 127.1.0.0/16 without .0/.255, wrapping around', () => {
  assert.equal(ipOf(2), '127.1.0.2');
  assert.equal(ipOf(0x1234), '127.1.18.52');
  assert.equal(nextOffset(2), 3);
  assert.equal(nextOffset(254), 257); // skips 127.1.0.255 and 127.1.1.0
  assert.equal(nextOffset(0xfffe), 2);
});

test('hostnames from instance names', () => {
  assert.equal(hostnameFor('Web_1.head'), 'web-1-head');
  assert.equal(hostnameFor('a'.repeat(70)), 'a'.repeat(63));
  assert.equal(hostnameFor('__'), 'node');
});

test('address claims: exclusive between owners; stale ones (owner gone, old, nothing listening) are taken over', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fc-claims-'));
  // Far from where emulators start (127.1.0.2), so parallel tests do not meet these.
  const start = 0xf000 + (process.pid % 0x800);
  const one = { dataDir: join(dir, 'one'), id: 'ff-1' };
  const two = { dataDir: join(dir, 'two'), id: 'ff-2' };
  try {
    const a = await claimIp(start, 2222, one);
    assert.ok(a);
    const b = await claimIp(start, 2222, two);
    assert.ok(b);
    assert.notEqual(b.ip, a.ip, 'a fresh claim is never taken over (even one whose owner has no state yet)');
    assert.equal(ensureClaim(a.ip, 2222, one), true);
    assert.equal(ensureClaim(a.ip, 2222, two), false);
    // Age a's claim: its owner (no state.json in one/) does not list it, so it is stale now.
    const old = new Date(Date.now() - 60_000);
    utimesSync(join(RUN_ROOT, 'claims', a.ip), old, old);
    const c = await claimIp(a.offset, 2222, { dataDir: join(dir, 'three'), id: 'ff-3' });
    assert.equal(c?.ip, a.ip);
    // An old claim whose owner's state still lists the instance as live is kept.
    mkdirSync(two.dataDir, { recursive: true });
    writeFileSync(
      join(two.dataDir, 'state.json'),
      JSON.stringify({ instances: { 'ff-2': { status: 'running' } } }),
    );
    utimesSync(join(RUN_ROOT, 'claims', b.ip), old, old);
    const d = await claimIp(b.offset, 2222, { dataDir: join(dir, 'four'), id: 'ff-4' });
    assert.ok(d);
    assert.notEqual(d.ip, b.ip);
    releaseIp(d.ip, { dataDir: join(dir, 'four'), id: 'ff-4' });
    releaseIp(a.ip, one); // not the owner any more: no effect
    assert.equal(ensureClaim(a.ip, 2222, { dataDir: join(dir, 'three'), id: 'ff-3' }), true);
    releaseIp(a.ip, { dataDir: join(dir, 'three'), id: 'ff-3' });
    releaseIp(b.ip, two);
    assert.equal(ensureClaim(b.ip, 2222, one), true, 'released: free again');
    releaseIp(b.ip, one);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function runMain(args: string[], asNobody = false) {
  const cmd = [process.execPath, '--import', 'tsx', 'src/emulators/fluffycloud/main.ts', ...args];
  const argv = asNobody ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...cmd] : cmd;
  return spawnSync(argv[0]!, argv.slice(1), { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
}

test('CLI: refuses to run without root, off loopback, with bad flags or a bad scenario', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fc-cli-'));
  try {
    const nobody = runMain(['--port', '0', '--data', join(dir, 'd')], true);
    assert.equal(nobody.status, 1);
    assert.match(nobody.stderr, /^fluffycloud: the emulator must run as root/);
    assert.equal(nobody.stdout, '');
    const cases: [string[], RegExp][] = [
      [['--host', '0.0.0.0'], /loopback only/],
      [['--port', '70000'], /--port 70000 is not a port number/],
      [['--ssh-port', '0'], /--ssh-port must be a fixed port/],
      [['--bogus'], /Unknown option '--bogus'/],
      [
        ['--port', '0', '--data', join(dir, 'd'), '--scenario', join(dir, 'missing.yaml')],
        /cannot read the scenario/,
      ],
    ];
    writeFileSync(join(dir, 'bad.yaml'), 'users:\n  a: {api_key: short}\n');
    cases.push([
      ['--port', '0', '--data', join(dir, 'd'), '--scenario', join(dir, 'bad.yaml')],
      /bad\.yaml: users\.a\.api_key/,
    ]);
    for (const [args, re] of cases) {
      const r = runMain(args);
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stdout, '');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
