/**
 * updateAwsCatalogFromApi with the real AWS SDK v3 against a real moto_server on a loopback port.
 * moto serves DescribeInstanceTypes, DescribeInstanceTypeOfferings, DescribeAvailabilityZones and
 * DescribeSpotPriceHistory (its spot prices are made up, so only their presence is checked). An API
 * failure moto cannot produce is injected by the proxy in test/helpers/moto.ts (an EC2 XML error).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { after, before, beforeEach, describe, type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { EC2Client } from '@aws-sdk/client-ec2';
import {
  type CatalogRow,
  catalogCachePath,
  clearCatalogMemo,
  loadCatalog,
  parseCatalogCsv,
} from '../../../src/catalog/index.js';
import {
  formatGpuInfo,
  rowsToCsv,
  typeFacts,
  updateAwsCatalogFromApi,
} from '../../../src/clouds/aws/catalog-update.js';
import { ec2Client } from '../../../src/clouds/aws/ec2.js';
import { hourlyPrice } from '../../../src/clouds/aws/pricing.js';
import { CloudError } from '../../../src/util/errors.js';
import { type MotoEnv, type MotoHandle, motoEnv, motoMissing } from '../../helpers/moto.js';
import { type PriceListHandle, productDoc, startPriceList } from '../../helpers/pricelist.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');

/** The CLI as a real process (through tsx), with this test's environment (temp homes, moto endpoint). */
function skyhop(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
  });
}

/** Points the Price List calls at `pl` for this test; stops it after. */
function usePriceList(t: TestContext, pl: PriceListHandle): void {
  process.env.SKYHOP_AWS_PRICING_ENDPOINT_URL = pl.endpoint;
  t.after(async () => {
    delete process.env.SKYHOP_AWS_PRICING_ENDPOINT_URL;
    await pl.stop();
  });
}

const missing = motoMissing();
if (missing) console.log(`# aws catalog-update tests skipped: ${missing}`);

const A100_INFO =
  "{'Gpus': [{'Name': 'A100', 'Manufacturer': 'NVIDIA', 'Count': 8, 'MemoryInfo': {'SizeInMiB': 40960}}], 'TotalGpuMemoryInMiB': 327680}";

/** The catalog installed before each update: us-east-1 prices to keep, a us-west-2 row to carry over. */
const OLD = [
  'InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,AvailabilityZone',
  `p4d.24xlarge,A100,8.0,96.0,1152.0,"${A100_INFO}",32.7726,9.5,us-east-1,use1-az1`,
  'g5.xlarge,A10G,1.0,4.0,16.0,,1.006,0.4,us-east-1,use1-az1',
  't3.micro,,,2.0,1.0,,0.0104,0.0031,us-east-1,use1-az1',
  'm5.large,,,2.0,8.0,,0.096,0.04,us-west-2,usw2-az1',
  '',
].join('\n');

describe('aws catalog from the EC2 APIs, on moto', { skip: missing ?? false }, () => {
  let env: MotoEnv;
  let moto: MotoHandle;
  let ec2: EC2Client;
  let sdk: typeof import('@aws-sdk/client-ec2');

  before(async () => {
    env = await motoEnv('skyhop-awscat-');
    moto = env.moto;
    ({ sdk, client: ec2 } = await ec2Client('us-east-1'));
  });

  after(async () => {
    ec2?.destroy();
    await env?.close();
    clearCatalogMemo();
  });

  beforeEach(() => {
    moto.clearFailures();
    const path = catalogCachePath('aws');
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, OLD);
    clearCatalogMemo();
  });

  test('builds a region from the API: facts as moto reports them, spot prices, on-demand kept', async () => {
    const progress: string[] = [];
    const r = await updateAwsCatalogFromApi({
      regions: ['us-east-1'],
      onProgress: (m) => progress.push(m),
      maxAttempts: 1,
    });
    assert.equal(r.path, catalogCachePath('aws'));
    assert.deepEqual(r.regions, ['us-east-1']);
    const rows = parseCatalogCsv(readFileSync(r.path, 'utf8'), 'aws');
    assert.equal(r.rows, rows.length);
    assert.ok(progress.some((m) => m.startsWith('us-east-1: ')));
    // moto has no Price List API (the call goes to moto, never to AWS): the prices are kept, and said so.
    assert.ok(
      progress.some((m) =>
        /^on-demand prices: the Price List API did not answer for us-east-1 \(.+\); keeping them from the current catalog$/.test(
          m,
        ),
      ),
      progress.join('\n'),
    );
    assert.equal(r.listed, 0);

    // Facts straight from moto, to compare with.
    const described = await ec2.send(
      new sdk.DescribeInstanceTypesCommand({ InstanceTypes: ['p4d.24xlarge', 'g5.xlarge', 't3.micro'] }),
    );
    const byType = new Map(described.InstanceTypes?.map((t) => [t.InstanceType, t]));
    const east = rows.filter((x) => x.region === 'us-east-1');
    const of = (t: string) => east.filter((x) => x.instanceType === t);

    const p4d = of('p4d.24xlarge');
    assert.ok(p4d.length > 0);
    for (const row of p4d) {
      assert.equal(row.vcpus, 96);
      assert.equal(row.memoryGiB, 1152);
      assert.equal(row.acceleratorName, 'A100');
      assert.equal(row.acceleratorCount, 8);
      assert.equal(row.gpuInfo, A100_INFO);
      assert.equal(row.price, 32.7726); // kept from the old catalog
    }
    const mp4d = byType.get('p4d.24xlarge');
    assert.equal(p4d[0].vcpus, mp4d?.VCpuInfo?.DefaultVCpus);
    assert.equal(p4d[0].memoryGiB, (mp4d?.MemoryInfo?.SizeInMiB ?? 0) / 1024);

    const g5 = of('g5.xlarge');
    assert.ok(g5.length > 0);
    const mg5 = byType.get('g5.xlarge');
    for (const row of g5) {
      assert.equal(row.acceleratorName, 'A10G');
      assert.equal(row.acceleratorCount, 1);
      assert.equal(row.vcpus, mg5?.VCpuInfo?.DefaultVCpus);
      assert.equal(row.memoryGiB, (mg5?.MemoryInfo?.SizeInMiB ?? 0) / 1024);
      assert.match(
        row.gpuInfo ?? '',
        /^\{'Gpus': \[\{'Name': 'A10G', 'Manufacturer': 'NVIDIA', 'Count': 1, /,
      );
      assert.equal(row.price, 1.006);
    }
    for (const row of of('t3.micro')) {
      assert.equal(row.acceleratorName, null);
      assert.equal(row.gpuInfo, null);
      assert.equal(row.vcpus, 2);
      assert.equal(row.price, 0.0104);
    }

    // Zones are the offerings' zone ids; each row has the offering moto lists.
    const offers = await ec2.send(
      new sdk.DescribeInstanceTypeOfferingsCommand({
        LocationType: 'availability-zone-id',
        Filters: [{ Name: 'instance-type', Values: ['g5.xlarge'] }],
      }),
    );
    const g5Zones = (offers.InstanceTypeOfferings ?? []).map((o) => o.Location).sort();
    assert.deepEqual(
      g5.map((x) => x.zone),
      g5Zones,
    );

    // Spot prices present (moto's are made up), and zone names were mapped to ids.
    assert.ok(east.some((x) => x.spotPrice !== null && x.spotPrice > 0));

    // m5.large (a type of the old catalog, only in us-west-2 there) has no on-demand price in us-east-1.
    const m5 = of('m5.large');
    assert.ok(m5.length > 0);
    for (const row of m5) assert.equal(row.price, null);
    assert.equal(r.kept, east.filter((x) => x.price !== null).length);
    // Every us-east-1 row is new but the three type/zone rows the old catalog had (all in use1-az1).
    assert.equal(r.added, east.length - 3);
    // us-west-2 was not refreshed: its row is carried over as it was.
    assert.deepEqual(
      rows.filter((x) => x.region === 'us-west-2'),
      [
        {
          instanceType: 'm5.large',
          acceleratorName: null,
          acceleratorCount: null,
          vcpus: 2,
          memoryGiB: 8,
          gpuInfo: null,
          price: 0.096,
          spotPrice: 0.04,
          region: 'us-west-2',
          zone: 'usw2-az1',
        },
      ],
    );

    // loadCatalog reads the new file, as the cached download.
    clearCatalogMemo();
    const cat = loadCatalog('aws');
    assert.equal(cat.source.kind, 'cache');
    assert.equal(cat.source.path, r.path);
  });

  test('on-demand prices from the Price List API (a loopback stand-in): listed ones replace, others are kept', async (t) => {
    const pl = await startPriceList([
      { instanceType: 't3.micro', region: 'us-east-1', price: 0.0111 },
      { instanceType: 'g5.xlarge', region: 'us-east-1', price: 1.2 },
      { instanceType: 'm5.large', region: 'us-east-1', price: 0.1 },
      // Not an hourly price: ignored.
      { instanceType: 'p4d.24xlarge', region: 'us-east-1', price: 99, unit: 'Quantity' },
      { instanceType: 't3.micro', region: 'us-west-2', price: 0.5 },
    ]);
    usePriceList(t, pl);
    const progress: string[] = [];
    const r = await updateAwsCatalogFromApi({
      regions: ['us-east-1'],
      onProgress: (m) => progress.push(m),
      maxAttempts: 1,
    });
    const east = parseCatalogCsv(readFileSync(r.path, 'utf8'), 'aws').filter((x) => x.region === 'us-east-1');
    const prices = (type: string) => [
      ...new Set(east.filter((x) => x.instanceType === type).map((x) => x.price)),
    ];
    assert.deepEqual(prices('t3.micro'), [0.0111]);
    assert.deepEqual(prices('g5.xlarge'), [1.2]);
    assert.deepEqual(prices('m5.large'), [0.1]); // had no us-east-1 price before
    assert.deepEqual(prices('p4d.24xlarge'), [32.7726]); // not listed hourly: kept
    const count = (type: string) => east.filter((x) => x.instanceType === type).length;
    assert.equal(r.listed, count('t3.micro') + count('g5.xlarge') + count('m5.large'));
    assert.equal(r.kept, count('p4d.24xlarge'));
    assert.ok(
      progress.includes('on-demand prices: us-east-1: 3 instance types from the Price List API'),
      progress.join('\n'),
    );
    // Every page was asked for (one product a page), with the catalog's filters, for us-east-1 only.
    assert.equal(pl.requests.length, 4);
    for (const q of pl.requests) {
      assert.equal(q.target, 'AWSPriceListService.GetProducts');
      assert.equal(q.body.ServiceCode, 'AmazonEC2');
      assert.deepEqual(
        q.body.Filters,
        [
          ['regionCode', 'us-east-1'],
          ['operatingSystem', 'Linux'],
          ['tenancy', 'Shared'],
          ['preInstalledSw', 'NA'],
          ['capacitystatus', 'Used'],
          ['licenseModel', 'No License required'],
        ].map(([Field, Value]) => ({ Type: 'TERM_MATCH', Field, Value })),
      );
    }
    assert.deepEqual(
      pl.requests.map((q) => q.body.NextToken ?? null),
      [null, '1', '2', '3'],
    );
  });

  test('a Price List API that refuses (AccessDenied) keeps the prices and says why', async (t) => {
    const pl = await startPriceList([{ instanceType: 't3.micro', region: 'us-east-1', price: 7 }]);
    pl.fail = {
      status: 400,
      type: 'AccessDeniedException',
      message: 'not authorized to perform pricing:GetProducts',
    };
    usePriceList(t, pl);
    const progress: string[] = [];
    const r = await updateAwsCatalogFromApi({
      regions: ['us-east-1'],
      instanceTypes: ['t3.micro'],
      onProgress: (m) => progress.push(m),
      maxAttempts: 1,
    });
    assert.ok(
      progress.includes(
        'on-demand prices: the Price List API did not answer for us-east-1 (AccessDeniedException: not authorized to perform pricing:GetProducts); keeping them from the current catalog',
      ),
      progress.join('\n'),
    );
    const rows = parseCatalogCsv(readFileSync(r.path, 'utf8'), 'aws').filter((x) => x.region === 'us-east-1');
    assert.ok(rows.length > 0);
    for (const row of rows) assert.equal(row.price, 0.0104);
    assert.equal(r.listed, 0);
    assert.equal(r.kept, rows.length);
  });

  test('an API failure leaves the old catalog byte-for-byte', async () => {
    const path = catalogCachePath('aws');
    const before = readFileSync(path);
    for (const action of [
      'DescribeInstanceTypeOfferings',
      'DescribeInstanceTypes',
      'DescribeSpotPriceHistory',
    ]) {
      moto.clearFailures();
      moto.failNext(action, 'UnauthorizedOperation', { status: 403 });
      await assert.rejects(
        updateAwsCatalogFromApi({ regions: ['us-east-1'], maxAttempts: 1 }),
        (e: unknown) =>
          e instanceof CloudError &&
          e.message.includes(`EC2 ${action} in us-east-1 failed`) &&
          e.message.includes('UnauthorizedOperation') &&
          e.message.includes(`the catalog at ${path} is unchanged`),
      );
      assert.deepEqual(readFileSync(path), before);
    }
    clearCatalogMemo();
    assert.equal(loadCatalog('aws').source.kind, 'cache');
  });

  test('a failure with no catalog installed installs none', async () => {
    const path = catalogCachePath('aws');
    rmSync(path);
    clearCatalogMemo();
    moto.failNext('DescribeInstanceTypes', 'UnauthorizedOperation', { status: 403 });
    await assert.rejects(
      updateAwsCatalogFromApi({ regions: ['us-west-2'], instanceTypes: ['t3.micro'], maxAttempts: 1 }),
      (e: unknown) => e instanceof CloudError && e.message.includes('the bundled one stays in use'),
    );
    assert.equal(existsSync(path), false);
    assert.equal(loadCatalog('aws').source.kind, 'bundled');
  });

  test('the CLI: --from-api with --regions prints progress and a summary; other clouds are refused', async () => {
    const ok = await skyhop('catalog', 'update', 'aws', '--from-api', '--regions', 'us-east-1');
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /us-east-1: \d+ types in \d+ type\/zone rows/);
    assert.match(ok.stdout, /^aws: \d+ rows \(1 region from the EC2 APIs, .* -> .*vms\.csv\n$/);
    const bad = await skyhop('catalog', 'update', 'gcp', '--from-api');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--from-api builds only the aws catalog, not gcp/);
  });
});

describe('aws catalog rows (no API)', () => {
  test('typeFacts: MiB to GiB, GPUs summed, GpuInfo in the catalog format', () => {
    const f = typeFacts({
      VCpuInfo: { DefaultVCpus: 4 },
      MemoryInfo: { SizeInMiB: 16384 },
      GpuInfo: {
        Gpus: [{ Name: 'A10G', Manufacturer: 'NVIDIA', Count: 1, MemoryInfo: { SizeInMiB: 22888 } }],
        TotalGpuMemoryInMiB: 22888,
      },
    });
    assert.deepEqual(f, {
      vcpus: 4,
      memoryGiB: 16,
      acceleratorName: 'A10G',
      acceleratorCount: 1,
      gpuInfo:
        "{'Gpus': [{'Name': 'A10G', 'Manufacturer': 'NVIDIA', 'Count': 1, 'MemoryInfo': {'SizeInMiB': 22888}}], 'TotalGpuMemoryInMiB': 22888}",
    });
    assert.equal(typeFacts({ VCpuInfo: { DefaultVCpus: 2 }, MemoryInfo: { SizeInMiB: 512 } }).memoryGiB, 0.5);
    assert.equal(
      formatGpuInfo([{ Name: "it's", Count: 2, MemoryInfo: { SizeInMiB: 10 } }], undefined).endsWith(
        "'TotalGpuMemoryInMiB': 20}",
      ),
      true,
    );
  });

  test('rowsToCsv round-trips through parseCatalogCsv, GpuInfo quoted', () => {
    const rows: CatalogRow[] = [
      {
        instanceType: 'p4d.24xlarge',
        acceleratorName: 'A100',
        acceleratorCount: 8,
        vcpus: 96,
        memoryGiB: 1152,
        gpuInfo: A100_INFO,
        price: null,
        spotPrice: 9.1,
        region: 'us-east-1',
        zone: 'use1-az1',
      },
    ];
    assert.deepEqual(parseCatalogCsv(rowsToCsv(rows), 'aws'), rows);
  });
});

test('hourlyPrice: the OnDemand hourly USD price of a product document, else null', () => {
  assert.deepEqual(hourlyPrice(productDoc({ instanceType: 'm5.large', region: 'us-east-1', price: 0.096 })), {
    instanceType: 'm5.large',
    price: 0.096,
  });
  assert.equal(
    hourlyPrice(productDoc({ instanceType: 'm5.large', region: 'us-east-1', price: 1, unit: 'Quantity' })),
    null,
  );
  assert.equal(hourlyPrice('{"product": {"attributes": {}}}'), null);
  assert.equal(hourlyPrice('not json'), null);
});
