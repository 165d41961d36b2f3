/**
 * Test helper: a private Docker Engine (Debian's docker.io) that clashes with nothing on the machine
 * (its own data-root, exec-root, socket and pidfile, `--bridge=none --iptables=false`), a tiny image
 * built locally (`docker import` of a root filesystem holding Debian's static busybox and this
 * machine's bash), and a private image registry (Debian's docker-registry) for nodes that pull.
 * No registry on the network is ever reached.
 *
 *   const why = dockerUnavailable();         // null, or why the engine cannot run here
 *   const eng = await startDockerd();        // DOCKER_HOST in eng.env
 *   await buildTinyImage(eng, 'skyhop-test/tiny:1');
 *   ...
 *   await eng.stop();                        // stops the daemon and removes its folders
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';

export interface Engine {
  /** `unix://<dir>/docker.sock` */
  host: string;
  dir: string;
  env: { DOCKER_HOST: string };
  docker(args: string[], input?: string | Buffer): { code: number; stdout: string; stderr: string };
  stop(): Promise<void>;
}

function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Why a private engine cannot run on this machine (null when it can). */
export function dockerUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'the Docker Engine runs as root and these tests are not root';
  if (!which('dockerd'))
    return 'dockerd is not installed (apt-get install docker.io; scripts/install-deps.sh does it)';
  if (!which('docker')) return 'the docker client is not installed (apt-get install docker.io)';
  if (!existsSync('/bin/busybox') && !which('busybox'))
    return 'busybox is not installed (apt-get install busybox-static; the test image is built from it)';
  return null;
}

/** Why the private registry cannot run here (null when it can). */
export function registryUnavailable(): string | null {
  return which('docker-registry')
    ? null
    : 'docker-registry is not installed (apt-get install docker-registry)';
}

const running = new Set<{ child: ChildProcess; dir: string }>();
process.on('exit', () => {
  for (const r of running) {
    try {
      r.child.kill('SIGKILL');
    } catch {}
  }
});

function unmountUnder(dir: string): void {
  // Mounts a daemon leaves (netns/default after it stops, overlay mounts after a crash), deepest first.
  const mounts = spawnSync('sh', ['-c', 'cut -d" " -f5 /proc/self/mountinfo'], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) spawnSync('umount', ['-l', m]);
}

async function until(
  what: string,
  ok: () => boolean,
  timeoutMs: number,
  detail: () => string,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`${what} within ${timeoutMs / 1000} s: ${detail()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Starts a private dockerd in a fresh folder under /tmp (short: its sockets live there). */
export async function startDockerd(): Promise<Engine> {
  const dir = mkdtempSync('/tmp/skyhop-dockerd-');
  const host = `unix://${dir}/docker.sock`;
  const child = spawn(
    'dockerd',
    [
      '--data-root',
      join(dir, 'root'),
      '--exec-root',
      join(dir, 'exec'),
      '-H',
      host,
      '--pidfile',
      join(dir, 'docker.pid'),
      '--bridge=none',
      '--iptables=false',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
  );
  let log = '';
  child.stderr?.on('data', (d) => {
    log = (log + d).slice(-4000);
  });
  const entry = { child, dir };
  running.add(entry);
  const docker = (args: string[], input?: string | Buffer) => {
    const r = spawnSync('docker', args, {
      env: { ...process.env, DOCKER_HOST: host },
      input,
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    return { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  };
  const stop = async () => {
    if (!running.has(entry)) return;
    running.delete(entry);
    const ps = docker(['ps', '-aq']);
    if (ps.code === 0 && ps.stdout.trim()) docker(['rm', '-f', ...ps.stdout.trim().split('\n')]);
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await until(
        'dockerd stops',
        () => child.exitCode !== null || child.signalCode !== null,
        30_000,
        () => log,
      ).catch(() => child.kill('SIGKILL'));
    }
    unmountUnder(dir);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await until(
      'the private dockerd answers',
      () => docker(['info']).code === 0,
      60_000,
      () =>
        child.exitCode !== null
          ? `it exited: ${log.trim().split('\n').pop()}`
          : (log.trim().split('\n').pop() ?? ''),
    );
  } catch (e) {
    await stop();
    throw e;
  }
  return { host, dir, env: { DOCKER_HOST: host }, docker, stop };
}

/**
 * Imports a tiny image: busybox (its applets as links), bash with its libraries, and an
 * /etc/os-release that names it (`PRETTY_NAME="skyhop tiny test image"`), which only this image has.
 */
export function buildTinyImage(eng: Engine, tag: string): void {
  const root = mkdtempSync('/tmp/skyhop-rootfs-');
  try {
    for (const d of ['bin', 'etc', 'tmp', 'root', 'proc', 'sys', 'dev', 'usr/bin', 'lib64']) {
      mkdirSync(join(root, d), { recursive: true });
    }
    chmodSync(join(root, 'tmp'), 0o1777);
    const busybox = existsSync('/bin/busybox') ? '/bin/busybox' : (which('busybox') as string);
    copyFileSync(busybox, join(root, 'bin', 'busybox'));
    chmodSync(join(root, 'bin', 'busybox'), 0o755);
    const applets = execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const a of applets) {
      if (a === 'busybox' || a === 'bash') continue;
      symlinkSync('busybox', join(root, 'bin', a));
    }
    // bash and the libraries it links (ldd), at the same paths.
    copyFileSync('/bin/bash', join(root, 'bin', 'bash'));
    chmodSync(join(root, 'bin', 'bash'), 0o755);
    const libs = execFileSync('ldd', ['/bin/bash'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.match(/(\/\S+)\s+\(/)?.[1])
      .filter((p): p is string => !!p);
    for (const lib of libs) {
      mkdirSync(join(root, dirname(lib)), { recursive: true });
      copyFileSync(lib, join(root, lib));
    }
    writeFileSync(
      join(root, 'etc', 'os-release'),
      'NAME="skyhop-tiny"\nID=skyhop-tiny\nPRETTY_NAME="skyhop tiny test image"\n',
    );
    writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
    const tar = spawnSync('tar', ['-C', root, '-c', '.'], { maxBuffer: 256 << 20 });
    if (tar.status !== 0) throw new Error(`tar of the test rootfs failed: ${tar.stderr}`);
    const r = eng.docker(['import', '-', tag], tar.stdout);
    if (r.code !== 0) throw new Error(`docker import ${tag} failed: ${r.stderr.trim()}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

export interface Registry {
  /** `127.0.0.1:<port>`: engines treat loopback registries as insecure (plain HTTP) by default. */
  address: string;
  stop(): Promise<void>;
}

/** A private image registry (Debian's docker-registry) on a loopback port, storage in a fresh folder. */
export async function startRegistry(): Promise<Registry> {
  const dir = mkdtempSync('/tmp/skyhop-registry-');
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  writeFileSync(
    join(dir, 'config.yml'),
    `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\nhttp:\n  addr: ${address}\n`,
  );
  const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  let log = '';
  child.stderr?.on('data', (d) => {
    log = (log + d).slice(-4000);
  });
  const entry = { child, dir };
  running.add(entry);
  const stop = async () => {
    running.delete(entry);
    if (child.exitCode === null) child.kill('SIGTERM');
    await until(
      'the registry stops',
      () => child.exitCode !== null || child.signalCode !== null,
      10_000,
      () => log,
    ).catch(() => child.kill('SIGKILL'));
    rmSync(dir, { recursive: true, force: true });
  };
  const answers = () =>
    spawnSync('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`], { shell: false }).status === 0;
  try {
    await until(
      'the registry answers',
      () => answers() || child.exitCode !== null,
      30_000,
      () => log,
    );
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${log.trim().split('\n').pop()}`);
  } catch (e) {
    await stop();
    throw e;
  }
  return { address, stop };
}
