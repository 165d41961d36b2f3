/**
 * The PostgreSQL of `SKYHOP_TEST_VIA_SERVER=postgres` (harness.ts): one per test process, in a small
 * daemon so the harness can ask for it synchronously (a Sandbox starts its server on first use).
 *
 *   node --import tsx pg-daemon.ts launch PARENT_PID   starts the daemon, prints {"api": URL} when ready
 *   node --import tsx pg-daemon.ts daemon PARENT_PID READY_FILE
 *
 * The daemon starts PostgreSQL with test/helpers/postgres.ts, answers `POST /createdb` on a loopback
 * port with a fresh database's URL, and stops PostgreSQL and exits once PARENT_PID is gone.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface Pg {
  url: string;
  createDatabase?: (name?: string) => Promise<string>;
  stop(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function launch(parent: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'skyhop-pgd-'));
  const ready = join(dir, 'ready.json');
  const log = openSync(join(dir, 'daemon.log'), 'a', 0o600);
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', import.meta.filename, 'daemon', String(parent), ready],
    {
      detached: true,
      stdio: ['ignore', log, log],
    },
  );
  child.unref();
  const deadline = Date.now() + 90_000;
  try {
    for (;;) {
      if (existsSync(ready)) {
        const r = JSON.parse(readFileSync(ready, 'utf8')) as { api?: string; error?: string };
        if (r.error) throw new Error(r.error);
        process.stdout.write(JSON.stringify({ api: r.api }));
        return;
      }
      if (!alive(child.pid!) || Date.now() > deadline) {
        throw new Error(
          `the PostgreSQL daemon did not start: ${readFileSync(join(dir, 'daemon.log'), 'utf8')}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function writeReady(path: string, v: { api?: string; error?: string }): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(v));
  renameSync(`${path}.tmp`, path);
}

async function daemon(parent: number, ready: string): Promise<void> {
  const helper = join(import.meta.dirname, '..', 'helpers', 'postgres.ts');
  if (!existsSync(helper)) {
    writeReady(ready, {
      error:
        'test/helpers/postgres.ts is missing (the PostgreSQL store and its test helper are not merged yet); ' +
        'SKYHOP_TEST_VIA_SERVER=postgres needs its startPostgres()',
    });
    return;
  }
  let pg: Pg;
  try {
    const mod = (await import(helper)) as { startPostgres(): Promise<Pg> };
    pg = await mod.startPostgres();
  } catch (e) {
    writeReady(ready, { error: `startPostgres(): ${(e as Error).message}` });
    return;
  }
  const server = createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/createdb') {
      res.writeHead(404).end();
      return;
    }
    if (!pg.createDatabase) {
      res.writeHead(500).end("test/helpers/postgres.ts's startPostgres() gives no createDatabase()");
      return;
    }
    pg.createDatabase().then(
      (url) => res.writeHead(200).end(url),
      (e: Error) => res.writeHead(500).end(e.message),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  writeReady(ready, { api: `http://127.0.0.1:${port}` });
  const stop = async () => {
    server.close();
    await pg.stop().catch(() => {});
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  const t = setInterval(() => {
    if (!alive(parent)) {
      clearInterval(t);
      void stop();
    }
  }, 300);
}

/** `createdb API`: a fresh database's URL on stdout. */
async function createdb(api: string): Promise<void> {
  const res = await fetch(`${api}/createdb`, { method: 'POST' });
  const text = await res.text();
  if (!res.ok) {
    process.stderr.write(`${text}\n`);
    process.exit(1);
  }
  process.stdout.write(text);
}

const [mode, a, b] = process.argv.slice(2);
if (mode === 'launch') {
  await launch(Number(a)).catch((e: Error) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  });
} else if (mode === 'daemon') await daemon(Number(a), b);
else if (mode === 'createdb') await createdb(a);
else {
  process.stderr.write(
    'usage: pg-daemon.ts launch PARENT_PID | daemon PARENT_PID READY_FILE | createdb API\n',
  );
  process.exit(2);
}
