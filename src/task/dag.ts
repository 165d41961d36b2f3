/** The edges of a pipeline: a chain (i -> i+1), or from `depends_on` when any task uses it. */
import { fieldWhere, type Where, whereError } from '../util/yaml/where.js';
import { didYouMean } from '../util/suggest.js';
import type { Dag, Task } from '../core/task.js';

export interface TaskPlaces {
  /** Where the task's name is written. */
  name?: Where;
  /** Where the task's depends_on is written. */
  dependsOn?: Where;
}

export function buildDag(tasks: Task[], places: TaskPlaces[], name?: string): Dag {
  const usesDeps = tasks.some((t) => t.dependsOn !== undefined);
  if (!usesDeps) {
    const edges: Array<[number, number]> = [];
    for (let i = 0; i + 1 < tasks.length; i++) edges.push([i, i + 1]);
    return { name, tasks, edges };
  }
  const depWhere = (i: number) => places[i]?.dependsOn ?? fieldWhere(['depends_on']);
  const index = new Map<string, number>();
  tasks.forEach((t, i) => {
    if (t.name === undefined) return;
    if (index.has(t.name)) {
      throw whereError(
        places[i]?.name ?? fieldWhere(['name']),
        `task name '${t.name}' is used twice; with depends_on every task name must be unique`,
      );
    }
    index.set(t.name, i);
  });
  const names = [...index.keys()];
  const edges: Array<[number, number]> = [];
  tasks.forEach((t, j) => {
    for (const dep of t.dependsOn ?? []) {
      const i = index.get(dep);
      if (i === undefined) {
        throw whereError(depWhere(j), `no task named '${dep}' in this file${didYouMean(dep, names)}`);
      }
      if (i === j) throw whereError(depWhere(j), `task '${dep}' cannot depend on itself`);
      if (!edges.some(([a, b]) => a === i && b === j)) edges.push([i, j]);
    }
  });
  const cycle = findCycle(tasks.length, edges);
  if (cycle) {
    const label = (i: number) => tasks[i].name ?? `#${i + 1}`;
    const path = [...cycle, cycle[0]].map(label).join(' -> ');
    throw whereError(depWhere(cycle[0]), `the tasks depend on each other in a cycle: ${path}`);
  }
  edges.sort((a, b) => a[1] - b[1] || a[0] - b[0]);
  return { name, tasks, edges };
}

/** A cycle as task indices in edge order (first task first), or null. */
function findCycle(n: number, edges: ReadonlyArray<[number, number]>): number[] | null {
  const out: number[][] = Array.from({ length: n }, () => []);
  for (const [a, b] of edges) out[a].push(b);
  const state = new Array<number>(n).fill(0); // 0 new, 1 on stack, 2 done
  const stack: number[] = [];
  const visit = (v: number): number[] | null => {
    state[v] = 1;
    stack.push(v);
    for (const w of out[v]) {
      if (state[w] === 1) return stack.slice(stack.indexOf(w));
      if (state[w] === 0) {
        const c = visit(w);
        if (c) return c;
      }
    }
    stack.pop();
    state[v] = 2;
    return null;
  };
  for (let v = 0; v < n; v++) {
    if (state[v] === 0) {
      const c = visit(v);
      if (c) {
        const first = c.indexOf(Math.min(...c));
        return [...c.slice(first), ...c.slice(0, first)];
      }
    }
  }
  return null;
}
