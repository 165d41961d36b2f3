/**
 * Instances are real SSH hosts: launch -> pending -> running, then real `ssh` (OpenSSH client) into the
 * instance's own loopback address: its own hostname, /root and process table; two instances do not see
 * each other; removing one kills everything started on it (detached processes included).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type EmulatorHandle, pgrep, startEmulator } from '../../helpers/fluffycloud.js';
import { api, type KeyPair, makeKeyPair, processesInNamespace, ssh, waitFor } from './helpers.js';

let fc: EmulatorHandle;
let key: KeyPair;

before(async () => {
  key = makeKeyPair();
  fc = await startEmulator({ bootDelayS: 0 });
  const r = await api(fc.url, fc.apiKey, 'POST', '/v1/ssh-keys', { name: 'k', public_key: key.publicKey });
  assert.equal(r.status, 201);
});

after(async () => {
  const runDir = fc ? (await fc.adminState()).emulator.run_dir : null;
  await fc?.stop();
  key?.cleanup();
  if (runDir) assert.deepEqual(pgrep(runDir), [], 'no sshd of this emulator is left');
});

async function launchRunning(name: string, over: Record<string, unknown> = {}) {
  const r = await api(fc.url, fc.apiKey, 'POST', '/v1/instances', {
    name,
    instance_type: 'ff.small',
    region: 'fluffy-east',
    ssh_key_name: 'k',
    ...over,
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const id = r.body.id as string;
  const inst = await waitFor(
    async () => {
      const i = (await fc.listInstances())[id];
      assert.notEqual(i.status, 'terminated', JSON.stringify(i));
      return i.status === 'running' ? i : null;
    },
    30_000,
    `${name} running`,
  );
  return { id, ip: inst.ip as string, port: inst.ssh_port as number };
}

test('two instances: own hostname, own /root, own process table; remove kills everything on one', async () => {
  const a = await launchRunning('Node-A');
  const b = await launchRunning('node-b');
  assert.notEqual(a.ip, b.ip);

  const ra = await ssh(
    key.privateKey,
    a.ip,
    a.port,
    'hostname; echo "$HOME"; echo from-a > /root/mine; ls /root',
  );
  assert.equal(ra.code, 0, ra.stderr);
  const [hostA, homeA, ...lsA] = ra.stdout.trim().split('\n');
  assert.equal(hostA, 'node-a');
  assert.equal(homeA, '/root');
  assert.ok(lsA.includes('mine'));

  const rb = await ssh(
    key.privateKey,
    b.ip,
    b.port,
    'hostname; ls -A /root; cat /root/mine 2>&1; echo x > /tmp/b-only',
  );
  assert.equal(rb.code, 0, rb.stderr);
  assert.equal(rb.stdout.split('\n')[0], 'node-b');
  assert.doesNotMatch(rb.stdout, /^mine$/m);
  assert.match(rb.stdout, /No such file/);
  assert.equal((await ssh(key.privateKey, a.ip, a.port, 'ls /tmp')).stdout.includes('b-only'), false);

  // A detached process on A: visible in A's process table only.
  const bg = await ssh(
    key.privateKey,
    a.ip,
    a.port,
    'setsid nohup sleep 1000 >/dev/null 2>&1 </dev/null & echo started',
  );
  assert.equal(bg.stdout.trim(), 'started');
  const psA = await ssh(key.privateKey, a.ip, a.port, 'ps -eo pid,args');
  assert.match(psA.stdout, /sleep 1000/);
  assert.match(psA.stdout, /^\s*1 sshd/m, 'sshd is PID 1 of the node');
  const psB = await ssh(key.privateKey, b.ip, b.port, 'ps -eo pid,args');
  assert.doesNotMatch(psB.stdout, /sleep 1000/);

  // On the machine: the sleep runs in A's PID namespace.
  const host = (await fc.adminState()).instances[a.id].host;
  const inNs = processesInNamespace(host.pid_ns);
  assert.ok(inNs.length >= 2, 'sshd and sleep in the node namespace');
  const sleeps = pgrep('sleep 1000').filter((pid) => inNs.includes(pid));
  assert.equal(sleeps.length, 1);

  const del = await api(fc.url, fc.apiKey, 'DELETE', `/v1/instances/${a.id}`);
  assert.deepEqual(del.body, { id: a.id, status: 'terminated' });
  // Removal answers once the node is gone: nothing left in its namespace, the sleep included.
  assert.deepEqual(processesInNamespace(host.pid_ns), []);
  assert.deepEqual(
    pgrep('sleep 1000').filter((pid) => sleeps.includes(pid)),
    [],
  );
  const after = await ssh(key.privateKey, a.ip, a.port, 'true');
  assert.notEqual(after.code, 0, 'the removed instance no longer answers ssh');

  // B is untouched.
  assert.equal((await ssh(key.privateKey, b.ip, b.port, 'hostname')).stdout.trim(), 'node-b');
  await api(fc.url, fc.apiKey, 'DELETE', `/v1/instances/${b.id}`);
});

test('the node has node and a standard PATH; its home starts from /etc/skel', async () => {
  const n = await launchRunning('tools');
  const r = await ssh(
    key.privateKey,
    n.ip,
    n.port,
    'node -e "console.log(6 * 7)"; echo "$PATH"; ls -A /root',
  );
  assert.equal(r.code, 0, r.stderr);
  const [answer, path, ...files] = r.stdout.trim().split('\n');
  assert.equal(answer, '42');
  for (const dir of ['/usr/local/bin', '/usr/bin', '/bin', '/usr/sbin'])
    assert.ok(path!.split(':').includes(dir));
  assert.ok(files.includes('.bashrc'));
  await api(fc.url, fc.apiKey, 'DELETE', `/v1/instances/${n.id}`);
});

test('a boot delay keeps an instance pending, without a host, until it has passed', async () => {
  await fc.setScenario({ users: { alice: { api_key: fc.apiKey } }, boot_delay_s: 2 });
  const r = await api(fc.url, fc.apiKey, 'POST', '/v1/instances', {
    name: 'slow',
    instance_type: 'ff.small',
    region: 'fluffy-west',
    ssh_key_name: 'k',
  });
  const id = r.body.id as string;
  assert.equal((await fc.listInstances())[id].status, 'pending');
  assert.equal((await fc.adminState()).instances[id].host, undefined);
  const inst = await waitFor(async () => {
    const i = (await fc.listInstances())[id];
    return i.status === 'running' ? i : null;
  });
  assert.equal((await ssh(key.privateKey, inst.ip, inst.ssh_port, 'hostname')).stdout.trim(), 'slow');
  await fc.setScenario({ users: { alice: { api_key: fc.apiKey } }, boot_delay_s: 0 });
});

test('removing a pending instance: it never boots', async () => {
  await fc.setScenario({ users: { alice: { api_key: fc.apiKey } }, boot_delay_s: 1 });
  const r = await api(fc.url, fc.apiKey, 'POST', '/v1/instances', {
    name: 'never',
    instance_type: 'ff.small',
    region: 'fluffy-west',
    ssh_key_name: 'k',
  });
  const id = r.body.id as string;
  await api(fc.url, fc.apiKey, 'DELETE', `/v1/instances/${id}`);
  await new Promise((res) => setTimeout(res, 1500));
  const st = await fc.adminState();
  assert.equal(st.instances[id].status, 'terminated');
  assert.equal(st.instances[id].host, undefined);
  await fc.setScenario({ users: { alice: { api_key: fc.apiKey } }, boot_delay_s: 0 });
});
