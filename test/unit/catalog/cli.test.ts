// `skyhop catalog show` and `skyhop catalog update`, run as real processes (through tsx) against a
// local HTTP server on 127.0.0.1.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type TempHome, useTempHome } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');
const GOOD =
  'InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,Region,GpuInfo,SpotPrice\ngpu_1x_a10,A10,1.0,30.0,200.0,0.75,us-east-1,,\n';

let home: TempHome;
let server: Server;
let base: string;

function skyhop(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', MAIN, ...args],
      { cwd: ROOT, env: { ...process.env, SKYHOP_CATALOG_URL: '' } },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
      },
    );
  });
}

before(async () => {
  home = useTempHome();
  server = createServer((req, res) => {
    if (req.url === '/m/catalogs/v7/lambda/vms.csv') {
      res.writeHead(200);
      res.end(GOOD);
    } else {
      res.writeHead(500, 'Internal Server Error');
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  home.restore();
});

describe('skyhop catalog (CLI)', () => {
  test('show lists every bundled catalog with its source', async () => {
    const r = await skyhop('catalog', 'show');
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0], /^CLOUD\s+SOURCE\s+ROWS\s+INSTANCE TYPES\s+REGIONS\s+ZONES\s+PATH$/);
    const byCloud = Object.fromEntries(lines.slice(1).map((l) => [l.split(/\s+/)[0], l.split(/\s+/)]));
    assert.deepEqual(Object.keys(byCloud), ['aws', 'fluffycloud', 'gcp', 'lambda', 'runpod']);
    assert.deepEqual(byCloud.aws.slice(1, 6), ['bundled', '2846', '55', '22', '70']);
    assert.deepEqual(byCloud.lambda.slice(1, 6), ['bundled', '323', '19', '17', '-']);
    assert.deepEqual(byCloud.fluffycloud.slice(1, 6), ['bundled', '68', '12', '3', '5']);
    assert.match(byCloud.gcp[6], /catalogs\/gcp\/vms\.csv$/);
  });

  test('update downloads, then show says downloaded; a failing cloud exits 2 and keeps its catalog', async () => {
    const ok = await skyhop('catalog', 'update', 'lambda', '--base-url', `${base}/m`);
    assert.equal(ok.code, 0, ok.stderr);
    const path = join(process.env.SKYHOP_HOME!, 'catalogs', 'lambda', 'vms.csv');
    assert.equal(ok.stdout, `lambda: 1 rows from ${base}/m/catalogs/v7/lambda/vms.csv -> ${path}\n`);
    assert.equal(readFileSync(path, 'utf8'), GOOD);
    const show = await skyhop('catalog', 'show', 'lambda');
    assert.match(show.stdout, new RegExp(`^lambda\\s+downloaded\\s+1\\s+1\\s+1\\s+-\\s+${path}$`, 'm'));

    const bad = await skyhop('catalog', 'update', 'lambda', 'runpod', '--base-url', `${base}/m`);
    assert.equal(bad.code, 2);
    assert.match(bad.stdout, /^lambda: 1 rows/m);
    assert.match(
      bad.stderr,
      /error: Downloading the runpod catalog from .* failed: HTTP 500 Internal Server Error/,
    );
    assert.equal(readFileSync(path, 'utf8'), GOOD);
  });

  test('update refuses clouds without a public catalog before downloading anything', async () => {
    const r = await skyhop('catalog', 'update', 'lambda', 'fluffycloud', '--base-url', `${base}/none`);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error: fluffycloud has no public catalog to download/);
    assert.doesNotMatch(r.stderr, /Updating the lambda catalog/);
  });

  test('show of an unknown cloud is a user error', async () => {
    const r = await skyhop('catalog', 'show', 'azur');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error: No catalog for cloud 'azur'/);
  });
});
