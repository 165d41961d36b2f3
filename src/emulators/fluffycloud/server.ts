/**
 * The HTTP face of the emulator (docs/fluffycloud-api.md): JSON over node:http on loopback, API keys on
 * /v1 (with injected failures), an admin token on /admin (never subject to injected failures).
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import type { FluffyCloudEmulator } from './cloud.js';
import { ApiError, badRequest, notFound } from './errors.js';
import { type CallName, ScenarioError } from './scenario.js';
import { sleep } from '../../util/sleep.js';

const MAX_BODY = 1 << 20;

type Handler = (ctx: {
  user: string;
  params: string[];
  body: unknown;
}) => Promise<[number, unknown]> | [number, unknown];

interface Route {
  method: string;
  pattern: RegExp;
  call: CallName;
  handler: Handler;
}

function routes(emu: FluffyCloudEmulator): Route[] {
  const seg = '([^/]+)';
  return [
    {
      method: 'GET',
      pattern: /^\/v1\/instance-types$/,
      call: 'list_instance_types',
      handler: () => [200, emu.listInstanceTypes()],
    },
    {
      method: 'GET',
      pattern: /^\/v1\/regions$/,
      call: 'list_regions',
      handler: () => [200, emu.listRegions()],
    },
    {
      method: 'POST',
      pattern: /^\/v1\/ssh-keys$/,
      call: 'add_ssh_key',
      handler: ({ user, body }) => {
        const r = emu.addSshKey(user, body);
        return [r.created ? 201 : 200, { name: r.name, fingerprint: r.fingerprint }];
      },
    },
    {
      method: 'GET',
      pattern: /^\/v1\/ssh-keys$/,
      call: 'list_ssh_keys',
      handler: ({ user }) => [200, emu.listSshKeys(user)],
    },
    {
      method: 'DELETE',
      pattern: new RegExp(`^/v1/ssh-keys/${seg}$`),
      call: 'delete_ssh_key',
      handler: ({ user, params }) => {
        emu.deleteSshKey(user, params[0]!);
        return [200, {}];
      },
    },
    {
      method: 'POST',
      pattern: /^\/v1\/instances$/,
      call: 'launch',
      handler: async ({ user, body }) => [201, await emu.launch(user, body)],
    },
    {
      method: 'GET',
      pattern: /^\/v1\/instances$/,
      call: 'list_instances',
      handler: ({ user }) => [200, emu.listInstances(user)],
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/v1/instances/${seg}$`),
      call: 'get_instance',
      handler: ({ user, params }) => [200, emu.getInstance(user, params[0]!)],
    },
    {
      method: 'DELETE',
      pattern: new RegExp(`^/v1/instances/${seg}$`),
      call: 'remove',
      handler: async ({ user, params }) => [200, await emu.remove(user, params[0]!)],
    },
    {
      method: 'PUT',
      pattern: new RegExp(`^/v1/instances/${seg}/tags$`),
      call: 'set_tags',
      handler: ({ user, params, body }) => [200, emu.setTags(user, params[0]!, body)],
    },
  ];
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function sendError(res: ServerResponse, e: ApiError, headers?: Record<string, string>): void {
  send(res, e.status, e.body(), headers);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(badRequest(`request body over ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest('the request body is not valid JSON');
  }
}

function bearer(req: IncomingMessage): string | null {
  const h = req.headers.authorization;
  const m = h ? /^Bearer\s+(\S+)\s*$/i.exec(h) : null;
  return m ? m[1]! : null;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface ServerOptions {
  /** Bearer token of the /admin calls; without one they answer 403. */
  adminToken?: string;
  log: (line: string) => void;
  /** Log every request (method, path, status; never a key) and every injected timeout. */
  verbose?: boolean;
}

export function createApiServer(emu: FluffyCloudEmulator, opts: ServerOptions): Server {
  const table = routes(emu);

  async function admin(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const token = bearer(req);
    if (!opts.adminToken) {
      throw new ApiError('unauthorized', 'the admin API is off; start the emulator with --admin-token', 403);
    }
    if (!token || !sameSecret(token, opts.adminToken)) {
      throw new ApiError(
        'unauthorized',
        'missing or wrong admin token (Authorization: Bearer <admin token>)',
      );
    }
    const m = req.method ?? 'GET';
    if (m === 'GET' && path === '/admin/state') return send(res, 200, emu.adminState());
    if (m === 'PUT' && path === '/admin/scenario') {
      const text = await readBody(req);
      const type = String(req.headers['content-type'] ?? '');
      let raw: unknown;
      try {
        raw = /yaml/i.test(type) ? parseYaml(text) : parseJson(text);
      } catch (e) {
        if (e instanceof ApiError) throw e;
        throw badRequest(`the scenario is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
      }
      try {
        emu.setScenario(raw);
      } catch (e) {
        if (e instanceof ScenarioError) throw badRequest(e.message);
        throw e;
      }
      return send(res, 200, {});
    }
    if (m === 'POST' && path === '/admin/teardown') return send(res, 200, { removed: await emu.teardown() });
    const pre = /^\/admin\/instances\/([^/]+)\/preempt$/.exec(path);
    if (m === 'POST' && pre) {
      await emu.preempt(decodeURIComponent(pre[1]!));
      return send(res, 200, {});
    }
    throw notFound(`no admin call ${m} ${path}`);
  }

  async function v1(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const method = req.method ?? 'GET';
    const matches = table.map((r) => ({ r, m: r.pattern.exec(path) })).filter((x) => x.m !== null);
    if (matches.length === 0) throw notFound(`no API call ${method} ${path}`);
    const hit = matches.find((x) => x.r.method === method);
    if (!hit) {
      const allowed = matches
        .map((x) => x.r.method)
        .sort()
        .join(', ');
      throw new ApiError('bad_request', `${method} is not allowed on ${path} (use ${allowed})`, 405);
    }
    const f = emu.drawFailure(hit.r.call);
    if (f.slowMs > 0) await sleep(f.slowMs);
    if (f.kind === 'timeout') {
      // Never answered: the connection stays open until the client gives up (or the emulator stops).
      if (opts.verbose) opts.log(`inject timeout: ${method} ${path}`);
      req.resume();
      return;
    }
    if (f.kind === 'internal')
      throw new ApiError('internal', `internal error (injected) in ${hit.r.call}; retry`);
    if (f.kind === 'rate_limited') {
      return sendError(res, new ApiError('rate_limited', `too many requests (injected); retry later`), {
        'retry-after': '1',
      });
    }
    const key = bearer(req);
    const user = key ? emu.authenticate(key) : null;
    if (!user) {
      throw new ApiError(
        'unauthorized',
        `${key ? 'invalid' : 'missing'} API key; send "Authorization: Bearer <api_key>" (api_key in ~/.fluffycloud/credentials)`,
      );
    }
    const body = method === 'POST' || method === 'PUT' ? parseJson(await readBody(req)) : undefined;
    const params = hit.m!.slice(1).map((p) => decodeURIComponent(p));
    const [status, out] = await hit.r.handler({ user, params, body });
    send(res, status, out);
  }

  return createServer((req, res) => {
    let path: string;
    try {
      path = new URL(req.url ?? '/', 'http://x').pathname;
    } catch {
      path = '/';
    }
    const done = (path.startsWith('/admin/') ? admin(req, res, path) : v1(req, res, path)).catch(
      (e: unknown) => {
        if (e instanceof ApiError) return sendError(res, e);
        opts.log(`error in ${req.method} ${path}: ${(e as Error).stack ?? String(e)}`);
        sendError(res, new ApiError('internal', `internal error: ${(e as Error).message ?? String(e)}`));
      },
    );
    if (opts.verbose) void done.then(() => opts.log(`${req.method} ${path} -> ${res.statusCode}`));
  });
}
