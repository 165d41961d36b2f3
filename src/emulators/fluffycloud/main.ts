/**
 * skyhop-fluffycloud: the FluffyCloud emulator (docs/fluffycloud-api.md).
 *
 *   skyhop-fluffycloud --port 8700 --data DIR --scenario FILE --admin-token T
 *
 * Prints exactly one line on stdout when ready: `fluffycloud listening on http://HOST:PORT`; everything
 * else goes to stderr. SIGTERM/SIGINT stop the API but leave the instances' hosts running (a cloud's VMs
 * do not die with its API server); the next start re-adopts them. `--teardown` removes every instance
 * on stop instead (so does `POST /admin/teardown`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';

const USAGE = `usage: skyhop-fluffycloud [--port N] [--host 127.0.0.1] [--data DIR] [--scenario FILE]
                          [--admin-token T] [--ssh-port 2222] [--catalog vms.csv] [--teardown] [--verbose]
  --port N          API port on loopback (0: any free port; default 8700)
  --host IP         loopback address to listen on (default 127.0.0.1)
  --data DIR        state, host key and the instances' home folders (default ~/.fluffycloud-emulator)
  --scenario FILE   users, API keys, quotas, capacity, failures (YAML; default: the saved one)
  --admin-token T   enables /admin calls (or FLUFFYCLOUD_ADMIN_TOKEN)
  --ssh-port N      port of every instance's sshd (default 2222)
  --catalog FILE    the catalog CSV (default: the bundled catalogs/fluffycloud/vms.csv)
  --teardown        remove every instance when stopped (default: leave them running)
  --verbose         log every request to stderr
Needs root: every instance is an sshd in its own Linux namespaces.`;

function fail(msg: string): never {
  process.stderr.write(`fluffycloud: ${msg}\n`);
  process.exit(1);
}

function port(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) fail(`${flag} ${value} is not a port number (0-65535)`);
  return n;
}

async function main(): Promise<void> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: 'string', default: '8700' },
        host: { type: 'string', default: '127.0.0.1' },
        data: { type: 'string' },
        scenario: { type: 'string' },
        'admin-token': { type: 'string' },
        'ssh-port': { type: 'string', default: '2222' },
        catalog: { type: 'string' },
        teardown: { type: 'boolean', default: false },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    fail(`${(e as Error).message}\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const apiPort = port(String(values.port), '--port');
  const sshPort = port(String(values['ssh-port']), '--ssh-port');
  if (sshPort === 0) fail('--ssh-port must be a fixed port (each instance has its own address)');
  const host = String(values.host);
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host))
    fail(`--host ${host}: the emulator listens on loopback only (127.x.y.z)`);
  if (process.getuid?.() !== 0) {
    fail(
      'the emulator must run as root: every instance is an sshd in its own PID, mount and UTS namespaces ' +
        '(unshare), which needs root; run it with sudo (CI runs as root)',
    );
  }
  const { findSshd } = await import('../hosts.js');
  const sshd = findSshd();
  if (!sshd) fail('OpenSSH sshd not found (/usr/sbin/sshd); install it with `bash scripts/install-deps.sh`');
  if (!existsSync('/run/sshd')) {
    const { mkdirSync } = await import('node:fs');
    mkdirSync('/run/sshd', { mode: 0o755 });
  }
  const dataDir = resolve(String(values.data ?? join(homedir(), '.fluffycloud-emulator')));
  const adminToken = (values['admin-token'] as string | undefined) ?? process.env.FLUFFYCLOUD_ADMIN_TOKEN;

  const { loadEmulatorCatalog } = await import('./catalog.js');
  const { FluffyCloudEmulator } = await import('./cloud.js');
  const { createApiServer } = await import('./server.js');
  const { parseScenarioText, ScenarioError } = await import('./scenario.js');
  const log = (line: string) => process.stderr.write(`fluffycloud: ${line}\n`);

  let emu: InstanceType<typeof FluffyCloudEmulator>;
  try {
    const catalog = loadEmulatorCatalog(values.catalog ? resolve(String(values.catalog)) : undefined);
    let scenario: unknown;
    if (values.scenario) {
      const file = String(values.scenario);
      let text: string;
      try {
        text = readFileSync(isAbsolute(file) ? file : resolve(file), 'utf8');
      } catch (e) {
        fail(`cannot read the scenario file ${file} (${(e as NodeJS.ErrnoException).code})`);
      }
      parseScenarioText(text, catalog, file); // validate with the file name in messages
      scenario = parseYaml(text);
    }
    emu = new FluffyCloudEmulator({ dataDir, catalog, scenario, sshPort, sshdPath: sshd, log });
    await emu.start();
  } catch (e) {
    if (e instanceof ScenarioError) fail(e.message);
    fail((e as Error).message);
  }

  const server = createApiServer(emu, { adminToken, log, verbose: values.verbose === true });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(apiPort, host, () => res());
  }).catch((e: NodeJS.ErrnoException) => {
    fail(
      e.code === 'EADDRINUSE'
        ? `port ${apiPort} on ${host} is in use; pick another with --port (0: any free port)`
        : `cannot listen on ${host}:${apiPort}: ${e.message}`,
    );
  });
  const addr = server.address();
  const actual = typeof addr === 'object' && addr ? addr.port : apiPort;
  process.stdout.write(`fluffycloud listening on http://${host}:${actual}\n`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(
      `${signal}: stopping the API${values.teardown ? ' and removing every instance' : '; instances keep running'}`,
    );
    server.close();
    server.closeAllConnections();
    try {
      await emu.shutdown({ teardown: values.teardown === true });
    } catch (e) {
      log(`while stopping: ${(e as Error).message}`);
      process.exit(1);
    }
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((e: unknown) => fail((e as Error).stack ?? String(e)));
