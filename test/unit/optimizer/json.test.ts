/** The plan's JSON shape, from planToJson and from `skyhop optimize --json` (a real CLI process). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Cloud } from '../../../src/clouds/types.js';
import { catalogClouds, mkTask, REPO, tempHome } from './helpers.js';

const TOP_KEYS = ['target', 'tasks', 'total_cost'];
const TASK_KEYS = [
  'name',
  'cloud',
  'region',
  'zone',
  'instance_type',
  'accelerators',
  'use_spot',
  'num_nodes',
  'hourly_price',
  'estimated_cost',
];

let env: ReturnType<typeof tempHome>;
let clouds: Cloud[];
let opt: typeof import('../../../src/optimizer/index.js');

before(async () => {
  env = tempHome();
  clouds = await catalogClouds();
  opt = await import('../../../src/optimizer/index.js');
});
after(() => env.cleanup());

function checkShape(j: unknown, tasks: number): void {
  const o = j as Record<string, unknown>;
  assert.deepEqual(Object.keys(o), TOP_KEYS);
  assert.ok(o.target === 'cost' || o.target === 'time');
  assert.equal(typeof o.total_cost, 'number');
  const list = o.tasks as Array<Record<string, unknown>>;
  assert.equal(list.length, tasks);
  for (const t of list) {
    assert.deepEqual(Object.keys(t), TASK_KEYS);
    assert.ok(t.name === null || typeof t.name === 'string');
    for (const k of ['cloud', 'region', 'instance_type']) assert.equal(typeof t[k], 'string', k);
    assert.ok(t.zone === null || typeof t.zone === 'string');
    assert.equal(typeof t.use_spot, 'boolean');
    for (const k of ['num_nodes', 'hourly_price', 'estimated_cost']) assert.equal(typeof t[k], 'number', k);
    if (t.accelerators !== null) {
      const acc = t.accelerators as Record<string, unknown>;
      assert.equal(Object.keys(acc).length, 1);
      assert.equal(typeof Object.values(acc)[0], 'number');
    }
  }
}

describe('plan JSON', () => {
  test('planToJson: exact keys, numbers, money kept below the cent', () => {
    const tasks = [
      mkTask([{ useSpot: true, cloud: 'aws', accelerators: { name: 'H100', count: 8 } }], {
        name: 'train',
        numNodes: 2,
        hours: 1.5,
        outputs: { location: 's3://b/model', sizeGb: 300, cloud: 'aws' },
      }),
      mkTask([{ useSpot: false, cpus: { value: 4, orMore: true } }], { hours: 1 }),
    ];
    const plan = opt.optimize({ tasks, edges: [[0, 1]] }, { clouds });
    const j = JSON.parse(JSON.stringify(opt.planToJson(plan)));
    checkShape(j, 2);
    const [t0, t1] = j.tasks;
    assert.equal(j.target, 'cost');
    assert.deepEqual(t0.accelerators, { H100: 8 });
    assert.equal(t0.use_spot, true);
    assert.equal(t0.num_nodes, 2);
    assert.equal(t0.name, 'train');
    assert.equal(t1.name, null);
    assert.equal(t1.accelerators, null);
    // The cheapest spot p5.48xlarge is $11.7984/h: four decimals survive (no rounding to cents).
    assert.equal(t0.hourly_price, 11.7984);
    assert.equal(t0.estimated_cost, Math.round(11.7984 * 2 * 1.5 * 1e6) / 1e6);
    assert.ok(Math.abs(j.total_cost - plan.totalCost) <= 1e-6);
    assert.ok(Math.abs(j.total_cost - (t0.estimated_cost + t1.estimated_cost + plan.egressCost)) < 1e-5);
  });

  test('skyhop optimize --json prints exactly one JSON object on stdout', () => {
    const dir = mkdtempSync(join(tmpdir(), 'skyhop-optjson-'));
    try {
      const file = join(dir, 'pipe.yaml');
      writeFileSync(
        file,
        [
          'name: pipe',
          '---',
          'name: prep',
          'resources:',
          '  cpus: 8+',
          'outputs:',
          '  gs://bucket/prepped: 50',
          'run: echo prep',
          '---',
          'name: train',
          'resources:',
          '  accelerators: A100:8',
          'estimated_hours: 3',
          'run: echo train',
          '',
        ].join('\n'),
      );
      const r = spawnSync(
        process.execPath,
        ['--import', 'tsx', join(REPO, 'src/cli/main.ts'), 'optimize', file, '--json', '--all-clouds'],
        {
          cwd: REPO,
          encoding: 'utf8',
          env: { ...process.env, SKYHOP_HOME: join(dir, 'home'), HOME: dir },
          timeout: 60_000,
        },
      );
      assert.equal(r.status, 0, r.stderr);
      const out = r.stdout.trim();
      assert.equal(out.split('\n').length, 1, `stdout has more than the JSON line: ${out}`);
      const j = JSON.parse(out);
      checkShape(j, 2);
      assert.deepEqual(
        j.tasks.map((t: { name: string }) => t.name),
        ['prep', 'train'],
      );
      assert.deepEqual(j.tasks[1].accelerators, { A100: 8 });
      assert.match(r.stderr, /planning over every cloud/); // the note goes to stderr, never stdout
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
