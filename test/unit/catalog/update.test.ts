// updateCatalog against a real HTTP server on 127.0.0.1 (node:http): a good download replaces the
// catalog; every kind of bad download leaves the old one byte-for-byte and says why.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  catalogCachePath,
  clearCatalogMemo,
  loadCatalog,
  updateCatalog,
} from '../../../src/catalog/index.js';
import { CloudError, UserError } from '../../../src/util/errors.js';
import { type TempHome, useTempHome } from './helpers.js';

const LAMBDA_HEADER =
  'InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,Region,GpuInfo,SpotPrice';
const GOOD_LAMBDA =
  `${LAMBDA_HEADER}\r\n` +
  'cpu_4x_general,,,4.0,16.0,0.2,us-east-1,,\r\n' +
  `gpu_1x_a10,A10,1.0,30.0,200.0,0.75,us-east-1,"{'Gpus': [{'Name': 'A10', 'Count': 1.0, 'MemoryInfo': {'SizeInMiB': 24576}}]}",\r\n` +
  'gpu_1x_a10,A10,1.0,30.0,200.0,0.80,us-west-1,,\r\n';
const GOOD_LAMBDA_2 = `${LAMBDA_HEADER}\ngpu_8x_a100,A100,8.0,124.0,1800.0,10.32,us-east-1,,\n`;

type Route = (res: import('node:http').ServerResponse) => void;
const routes = new Map<string, Route>();
const csv =
  (body: string): Route =>
  (res) => {
    res.writeHead(200, { 'content-type': 'text/csv' });
    res.end(body);
  };
routes.set('/good/catalogs/v7/lambda/vms.csv', csv(GOOD_LAMBDA));
routes.set('/good2/catalogs/v7/lambda/vms.csv', csv(GOOD_LAMBDA_2));
routes.set('/badheader/catalogs/v7/lambda/vms.csv', csv(GOOD_LAMBDA.replace(',Price,', ',Cost,')));
routes.set('/truncated/catalogs/v7/lambda/vms.csv', csv(`${GOOD_LAMBDA}gpu_8x_a100,A100,8.0,124.0\r\n`));
routes.set('/norows/catalogs/v7/lambda/vms.csv', csv(`${LAMBDA_HEADER}\n`));
routes.set(
  '/noprice/catalogs/v7/lambda/vms.csv',
  csv(`${LAMBDA_HEADER}\ncpu_4x_general,,,4.0,16.0,,us-east-1,,\n`),
);
routes.set('/html/catalogs/v7/lambda/vms.csv', (res) => {
  res.writeHead(200, { 'content-type': 'text/html' });
  res.end('<!DOCTYPE html>\n<html><head><title>Rate limited</title></head><body>Try later</body></html>\n');
});
routes.set('/e500/catalogs/v7/lambda/vms.csv', (res) => {
  res.writeHead(500, 'Internal Server Error');
  res.end('oops');
});
routes.set('/cut/catalogs/v7/lambda/vms.csv', (res) => {
  // Promise more bytes than are sent, then drop the connection: a download cut short.
  res.writeHead(200, { 'content-length': String(GOOD_LAMBDA.length * 2) });
  res.write(GOOD_LAMBDA);
  setImmediate(() => res.socket?.destroy());
});
routes.set('/slow/catalogs/v7/lambda/vms.csv', () => {
  // Never answers; the client's timeout must end the wait.
});
routes.set(
  '/aws-nozone/catalogs/v7/aws/vms.csv',
  csv(
    'InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region\nt3.nano,,,2.0,0.5,,0.0052,0.0016,us-east-1\n',
  ),
);

let server: Server;
let base: string;
let refusedBase: string;
let home: TempHome;
const seen: string[] = [];

before(async () => {
  home = useTempHome();
  server = createServer((req, res) => {
    seen.push(`${req.url} ${req.headers.authorization ? 'auth' : ''}`.trim());
    const route = routes.get(req.url ?? '');
    if (route) route(res);
    else {
      res.writeHead(404);
      res.end('404: Not Found');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // A port with nothing listening: bind one, note it, close it.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  refusedBase = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
  await new Promise<void>((r) => probe.close(() => r()));
});
after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  home.restore();
});

/** The bytes of the installed catalog, and the folder's listing (no temporary files may be left). */
function snapshot(): { bytes: string | null; files: string[] } {
  const path = catalogCachePath('lambda');
  return {
    bytes: existsSync(path) ? readFileSync(path, 'latin1') : null,
    files: existsSync(dirname(path)) ? readdirSync(dirname(path)).sort() : [],
  };
}

async function expectKept(baseUrl: string, re: RegExp, opts: { timeoutMs?: number } = {}): Promise<void> {
  const before = snapshot();
  await assert.rejects(updateCatalog('lambda', { baseUrl, ...opts }), (e: unknown) => {
    assert.ok(e instanceof CloudError, `expected a CloudError, got ${String(e)}`);
    assert.match(e.message, re);
    assert.match(e.message, /the catalog at .* is unchanged|no catalog was installed/);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
  assert.deepEqual(snapshot(), before, 'the old catalog is left byte-for-byte, no temporary files');
  clearCatalogMemo();
}

describe('updateCatalog', () => {
  test('a failed first download installs nothing; the bundled catalog stays in use', async () => {
    await expectKept(`${base}/e500`, /HTTP 500 Internal Server Error; no catalog was installed/);
    assert.equal(snapshot().bytes, null);
    assert.equal(loadCatalog('lambda').source.kind, 'bundled');
  });

  test('a good download replaces the catalog and loadCatalog reports the cache', async () => {
    assert.equal(loadCatalog('lambda').source.kind, 'bundled');
    const r = await updateCatalog('lambda', { baseUrl: `${base}/good/` });
    assert.deepEqual(r, {
      cloud: 'lambda',
      rows: 3,
      path: catalogCachePath('lambda'),
      url: `${base}/good/catalogs/v7/lambda/vms.csv`,
    });
    assert.equal(readFileSync(r.path, 'utf8'), GOOD_LAMBDA, 'stored as downloaded');
    assert.deepEqual(snapshot().files, ['vms.csv']);
    const cat = loadCatalog('lambda'); // the memo was cleared by the update
    assert.equal(cat.source.kind, 'cache');
    assert.equal(cat.source.path, r.path);
    assert.equal(cat.source.loadedFrom, 'parsed-cache', 'the update wrote the parsed form too');
    assert.equal(cat.rows.length, 3);
    assert.equal(cat.hourlyCost('gpu_1x_a10', { useSpot: false }), 0.75);
    assert.deepEqual(cat.regionsOf('gpu_1x_a10'), ['us-east-1', 'us-west-1']);
  });

  test('a header without a required column', async () => {
    await expectKept(`${base}/badheader`, /lacks column Price/);
  });

  test('a truncated row', async () => {
    await expectKept(`${base}/truncated`, /line 5: 4 fields where the header has 9/);
  });

  test('an HTML page served with 200', async () => {
    await expectKept(`${base}/html`, /looks like HTML/);
  });

  test('HTTP 500 and 404', async () => {
    await expectKept(`${base}/e500`, /HTTP 500/);
    await expectKept(`${base}/missing`, /HTTP 404/);
  });

  test('a header and no rows; rows without any price', async () => {
    await expectKept(`${base}/norows`, /a header but no rows/);
    await expectKept(`${base}/noprice`, /no row has a price/);
  });

  test('connection refused', async () => {
    await expectKept(refusedBase, /ECONNREFUSED/);
  });

  test('a download cut short', async () => {
    await expectKept(`${base}/cut`, /failed: /);
  });

  test('a server that never answers hits the timeout', async () => {
    await expectKept(`${base}/slow`, /timed out/, { timeoutMs: 300 });
  });

  test('an aws catalog must have AvailabilityZone', async () => {
    await assert.rejects(
      updateCatalog('aws', { baseUrl: `${base}/aws-nozone` }),
      (e: unknown) => e instanceof CloudError && /lacks column AvailabilityZone/.test(e.message),
    );
    assert.equal(existsSync(catalogCachePath('aws')), false);
  });

  test('a second good download replaces the first', async () => {
    const r = await updateCatalog('lambda', { baseUrl: `${base}/good2` });
    assert.equal(r.rows, 1);
    assert.equal(readFileSync(r.path, 'utf8'), GOOD_LAMBDA_2);
    assert.deepEqual(loadCatalog('lambda').regions(), ['us-east-1']);
    // and back, through SKYHOP_CATALOG_URL
    process.env.SKYHOP_CATALOG_URL = `${base}/good`;
    try {
      assert.equal((await updateCatalog('lambda')).rows, 3);
    } finally {
      delete process.env.SKYHOP_CATALOG_URL;
    }
  });

  test('credentials in the URL never reach the message', async () => {
    const withSecret = base.replace('http://', 'http://user:s3cret-token@');
    await assert.rejects(updateCatalog('lambda', { baseUrl: `${withSecret}/e500` }), (e: unknown) => {
      assert.ok(e instanceof CloudError);
      assert.ok(!e.message.includes('s3cret-token'), e.message);
      return true;
    });
    assert.equal(seen.at(-1), '/e500/catalogs/v7/lambda/vms.csv auth', 'sent as an Authorization header');
  });

  test('clouds without a public catalog, unknown clouds, bad URLs: UserError, no request', async () => {
    const count = seen.length;
    await assert.rejects(updateCatalog('fluffycloud', { baseUrl: base }), (e: unknown) => {
      return e instanceof UserError && /fluffycloud has no public catalog.*bundled/.test(e.message);
    });
    await assert.rejects(updateCatalog('local', { baseUrl: base }), (e: unknown) => {
      return e instanceof UserError && /local has no public catalog.*this machine/.test(e.message);
    });
    await assert.rejects(updateCatalog('lamda', { baseUrl: base }), (e: unknown) => {
      return e instanceof UserError && /Unknown cloud 'lamda'.*did you mean lambda/.test(e.message);
    });
    await assert.rejects(updateCatalog('lambda', { baseUrl: 'ftp://127.0.0.1/x' }), UserError);
    await assert.rejects(updateCatalog('lambda', { baseUrl: 'not a url' }), UserError);
    assert.equal(seen.length, count);
  });
});
