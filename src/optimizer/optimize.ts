/**
 * The optimizer: Dag + clouds - blocklist -> Plan.
 *
 * Per task, the candidates are every launchable the clouds offer for every alternative of its
 * resources (minus the blocklist). Cost of a candidate = hourlyPrice x numNodes x hours, plus the
 * egress of reading the task's inputs from the cloud that stores them (egress.ts). `any_of`
 * takes the best alternative; `ordered` keeps only the first alternative (in the user's order)
 * that has a candidate. With `target: 'time'`, hours scale by relative throughput (speed.ts) and
 * a task keeps only its fastest candidates; cost breaks the ties.
 *
 * Placing tasks: one task (or tasks without edges) -> the best candidate each. A chain (every
 * task has at most one parent and one child) -> dynamic programming over (task, cloud) with the
 * transfer cost on each edge. Any other DAG -> an integer program (ilp.ts), which needs the
 * solver loaded first (`optimizeAsync` does that).
 */
import type { Cloud } from '../clouds/types.js';
import type { Launchable } from '../core/cluster.js';
import type { Dag, Task } from '../core/task.js';
import { UserError } from '../util/errors.js';
import { cmpNum, enumerateCandidates, tieBreak } from './candidates.js';
import { taskLabel } from './describe.js';
import { edgeGb, inputStorage, transferCost } from './egress.js';
import { dagSolverLoaded, loadDagSolver, solveAssignment } from './ilp.js';
import { infeasibleError } from './infeasible.js';
import { scaledHours } from './speed.js';
import type { OptimizeOptions, Plan, PlannedTask, Target } from './types.js';

/** One candidate with its numbers under the plan's model. */
interface Scored {
  l: Launchable;
  hours: number;
  /** hourlyPrice x numNodes x hours. */
  compute: number;
  /** Egress for reading the task's stored inputs when running here. */
  inputEgress: number;
}

interface TaskModel {
  task: Task;
  all: Scored[];
  /** The candidates the placement may pick from (ordered / fastest restrictions applied). */
  eligible: Scored[];
  /** Per cloud name, the best eligible candidate there. */
  bestByCloud: Map<string, Scored>;
}

type Shape = { kind: 'paths'; paths: number[][] } | { kind: 'dag' };

function cmpScored(target: Target, ordered: boolean, extra: (s: Scored) => number) {
  return (a: Scored, b: Scored): number =>
    (ordered ? a.l.alternative - b.l.alternative : 0) ||
    (target === 'time' ? cmpNum(a.hours, b.hours) : 0) ||
    cmpNum(a.compute + a.inputEgress + extra(a), b.compute + b.inputEgress + extra(b)) ||
    tieBreak(a.l, b.l);
}

function validateDag(dag: Dag): { parents: number[][]; children: number[][] } {
  const n = dag.tasks.length;
  if (n === 0) throw new UserError('Nothing to optimize: the task list is empty; add a task to the YAML.');
  const parents: number[][] = dag.tasks.map(() => []);
  const children: number[][] = dag.tasks.map(() => []);
  const seen = new Set<string>();
  for (const [u, v] of dag.edges) {
    if (!Number.isInteger(u) || !Number.isInteger(v) || u < 0 || v < 0 || u >= n || v >= n || u === v) {
      throw new UserError(`Invalid task dependency ${u} -> ${v} in a DAG of ${n} tasks; check depends_on.`);
    }
    const key = `${u}>${v}`;
    if (seen.has(key)) continue;
    seen.add(key);
    parents[v].push(u);
    children[u].push(v);
  }
  // Kahn: every task must be reachable in a topological order.
  const indeg = parents.map((p) => p.length);
  const queue = indeg.flatMap((d, i) => (d === 0 ? [i] : []));
  let done = 0;
  while (queue.length) {
    const u = queue.shift()!;
    done++;
    for (const v of children[u]) if (--indeg[v] === 0) queue.push(v);
  }
  if (done !== n) {
    const cyc = indeg.flatMap((d, i) => (d > 0 ? [dag.tasks[i].name ?? `#${i + 1}`] : []));
    throw new UserError(`The task dependencies form a cycle (${cyc.join(', ')}); remove one depends_on.`);
  }
  return { parents, children };
}

function shapeOf(parents: number[][], children: number[][]): Shape {
  if (parents.some((p) => p.length > 1) || children.some((c) => c.length > 1)) return { kind: 'dag' };
  const paths: number[][] = [];
  parents.forEach((p, head) => {
    if (p.length > 0) return;
    const path = [head];
    let cur = head;
    while (children[cur].length) {
      cur = children[cur][0];
      path.push(cur);
    }
    paths.push(path);
  });
  return { kind: 'paths', paths };
}

/** True when placing the DAG needs the ILP solver (a node with more than one parent or child). */
export function needsDagSolver(dag: Dag): boolean {
  const { parents, children } = validateDag(dag);
  return shapeOf(parents, children).kind === 'dag';
}

function baseHours(task: Task, index: number): number {
  const h = task.estimatedHours ?? 1;
  if (!(h > 0) || !Number.isFinite(h)) {
    throw new UserError(`${taskLabel(task, index)}: estimated hours must be a positive number, got ${h}.`);
  }
  return h;
}

function modelTask(
  task: Task,
  index: number,
  opts: OptimizeOptions,
  target: Target,
  parents: Task[],
  cloudByName: Map<string, Cloud>,
): TaskModel {
  const blocklist = opts.blocklist ?? [];
  const { launchables, beforeBlocklist } = enumerateCandidates(task, opts.clouds, blocklist);
  if (launchables.length === 0)
    throw infeasibleError(task, index, opts.clouds, blocklist, beforeBlocklist, opts.dataClouds);
  const H = baseHours(task, index);
  const nodes = task.numNodes;
  const storage = inputStorage(task, parents);
  const inputEgress = (cloud: string) =>
    storage ? transferCost(cloudByName.get(storage.cloud), storage.cloud, cloud, storage.gb) : 0;

  let reference: Launchable | null = null;
  if (target === 'time') {
    // The task's hours are measured on its cheapest candidate.
    for (const l of launchables) {
      if (!reference || cmpNum(l.hourlyPrice, reference.hourlyPrice) < 0) reference = l;
      else if (cmpNum(l.hourlyPrice, reference.hourlyPrice) === 0 && tieBreak(l, reference) < 0)
        reference = l;
    }
  }
  const all: Scored[] = launchables.map((l) => {
    const hours = reference ? scaledHours(H, reference, l) : H;
    return { l, hours, compute: l.hourlyPrice * nodes * hours, inputEgress: inputEgress(l.cloud) };
  });

  let eligible = all;
  if (task.ordered) {
    const first = Math.min(...all.map((s) => s.l.alternative));
    eligible = eligible.filter((s) => s.l.alternative === first);
  }
  if (target === 'time') {
    const fastest = Math.min(...eligible.map((s) => s.hours));
    eligible = eligible.filter((s) => cmpNum(s.hours, fastest) === 0);
  }
  const cmp = cmpScored(target, false, () => 0);
  const bestByCloud = new Map<string, Scored>();
  for (const s of eligible) {
    const cur = bestByCloud.get(s.l.cloud);
    if (!cur || cmp(s, cur) < 0) bestByCloud.set(s.l.cloud, s);
  }
  return { task, all, eligible, bestByCloud };
}

/** Clouds of a task model, sorted by name (deterministic iteration for DP and ILP). */
function cloudsOf(m: TaskModel): string[] {
  return [...m.bestByCloud.keys()].sort();
}

function nodeCost(m: TaskModel, cloud: string): number {
  const s = m.bestByCloud.get(cloud)!;
  return s.compute + s.inputEgress;
}

function placePath(
  path: number[],
  models: TaskModel[],
  edgeCost: (u: number, v: number, a: string, b: string) => number,
) {
  const out = new Map<number, string>();
  const clouds = path.map((t) => cloudsOf(models[t]));
  const dp: number[][] = [];
  const from: number[][] = [];
  path.forEach((t, i) => {
    dp.push([]);
    from.push([]);
    clouds[i].forEach((c, j) => {
      const own = nodeCost(models[t], c);
      if (i === 0) {
        dp[i][j] = own;
        from[i][j] = -1;
        return;
      }
      let best = Infinity;
      let arg = -1;
      clouds[i - 1].forEach((pc, k) => {
        const v = dp[i - 1][k] + edgeCost(path[i - 1], t, pc, c);
        if (arg === -1 || cmpNum(v, best) < 0) {
          best = v;
          arg = k;
        }
      });
      dp[i][j] = best + own;
      from[i][j] = arg;
    });
  });
  const last = path.length - 1;
  let j = 0;
  dp[last].forEach((v, k) => {
    if (cmpNum(v, dp[last][j]) < 0) j = k;
  });
  for (let i = last; i >= 0; i--) {
    out.set(path[i], clouds[i][j]);
    j = from[i][j];
  }
  return out;
}

/**
 * Pick the cheapest (or fastest) placement for every task of the DAG. Synchronous; a DAG with a
 * node of more than one parent or child needs the ILP solver loaded (use `optimizeAsync`).
 * Throws UserError when a task has no feasible launchable.
 */
export function optimize(dag: Dag, opts: OptimizeOptions): Plan {
  const target: Target = opts.target ?? 'cost';
  const { parents, children } = validateDag(dag);
  const shape = shapeOf(parents, children);
  if (shape.kind === 'dag' && !dagSolverLoaded()) {
    throw new Error('this DAG needs the ILP solver: call optimizeAsync() (or await loadDagSolver()) first');
  }
  const cloudByName = new Map<string, Cloud>();
  for (const c of opts.dataClouds ?? []) cloudByName.set(c.name, c);
  for (const c of opts.clouds) cloudByName.set(c.name, c);

  const tasks = dag.tasks;
  const models = tasks.map((t, i) =>
    modelTask(
      t,
      i,
      opts,
      target,
      parents[i].map((p) => tasks[p]),
      cloudByName,
    ),
  );

  const edges: Array<{ from: number; to: number; gb: number }> = [];
  const seen = new Set<string>();
  for (const [u, v] of dag.edges) {
    if (seen.has(`${u}>${v}`)) continue;
    seen.add(`${u}>${v}`);
    edges.push({ from: u, to: v, gb: edgeGb(tasks[u], tasks[v]) });
  }
  const gbOf = new Map(edges.map((e) => [`${e.from}>${e.to}`, e.gb]));
  const edgeCost = (u: number, v: number, a: string, b: string) =>
    transferCost(cloudByName.get(a), a, b, gbOf.get(`${u}>${v}`) ?? 0);

  let placement: Map<number, string>;
  if (shape.kind === 'paths') {
    placement = new Map();
    for (const p of shape.paths) for (const [t, c] of placePath(p, models, edgeCost)) placement.set(t, c);
  } else {
    const clouds = models.map(cloudsOf);
    const pick = solveAssignment({
      nodes: models.map((m, t) => clouds[t].map((c) => ({ cloud: c, cost: nodeCost(m, c) }))),
      edges: edges
        .filter((e) => e.gb > 0)
        .map((e) => ({
          from: e.from,
          to: e.to,
          cost: (a: string, b: string) => edgeCost(e.from, e.to, a, b),
        })),
    });
    placement = new Map(pick.map((i, t) => [t, clouds[t][i]]));
  }

  // Rank every candidate of each task with the rest of the plan fixed: this is the failover order.
  let egressCost = 0;
  for (const e of edges) egressCost += edgeCost(e.from, e.to, placement.get(e.from)!, placement.get(e.to)!);
  const planned: PlannedTask[] = models.map((m, t) => {
    const choiceScored = m.bestByCloud.get(placement.get(t)!)!;
    egressCost += choiceScored.inputEgress;
    const neighbourEgress = (s: Scored) => {
      let sum = 0;
      for (const p of parents[t]) sum += edgeCost(p, t, placement.get(p)!, s.l.cloud);
      for (const c of children[t]) sum += edgeCost(t, c, s.l.cloud, placement.get(c)!);
      return sum;
    };
    const extra = new Map(m.all.map((s) => [s, neighbourEgress(s)]));
    const sorted = m.all.slice().sort(cmpScored(target, m.task.ordered, (s) => extra.get(s) ?? 0));
    const ranked = [choiceScored.l, ...sorted.filter((s) => s !== choiceScored).map((s) => s.l)];
    return {
      task: m.task,
      choice: choiceScored.l,
      estimatedHours: choiceScored.hours,
      estimatedCost: choiceScored.compute,
      ranked,
    };
  });
  const compute = planned.reduce((a, p) => a + p.estimatedCost, 0);
  return {
    target,
    tasks: planned,
    totalCost: compute + egressCost,
    totalHours: planned.reduce((a, p) => a + p.estimatedHours, 0),
    egressCost,
  };
}

/** `optimize`, loading the ILP solver first when the DAG needs it. */
export async function optimizeAsync(dag: Dag, opts: OptimizeOptions): Promise<Plan> {
  if (needsDagSolver(dag)) await loadDagSolver();
  return optimize(dag, opts);
}
