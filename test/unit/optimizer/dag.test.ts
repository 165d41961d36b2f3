/**
 * General DAGs (a node with more than one parent or child) go to the HiGHS integer program; its
 * plans must cost what the brute force over every cloud assignment finds.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Cloud } from '../../../src/clouds/types.js';
import type { Dag } from '../../../src/core/task.js';
import { type BruteRequest, type BruteTask, bruteForcePlan, type RawCatalog } from './bruteforce.js';
import { catalogClouds, mkTask, prng, rawCatalogs, tempHome, toResources } from './helpers.js';

let env: ReturnType<typeof tempHome>;
let clouds: Cloud[];
let cats: RawCatalog[];
let infos: ReturnType<typeof rawCatalogs>['infos'];
let opt: typeof import('../../../src/optimizer/index.js');

before(async () => {
  env = tempHome();
  clouds = await catalogClouds();
  ({ cats, infos } = rawCatalogs(clouds));
  opt = await import('../../../src/optimizer/index.js');
});
after(() => env.cleanup());

const REQUESTS: BruteRequest[] = [
  { spot: false, acc: { name: 'A100', count: 8 } },
  { spot: false, acc: { name: 'H100', count: 8 } },
  { spot: false, acc: { name: 'L4', count: 1 } },
  { spot: false, acc: { name: 'T4', count: 1 } },
  { spot: false, acc: { name: 'V100', count: 8 } },
  { spot: true, acc: { name: 'A100', count: 1 } },
  { spot: false, cpus: { value: 8, orMore: true } },
  { spot: false, cpus: { value: 4, orMore: false }, memory: { value: 16, orMore: true } },
];

function toDag(tasks: BruteTask[], edges: Array<[number, number]>): Dag {
  return {
    tasks: tasks.map((b, i) =>
      mkTask(b.alternatives.map(toResources), {
        name: `n${i}`,
        numNodes: b.nodes,
        hours: b.hours,
        outputs: b.outputsGb === undefined ? undefined : { location: `gs://x/${i}`, sizeGb: b.outputsGb },
        inputs: b.inputs
          ? { location: b.inputs.location, sizeGb: b.inputs.gb, cloud: b.inputs.cloud }
          : undefined,
      }),
    ),
    edges,
  };
}

describe('DAG placement by integer program', () => {
  test('a diamond needs the solver; sync optimize says so until it is loaded', () => {
    const tasks: BruteTask[] = [0, 1, 2, 3].map(() => ({
      alternatives: [REQUESTS[6]],
      ordered: false,
      nodes: 1,
      hours: 1,
    }));
    const dag = toDag(tasks, [
      [0, 1],
      [0, 2],
      [1, 3],
      [2, 3],
    ]);
    assert.equal(opt.needsDagSolver(dag), true);
    assert.equal(opt.needsDagSolver(toDag(tasks, [[0, 1]])), false);
    if (!opt.dagSolverLoaded()) assert.throws(() => opt.optimize(dag, { clouds }), /optimizeAsync/);
  });

  test('a small diamond with heavy outputs: the ILP plan equals the brute force', async () => {
    // n0 is cheapest on lambda (A100:8), n1 and n2 want other clouds; 12 TB outputs make moving costly.
    const tasks: BruteTask[] = [
      { alternatives: [REQUESTS[0]], ordered: false, nodes: 1, hours: 2, outputsGb: 12000 },
      { alternatives: [REQUESTS[3]], ordered: false, nodes: 1, hours: 1, outputsGb: 300 },
      { alternatives: [REQUESTS[2]], ordered: false, nodes: 2, hours: 3, outputsGb: 800 },
      { alternatives: [REQUESTS[6]], ordered: false, nodes: 1, hours: 1 },
    ];
    const edges: Array<[number, number]> = [
      [0, 1],
      [0, 2],
      [1, 3],
      [2, 3],
    ];
    const brute = bruteForcePlan(cats, infos, tasks, edges)!;
    const plan = await opt.optimizeAsync(toDag(tasks, edges), { clouds });
    assert.ok(Math.abs(plan.totalCost - brute.cost) < 0.005, `ILP ${plan.totalCost} vs brute ${brute.cost}`);
    assert.deepEqual(
      plan.tasks.map((t) => t.choice.cloud),
      brute.assignment,
    );
  });

  test('random DAGs of 4-6 tasks (seeded): ILP equals brute force', async (t) => {
    const seed = Number(process.env.OPTIMIZER_TEST_SEED ?? 20261123) + 7;
    t.diagnostic(`seed ${seed}`);
    const rnd = prng(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
    for (let k = 0; k < 8; k++) {
      const n = 4 + Math.floor(rnd() * 3);
      const tasks: BruteTask[] = Array.from({ length: n }, () => ({
        alternatives: [pick(REQUESTS)],
        ordered: false,
        nodes: pick([1, 1, 2]),
        hours: pick([0.5, 1, 4]),
        outputsGb: pick([undefined, 10, 400, 2000, 15000]),
      }));
      if (rnd() < 0.5) tasks[0].inputs = { location: 's3://b/in', gb: pick([100, 5000]), cloud: 'aws' };
      // A diamond at the front, then random forward edges.
      const edges: Array<[number, number]> = [
        [0, 1],
        [0, 2],
        [1, 3],
        [2, 3],
      ];
      for (let v = 4; v < n; v++) {
        for (let u = 0; u < v; u++) if (rnd() < 0.4) edges.push([u, v]);
        if (!edges.some(([, b]) => b === v)) edges.push([v - 1, v]);
      }
      const dag = toDag(tasks, edges);
      assert.equal(opt.needsDagSolver(dag), true);
      const brute = bruteForcePlan(cats, infos, tasks, edges)!;
      const plan = await opt.optimizeAsync(dag, { clouds });
      assert.ok(
        Math.abs(plan.totalCost - brute.cost) < 0.005,
        `DAG ${k} ${JSON.stringify({ tasks, edges })}: ILP ${plan.totalCost} vs brute ${brute.cost}`,
      );
    }
  });

  test('a 24-task DAG: the ILP plan is consistent and no worse than any single-cloud or greedy placement', async () => {
    const rnd = prng(424242);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
    const n = 24;
    const tasks: BruteTask[] = Array.from({ length: n }, () => ({
      alternatives: [pick(REQUESTS)],
      ordered: false,
      nodes: 1,
      hours: pick([1, 3]),
      outputsGb: pick([undefined, 200, 3000]),
    }));
    const edges: Array<[number, number]> = [];
    for (let v = 1; v < n; v++) {
      edges.push([Math.floor(rnd() * v), v]);
      if (v > 2 && rnd() < 0.5) edges.push([Math.floor(rnd() * (v - 1)), v]);
    }
    const plan = await opt.optimizeAsync(toDag(tasks, edges), { clouds });
    // Recompute the plan's cost from its placement with the brute force's own model.
    const { taskCostByCloud } = await import('./bruteforce.js');
    const costs = tasks.map((b) => taskCostByCloud(cats, infos, b));
    const total = (place: string[]) => {
      let sum = 0;
      place.forEach((c, i) => {
        sum += costs[i].get(c) ?? Number.POSITIVE_INFINITY;
      });
      for (const [u, v] of edges) {
        const gb = tasks[u].outputsGb ?? 0;
        if (place[u] !== place[v] && gb > 0) sum += infos.get(place[u])!.egressPerGb(gb) * gb;
      }
      return sum;
    };
    const chosen = plan.tasks.map((t) => t.choice.cloud);
    assert.ok(Math.abs(total(chosen) - plan.totalCost) < 0.005, `${total(chosen)} vs ${plan.totalCost}`);
    const greedy = costs.map((m) => [...m.entries()].sort((a, b) => a[1] - b[1])[0][0]);
    assert.ok(plan.totalCost <= total(greedy) + 1e-6);
    for (const c of clouds) assert.ok(plan.totalCost <= total(tasks.map(() => c.name)) + 1e-6, c.name);
  });

  test('a cycle is a UserError naming the tasks', async () => {
    const tasks: BruteTask[] = [0, 1, 2].map(() => ({
      alternatives: [REQUESTS[6]],
      ordered: false,
      nodes: 1,
      hours: 1,
    }));
    await assert.rejects(
      opt.optimizeAsync(
        toDag(tasks, [
          [0, 1],
          [1, 2],
          [2, 1],
        ]),
        { clouds },
      ),
      (e: Error) => e.name === 'UserError' && /cycle \(n1, n2\)/.test(e.message),
    );
  });
});
