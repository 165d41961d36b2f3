/**
 * The general-DAG solver: an integer program solved with HiGHS (the `highs` package, WASM).
 * Loaded lazily (~100 ms) and only when a DAG has a node with more than one parent or child.
 *
 * Model: binary x[t][c] = task t runs on cloud c; sum_c x[t][c] = 1 for every t. For every edge
 * u -> v that moves data and every pair of clouds a != b with a transfer cost, a continuous
 * y[e][a][b] >= x[u][a] + x[v][b] - 1 (y >= 0), which the objective drives to exactly
 * x[u][a] AND x[v][b]. Minimise sum node cost x + sum transfer cost y.
 */
import type { Highs } from 'highs';

export interface AssignmentProblem {
  /** Per task, the clouds it can run on and the cost of running it there. */
  nodes: Array<Array<{ cloud: string; cost: number }>>;
  /** Edges with a transfer cost for each (from cloud, to cloud) pair. */
  edges: Array<{ from: number; to: number; cost(a: string, b: string): number }>;
}

let solver: Highs | null = null;

/** Load HiGHS once (dynamic import; the CLI pays for it only when a DAG needs it). */
export async function loadDagSolver(): Promise<void> {
  if (solver) return;
  // The package's types describe a CommonJS default export; at run time ESM gets the loader as `default`.
  const mod = (await import('highs')) as unknown as { default: () => Promise<Highs> };
  solver = await mod.default();
}

export function dagSolverLoaded(): boolean {
  return solver !== null;
}

/** A number as LP-format text (full precision, no exponent surprises). */
function num(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`non-finite cost in the DAG model: ${x}`);
  return String(x);
}

/** Solve the assignment; returns, per task, the index into `nodes[t]` it runs on. */
export function solveAssignment(p: AssignmentProblem): number[] {
  if (!solver) throw new Error('the DAG solver is not loaded: call loadDagSolver() (or optimizeAsync) first');
  const x = (t: number, i: number) => `x_${t}_${i}`;
  const obj: string[] = [];
  const rows: string[] = [];
  const binaries: string[] = [];
  const conts: string[] = [];
  p.nodes.forEach((opts, t) => {
    if (opts.length === 0) throw new Error(`task ${t} has no candidate cloud`);
    const terms: string[] = [];
    opts.forEach((o, i) => {
      binaries.push(x(t, i));
      terms.push(x(t, i));
      if (o.cost !== 0) obj.push(`${num(o.cost)} ${x(t, i)}`);
    });
    rows.push(` one_${t}: ${terms.join(' + ')} = 1`);
  });
  p.edges.forEach((e, k) => {
    p.nodes[e.from].forEach((a, i) => {
      p.nodes[e.to].forEach((b, j) => {
        const c = e.cost(a.cloud, b.cloud);
        if (c <= 0) return;
        const y = `y_${k}_${i}_${j}`;
        conts.push(y);
        obj.push(`${num(c)} ${y}`);
        rows.push(` l_${k}_${i}_${j}: ${y} - ${x(e.from, i)} - ${x(e.to, j)} >= -1`);
      });
    });
  });
  if (obj.length === 0) obj.push(`0 ${x(0, 0)}`);
  // Long sums and name lists are wrapped: LP-format lines stay short however big the DAG.
  const wrap = (items: string[], sep: string) => {
    const lines: string[] = [];
    for (let i = 0; i < items.length; i += 8) lines.push(`  ${items.slice(i, i + 8).join(sep)}`);
    return lines.join(`${sep.trimEnd()}\n`);
  };
  const lp = [
    'Minimize',
    ' cost:',
    wrap(obj, ' + '),
    'Subject To',
    ...rows,
    'Bounds',
    ...conts.map((y) => ` ${y} >= 0`),
    'Binary',
    wrap(binaries, ' '),
    'End',
  ].join('\n');
  const res = solver.solve(lp, { output_flag: false, mip_rel_gap: 0, mip_abs_gap: 1e-9 });
  if (res.Status !== 'Optimal') throw new Error(`the DAG solver ended with status ${res.Status}`);
  return p.nodes.map((opts, t) => {
    let best = 0;
    let bestVal = -1;
    opts.forEach((_, i) => {
      const v = res.Columns[x(t, i)]?.Primal ?? 0;
      if (v > bestVal) {
        bestVal = v;
        best = i;
      }
    });
    return best;
  });
}
