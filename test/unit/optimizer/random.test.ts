/**
 * Randomized requests over the real bundled catalogs (aws, gcp, lambda, runpod, fluffycloud), each
 * planned by the optimizer and by the brute force of bruteforce.ts (raw CSV rows), which must agree
 * to the cent. The seed is printed; replay a run with OPTIMIZER_TEST_SEED=<seed>.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Cloud } from '../../../src/clouds/types.js';
import type { Plan } from '../../../src/optimizer/index.js';
import type { DataEstimate, Task } from '../../../src/core/task.js';
import { UserError } from '../../../src/util/errors.js';
import { type BruteRequest, type BruteTask, bruteForcePlan, type RawCatalog } from './bruteforce.js';
import {
  CATALOG_CLOUDS,
  catalogClouds,
  mkTask,
  prng,
  rawCatalogs,
  tempHome,
  toResources,
} from './helpers.js';

const SEED = Number(process.env.OPTIMIZER_TEST_SEED ?? 20261123);
const SINGLE_CASES = 70;
const CHAIN_CASES = 20;

let env: ReturnType<typeof tempHome>;
let clouds: Cloud[];
let cats: RawCatalog[];
let infos: ReturnType<typeof rawCatalogs>['infos'];
let optimize: typeof import('../../../src/optimizer/index.js').optimize;

before(async () => {
  env = tempHome();
  clouds = await catalogClouds();
  ({ cats, infos } = rawCatalogs(clouds));
  ({ optimize } = await import('../../../src/optimizer/index.js'));
});
after(() => env.cleanup());

function generator(seed: number) {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const chance = (p: number) => rnd() < p;

  const accOffers = () => {
    // accelerator name -> counts offered somewhere, from the raw rows.
    const m = new Map<string, Set<number>>();
    for (const cat of cats) {
      for (const f of cat.types.values()) {
        if (!f.acc) continue;
        const s = m.get(f.acc.name) ?? new Set<number>();
        s.add(f.acc.count);
        m.set(f.acc.name, s);
      }
    }
    return m;
  };
  const offers = accOffers();
  const accNames = [...offers.keys()].sort();

  function amount(values: number[], pMore: number) {
    return { value: pick(values), orMore: chance(pMore) };
  }

  function alternative(): BruteRequest {
    const q: BruteRequest = { spot: chance(0.25) };
    // A cloud pin (and a region/zone of that cloud); an instance type then comes from the same
    // catalog, as a task that passed the parser's name checks would.
    const pinCat = chance(0.2) ? pick(cats) : null;
    const kind = rnd();
    if (kind < 0.5) {
      const name = pick(accNames);
      const counts = [...offers.get(name)!];
      const count = chance(0.8) ? pick(counts) : pick([1, 2, 3, 4, 8, 16]);
      q.acc = { name: chance(0.2) ? name.toLowerCase() : name, count };
      if (chance(0.15)) q.cpus = amount([8, 16, 32, 96], 0.9);
      if (chance(0.1)) q.memory = amount([64, 200, 680], 0.9);
    } else if (kind < 0.85) {
      if (chance(0.8)) q.cpus = amount([1, 2, 4, 8, 16, 32, 48, 64, 96, 128], 0.6);
      if (!q.cpus || chance(0.4)) q.memory = amount([2, 4, 8, 16, 32, 64, 128, 256], 0.7);
      if (chance(0.1)) {
        q.cpus = undefined;
        q.memory = undefined; // nothing asked: each cloud's default type
      }
    } else {
      const cat = pinCat ?? pick(cats);
      q.instanceType = pick([...cat.types.keys()].sort());
    }
    if (pinCat) {
      const cat = pinCat;
      q.cloud = cat.cloud;
      if (chance(0.5)) {
        const row = pick(cat.rows.filter((r) => r.instanceType !== ''));
        q.region = row.region;
        if (row.zone !== null && infos.get(cat.cloud)!.features.has('zones') && chance(0.3))
          q.zone = row.zone;
      }
    } else if (chance(0.07)) {
      q.region = pick(pick(cats).rows).region;
    }
    return q;
  }

  function task(): BruteTask {
    const multi = chance(0.2);
    const n = multi ? 2 + Math.floor(rnd() * 2) : 1;
    return {
      alternatives: Array.from({ length: n }, alternative),
      ordered: multi && chance(0.5),
      nodes: chance(0.7) ? 1 : 2 + Math.floor(rnd() * 3),
      hours: pick([0.5, 1, 1, 2, 3.7]),
    };
  }
  return { rnd, pick, chance, task };
}

function toTask(b: BruteTask, name: string): Task {
  const outputs: DataEstimate | undefined =
    b.outputsGb !== undefined
      ? { location: b.outputsLocation ?? `s3://out/${name}`, sizeGb: b.outputsGb }
      : undefined;
  const inputs: DataEstimate | undefined = b.inputs
    ? { location: b.inputs.location, sizeGb: b.inputs.gb, cloud: b.inputs.cloud }
    : undefined;
  return mkTask(b.alternatives.map(toResources), {
    name,
    ordered: b.ordered,
    numNodes: b.nodes,
    hours: b.hours,
    outputs,
    inputs,
  });
}

/** Optimize, or the UserError it threw. */
function plan(tasks: Task[], edges: Array<[number, number]>): Plan | UserError {
  try {
    return optimize({ tasks, edges }, { clouds });
  } catch (e) {
    if (e instanceof UserError) return e;
    throw e;
  }
}

function describeCase(b: BruteTask[]): string {
  return JSON.stringify(b);
}

describe(`optimizer vs brute force over the bundled catalogs (seed ${SEED})`, () => {
  test('the planning clouds are the five with bundled catalogs', () => {
    assert.deepEqual(
      clouds.map((c) => c.name),
      CATALOG_CLOUDS,
    );
  });

  test(`${SINGLE_CASES} random single-task requests cost the same as the brute force, to the cent`, (t) => {
    t.diagnostic(`seed ${SEED} (replay with OPTIMIZER_TEST_SEED=${SEED})`);
    const g = generator(SEED);
    let feasible = 0;
    for (let i = 0; i < SINGLE_CASES; i++) {
      const b = g.task();
      const brute = bruteForcePlan(cats, infos, [b], []);
      const got = plan([toTask(b, `t${i}`)], []);
      const where = `case ${i}: ${describeCase([b])}`;
      if (brute === null) {
        assert.ok(
          got instanceof UserError,
          `${where}: brute force finds nothing, optimizer planned ${JSON.stringify(got)}`,
        );
        continue;
      }
      assert.ok(
        !(got instanceof UserError),
        `${where}: brute force ${brute.cost}, optimizer: ${(got as Error).message}`,
      );
      feasible++;
      const p = got as Plan;
      assert.ok(
        Math.abs(p.totalCost - brute.cost) < 0.005,
        `${where}: optimizer ${p.totalCost} vs brute ${brute.cost}`,
      );
      const pt = p.tasks[0];
      assert.equal(pt.choice, pt.ranked[0]);
      assert.ok(Math.abs(pt.estimatedCost - pt.choice.hourlyPrice * b.nodes * b.hours) < 1e-9);
      // Ordered: the choice comes from the first alternative that fits anywhere.
      if (b.ordered) {
        const firstFit = b.alternatives.findIndex((q) =>
          bruteForcePlan(cats, infos, [{ ...b, alternatives: [q] }], []),
        );
        assert.equal(pt.choice.alternative, firstFit, where);
      }
    }
    t.diagnostic(`${feasible} feasible, ${SINGLE_CASES - feasible} infeasible`);
    assert.ok(feasible >= SINGLE_CASES / 2, `too few feasible cases (${feasible}) to mean much`);
  });

  test(`${CHAIN_CASES} random chains of 2-4 tasks (egress included) cost the same as the brute force`, (t) => {
    const seed = SEED + 1;
    t.diagnostic(`seed ${seed}`);
    const g = generator(seed);
    const storage: Array<{ location: string; cloud: string }> = [
      { location: 's3://bucket/data', cloud: 'aws' },
      { location: 'gs://bucket/data', cloud: 'gcp' },
    ];
    let crossCloud = 0;
    for (let i = 0; i < CHAIN_CASES; i++) {
      const n = 2 + Math.floor(g.rnd() * 3);
      const chain: BruteTask[] = [];
      while (chain.length < n) {
        const b = g.task();
        b.alternatives = b.alternatives.map((q) => ({
          ...q,
          cloud: undefined,
          region: undefined,
          zone: undefined,
        }));
        if (!bruteForcePlan(cats, infos, [b], [])) continue;
        if (g.chance(0.8)) b.outputsGb = g.pick([0, 5, 100, 500, 1500, 12000]);
        const k = chain.length;
        if (k === 0 && g.chance(0.4)) {
          const s = g.pick(storage);
          b.inputs = { location: s.location, gb: g.pick([50, 800, 3000]), cloud: s.cloud };
        } else if (k > 0 && chain[k - 1].outputsGb === undefined && g.chance(0.6)) {
          b.inputs = { location: `/tmp/in${k}`, gb: g.pick([20, 400]) };
        }
        chain.push(b);
      }
      const edges = chain.slice(1).map((_, k) => [k, k + 1] as [number, number]);
      const brute = bruteForcePlan(cats, infos, chain, edges)!;
      const got = plan(
        chain.map((b, k) => toTask(b, `c${i}.${k}`)),
        edges,
      );
      const where = `chain ${i}: ${describeCase(chain)}`;
      assert.ok(!(got instanceof UserError), `${where}: ${(got as Error).message}`);
      const p = got as Plan;
      assert.ok(
        Math.abs(p.totalCost - brute.cost) < 0.005,
        `${where}: optimizer ${p.totalCost} vs brute ${brute.cost}`,
      );
      if (new Set(p.tasks.map((x) => x.choice.cloud)).size > 1) crossCloud++;
      const compute = p.tasks.reduce((a, x) => a + x.estimatedCost, 0);
      assert.ok(Math.abs(p.totalCost - compute - p.egressCost) < 1e-9);
    }
    t.diagnostic(`${crossCloud} of ${CHAIN_CASES} chains span more than one cloud`);
  });
});
