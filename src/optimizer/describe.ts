/** Short human descriptions of requests and launchables for plan tables and error messages. */
import type { Launchable } from '../clouds/types.js';
import type { Amount, Resources, Task } from '../task/types.js';

function amount(a: Amount): string {
  return `${a.value}${a.orMore ? '+' : ''}`;
}

/** e.g. "aws/us-east-1 A100:8, cpus=4+, spot" or "cpus=4+, memory=16+ GiB". */
export function describeResources(r: Resources): string {
  const where = [r.cloud ?? (r.region || r.zone ? '*' : undefined), r.region, r.zone]
    .filter(Boolean)
    .join('/');
  const parts: string[] = [];
  if (r.instanceType) parts.push(r.instanceType);
  if (r.accelerators) parts.push(`${r.accelerators.name}:${r.accelerators.count}`);
  if (r.cpus) parts.push(`cpus=${amount(r.cpus)}`);
  if (r.memory) parts.push(`memory=${amount(r.memory)} GiB`);
  if (r.useSpot) parts.push('spot');
  const what = parts.length ? parts.join(', ') : 'default resources';
  return where ? `${where} ${what}` : what;
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
