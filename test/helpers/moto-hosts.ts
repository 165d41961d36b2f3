/**
 * Test helper: "moto hosts", real SSH hosts behind moto's EC2 instances. moto's instances are records
 * only; in hosts mode (`startMoto({ hosts: true })` / `motoEnv(prefix, { hosts: true })`, test/helpers/moto.ts)
 * the proxy in front of moto gives each instance launched through it a real host, so skyhop's AWS provider,
 * unchanged, logs in as `ubuntu` on port 22 and runs the agent and jobs there.
 *
 * A host is the FluffyCloud emulator's machinery (src/emulators/hosts.ts): an sshd as PID 1 of its own PID,
 * mount and UTS namespaces, with its own /root, /tmp, /etc/hosts and hostname (`ip-127-2-0-5`, as EC2 names
 * them), on its own loopback address 127.2.x.y, port 22. Killing its sshd powers the node off: every
 * process started there ends with it. Differences from a FluffyCloud host, all inside the node's mount
 * namespace (the machine's own files are never changed):
 * - /etc/passwd is the machine's plus `ubuntu` with uid 0 and home /root, and sshd lets only `ubuntu` in,
 *   with the public key skyhop imported (ImportKeyPair, remembered by key name and region);
 * - `sudo` (first on the PATH) runs its command, as Ubuntu's AMIs let `ubuntu` do without a password;
 * - shutdown / poweroff / halt (and systemctl, which they are links to on systemd machines) are the node's
 *   own: a power-off asks this helper to stop or terminate the instance in moto as EC2 does when an
 *   instance halts itself (its InstanceInitiatedShutdownBehavior), so autostop works; reboot and other
 *   systemctl calls fail with a message. Nothing on a node can shut the machine down.
 * Like a FluffyCloud host, the rest of the filesystem is the machine's, and sshd puts this process's node
 * binary first on the PATH: the agent runs there, though a real Ubuntu AMI has no node.js.
 *
 * The proxy keeps moto and the hosts in step:
 * - RunInstances: a host per new instance, started (sshd accepting connections) before the answer;
 * - every EC2 answer is rewritten before the SDK reads it: an instance's private and public IP (and the
 *   network interfaces' addresses, and the `ip-a-b-c-d` of its DNS names) become its host's address; an
 *   instance without a live host record (terminated, or launched behind the proxy's back) gets
 *   127.2.255.254, where nothing listens; any other bare IPv4 address that is not loopback is rewritten to
 *   that too. Nothing can ever connect to an address outside 127.0.0.0/8.
 * - Stop/Start/TerminateInstances through the proxy, and a DescribeInstances that shows an instance
 *   stopped / running / terminated: its host is powered off (home kept) / started again on the same
 *   address / removed (home deleted, address released), before the answer reaches the SDK.
 *
 * What a test uses (`moto.hosts`, null unless hosts mode):
 *
 *   const env = await motoEnv('skyhop-x-', { hosts: true });     // fails (never skips) under CI=true
 *   env.moto.hosts.list();                       // [{ instanceId, region, ip, hostname, state, home, ... }]
 *   env.moto.hosts.running();                    // how many hosts are powered on
 *   await env.moto.hosts.terminateBehindBack(id); // TerminateInstances on moto itself + the host dies now
 *   await env.moto.hosts.stopBehindBack(id);     // StopInstances on moto itself + the host powers off
 *   env.moto.hosts.errors;                       // what went wrong on the hosts' side (assert it empty)
 *   await env.close();                           // every host killed and removed, then moto
 *
 * Needs root (unshare, bind mounts), sshd, ssh-keygen and unshare (scripts/install-deps.sh installs them):
 * `motoHostsMissing()` says why they cannot run (never under CI=true: starting then fails instead).
 * Addresses are claimed across test processes with files under /run/skyhop-moto-hosts/claims; each
 * manager's sshd files are in /run/skyhop-moto-hosts/<pid>-<hex>/ (owner.json names its process), the
 * nodes' homes in a temp folder. A process that exits without close() still kills its hosts (an 'exit'
 * hook); the hosts, folders and claims of one that was SIGKILLed are reaped by the next start.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  canConnect,
  ensureHostKey,
  findSshd,
  type HostBind,
  type HostProcs,
  type HostSpec,
  hostAlive,
  hostLogTail,
  killHost,
  prepareHost,
  removeHostFiles,
  startHost,
  strayHostPids,
  waitForPort,
} from '../../src/emulators/hosts.js';

/** Where every moto-hosts manager keeps its hosts' sshd files and the address claims. */
export const MOTO_HOSTS_RUN = '/run/skyhop-moto-hosts';
const CLAIMS = join(MOTO_HOSTS_RUN, 'claims');
/** The address of instances without a host: never handed out, nothing listens there. */
export const NO_HOST_IP = '127.2.255.254';
const SSH_PORT = 22;
const USER = 'ubuntu';
const EC2_VERSION = '2016-11-15';

export interface MotoHostInfo {
  instanceId: string;
  region: string;
  /** The loopback address that is both its private and its public IP. */
  ip: string;
  hostname: string;
  /** The key pair it was launched with (its public key is the one authorized for `ubuntu`). */
  keyName: string | null;
  /** running: sshd up; stopped: powered off (home kept); terminated: removed. */
  state: 'running' | 'stopped' | 'terminated';
  /** The node's /root on this machine (gone once terminated). */
  home: string;
  /** Its sshd's pid while running. */
  sshdPid: number | null;
}

export interface MotoHosts {
  /** Every host launched through the proxy, terminated ones included, in launch order. */
  list(): MotoHostInfo[];
  get(instanceId: string): MotoHostInfo | undefined;
  /** How many hosts are powered on (an sshd alive). */
  running(): number;
  /**
   * The instance vanishes behind skyhop's back (a spot preemption, someone's console): TerminateInstances
   * straight on moto (not through the proxy), and its host dies at once with everything on it.
   */
  terminateBehindBack(instanceId: string): Promise<void>;
  /** StopInstances straight on moto, and its host powers off at once (its home is kept). */
  stopBehindBack(instanceId: string): Promise<void>;
  /** Problems on the hosts' side (a host that did not start, a power-off that failed), in order. */
  errors: string[];
  /** Kill and remove every host, release their addresses. Safe to repeat. */
  close(): Promise<void>;
}

/** What the proxy calls (test/helpers/moto.ts); not for tests. */
export interface MotoHostsInternal extends MotoHosts {
  /** Side effects of a successful answer to `action`, and the answer as the SDK may see it. */
  answer(
    action: string,
    params: URLSearchParams,
    region: string,
    status: number,
    xml: string,
  ): Promise<string>;
}

/** Why moto hosts cannot run here, or null. Under CI=true there is no such reason: startMotoHosts fails. */
export function motoHostsMissing(): string | null {
  if (process.env.CI === 'true') return null;
  return hostsUnavailable();
}

function hostsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'moto hosts need root (namespaces and bind mounts)';
  if (!findSshd()) return 'sshd is missing: run scripts/install-deps.sh';
  for (const bin of ['unshare', 'ssh-keygen', 'ssh']) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0)
      return `${bin} is missing: run scripts/install-deps.sh`;
  }
  return null;
}

/** The region of a signed AWS request (its credential scope); us-east-1 when unsigned. */
export function regionOfRequest(authorization: string | undefined): string {
  const m = /Credential=[^/,\s]+\/\d{8}\/([a-z0-9-]+)\//.exec(authorization ?? '');
  return m?.[1] ?? 'us-east-1';
}

// ---- EC2 XML ------------------------------------------------------------------------------------

/** An instance's `<item>` in an `<instancesSet>` of an EC2 answer. */
export interface InstanceBlock {
  start: number;
  end: number;
  id: string;
  /** instanceState/name (Run, Describe) or currentState/name (Start, Stop, Terminate). */
  state: string;
}

/** The instance items of an EC2 XML answer (EC2's XML has no attributes that matter, CDATA or comments). */
export function instanceBlocks(xml: string): InstanceBlock[] {
  const out: InstanceBlock[] = [];
  const stack: { name: string; start: number }[] = [];
  let block: InstanceBlock | null = null;
  let depth = 0; // the stack depth of the current block's item
  const tag = /<(\/?)([A-Za-z_][\w.-]*)[^>]*?(\/?)>/g;
  for (let m = tag.exec(xml); m; m = tag.exec(xml)) {
    const [whole, closing, name, selfClosing] = m;
    if (selfClosing) continue;
    if (!closing) {
      const parent = stack[stack.length - 1]?.name;
      stack.push({ name, start: m.index });
      if (!block && name === 'item' && parent === 'instancesSet') {
        block = { start: m.index, end: -1, id: '', state: '' };
        depth = stack.length;
        continue;
      }
      if (!block) continue;
      const text = () => xml.slice(m!.index + whole.length, xml.indexOf('<', m!.index + whole.length));
      if (stack.length === depth + 1 && name === 'instanceId') block.id = text();
      const up = stack[stack.length - 2]?.name;
      if (
        stack.length === depth + 2 &&
        name === 'name' &&
        (up === 'instanceState' || up === 'currentState')
      ) {
        block.state = text();
      }
      continue;
    }
    // Closing tag: pop to the matching open tag.
    let i = stack.length - 1;
    while (i >= 0 && stack[i].name !== name) i--;
    if (i < 0) continue;
    if (block && i + 1 === depth && name === 'item') {
      block.end = m.index + whole.length;
      out.push(block);
      block = null;
    }
    stack.length = i;
  }
  return out;
}

const IPV4 = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;
const ADDRESS_ELEMENTS = /<(privateIpAddress|ipAddress|publicIp)>([^<]*)<\/\1>/g;
const DNS_ELEMENTS = /<(privateDnsName|publicDnsName|dnsName)>([^<]*)<\/\1>/g;

/**
 * The answer with every instance's addresses replaced by `ipOf(id)`, and any other bare IPv4 address
 * outside 127.0.0.0/8 replaced by NO_HOST_IP.
 */
export function rewriteAddresses(xml: string, ipOf: (instanceId: string) => string): string {
  let out = '';
  let at = 0;
  for (const b of instanceBlocks(xml)) {
    const ip = ipOf(b.id);
    const dashed = ip.replace(/\./g, '-');
    const original = xml.slice(b.start, b.end);
    // The addresses moto gave it, as DNS names spell them (ip-10-0-0-5, ec2-54-1-2-3).
    const olds = [...original.matchAll(ADDRESS_ELEMENTS)]
      .map((m) => m[2])
      .filter((a) => IPV4.test(a))
      .map((a) => a.replace(/\./g, '-'));
    const block = original
      .replace(ADDRESS_ELEMENTS, (_m, el: string) => `<${el}>${ip}</${el}>`)
      .replace(DNS_ELEMENTS, (_m, el: string, name: string) => {
        let n = name;
        for (const old of olds) n = n.split(`-${old}.`).join(`-${dashed}.`);
        return `<${el}>${n}</${el}>`;
      });
    out += xml.slice(at, b.start) + block;
    at = b.end;
  }
  out += xml.slice(at);
  // The safety net: no other address reaches the SDK either.
  return out.replace(/<([A-Za-z][\w.-]*)>([^<]*)<\/\1>/g, (m, el: string, text: string) =>
    IPV4.test(text) && !text.startsWith('127.') ? `<${el}>${NO_HOST_IP}</${el}>` : m,
  );
}

// ---- addresses ----------------------------------------------------------------------------------

// 127.2.0.0/16 (FluffyCloud has 127.1.0.0/16, the local cloud 127.0.0.x), .0 and .255 skipped.
const FIRST = 2;
const LAST = 0xfffd; // 127.2.255.253; 127.2.255.254 is NO_HOST_IP

function ipOfOffset(o: number): string {
  return `127.2.${o >> 8}.${o & 255}`;
}

interface Claim {
  pid: number;
  /** The owner's start time (/proc/PID/stat field 22): a reused pid is not the owner. */
  start: string;
  /** The owning manager's run folder (its hosts' sshd files). */
  run: string;
}

function procStart(pid: number): string | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return f[0] === 'Z' ? null : (f[19] ?? null);
  } catch {
    return null;
  }
}

function readClaim(ip: string): Claim | null {
  try {
    return JSON.parse(readFileSync(join(CLAIMS, ip), 'utf8')) as Claim;
  } catch {
    return null;
  }
}

function ownerAlive(c: { pid: number; start: string }): boolean {
  return procStart(c.pid) === c.start;
}

function killPids(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/** The manager a run folder belongs to (`<run>/owner.json`). */
interface Owner {
  pid: number;
  start: string;
  /** Its nodes' folders (homes), under the machine's temp dir. */
  data: string;
}

/**
 * Hosts, folders and claims of managers whose test process died without its exit hook (SIGKILL): their
 * hosts are killed, their folders removed, their addresses released.
 */
function reapOrphans(): void {
  for (const ip of readdirSync(CLAIMS)) {
    const c = readClaim(ip);
    if (c && ownerAlive(c)) continue;
    rmSync(join(CLAIMS, ip), { force: true });
  }
  for (const name of readdirSync(MOTO_HOSTS_RUN)) {
    if (name === 'claims') continue;
    const run = join(MOTO_HOSTS_RUN, name);
    let owner: Owner;
    try {
      owner = JSON.parse(readFileSync(join(run, 'owner.json'), 'utf8')) as Owner;
    } catch {
      continue; // being made right now (owner.json is written first thing), or not ours
    }
    if (ownerAlive(owner)) continue;
    let hosts: string[] = [];
    try {
      hosts = readdirSync(run);
    } catch {
      continue;
    }
    for (const h of hosts.filter((x) => x.startsWith('i-'))) killPids(strayHostPids(join(run, h)));
    if (owner.data.startsWith(join(tmpdir(), 'skyhop-moto-hosts-'))) {
      rmSync(owner.data, { recursive: true, force: true });
    }
    rmSync(run, { recursive: true, force: true });
  }
}

// ---- the node's image ---------------------------------------------------------------------------

/** /etc/passwd of the node: the machine's, with `ubuntu` as uid 0 whose home is /root. */
function passwdWithUbuntu(): string {
  const lines = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith(`${USER}:`));
  return `${[...lines, `${USER}:x:0:0:Ubuntu:/root:/bin/bash`].join('\n')}\n`;
}

const SUDO = `#!/bin/sh
# moto hosts: the image's sudo. ubuntu is uid 0 here, and may run anything (as on Ubuntu's AMIs).
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; break ;;
    -u|-g|-p|-C|-D|-r|-t|-U|-T|-h) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: sudo COMMAND" >&2; exit 1; }
exec env "$@"
`;

/** shutdown, poweroff, halt, reboot and systemctl of the node; a power-off is a request file. */
function powerScript(requestFile: string): string {
  const q = `'${requestFile.replace(/'/g, `'\\''`)}'`;
  return `#!/bin/sh
# moto hosts: the node's power. A power-off asks the test's moto proxy to stop or terminate this instance
# (its InstanceInitiatedShutdownBehavior), as EC2 does when an instance halts itself. Nothing here can
# reach the machine's own init.
case "\${0##*/}" in
  systemctl)
    case " $* " in
      *" poweroff "*|*" halt "*) ;;
      *) echo "systemctl: this emulated host has no systemd" >&2; exit 1 ;;
    esac ;;
  reboot) echo "reboot: not emulated on moto hosts" >&2; exit 1 ;;
  shutdown)
    case " $* " in
      *" -c "*) rm -f ${q}; exit 0 ;;
      *" -r "*|*" --reboot "*) echo "shutdown -r: not emulated on moto hosts" >&2; exit 1 ;;
    esac ;;
esac
: > ${q}
exit 0
`;
}

/** The machine's power binaries (what shutdown & co. resolve to), each bound over in the node. */
function powerBinaries(): string[] {
  const out = new Set<string>();
  for (const dir of ['/usr/sbin', '/sbin', '/usr/bin', '/bin']) {
    for (const name of ['shutdown', 'poweroff', 'halt', 'reboot']) {
      try {
        out.add(realpathSync(join(dir, name)));
      } catch {
        // not there
      }
    }
  }
  return [...out].sort();
}

// ---- the manager --------------------------------------------------------------------------------

interface Host {
  info: MotoHostInfo;
  spec: HostSpec;
  procs: HostProcs | undefined;
  /** Host operations run one at a time, in order. */
  chain: Promise<void>;
  /** Its first boot failed (errors says why): it is never started again. */
  broken: boolean;
}

const managers = new Set<{ killAllSync(): void }>();
let hooked = false;

/**
 * Start a moto-hosts manager for the moto server at `motoEndpoint` (where *BehindBack and power-offs
 * call EC2 directly). The proxy (test/helpers/moto.ts) feeds it every EC2 answer.
 */
export async function startMotoHosts(motoEndpoint: string): Promise<MotoHostsInternal> {
  const why = hostsUnavailable();
  if (why) {
    throw new Error(
      `moto hosts cannot run: ${why}${process.env.CI === 'true' ? '; under CI=true the AWS host suites must run, not skip' : ''}`,
    );
  }
  const sshdPath = findSshd() as string;
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755, recursive: true });
  mkdirSync(CLAIMS, { recursive: true });
  reapOrphans();
  if (await canConnect(NO_HOST_IP, SSH_PORT, 300)) {
    throw new Error(
      `something accepts connections on ${NO_HOST_IP}:${SSH_PORT}: a server listening on port 22 of every ` +
        'address (0.0.0.0:22?) keeps moto hosts from binding 127.2.x.y:22; stop it or bind it to one address',
    );
  }
  const myStart = procStart(process.pid) ?? '';
  const run = join(MOTO_HOSTS_RUN, `${process.pid}-${randomBytes(4).toString('hex')}`);
  const data = mkdtempSync(join(tmpdir(), 'skyhop-moto-hosts-'));
  mkdirSync(run, { recursive: true, mode: 0o700 });
  const owner: Owner = { pid: process.pid, start: myStart, data };
  writeFileSync(join(run, 'owner.json'), JSON.stringify(owner));
  const hostKey = join(run, 'host_key');
  await ensureHostKey(hostKey, 'moto-host');
  const power = powerBinaries();

  const keys = new Map<string, string>(); // `${region}/${keyName}` -> public key
  const hosts = new Map<string, Host>();
  const errors: string[] = [];
  let next = FIRST + Math.floor(Math.random() * (LAST - FIRST));
  let closed = false;

  const claimIp = async (): Promise<string> => {
    for (let tries = 0; tries <= LAST; tries++) {
      const o = next;
      next = next >= LAST ? FIRST : next + 1;
      if ((o & 255) === 0 || (o & 255) === 255) continue;
      const ip = ipOfOffset(o);
      try {
        writeFileSync(join(CLAIMS, ip), JSON.stringify({ pid: process.pid, start: myStart, run }), {
          flag: 'wx',
        });
      } catch {
        continue; // someone else's (orphans were reaped at start)
      }
      if (await canConnect(ip, SSH_PORT, 200)) {
        releaseIp(ip); // something unknown listens there: leave the address alone
        continue;
      }
      return ip;
    }
    throw new Error('no free address left in 127.2.0.0/16 for a moto host');
  };
  const releaseIp = (ip: string) => {
    const c = readClaim(ip);
    if (c && c.pid === process.pid && c.run === run) rmSync(join(CLAIMS, ip), { force: true });
  };

  /** Call EC2 on moto itself (not through the proxy), in the instance's region. */
  const motoCall = (region: string, action: string, params: Record<string, string>) =>
    new Promise<string>((resolve, reject) => {
      const body = new URLSearchParams({ Action: action, Version: EC2_VERSION, ...params }).toString();
      const u = new URL(motoEndpoint);
      const req = request(
        {
          host: u.hostname,
          port: Number(u.port),
          method: 'POST',
          path: '/',
          headers: {
            'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
            'content-length': Buffer.byteLength(body),
            // moto reads the region from the credential scope and does not check the signature.
            authorization: `AWS4-HMAC-SHA256 Credential=testing/20260101/${region}/ec2/aws4_request, SignedHeaders=host, Signature=0`,
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () =>
            (res.statusCode ?? 500) < 300
              ? resolve(text)
              : reject(new Error(`moto ${action}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`)),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  const op = (h: Host, what: string, fn: () => Promise<void>): Promise<void> => {
    const p = h.chain.then(fn).catch((e) => {
      errors.push(`${h.info.instanceId}: ${what}: ${(e as Error).message}`);
    });
    h.chain = p;
    return p;
  };

  /** Power on (sshd up and accepting connections). */
  const powerOn = async (h: Host, fresh: boolean) => {
    if (closed || h.info.state === 'terminated') return;
    if (h.info.state === 'running' && hostAlive(h.procs)) return;
    await killHost(undefined, h.spec.runDir); // strays of an interrupted start
    rmSync(join(h.spec.runDir, 'power-off'), { force: true });
    prepareHost(h.spec, fresh);
    mkdirSync(join(h.spec.runDir, 'bin'), { recursive: true });
    writeFileSync(join(h.spec.runDir, 'passwd'), passwdWithUbuntu(), { mode: 0o644 });
    writeFileSync(join(h.spec.runDir, 'bin', 'sudo'), SUDO, { mode: 0o755 });
    const ps = powerScript(join(h.spec.runDir, 'power-off'));
    writeFileSync(join(h.spec.runDir, 'power'), ps, { mode: 0o755 });
    for (const name of ['shutdown', 'poweroff', 'halt', 'reboot']) {
      writeFileSync(join(h.spec.runDir, 'bin', name), ps, { mode: 0o755 });
    }
    h.procs = await startHost(h.spec, sshdPath);
    h.info.state = 'running';
    h.info.sshdPid = h.procs.sshd_pid;
    const up = await waitForPort(h.info.ip, SSH_PORT, 10_000, () => hostAlive(h.procs));
    if (!up) {
      throw new Error(
        `sshd on ${h.info.ip}:${SSH_PORT} did not come up (${hostLogTail(h.spec.nodeDir) || 'no log'})`,
      );
    }
  };

  /** Power off: the node's sshd dies and with it everything on the node; its home stays. */
  const powerOff = async (h: Host) => {
    await killHost(h.procs, h.spec.runDir);
    h.procs = undefined;
    h.info.sshdPid = null;
    if (h.info.state === 'running') h.info.state = 'stopped';
  };

  const remove = async (h: Host) => {
    if (h.info.state === 'terminated') return;
    await powerOff(h);
    h.info.state = 'terminated';
    removeHostFiles(h.spec);
    releaseIp(h.info.ip);
  };

  const create = async (id: string, region: string, keyName: string | null) => {
    const ip = await claimIp();
    const hostname = `ip-${ip.replace(/\./g, '-')}`;
    const runDir = join(run, id);
    const binds: HostBind[] = [
      { source: join(runDir, 'passwd'), target: '/etc/passwd' },
      ...power.map((target) => ({ source: join(runDir, 'power'), target })),
    ];
    const h: Host = {
      info: {
        instanceId: id,
        region,
        ip,
        hostname,
        keyName,
        state: 'stopped',
        home: join(data, id, 'home'),
        sshdPid: null,
      },
      spec: {
        id,
        ip,
        port: SSH_PORT,
        hostname,
        nodeDir: join(data, id),
        runDir,
        hostKey,
        authorizedKeys: keyName ? (keys.get(`${region}/${keyName}`) ?? '') : '',
        user: USER,
        pathPrefix: [join(runDir, 'bin')],
        binds,
      },
      procs: undefined,
      chain: Promise.resolve(),
      broken: false,
    };
    if (keyName && !keys.has(`${region}/${keyName}`)) {
      errors.push(`${id}: key pair ${keyName} was not imported through the proxy: no key can log in`);
    }
    hosts.set(id, h);
    await op(h, 'boot', () => powerOn(h, true));
    if (h.info.state !== 'running') h.broken = true;
  };

  /** A power-off from inside a node: what EC2 does when an instance halts itself. */
  const selfHalt = (h: Host) =>
    op(h, 'power-off from the node', async () => {
      if (h.info.state !== 'running') return;
      const attr = await motoCall(h.info.region, 'DescribeInstanceAttribute', {
        InstanceId: h.info.instanceId,
        Attribute: 'instanceInitiatedShutdownBehavior',
      });
      const terminate = /<value>\s*terminate\s*<\/value>/.test(attr);
      await motoCall(h.info.region, terminate ? 'TerminateInstances' : 'StopInstances', {
        'InstanceId.1': h.info.instanceId,
      });
      if (terminate) await remove(h);
      else await powerOff(h);
    });

  const watch = setInterval(() => {
    for (const h of hosts.values()) {
      if (h.info.state !== 'running') continue;
      const req = join(h.spec.runDir, 'power-off');
      if (!existsSync(req)) continue;
      rmSync(req, { force: true });
      void selfHalt(h);
    }
  }, 200);
  watch.unref();

  const apply = (b: InstanceBlock) => {
    const h = hosts.get(b.id);
    if (!h || h.info.state === 'terminated') return Promise.resolve();
    if (b.state === 'terminated' || b.state === 'shutting-down') return op(h, 'terminate', () => remove(h));
    if (b.state === 'stopped' || b.state === 'stopping') return op(h, 'stop', () => powerOff(h));
    if ((b.state === 'running' || b.state === 'pending') && h.info.state === 'stopped' && !h.broken) {
      return op(h, 'start', () => powerOn(h, false));
    }
    return Promise.resolve();
  };

  const killAllSync = () => {
    for (const h of hosts.values())
      killPids([...strayHostPids(h.spec.runDir), h.procs?.sshd_pid ?? 0].filter(Boolean));
    rmSync(run, { recursive: true, force: true });
    rmSync(data, { recursive: true, force: true });
    for (const h of hosts.values()) releaseIp(h.info.ip);
  };
  const entry = { killAllSync };
  managers.add(entry);
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const m of managers) m.killAllSync();
    });
  }

  const handle: MotoHostsInternal = {
    errors,
    list: () => [...hosts.values()].map((h) => ({ ...h.info })),
    get: (id) => {
      const h = hosts.get(id);
      return h ? { ...h.info } : undefined;
    },
    running: () => [...hosts.values()].filter((h) => hostAlive(h.procs)).length,
    async terminateBehindBack(id) {
      const h = hosts.get(id);
      if (!h) throw new Error(`moto hosts: no host for instance ${id}`);
      await motoCall(h.info.region, 'TerminateInstances', { 'InstanceId.1': id });
      await op(h, 'terminate behind the back', () => remove(h));
    },
    async stopBehindBack(id) {
      const h = hosts.get(id);
      if (!h) throw new Error(`moto hosts: no host for instance ${id}`);
      await motoCall(h.info.region, 'StopInstances', { 'InstanceId.1': id });
      await op(h, 'stop behind the back', () => powerOff(h));
    },
    async answer(action, params, region, status, xml) {
      if (status >= 300 || closed) return rewriteAddresses(xml, () => NO_HOST_IP);
      if (action === 'ImportKeyPair') {
        const name = params.get('KeyName');
        const material = params.get('PublicKeyMaterial') ?? '';
        const decoded = Buffer.from(material, 'base64').toString('utf8');
        if (name)
          keys.set(`${region}/${name}`, `${decoded.startsWith('ssh-') ? decoded : material}`.trim() + '\n');
      }
      const blocks = instanceBlocks(xml);
      if (action === 'RunInstances') {
        const keyName = params.get('KeyName');
        await Promise.all(
          blocks.filter((b) => b.id && !hosts.has(b.id)).map((b) => create(b.id, region, keyName)),
        );
      } else {
        await Promise.all(blocks.map(apply));
      }
      return rewriteAddresses(xml, (id) => {
        const h = hosts.get(id);
        return h && h.info.state !== 'terminated' ? h.info.ip : NO_HOST_IP;
      });
    },
    async close() {
      closed = true;
      clearInterval(watch);
      await Promise.all(
        [...hosts.values()].map(async (h) => {
          await h.chain;
          await remove(h).catch((e) => errors.push(`${h.info.instanceId}: close: ${(e as Error).message}`));
        }),
      );
      rmSync(run, { recursive: true, force: true });
      rmSync(data, { recursive: true, force: true });
      managers.delete(entry);
    },
  };
  return handle;
}
