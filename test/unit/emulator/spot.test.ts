/**
 * Spot preemption: a spot instance is terminated (status_reason "preempted") preempt_after_s after it
 * became running, and everything on it dies; on-demand instances stay. Also the admin "preempt now" call.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type EmulatorHandle, pgrep, startEmulator } from '../../helpers/fluffycloud.js';
import { api, type KeyPair, makeKeyPair, processesInNamespace, ssh, waitFor } from './helpers.js';

const KEY = 'fc-spot-user-key';
let fc: EmulatorHandle;
let key: KeyPair;

before(async () => {
  key = makeKeyPair();
  fc = await startEmulator({
    scenario: { users: { carol: { api_key: KEY } }, spot: { preempt_after_s: 1 } },
  });
  assert.equal(
    (await api(fc.url, KEY, 'POST', '/v1/ssh-keys', { name: 'k', public_key: key.publicKey })).status,
    201,
  );
});

after(async () => {
  const runDir = fc ? (await fc.adminState()).emulator.run_dir : null;
  await fc?.stop();
  key?.cleanup();
  if (runDir) assert.deepEqual(pgrep(runDir), []);
});

const launch = async (name: string, spot: boolean) => {
  const r = await api(fc.url, KEY, 'POST', '/v1/instances', {
    name,
    instance_type: 'ff.medium',
    region: 'fluffy-west',
    ssh_key_name: 'k',
    spot,
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id as string;
};

test('a spot instance is preempted after preempt_after_s of running; on-demand stays', async () => {
  const spotId = await launch('spot-1', true);
  const odId = await launch('od-1', false);
  const running = await waitFor(async () => {
    const l = await fc.listInstances();
    return l[odId].status === 'running' ? l : null;
  });
  assert.equal(running[spotId].spot, true);
  const state = await fc.adminState();
  const ns = state.instances[spotId].host?.pid_ns;
  assert.ok(ns, 'the spot instance had a host');
  const preempted = await waitFor(async () => {
    const i = (await fc.listInstances())[spotId];
    return i.status === 'terminated' ? i : null;
  });
  assert.equal(preempted.status_reason, 'preempted');
  assert.deepEqual(processesInNamespace(ns), []);
  const od = (await fc.listInstances())[odId];
  assert.equal(od.status, 'running');
  assert.equal((await ssh(key.privateKey, od.ip, od.ssh_port, 'hostname')).stdout.trim(), 'od-1');
});

test('admin preempt: a running instance is terminated at once with status_reason "preempted"', async () => {
  await fc.setScenario({ users: { carol: { api_key: KEY } } }); // no automatic preemption
  const id = await launch('spot-2', true);
  await waitFor(async () => (await fc.listInstances())[id].status === 'running');
  const r = await api(fc.url, fc.adminToken, 'POST', `/admin/instances/${id}/preempt`);
  assert.equal(r.status, 200);
  const i = (await fc.listInstances())[id];
  assert.equal(i.status, 'terminated');
  assert.equal(i.status_reason, 'preempted');
  const again = await api(fc.url, fc.adminToken, 'POST', `/admin/instances/${id}/preempt`);
  assert.equal(again.status, 400);
});
