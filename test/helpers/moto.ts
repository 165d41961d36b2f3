/**
 * Test helper: a real moto_server (moto 5, the AWS emulator) on a free loopback port, behind a tiny HTTP
 * proxy that can answer chosen EC2 actions with an EC2 XML error. moto cannot produce capacity, quota or
 * auth errors itself; the proxy is how tests inject them at the HTTP boundary, so the real AWS SDK parses
 * a real EC2 error response.
 *
 *   const reason = motoMissing();           // a string when moto_server is not on PATH: skip with it
 *                                           // (never under CI=true: startMoto then fails instead)
 *   const moto = await startMoto();
 *   process.env.SKYHOP_AWS_ENDPOINT_URL = moto.endpoint;   // the proxy
 *   moto.failNext('RunInstances', 'InsufficientInstanceCapacity');
 *   await moto.stop();
 *
 * moto is started with MOTO_AMIS_PATH pointing at two Canonical Ubuntu 22.04 images (amd64 and arm64):
 * moto's own image list has no 22.04, and the provider's default image lookup asks for it.
 * A process that exits without stop() still kills its moto servers (an 'exit' hook).
 *
 * S3 (path-style, as skyhop's S3 client and rclone with force_path_style use it) goes through the same
 * proxy, streamed (bodies are not buffered). A test can make the requests for one bucket answer an S3
 * XML error, and can count the S3 operations the proxy saw:
 *
 *   moto.injectS3({ bucket: 'b', status: 403, code: 'AccessDenied' });   // every request for b, until
 *   moto.injectS3({ bucket: 'b', op: 'PutObject', code: 'SlowDown', status: 503, times: 2 });
 *   moto.s3Requests.filter((r) => r.op === 'PutObject').length;          // what reached the proxy
 *   moto.clearFailures();                                                // drops EC2 and S3 injections
 *
 * A request is S3 unless it is a POST to `/` (the query APIs: EC2, STS, IAM), whose handling is as before.
 *
 * motoEnv() does the whole set-up most tests want: a temp HOME and SKYHOP_HOME, no AWS settings from
 * the caller's environment, fake keys (unless `credentials: false`), moto, and the endpoint; close()
 * stops moto and puts the environment back.
 *
 * Hosts mode (`startMoto({ hosts: true })`, `motoEnv(prefix, { hosts: true })`): every instance launched
 * through the proxy is also a real SSH host on its own loopback address that lets `ubuntu` in with the
 * imported key, and every EC2 answer's addresses are rewritten to those hosts' (test/helpers/moto-hosts.ts
 * says how); `moto.hosts` is then the hosts' handle (`terminateBehindBack(id)` and more), null otherwise.
 * `motoHostsMissing()` is the reason to skip such a suite (never under CI=true).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type MotoHosts, type MotoHostsInternal, regionOfRequest, startMotoHosts } from './moto-hosts.js';

export { type MotoHostInfo, type MotoHosts, motoHostsMissing } from './moto-hosts.js';

export const UBUNTU_AMD64 = 'ami-0a1b2c3d4e5f60001';
export const UBUNTU_ARM64 = 'ami-0a1b2c3d4e5f60002';

export interface Injection {
  action: string;
  code: string;
  message: string;
  status: number;
  /** How many more requests it answers; Infinity until cleared. */
  remaining: number;
  /** How many matching requests it lets through to moto first. */
  skip: number;
}

/** An S3 request the proxy saw (path-style), with the S3 operation it is. */
export interface S3Request {
  method: string;
  /** '' for ListBuckets. */
  bucket: string;
  /** '' for a bucket-level request. */
  key: string;
  /** e.g. 'PutObject', 'UploadPart', 'ListObjectsV2', 'HeadBucket', 'DeleteObjects'. */
  op: string;
}

export interface S3Injection {
  bucket: string;
  /** Only this operation (default: every request for the bucket). */
  op?: string;
  status: number;
  code: string;
  message: string;
  /** How many more requests it answers; Infinity until cleared. */
  remaining: number;
}

/** The S3 operation of a path-style request. */
export function s3Operation(method: string, url: string, headers: Record<string, unknown>): S3Request {
  const u = new URL(url, 'http://x');
  const parts = u.pathname.split('/');
  const bucket = decodeURIComponent(parts[1] ?? '');
  const key = decodeURIComponent(parts.slice(2).join('/'));
  const q = u.searchParams;
  let op: string;
  if (!bucket) op = 'ListBuckets';
  else if (!key) {
    if (method === 'HEAD') op = 'HeadBucket';
    else if (method === 'PUT') op = q.size === 0 ? 'CreateBucket' : 'PutBucketConfig';
    else if (method === 'DELETE') op = q.size === 0 ? 'DeleteBucket' : 'DeleteBucketConfig';
    else if (method === 'POST' && q.has('delete')) op = 'DeleteObjects';
    else if (q.get('list-type') === '2') op = 'ListObjectsV2';
    else if (q.has('versions')) op = 'ListObjectVersions';
    else if (q.has('uploads')) op = 'ListMultipartUploads';
    else if (q.has('location')) op = 'GetBucketLocation';
    else if (q.size === 0) op = 'ListObjects';
    else op = 'GetBucketConfig';
  } else if (method === 'PUT') {
    if (q.has('partNumber')) op = 'UploadPart';
    else if (headers['x-amz-copy-source']) op = 'CopyObject';
    else op = 'PutObject';
  } else if (method === 'POST') op = q.has('uploads') ? 'CreateMultipartUpload' : 'CompleteMultipartUpload';
  else if (method === 'DELETE') op = q.has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject';
  else if (method === 'HEAD') op = 'HeadObject';
  else op = q.has('uploadId') ? 'ListParts' : 'GetObject';
  return { method, bucket, key, op };
}

export interface MotoHandle {
  /** The proxy in front of moto: give this to the SDK. */
  endpoint: string;
  /** moto itself. */
  motoEndpoint: string;
  /**
   * Answer the next `times` requests for `action` with an EC2 error (default once, HTTP 400), after
   * letting `after` of them through to moto (default 0).
   */
  failNext(
    action: string,
    code: string,
    opts?: { message?: string; status?: number; times?: number; after?: number },
  ): void;
  /** Called with each EC2 action the proxy receives, before it answers. */
  onAction: ((action: string) => void) | null;
  /** Drop every pending injection. */
  clearFailures(): void;
  /** EC2 actions seen by the proxy, in order (e.g. 'RunInstances'). */
  actions: string[];
  /**
   * Answer S3 requests for `bucket` (only operation `op`, when given) with an S3 XML error: HTTP
   * `status` (default 403) and `code` (default AccessDenied), `times` times (default: until cleared).
   */
  injectS3(opts: {
    bucket: string;
    op?: string;
    status?: number;
    code?: string;
    message?: string;
    times?: number;
  }): void;
  /** S3 requests seen by the proxy, in order (injected ones included). */
  s3Requests: S3Request[];
  /** Hosts mode's hosts (test/helpers/moto-hosts.ts); null without `hosts: true`. */
  hosts: MotoHosts | null;
  /** Stops every host (hosts mode), the proxy and moto. */
  stop(): Promise<void>;
}

/** Why moto_server cannot run here, or null when it is on PATH. */
function motoUnavailable(): string | null {
  const r = spawnSync('sh', ['-c', 'command -v moto_server'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim()
    ? null
    : 'moto_server is not on PATH (scripts/install-deps.sh installs it: pip install "moto[server]")';
}

/**
 * A reason to skip the AWS suites (moto_server is not on PATH), or null. Under CI=true there is no
 * such reason: the suites run and fail in `startMoto`, so a green CI always means AWS ran.
 */
export function motoMissing(): string | null {
  return process.env.CI === 'true' ? null : motoUnavailable();
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

const live = new Set<ChildProcess>();
let hooked = false;

function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function amis(): object[] {
  const base = {
    description: 'Canonical, Ubuntu, 22.04 LTS',
    owner_id: '099720109477',
    public: true,
    virtualization_type: 'hvm',
    state: 'available',
    platform: null,
    image_type: 'machine',
    hypervisor: 'xen',
    root_device_name: '/dev/sda1',
    root_device_type: 'ebs',
    sriov: 'simple',
    // No creation_date: moto parses it in place when the first region loads these images, and every
    // other region then fails (HTTP 500) parsing the datetime again; without it each region works.
  };
  return [
    {
      ...base,
      ami_id: UBUNTU_AMD64,
      architecture: 'x86_64',
      name: 'ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20260115',
    },
    {
      ...base,
      ami_id: UBUNTU_ARM64,
      architecture: 'arm64',
      name: 'ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-arm64-server-20260115',
    },
  ];
}

export interface MotoOptions {
  /** Hosts mode: a real SSH host per instance launched through the proxy (moto-hosts.ts). */
  hosts?: boolean;
}

export async function startMoto(opts: MotoOptions = {}): Promise<MotoHandle> {
  const unavailable = motoUnavailable();
  if (unavailable) {
    throw new Error(
      `${unavailable}${process.env.CI === 'true' ? '; under CI=true the AWS suites must run, not skip' : ''}`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'skyhop-moto-'));
  const amisPath = join(dir, 'amis.json');
  writeFileSync(amisPath, JSON.stringify(amis()));
  const port = await freePort();
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, MOTO_AMIS_PATH: amisPath },
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  live.add(child);
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`moto_server exited: ${stderr}`);
    if (await canConnect(port)) break;
    if (i > 300) {
      child.kill('SIGKILL');
      throw new Error(`moto_server did not listen on 127.0.0.1:${port}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  let hosts: MotoHostsInternal | null = null;
  if (opts.hosts) {
    try {
      hosts = await startMotoHosts(`http://127.0.0.1:${port}`);
    } catch (e) {
      child.kill('SIGKILL');
      await exited;
      live.delete(child);
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  const injections: Injection[] = [];
  const actions: string[] = [];
  const s3Injections: S3Injection[] = [];
  const s3Requests: S3Request[] = [];
  const s3 = (req: IncomingMessage, res: ServerResponse) => {
    const r = s3Operation(req.method ?? 'GET', req.url ?? '/', req.headers);
    s3Requests.push(r);
    const inj = s3Injections.find(
      (j) => j.remaining > 0 && j.bucket === r.bucket && (j.op === undefined || j.op === r.op),
    );
    if (inj) {
      inj.remaining--;
      req.resume();
      req.on('end', () => {
        const xml =
          '<?xml version="1.0" encoding="UTF-8"?>\n<Error>' +
          `<Code>${xmlEscape(inj.code)}</Code><Message>${xmlEscape(inj.message)}</Message>` +
          `<BucketName>${xmlEscape(inj.bucket)}</BucketName><RequestId>skyhop-injected</RequestId></Error>`;
        res.writeHead(inj.status, {
          'content-type': 'application/xml',
          'x-amz-request-id': 'skyhop-injected',
        });
        res.end(req.method === 'HEAD' ? undefined : xml);
      });
      return;
    }
    const up = request(
      { host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers },
      (resp) => {
        res.writeHead(resp.statusCode ?? 502, resp.headers);
        resp.pipe(res);
      },
    );
    up.on('error', (e) => {
      if (!res.headersSent) res.writeHead(502);
      res.end(String(e));
    });
    req.pipe(up);
  };
  const proxy: Server = createServer((req, res) => {
    if (!(req.method === 'POST' && (req.url ?? '/').split('?')[0] === '/')) {
      s3(req, res);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const action = new URLSearchParams(body.toString('utf8')).get('Action') ?? '';
      if (action) actions.push(action);
      if (action) handle.onAction?.(action);
      let inj = injections.find((j) => j.action === action && j.remaining > 0);
      if (inj && inj.skip > 0) {
        inj.skip--;
        inj = undefined;
      }
      if (inj) {
        inj.remaining--;
        const xml =
          '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>' +
          `<Code>${xmlEscape(inj.code)}</Code><Message>${xmlEscape(inj.message)}</Message>` +
          '</Error></Errors><RequestID>skyhop-injected</RequestID></Response>';
        res.writeHead(inj.status, { 'content-type': 'text/xml;charset=UTF-8' });
        res.end(xml);
        return;
      }
      const up = request(
        { host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers },
        (r) => {
          if (!hosts) {
            res.writeHead(r.statusCode ?? 502, r.headers);
            r.pipe(res);
            return;
          }
          // Hosts mode: the whole answer first, its side effects on the hosts, its addresses rewritten.
          const got: Buffer[] = [];
          r.on('data', (c: Buffer) => got.push(c));
          r.on('end', () => {
            const params = new URLSearchParams(body.toString('utf8'));
            const region = regionOfRequest(req.headers.authorization);
            const status = r.statusCode ?? 502;
            if (r.headers['content-encoding'] && r.headers['content-encoding'] !== 'identity') {
              res.writeHead(502);
              res.end(`moto hosts: cannot rewrite a ${r.headers['content-encoding']} answer`);
              return;
            }
            hosts!.answer(action, params, region, status, Buffer.concat(got).toString('utf8')).then(
              (xml) => {
                const headers = { ...r.headers };
                delete headers['content-length'];
                delete headers['transfer-encoding'];
                res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(xml) });
                res.end(xml);
              },
              (e) => {
                res.writeHead(500, { 'content-type': 'text/plain' });
                res.end(`moto hosts: ${(e as Error).message}`);
              },
            );
          });
        },
      );
      up.on('error', (e) => {
        res.writeHead(502);
        res.end(String(e));
      });
      up.end(body);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', () => resolve()));
  const proxyPort = (proxy.address() as { port: number }).port;

  const handle: MotoHandle = {
    onAction: null,
    endpoint: `http://127.0.0.1:${proxyPort}`,
    motoEndpoint: `http://127.0.0.1:${port}`,
    actions,
    failNext(action, code, opts = {}) {
      injections.push({
        action,
        code,
        message: opts.message ?? `injected by the test proxy: ${code}`,
        status: opts.status ?? 400,
        remaining: opts.times ?? 1,
        skip: opts.after ?? 0,
      });
    },
    clearFailures() {
      injections.length = 0;
      s3Injections.length = 0;
    },
    s3Requests,
    hosts,
    injectS3(o) {
      s3Injections.push({
        bucket: o.bucket,
        ...(o.op === undefined ? {} : { op: o.op }),
        status: o.status ?? 403,
        code: o.code ?? 'AccessDenied',
        message: o.message ?? `injected by the test proxy: ${o.code ?? 'AccessDenied'}`,
        remaining: o.times ?? Number.POSITIVE_INFINITY,
      });
    },
    async stop() {
      await hosts?.close();
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
      live.delete(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return handle;
}

/** The environment variables motoEnv sets or clears (and close() restores). */
const MOTO_ENV = [
  'HOME',
  'SKYHOP_HOME',
  'SKYHOP_AWS_ENDPOINT_URL',
  'SKYHOP_AWS_PRICING_ENDPOINT_URL',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_DEFAULT_PROFILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_CONFIG_FILE',
];

export interface MotoEnv {
  moto: MotoHandle;
  /** The temp directory (HOME is `<dir>/home`, SKYHOP_HOME `<dir>/skyhop`). */
  dir: string;
  /** Stops moto, restores the environment, removes the temp directory. */
  close(): Promise<void>;
}

export async function motoEnv(
  prefix: string,
  opts: { credentials?: boolean; hosts?: boolean } = {},
): Promise<MotoEnv> {
  const saved = new Map(MOTO_ENV.map((k) => [k, process.env[k]]));
  for (const k of MOTO_ENV) delete process.env[k];
  const dir = mkdtempSync(join(tmpdir(), prefix));
  mkdirSync(join(dir, 'home'));
  process.env.HOME = join(dir, 'home');
  process.env.SKYHOP_HOME = join(dir, 'skyhop');
  if (opts.credentials !== false) {
    process.env.AWS_ACCESS_KEY_ID = 'testing';
    process.env.AWS_SECRET_ACCESS_KEY = 'testing';
  }
  const restore = () => {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  let moto: MotoHandle;
  try {
    moto = await startMoto({ hosts: opts.hosts });
  } catch (e) {
    restore();
    throw e;
  }
  process.env.SKYHOP_AWS_ENDPOINT_URL = moto.endpoint;
  return {
    moto,
    dir,
    close: async () => {
      await moto.stop();
      restore();
    },
  };
}
