/** Egress steering the placement, the ranked failover order, and the rendered plan table. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Cloud } from '../../../src/clouds/types.js';
import type { Resources } from '../../../src/core/task.js';
import { catalogClouds, mkTask, tempHome } from './helpers.js';

let env: ReturnType<typeof tempHome>;
let clouds: Cloud[];
let opt: typeof import('../../../src/optimizer/index.js');

before(async () => {
  env = tempHome();
  clouds = await catalogClouds();
  opt = await import('../../../src/optimizer/index.js');
});
after(() => env.cleanup());

const A100_8: Resources = { useSpot: false, accelerators: { name: 'A100', count: 8 } };
const CPU8: Resources = { useSpot: false, cpus: { value: 8, orMore: true } };

describe('plan', () => {
  test('inputs stored on GCP pull the task there when moving them costs more than the price gap', () => {
    const free = opt.optimize({ tasks: [mkTask([A100_8], { name: 't' })], edges: [] }, { clouds });
    assert.equal(free.tasks[0].choice.cloud, 'lambda');
    assert.equal(free.egressCost, 0);
    const gcp = clouds.find((c) => c.name === 'gcp')!;
    const inputs = { location: 'gs://bucket/data', sizeGb: 20000, cloud: 'gcp' };
    const heavy = opt.optimize({ tasks: [mkTask([A100_8], { name: 't', inputs })], edges: [] }, { clouds });
    assert.equal(heavy.tasks[0].choice.cloud, 'gcp');
    assert.equal(heavy.egressCost, 0);
    // The failover order prices the move too: the first non-GCP candidate carries GCP's egress.
    const other = heavy.tasks[0].ranked.find((l) => l.cloud !== 'gcp')!;
    assert.ok(other.hourlyPrice < heavy.tasks[0].choice.hourlyPrice);
    const light = opt.optimize(
      { tasks: [mkTask([A100_8], { name: 't', inputs: { ...inputs, sizeGb: 10 } })], edges: [] },
      { clouds },
    );
    assert.equal(light.tasks[0].choice.cloud, 'lambda');
    assert.ok(Math.abs(light.egressCost - gcp.egressCostPerGb(10) * 10) < 1e-12);
    assert.ok(Math.abs(light.totalCost - light.tasks[0].estimatedCost - light.egressCost) < 1e-12);
  });

  test('a chain keeps a heavy hand-off on one cloud; without outputs each task goes where it is cheapest', () => {
    const inputs = { location: 'gs://bucket/data', sizeGb: 20000, cloud: 'gcp' };
    const chain = (outGb?: number) =>
      opt.optimize(
        {
          tasks: [
            mkTask([A100_8], {
              name: 'train',
              inputs,
              outputs: outGb === undefined ? undefined : { location: 'gs://bucket/model', sizeGb: outGb },
            }),
            mkTask([CPU8], { name: 'eval' }),
          ],
          edges: [[0, 1]],
        },
        { clouds },
      );
    const alone = opt.optimize({ tasks: [mkTask([CPU8], { name: 'eval' })], edges: [] }, { clouds });
    assert.notEqual(alone.tasks[0].choice.cloud, 'gcp');
    const light = chain();
    assert.equal(light.tasks[0].choice.cloud, 'gcp');
    assert.equal(light.tasks[1].choice.cloud, alone.tasks[0].choice.cloud);
    const heavy = chain(5000);
    assert.deepEqual(
      heavy.tasks.map((t) => t.choice.cloud),
      ['gcp', 'gcp'],
    );
    assert.equal(heavy.egressCost, 0);
  });

  test('ranked: every candidate once, choice first, then by cost', () => {
    const p = opt.optimize({ tasks: [mkTask([A100_8, CPU8], { name: 'r' })], edges: [] }, { clouds });
    const ranked = p.tasks[0].ranked;
    assert.equal(ranked[0], p.tasks[0].choice);
    for (let i = 1; i < ranked.length; i++)
      assert.ok(ranked[i - 1].hourlyPrice <= ranked[i].hourlyPrice + 1e-12);
    assert.ok(ranked.some((l) => l.alternative === 0) && ranked.some((l) => l.alternative === 1));
    assert.equal(ranked[0].alternative, 1); // any_of: CPUs are cheaper than 8 A100s
  });

  test('renderPlan: the choice, then the best per cloud and region with a CHOSEN mark', () => {
    const p = opt.optimize({ tasks: [mkTask([A100_8], { name: 'train' })], edges: [] }, { clouds });
    const text = opt.renderPlan(p, 'planning over every cloud');
    const lines = text.split('\n');
    assert.equal(lines[0], 'planning over every cloud');
    assert.match(
      text,
      /task 'train': lambda gpu_8x_a100 in \S+ \(A100:8, on-demand\), 1 node x \$10\.32\/h x 1 h = \$10\.32 \(planning only: skyhop cannot launch on Lambda yet\)$/m,
    );
    const head = lines.findIndex((l) => l.startsWith('CLOUD'));
    assert.match(
      lines[head],
      /^CLOUD\s+INSTANCE\s+vCPUs\s+Mem\(GB\)\s+ACCELERATORS\s+REGION\/ZONE\s+COST \(\$\)\s+CHOSEN$/,
    );
    const rows = lines.slice(head + 1).filter((l) => /^(aws|gcp|lambda|runpod|fluffycloud)\*?\s/.test(l));
    assert.equal(rows.filter((l) => l.includes('✔')).length, 1);
    // Planning-only clouds are marked, with a footnote (issue 9 item 15).
    assert.match(rows[0], /^lambda\*\s+gpu_8x_a100\s+124\s+1800\s+A100:8\s+\S+\s+10\.32\s+✔$/);
    // Every cloud that offers A100:8 has its best row, even past the row limit.
    for (const c of ['aws', 'gcp', 'lambda', 'fluffycloud'])
      assert.ok(
        rows.some((l) => l.startsWith(c)),
        c,
      );
    assert.ok(rows.some((l) => /^gcp\*\s/.test(l)) && rows.some((l) => /^aws\s/.test(l)));
    assert.ok(
      lines.includes('  * planning only: skyhop cannot launch on this cloud yet (`launch` leaves it out).'),
    );
    const places = rows.map((l) => l.split(/\s+/).slice(0, 6).join(' '));
    assert.equal(new Set(places).size, places.length, 'one row per cloud and region');
  });
});
