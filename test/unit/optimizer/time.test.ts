/** `target: 'time'`: hours scale by relative throughput from the cheapest candidate; cost breaks ties. */
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
const H100_8: Resources = { useSpot: false, accelerators: { name: 'H100', count: 8 } };

describe('target time', () => {
  test('any_of A100:8 | H100:8: cost picks the A100s, time the faster H100s', () => {
    const task = mkTask([A100_8, H100_8], { name: 'train', hours: 6 });
    const cost = opt.optimize({ tasks: [task], edges: [] }, { clouds, target: 'cost' });
    const time = opt.optimize({ tasks: [task], edges: [] }, { clouds, target: 'time' });
    assert.equal(cost.tasks[0].choice.accelerators?.name, 'A100');
    assert.equal(cost.tasks[0].estimatedHours, 6);
    const fast = time.tasks[0];
    assert.equal(time.target, 'time');
    assert.equal(fast.choice.accelerators?.name, 'H100');
    // 6 h on the cheapest candidate (8 A100s); 8 H100s are faster by the speed table's ratio.
    const ratio = opt.acceleratorSpeed('A100') / opt.acceleratorSpeed('H100');
    assert.ok(ratio < 1);
    assert.ok(Math.abs(fast.estimatedHours - 6 * ratio) < 1e-9);
    assert.ok(fast.estimatedHours < cost.tasks[0].estimatedHours);
    assert.ok(Math.abs(fast.estimatedCost - fast.choice.hourlyPrice * fast.estimatedHours) < 1e-9);
    // Among the equally fast H100:8 offers, the cheapest wins; the ranking is fastest first, then cost.
    const h100 = fast.ranked.filter((l) => l.accelerators?.name === 'H100');
    assert.equal(fast.choice.hourlyPrice, Math.min(...h100.map((l) => l.hourlyPrice)));
    const firstA100 = fast.ranked.findIndex((l) => l.accelerators?.name === 'A100');
    assert.ok(fast.ranked.slice(firstA100).every((l) => l.accelerators?.name === 'A100'));
  });

  test('CPU-only: more vCPUs run faster', () => {
    const task = mkTask(
      [
        { useSpot: false, cpus: { value: 4, orMore: false } },
        { useSpot: false, cpus: { value: 32, orMore: false } },
      ],
      { name: 'etl', hours: 8 },
    );
    const cost = opt.optimize({ tasks: [task], edges: [] }, { clouds, target: 'cost' }).tasks[0];
    const time = opt.optimize({ tasks: [task], edges: [] }, { clouds, target: 'time' }).tasks[0];
    assert.equal(cost.choice.vcpus, 4);
    assert.equal(time.choice.vcpus, 32);
    assert.ok(Math.abs(time.estimatedHours - 1) < 1e-9); // 8 h x 4/32
  });

  test('ordered keeps the user’s first choice even when a later one is faster', () => {
    const task = mkTask([A100_8, H100_8], { name: 'o', ordered: true });
    const p = opt.optimize({ tasks: [task], edges: [] }, { clouds, target: 'time' });
    assert.equal(p.tasks[0].choice.accelerators?.name, 'A100');
    assert.equal(p.tasks[0].choice.alternative, 0);
  });

  test('a chain: total hours are the sum of the tasks’ hours', () => {
    const tasks = [
      mkTask([A100_8, H100_8], { name: 'a', hours: 3, outputs: { location: 's3://x', sizeGb: 50 } }),
      mkTask([{ useSpot: false, cpus: { value: 8, orMore: true } }], { name: 'b', hours: 2 }),
    ];
    const p = opt.optimize({ tasks, edges: [[0, 1]] }, { clouds, target: 'time' });
    assert.ok(Math.abs(p.totalHours - (p.tasks[0].estimatedHours + p.tasks[1].estimatedHours)) < 1e-9);
    assert.ok(p.totalHours < 5);
    const text = opt.renderPlan(p);
    assert.match(text, /Optimizer target: estimated time\./);
    assert.match(text, /HOURS/);
  });
});
