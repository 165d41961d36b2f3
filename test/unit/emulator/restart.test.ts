/**
 * Restarting the emulator: SIGTERM stops the API but not the instances' hosts; the next start re-adopts a
 * host whose sshd still runs, brings back (same address, same home) one whose sshd died, and resumes a boot
 * that was pending. With --teardown, SIGTERM removes every instance.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { type EmulatorHandle, pgrep, startEmulator } from '../../helpers/fluffycloud.js';
import { api, type KeyPair, makeKeyPair, ssh, waitFor } from './helpers.js';

let key: KeyPair;

before(() => {
  key = makeKeyPair();
});

after(() => key?.cleanup());

async function launch(fc: EmulatorHandle, name: string): Promise<string> {
  const r = await api(fc.url, fc.apiKey, 'POST', '/v1/instances', {
    name,
    instance_type: 'ff.small',
    region: 'fluffy-east',
    ssh_key_name: 'k',
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id as string;
}

const running = (fc: EmulatorHandle, id: string) =>
  waitFor(async () => {
    const i = (await fc.listInstances())[id];
    assert.notEqual(i.status, 'terminated', JSON.stringify(i));
    return i.status === 'running' ? i : null;
  });

test('restart re-adopts live hosts, reboots one whose sshd died, resumes a pending boot', async () => {
  const fc = await startEmulator({ bootDelayS: 0 });
  let runDir = '';
  try {
    await api(fc.url, fc.apiKey, 'POST', '/v1/ssh-keys', { name: 'k', public_key: key.publicKey });
    const a = await launch(fc, 'keeps');
    const b = await launch(fc, 'crashes');
    const ia = await running(fc, a);
    const ib = await running(fc, b);
    assert.equal((await ssh(key.privateKey, ib.ip, ib.ssh_port, 'echo kept > /root/data')).code, 0);
    const before = await fc.adminState();
    runDir = before.emulator.run_dir;
    const hostA = before.instances[a].host;
    const hostB = before.instances[b].host;
    await fc.setScenario({ users: { alice: { api_key: fc.apiKey } }, boot_delay_s: 2 });
    const c = await launch(fc, 'late');

    await fc.restart({
      whileDown: async () => {
        // The API is down, the instances are not.
        assert.equal((await ssh(key.privateKey, ia.ip, ia.ssh_port, 'hostname')).stdout.trim(), 'keeps');
        process.kill(hostB.sshd_pid, 'SIGKILL'); // B's "VM" crashes while nobody watches
      },
    });

    const la = await running(fc, a);
    assert.equal(la.ip, ia.ip);
    const afterState = await fc.adminState();
    assert.equal(afterState.instances[a].host.sshd_pid, hostA.sshd_pid, 'A was adopted, not restarted');
    assert.equal(afterState.instances[a].boots, 1);
    assert.match(fc.stderr(), new RegExp(`adopt ${a}`));

    const lb = await waitFor(async () => {
      const st = await fc.adminState();
      const i = st.instances[b];
      return i.boots === 2 && i.status === 'running' ? i : null;
    });
    assert.notEqual(lb.host.sshd_pid, hostB.sshd_pid);
    assert.equal(lb.ip, ib.ip);
    const rb = await waitFor(async () => {
      const r = await ssh(key.privateKey, ib.ip, ib.ssh_port, 'hostname; cat /root/data');
      return r.code === 0 ? r : null;
    });
    assert.deepEqual(rb.stdout.trim().split('\n'), ['crashes', 'kept']);

    // state.json keeps the users' API keys only as SHA-256.
    const saved = readFileSync(join(fc.dataDir, 'state.json'), 'utf8');
    assert.equal(saved.includes(fc.apiKey), false);
    assert.match(saved, /"api_key_sha256": "[0-9a-f]{64}"/);

    const lc = await running(fc, c);
    assert.equal((await ssh(key.privateKey, lc.ip, lc.ssh_port, 'hostname')).stdout.trim(), 'late');
  } finally {
    await fc.stop();
  }
  assert.deepEqual(pgrep(runDir), [], 'teardown left no sshd');
});

test('--teardown: SIGTERM removes every instance and kills its host', async () => {
  const fc = await startEmulator({ bootDelayS: 0, args: ['--teardown'] });
  await api(fc.url, fc.apiKey, 'POST', '/v1/ssh-keys', { name: 'k', public_key: key.publicKey });
  const id = await launch(fc, 'short-lived');
  await running(fc, id);
  const runDir = (await fc.adminState()).emulator.run_dir as string;
  assert.ok(pgrep(runDir).length > 0, 'its sshd (and unshare parent) run');
  await fc.stop({ teardown: false }); // only SIGTERM: the emulator tears down by itself
  assert.deepEqual(pgrep(runDir), []);
  const base = dirname(fc.dataDir);
  if (basename(base).startsWith('skyhop-fc-')) rmSync(base, { recursive: true, force: true });
});
