/**
 * `skyhop api ...`: run a team server (start, stop), point this CLI at one (login, logout), see its
 * requests (status, logs) and manage its users. Users are managed through the server with an admin's
 * token, or, on the server's own machine without a login, directly in its database.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { configPath } from '../config/config.js';
import { UserError } from '../util/errors.js';
import { packageRoot } from '../util/package-root.js';
import { skyhopHome } from '../util/paths.js';
import { printJson, table } from './ui.js';

/** What the `api` sub-commands read (each module parses its own flags into this shape). */
export interface ApiOptions {
  args?: string[];
  host?: string;
  port?: string;
  db?: string;
  foreground?: boolean;
  endpoint?: string;
  token?: string;
  role?: string;
  all?: boolean;
  follow?: boolean;
  json?: boolean;
}

const DEFAULT_PORT = 46580;

function port(o: ApiOptions): number {
  if (o.port === undefined) return DEFAULT_PORT;
  const n = Number(o.port);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new UserError(`--port: '${o.port}' is not a port number (0-65535)`);
  return n;
}

function dbUrl(o: ApiOptions): string | null {
  const url = o.db ?? process.env.SKYHOP_DB ?? null;
  if (url !== null && !/^postgres(ql)?:\/\//.test(url)) {
    throw new UserError(
      '--db: give a PostgreSQL URL (postgresql://user:password@host:port/db); without --db the server uses SQLite in SKYHOP_HOME',
    );
  }
  return url;
}

export async function start(o: ApiOptions): Promise<number> {
  const home = skyhopHome();
  const host = o.host ?? '127.0.0.1';
  const p = port(o);
  const { dbUrlFile, stateDbUrl } = await import('../state/index.js');
  const db = dbUrl(o) ?? stateDbUrl(home);
  if (db) {
    // The home is bound to the database from now on: every skyhop process of this home (the workers,
    // an autostop a cluster's agent runs) opens it without being told. 0600: the URL has a password.
    mkdirSync(home, { recursive: true, mode: 0o700 });
    writeFileSync(dbUrlFile(home), `${db}\n`, { mode: 0o600 });
    chmodSync(dbUrlFile(home), 0o600);
  }
  const { runningServers, serve } = await import('../server/serve.js');
  const already = runningServers(home).find((s) => s.port === p);
  if (already) {
    process.stderr.write(`The API server is already running at ${already.endpoint} (pid ${already.pid}).\n`);
    return 0;
  }
  if (o.foreground) {
    await serve({ home, host, port: p, dbUrl: db });
    return 0;
  }
  const dir = join(home, 'api');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const logPath = join(dir, 'server.log');
  const fd = openSync(logPath, 'a', 0o600);
  const args = [
    join(packageRoot(), 'dist', 'cli.js'),
    'api',
    'start',
    '--foreground',
    '--host',
    host,
    '--port',
    String(p),
  ];
  const env: NodeJS.ProcessEnv = { ...process.env, SKYHOP_HOME: home };
  if (db) env.SKYHOP_DB = db; // on the environment, not the command line (ps shows argv to everyone)
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', fd, fd], env });
  child.unref();
  const deadline = Date.now() + 20_000;
  for (;;) {
    const up = runningServers(home).find((s) => s.pid === child.pid);
    if (up) {
      process.stderr.write(`The API server is running at ${up.endpoint} (pid ${up.pid}). Log: ${logPath}\n`);
      return 0;
    }
    if (child.exitCode !== null || Date.now() > deadline || !isAlive(child.pid)) {
      const tail = existsSync(logPath) ? readFileSync(logPath, 'utf8').split('\n').slice(-6).join('\n') : '';
      throw new UserError(`the API server did not start; its log (${logPath}) ends:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function isAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function stop(o: ApiOptions): Promise<number> {
  const { runningServers } = await import('../server/serve.js');
  const servers = runningServers(skyhopHome()).filter((s) => o.port === undefined || s.port === port(o));
  if (servers.length === 0) {
    process.stderr.write('No API server of this SKYHOP_HOME is running.\n');
    return 0;
  }
  for (const s of servers) {
    process.kill(s.pid, 'SIGTERM');
    const deadline = Date.now() + 15_000;
    while (isAlive(s.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (isAlive(s.pid)) process.kill(s.pid, 'SIGKILL');
    process.stderr.write(`Stopped the API server at ${s.endpoint} (pid ${s.pid}).\n`);
  }
  return 0;
}

async function client() {
  const { ApiClient, apiTarget } = await import('../sdk/api-client.js');
  const target = apiTarget();
  if (!target) {
    // On the server's own machine, with no login: the running server of this home.
    const { runningServers } = await import('../server/serve.js');
    const s = runningServers(skyhopHome())[0];
    if (!s)
      throw new UserError(
        'not logged in to an API server and none runs here: skyhop api login -e URL --token TOKEN',
      );
    throw new UserError(
      `not logged in; the server here is ${s.endpoint}: skyhop api login -e ${s.endpoint} --token TOKEN`,
    );
  }
  if (!target.token)
    throw new UserError(
      `no token for ${target.endpoint}: skyhop api login -e ${target.endpoint} --token TOKEN`,
    );
  return new ApiClient(target);
}

export async function status(o: ApiOptions): Promise<number> {
  const c = await client();
  const who = await c.whoami();
  const ids = o.args ?? [];
  const list = ids.length
    ? await Promise.all(ids.map((id) => c.request(id)))
    : (await c.requests(o.all)).requests;
  if (o.json) {
    printJson({ server: c.target.endpoint, user: who.user, role: who.role, requests: list });
    return 0;
  }
  process.stderr.write(
    `API server ${c.target.endpoint} (skyhop ${who.version}); you are ${who.user} (${who.role}).\n`,
  );
  if (list.length === 0) {
    process.stdout.write('No requests.\n');
    return 0;
  }
  const { ago } = await import('./ui.js');
  const rows = list.map((r) => [
    r.id,
    r.user,
    r.argv.join(' ').slice(0, 60),
    r.status,
    r.exit_code ?? '-',
    ago(Date.parse(r.created_at)),
  ]);
  process.stdout.write(`${await table(['ID', 'USER', 'COMMAND', 'STATUS', 'EXIT', 'CREATED'], rows)}\n`);
  return 0;
}

export async function logs(o: ApiOptions): Promise<number> {
  const id = o.args?.[0];
  if (!id) {
    const path = join(skyhopHome(), 'api', 'server.log');
    if (!existsSync(path))
      throw new UserError(`no server log at ${path}; give a request id to follow a request`);
    process.stdout.write(readFileSync(path, 'utf8').split('\n').slice(-200).join('\n'));
    return 0;
  }
  const c = await client();
  if (o.follow === false) {
    const r = await c.request(id);
    process.stderr.write(`Request ${r.id}: ${r.argv.join(' ')} — ${r.status}\n`);
  }
  const { follow } = await import('./remote.js');
  return follow(c, id);
}

export async function login(o: ApiOptions): Promise<number> {
  if (!o.endpoint) throw new UserError('api login needs -e URL (e.g. -e http://127.0.0.1:46580)');
  const endpoint = o.endpoint.replace(/\/+$/, '');
  if (!/^https?:\/\/[^\s/]+$/.test(endpoint))
    throw new UserError(`-e: '${endpoint}' is not an http(s)://HOST[:PORT] URL`);
  let token = o.token ?? process.env.SKYHOP_API_TOKEN;
  if (!token) {
    if (!process.stdin.isTTY)
      throw new UserError('api login needs --token TOKEN (or SKYHOP_API_TOKEN) when stdin is not a terminal');
    const { createInterface } = await import('node:readline');
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    token = await new Promise<string>((r) => rl.question('Token: ', r));
    rl.close();
  }
  const { ApiClient } = await import('../sdk/api-client.js');
  const who = await new ApiClient({ endpoint, token: token.trim() }).whoami();
  const { tokenPath } = await import('../sdk/api-client.js');
  const tp = tokenPath();
  mkdirSync(dirname(tp), { recursive: true, mode: 0o700 });
  writeFileSync(tp, `${token.trim()}\n`, { mode: 0o600 });
  chmodSync(tp, 0o600);
  await setConfigEndpoint(endpoint);
  process.stderr.write(
    `Logged in to ${endpoint} as ${who.user} (${who.role}). Every command now runs there; skyhop api logout to work locally.\n`,
  );
  return 0;
}

export async function logout(_o?: ApiOptions): Promise<number> {
  const { tokenPath } = await import('../sdk/api-client.js');
  rmSync(tokenPath(), { force: true });
  await setConfigEndpoint(null);
  process.stderr.write('Logged out: commands run on this machine again.\n');
  return 0;
}

/** Sets (or removes) `api_server.endpoint` in the config file, keeping everything else as written. */
async function setConfigEndpoint(endpoint: string | null): Promise<void> {
  const { path } = configPath();
  const yaml = await import('yaml');
  // The bundle may hand the CommonJS build over as the default export.
  const parseDocument =
    yaml.parseDocument ?? (yaml as unknown as { default: typeof yaml }).default.parseDocument;
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const doc = parseDocument(text);
  if (endpoint) {
    if (!doc.contents) doc.contents = doc.createNode({}) as never;
    doc.setIn(['api_server', 'endpoint'], endpoint);
  } else if (doc.hasIn(['api_server', 'endpoint'])) {
    doc.deleteIn(['api_server', 'endpoint']);
    const rest = doc.getIn(['api_server']) as { items?: unknown[] } | null;
    if (!rest || (rest.items && rest.items.length === 0)) doc.deleteIn(['api_server']);
  } else return;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const out = doc.toString();
  writeFileSync(path, out === '{}\n' || out === 'null\n' ? '' : out);
}

export async function users(o: ApiOptions): Promise<number> {
  const [sub, name] = o.args ?? [];
  const { apiTarget } = await import('../sdk/api-client.js');
  const remote = apiTarget();
  const role = o.role ?? 'user';
  if (role !== 'admin' && role !== 'user') throw new UserError(`--role: '${role}' is not admin or user`);
  if (sub === 'add' || sub === 'revoke') {
    if (!name) throw new UserError(`api users ${sub} needs a user NAME`);
    const { userName } = await import('../sdk/api-schemas.js');
    const ok = userName.safeParse(name);
    if (!ok.success) throw new UserError(`user name '${name.slice(0, 40)}': ${ok.error.issues[0].message}`);
  }
  if (remote) {
    const c = await client();
    const S = await import('../sdk/api-schemas.js');
    if (sub === 'add') return printToken(await c.post(S.tokenAnswer, '/api/v1/users', { name, role }));
    if (sub === 'revoke') {
      await c.send(`/api/v1/users/${encodeURIComponent(name)}/tokens`, { method: 'DELETE' });
      process.stderr.write(`Revoked every token of ${name}.\n`);
      return 0;
    }
    if (sub === 'ls' || sub === undefined)
      return printUsers((await c.json(S.usersAnswer, '/api/v1/users')).users);
  } else {
    // On the server's machine: its database directly (how the first admin gets a token).
    const db = dbUrl(o);
    if (db) process.env.SKYHOP_DB = db;
    const { openApiStore } = await import('../state/index.js');
    const api = await openApiStore();
    try {
      if (sub === 'add') {
        const { issueToken } = await import('../server/context.js');
        const { token } = issueToken(api, name, role);
        api.audit('(local)', 'users add', name, role);
        return printToken({ user: name, role, token });
      }
      if (sub === 'revoke') {
        if (!api.getUser(name)) throw new UserError(`no user '${name}'`);
        const n = api.revokeTokens(name);
        api.audit('(local)', 'users revoke', name, `${n} token(s)`);
        process.stderr.write(`Revoked ${n} token(s) of ${name}.\n`);
        return 0;
      }
      if (sub === 'ls' || sub === undefined) {
        return printUsers(
          api
            .listUsers()
            .map((u) => ({ name: u.name, role: u.role, created_at: new Date(u.createdAt).toISOString() })),
        );
      }
    } finally {
      api.close();
    }
  }
  throw new UserError(
    `unknown 'api users' action '${sub}'; one of: add NAME [--role admin|user], ls, revoke NAME`,
  );
}

function printToken(t: { user: string; role: string; token: string }): number {
  process.stdout.write(`${t.token}\n`);
  process.stderr.write(
    `Token for ${t.user} (${t.role}) printed above; it is shown only once. Log in with: skyhop api login -e URL --token TOKEN\n`,
  );
  return 0;
}

async function printUsers(list: Array<{ name: string; role: string; created_at: string }>): Promise<number> {
  if (list.length === 0) {
    process.stdout.write('No users.\n');
    return 0;
  }
  process.stdout.write(
    `${await table(
      ['NAME', 'ROLE', 'CREATED'],
      list.map((u) => [u.name, u.role, u.created_at]),
    )}\n`,
  );
  return 0;
}
