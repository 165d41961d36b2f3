/** Short human descriptions of requests and launchables for plan tables and error messages. */
import type { Launchable } from '../core/cluster.js';
import { resourcesToString } from '../task/resources.js';
import type { Resources, Task } from '../core/task.js';

/** The task module's short form of one request: `aws/us-east-1 8x A100 spot`, `4+ vCPUs 16+ GiB`, `any`. */
export function describeResources(r: Resources): string {
  return resourcesToString(r);
}

/** All alternatives of a task: "A100:8 | H100:8" (ordered uses " > "). */
export function describeRequest(task: Task): string {
  const alts = task.resources.map(describeResources);
  return alts.join(task.ordered ? ' > ' : ' | ');
}

/** "task 'train' (train.yaml)" or "task #2". */
export function taskLabel(task: Task, index: number): string {
  const name = task.name ? `'${task.name}'` : `#${index + 1}`;
  const file = task.file ? ` (${task.file.split('/').pop()})` : '';
  return `task ${name}${file}`;
}

export function accString(l: Pick<Launchable, 'accelerators'>): string {
  return l.accelerators ? `${l.accelerators.name}:${l.accelerators.count}` : '-';
}

export function placeOf(l: Pick<Launchable, 'region' | 'zone'>): string {
  return l.zone ? `${l.region}/${l.zone}` : l.region;
}

export function money(x: number): string {
  if (x === 0) return '0.00';
  if (x < 0.01) return x.toPrecision(2);
  return x.toFixed(2);
}
