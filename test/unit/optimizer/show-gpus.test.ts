/** `skyhop show-gpus`: A100 on each cloud, checked against the raw catalog rows. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { GpuOfferJson } from '../../../src/cli/show-gpus.js';
import type { Cloud } from '../../../src/clouds/types.js';
import { UserError } from '../../../src/util/errors.js';
import { cheapestOfType, type RawCatalog } from './bruteforce.js';
import { CATALOG_CLOUDS, catalogClouds, rawCatalogs, tempHome } from './helpers.js';

let env: ReturnType<typeof tempHome>;
let cats: RawCatalog[];
let showGpusText: typeof import('../../../src/cli/show-gpus.js').showGpusText;

before(async () => {
  env = tempHome();
  const clouds: Cloud[] = await catalogClouds();
  ({ cats } = rawCatalogs(clouds));
  ({ showGpusText } = await import('../../../src/cli/show-gpus.js'));
});
after(() => env.cleanup());

type ShowGpusOptions = import('../../../src/cli/show-gpus.js').ShowGpusOptions;

async function offers(args: string[], opts: ShowGpusOptions): Promise<GpuOfferJson[]> {
  const text = await showGpusText({ ...opts, accelerator: args[0], json: true });
  return (JSON.parse(text) as { offers: GpuOfferJson[] }).offers;
}

/** Raw instance types whose accelerator name contains `name` (case-insensitive), with it. */
function rawTypesWith(cat: RawCatalog, name: string): Map<string, { name: string; count: number }> {
  const out = new Map<string, { name: string; count: number }>();
  for (const [t, f] of cat.types)
    if (f.acc?.name.toLowerCase().includes(name.toLowerCase())) out.set(t, f.acc);
  return out;
}

/** Equal prices (both null, or within 1e-6: GCP sums VM and accelerator rows). */
function near(got: number | null, want: number | null, what: string): void {
  if (got === null || want === null) assert.equal(got, want, what);
  else assert.ok(Math.abs(got - want) < 1e-6, `${what}: ${got} vs ${want}`);
}

const EXPECTED_A100_TYPE: Record<string, string | null> = {
  aws: 'p4d.24xlarge',
  gcp: 'a2-highgpu-8g',
  lambda: 'gpu_8x_a100',
  runpod: null, // RunPod has no 40 GB A100, only A100-80GB kinds
  fluffycloud: 'ff.gpu.a100.8',
};

describe('show-gpus', () => {
  for (const cloud of CATALOG_CLOUDS) {
    test(`A100 on ${cloud}: instance types, counts, vCPUs, memory and cheapest prices as in the CSV`, async () => {
      const cat = cats.find((c) => c.cloud === cloud)!;
      const got = await offers(['A100'], { cloud });
      assert.ok(got.length > 0);
      assert.ok(got.every((o) => o.cloud === cloud));
      const raw = rawTypesWith(cat, 'A100');
      const listed = new Set(got.map((o) => o.instance_type).filter((t) => t !== null));
      assert.deepEqual([...listed].sort(), [...raw.keys()].sort());
      for (const o of got) {
        if (o.instance_type === null) {
          assert.equal(cloud, 'gcp', 'only GCP lists accelerators without a host type');
          continue;
        }
        const acc = raw.get(o.instance_type)!;
        assert.equal(o.accelerator, acc.name);
        assert.equal(o.count, acc.count);
        const f = cat.types.get(o.instance_type)!;
        assert.equal(o.vcpus, f.vcpus);
        assert.equal(o.memory_gib, f.mem);
        near(o.price, cheapestOfType(cat, o.instance_type, false), `${o.instance_type} on-demand`);
        near(o.spot_price, cheapestOfType(cat, o.instance_type, true), `${o.instance_type} spot`);
      }
      const eight = got.filter((o) => o.accelerator === 'A100' && o.count === 8).map((o) => o.instance_type);
      const want = EXPECTED_A100_TYPE[cloud];
      if (want === null) assert.ok(got.every((o) => o.accelerator.startsWith('A100-80GB')));
      else assert.ok(eight.includes(want), `${cloud}: ${eight.join(', ')}`);
    });
  }

  test('NAME:COUNT keeps only that count; the table names the columns', async () => {
    const got = await offers(['A100:8'], {});
    assert.ok(got.length >= 4);
    assert.ok(got.every((o) => o.count === 8 && o.accelerator.toUpperCase().startsWith('A100')));
    const text = await showGpusText({ accelerator: 'A100:8', cloud: 'aws' });
    assert.match(
      text,
      /ACCELERATOR\s+QTY\s+CLOUD\s+INSTANCE_TYPE\s+DEVICE_MEM\s+vCPUs\s+HOST_MEM\s+HOURLY_PRICE/,
    );
    assert.match(text, /A100\s+8\s+aws\s+p4d\.24xlarge\s+40GB\s+96\s+1152GB\s+\$ 32\.773/);
  });

  test('without a name: the counts per cloud, common accelerators first', async () => {
    const j = JSON.parse(await showGpusText({ json: true })) as {
      accelerators: Record<string, Record<string, number[]>>;
      others: string[];
    };
    assert.deepEqual(j.accelerators.A100.aws, [8]);
    assert.deepEqual(j.accelerators.A100.lambda, [1, 2, 4, 8]);
    assert.equal(j.accelerators.A100.runpod, undefined);
    assert.ok(j.others.includes('RTX4090'));
    const all = JSON.parse(await showGpusText({ json: true, all: true })) as typeof j;
    assert.deepEqual(all.accelerators.RTX4090.runpod, [1, 2, 4, 8]);
    const text = await showGpusText({});
    assert.match(text, /COMMON_ACCELERATOR\s+AWS\s+GCP\s+LAMBDA\s+RUNPOD\s+FLUFFYCLOUD/);
  });

  test('an unknown name, count, cloud or region is a UserError with the nearest names', async () => {
    await assert.rejects(
      showGpusText({ accelerator: 'A1000' }),
      (e: Error) => e instanceof UserError && /A100/.test(e.message),
    );
    await assert.rejects(
      showGpusText({ accelerator: 'H100:3' }),
      (e: Error) => e instanceof UserError && /offered counts: 1, 2, 4, 8/.test(e.message),
    );
    await assert.rejects(
      showGpusText({ accelerator: 'A100', cloud: 'awss' }),
      (e: Error) => e instanceof UserError && /did you mean aws/.test(e.message),
    );
    await assert.rejects(
      showGpusText({ accelerator: 'A100', cloud: 'aws', region: 'us-east-9' }),
      (e: Error) => e instanceof UserError && /Unknown region 'us-east-9'/.test(e.message),
    );
  });
});
