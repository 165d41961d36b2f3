/**
 * The "moto hosts" test helper itself (test/helpers/moto-hosts.ts): how it rewrites EC2's answers (every
 * address loopback), and, against a real moto_server and real sshd hosts, what an instance's host is like
 * (ubuntu with the imported key, sudo, a harmless systemctl, the machine's files untouched), how it
 * follows the instance's life (stop, start, a node halting itself, terminated behind the proxy's back),
 * and that no host outlives its test process (an exit without close(), a SIGKILLed process).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { ec2Client } from '../../../src/clouds/aws/ec2.js';
import { canConnect } from '../../../src/emulators/hosts.js';
import { makeRunner } from '../../../src/runtime/index.js';
import type { CommandRunner } from '../../../src/runtime/types.js';
import {
  type MotoEnv,
  type MotoHosts,
  motoEnv,
  motoHostsMissing,
  motoMissing,
  UBUNTU_AMD64,
} from '../../helpers/moto.js';
import { instanceBlocks, NO_HOST_IP, regionOfRequest, rewriteAddresses } from '../../helpers/moto-hosts.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');

const XML =
  '<?xml version="1.0" encoding="utf-8"?>\n<DescribeInstancesResponse><reservationSet><item><instancesSet>' +
  '<item><networkInterfaceSet><item><association><publicDnsName>ip-54-1-2-3.ec2.internal</publicDnsName>' +
  '<publicIp>54.1.2.3</publicIp></association><privateIpAddress>10.0.0.5</privateIpAddress>' +
  '<privateIpAddressesSet><item><privateIpAddress>10.0.0.5</privateIpAddress></item></privateIpAddressesSet>' +
  '</item></networkInterfaceSet><groupSet/><instanceId>i-aaa</instanceId><instanceState><code>16</code>' +
  '<name>running</name></instanceState><privateDnsName>ip-10-0-0-5.ec2.internal</privateDnsName>' +
  '<dnsName>ec2-54-1-2-3.compute-1.amazonaws.com</dnsName><privateIpAddress>10.0.0.5</privateIpAddress>' +
  '<ipAddress>54.1.2.3</ipAddress></item>' +
  '<item><instanceId>i-bbb</instanceId><instanceState><name>stopped</name></instanceState>' +
  '<privateIpAddress>10.0.0.6</privateIpAddress></item>' +
  '</instancesSet></item></reservationSet><cidrBlock>10.0.0.0/16</cidrBlock><x>127.0.0.1</x>' +
  '<other>172.31.0.9</other></DescribeInstancesResponse>';

test('instanceBlocks: each instance of an answer with its id and state (Describe and Stop answers)', () => {
  assert.deepEqual(
    instanceBlocks(XML).map((b) => [b.id, b.state]),
    [
      ['i-aaa', 'running'],
      ['i-bbb', 'stopped'],
    ],
  );
  const stop =
    '<StopInstancesResponse><instancesSet><item><instanceId>i-ccc</instanceId><currentState><code>64</code>' +
    '<name>stopping</name></currentState><previousState><code>16</code><name>running</name></previousState>' +
    '</item></instancesSet></StopInstancesResponse>';
  assert.deepEqual(
    instanceBlocks(stop).map((b) => [b.id, b.state]),
    [['i-ccc', 'stopping']],
  );
});

test('rewriteAddresses: every address of an instance is its host; nothing else leaves loopback', () => {
  const out = rewriteAddresses(XML, (id) => (id === 'i-aaa' ? '127.2.0.7' : NO_HOST_IP));
  const a = instanceBlocks(out)[0];
  const first = out.slice(a.start, a.end);
  assert.equal(first.match(/127\.2\.0\.7/g)?.length, 5, first);
  assert.match(first, /<privateDnsName>ip-127-2-0-7\.ec2\.internal<\/privateDnsName>/);
  assert.match(first, /<dnsName>ec2-127-2-0-7\.compute-1\.amazonaws\.com<\/dnsName>/);
  assert.match(first, /<publicDnsName>ip-127-2-0-7\.ec2\.internal<\/publicDnsName>/);
  assert.match(out, new RegExp(`<privateIpAddress>${NO_HOST_IP}</privateIpAddress></item></instancesSet>`));
  assert.match(out, /<cidrBlock>10\.0\.0\.0\/16<\/cidrBlock><x>127\.0\.0\.1<\/x>/, 'CIDRs and loopback kept');
  assert.match(out, new RegExp(`<other>${NO_HOST_IP}</other>`), 'the safety net');
  const bare = [...out.matchAll(/>(\d+\.\d+\.\d+\.\d+)</g)].map((m) => m[1]);
  assert.ok(
    bare.every((ip) => ip.startsWith('127.')),
    bare.join(' '),
  );
});

test('regionOfRequest: the credential scope of a signed request', () => {
  assert.equal(
    regionOfRequest(
      'AWS4-HMAC-SHA256 Credential=AKIA/20260101/eu-west-2/ec2/aws4_request, SignedHeaders=host, Signature=x',
    ),
    'eu-west-2',
  );
  assert.equal(regionOfRequest(undefined), 'us-east-1');
});

const missing = motoMissing() ?? motoHostsMissing();
if (missing) console.log(`# moto hosts tests skipped: ${missing}`);

/** Waits (polling, bounded) until `ok()`; the bound only keeps a broken run from hanging. */
async function until(what: string, ok: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; !(await ok()); i++) {
    if (i > 600) assert.fail(`gave up waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** The direct children of `pid` (from /proc/PID/task/PID/children). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('moto hosts on a real moto', { skip: missing ?? false }, () => {
  let env: MotoEnv;
  let hosts: MotoHosts;
  let ec2: EC2Client;
  let sdk: typeof import('@aws-sdk/client-ec2');
  let keyDir = '';
  const runners: CommandRunner[] = [];

  before(async () => {
    env = await motoEnv('skyhop-moto-hosts-', { hosts: true });
    hosts = env.moto.hosts!;
    ({ sdk, client: ec2 } = await ec2Client('us-east-1', { maxAttempts: 1 }));
    keyDir = mkdtempSync(join(tmpdir(), 'skyhop-moto-hosts-key-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keyDir, 'id')]);
    await ec2.send(
      new sdk.ImportKeyPairCommand({
        KeyName: 'k',
        PublicKeyMaterial: readFileSync(join(keyDir, 'id.pub')),
      }),
    );
  });
  after(async () => {
    for (const r of runners) await r.close().catch(() => {});
    ec2?.destroy();
    const errors = hosts ? [...hosts.errors] : [];
    await env?.close();
    rmSync(keyDir, { recursive: true, force: true });
    assert.equal(hosts?.running() ?? 0, 0);
    assert.deepEqual(errors, []);
  });

  const runInstance = async () => {
    const r = await ec2.send(
      new sdk.RunInstancesCommand({
        ImageId: UBUNTU_AMD64,
        InstanceType: 't3.micro',
        MinCount: 1,
        MaxCount: 1,
        KeyName: 'k',
      }),
    );
    return r.Instances![0];
  };
  const describeOne = async (id: string) =>
    (await ec2.send(new sdk.DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0].Instances![0];
  const runner = (ip: string) => {
    const r = makeRunner({
      kind: 'ssh',
      host: ip,
      port: 22,
      user: 'ubuntu',
      keyPath: join(keyDir, 'id'),
      knownHostsPath: join(keyDir, 'known_hosts'),
    });
    runners.push(r);
    return r;
  };

  test('an instance is a host: loopback addresses everywhere, ubuntu logs in with the key, sudo works', async () => {
    const passwdBefore = readFileSync('/etc/passwd', 'utf8');
    const i = await runInstance();
    const h = hosts.get(i.InstanceId!)!;
    assert.equal(h.state, 'running');
    assert.match(h.ip, /^127\.2\.\d+\.\d+$/);
    for (const inst of [i, await describeOne(i.InstanceId!)]) {
      assert.equal(inst.PrivateIpAddress, h.ip);
      assert.equal(inst.PublicIpAddress, h.ip);
      assert.equal(inst.NetworkInterfaces?.[0]?.PrivateIpAddress, h.ip);
      assert.equal(inst.NetworkInterfaces?.[0]?.Association?.PublicIp, h.ip);
      assert.equal(inst.PrivateDnsName, `${h.hostname}.ec2.internal`);
    }
    const r = runner(h.ip);
    const out = await r.run(
      'echo "uid=$(id -u) user=$USER home=$HOME host=$(hostname)"; sudo -n whoami; sudo -n -E env | grep -c ^PATH=; ' +
        'getent passwd ubuntu; systemctl start docker; echo "systemctl=$?"',
    );
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, new RegExp(`uid=0 user=ubuntu home=/root host=${h.hostname}\\n`));
    assert.match(out.stdout, /\nroot\n1\nubuntu:x:0:0:Ubuntu:\/root:\/bin\/bash\n/);
    assert.match(out.stdout, /systemctl=1/);
    assert.match(out.stderr, /no systemd/);
    assert.equal(readFileSync('/etc/passwd', 'utf8'), passwdBefore, "the machine's /etc/passwd is untouched");
    await r.run('echo kept > ~/marker');

    // Stop (power off, home kept) and start (same address) through the proxy.
    await ec2.send(new sdk.StopInstancesCommand({ InstanceIds: [h.instanceId] }));
    assert.equal(hosts.get(h.instanceId)?.state, 'stopped');
    assert.equal(await canConnect(h.ip, 22), false, 'a stopped host answers nothing');
    await ec2.send(new sdk.StartInstancesCommand({ InstanceIds: [h.instanceId] }));
    assert.equal(hosts.get(h.instanceId)?.state, 'running');
    assert.equal((await describeOne(h.instanceId)).PrivateIpAddress, h.ip);
    const again = runner(h.ip);
    assert.equal((await again.run('cat ~/marker')).stdout.trim(), 'kept');

    await ec2.send(new sdk.TerminateInstancesCommand({ InstanceIds: [h.instanceId] }));
    assert.equal(hosts.get(h.instanceId)?.state, 'terminated');
    assert.equal(hosts.running(), 0);
    const gone = await describeOne(h.instanceId);
    assert.equal(gone.PrivateIpAddress ?? NO_HOST_IP, NO_HOST_IP, 'a terminated instance points nowhere');
  });

  test('a node that halts itself is stopped (or terminated) in moto, as its shutdown behaviour says', async () => {
    const i = await runInstance();
    const id = i.InstanceId!;
    const h = hosts.get(id)!;
    const r = runner(h.ip);
    // Detached, as the agent's autostop runs it: the session may end with the node.
    await r.run('setsid sh -c "sleep 0.2; sudo -n shutdown -h now" </dev/null >/dev/null 2>&1 &');
    await until('the node is off', () => hosts.get(id)?.state === 'stopped');
    assert.equal((await describeOne(id)).State?.Name, 'stopped');

    await ec2.send(new sdk.StartInstancesCommand({ InstanceIds: [id] }));
    await ec2.send(
      new sdk.ModifyInstanceAttributeCommand({
        InstanceId: id,
        Attribute: 'instanceInitiatedShutdownBehavior',
        Value: 'terminate',
      }),
    );
    await runner(h.ip).run('setsid sh -c "sleep 0.2; /sbin/poweroff" </dev/null >/dev/null 2>&1 &');
    await until('the node is gone', () => hosts.get(id)?.state === 'terminated');
    assert.equal((await describeOne(id)).State?.Name, 'terminated');
  });

  test('terminateBehindBack: moto terminates it without the proxy seeing a call; its host dies at once', async () => {
    const i = await runInstance();
    const id = i.InstanceId!;
    const r = runner(hosts.get(id)!.ip);
    await r.run('setsid nohup sleep 600 </dev/null >/dev/null 2>&1 &');
    const sshd = hosts.get(id)!.sshdPid!;
    const seen = env.moto.actions.length;
    await hosts.terminateBehindBack(id);
    assert.deepEqual(env.moto.actions.slice(seen), [], 'nothing went through the proxy');
    assert.equal(hosts.get(id)?.state, 'terminated');
    assert.equal(alive(sshd), false);
    assert.equal((await describeOne(id)).State?.Name, 'terminated');
  });
});

/** A child test process that starts moto hosts, launches one instance, prints its sshd pid, then waits. */
function child(exitHow: 'exit' | 'hang'): Promise<{ pid: number; sshd: number; kill(): void }> {
  const script = `
    const { startMoto } = await import('./test/helpers/moto.ts');
    const moto = await startMoto({ hosts: true });
    const body = 'Action=RunInstances&Version=2016-11-15&ImageId=ami-0a1b2c3d4e5f60001&MinCount=1&MaxCount=1&InstanceType=t3.micro';
    await fetch(moto.endpoint + '/', { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0' } });
    console.log('SSHD ' + moto.hosts.list()[0].sshdPid);
    ${exitHow === 'exit' ? 'process.exit(0);' : 'setInterval(() => {}, 1000);'}
  `;
  const c = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    c.stdout.on('data', (d) => {
      out += d;
      const m = /SSHD (\d+)/.exec(out);
      if (m) resolve({ pid: c.pid!, sshd: Number(m[1]), kill: () => c.kill('SIGKILL') });
    });
    c.on('exit', (code) => {
      if (!/SSHD \d+/.test(out)) reject(new Error(`the child exited (${code}) before launching: ${out}`));
    });
  });
}

describe('no moto host outlives its test process', { skip: missing ?? false }, () => {
  test('an exit without close() kills its hosts', async () => {
    const c = await child('exit');
    await until('the host is gone', () => !alive(c.sshd));
  });

  test("a SIGKILLed process's hosts are reaped by the next start", async () => {
    const c = await child('hang');
    // Its moto_server outlives it too (startMoto's exit hook cannot run): this test ends that one itself.
    const motos = childrenOf(c.pid).filter((pid) => cmdline(pid).includes('moto_server'));
    try {
      c.kill();
      await until('the child is gone', () => !alive(c.pid));
      assert.ok(alive(c.sshd), 'no exit hook ran: its host is still up');
      const env = await motoEnv('skyhop-moto-hosts-reap-', { hosts: true });
      try {
        await until('the orphan is reaped', () => !alive(c.sshd));
      } finally {
        await env.close();
      }
    } finally {
      for (const pid of motos) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
  });
});
