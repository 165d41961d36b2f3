/**
 * Plan output: the human table (`renderPlan`) and the JSON object scripts read (`planToJson`).
 */
import { allClouds } from '../clouds/registry.js';
import type { Launchable } from '../core/cluster.js';
import { canProvision, planningOnlyProblem } from '../core/features.js';
import { accString, money, placeOf, taskLabel } from './describe.js';
import { textTable } from '../util/table.js';
import { throughput } from './speed.js';
import type { Plan, PlannedTask } from './types.js';
import { tieNote } from './ties.js';

/** Rows of the candidates table per task (best per cloud and region); every cloud's best is always shown. */
const MAX_ROWS = 12;

export interface PlanJson {
  target: 'cost' | 'time';
  tasks: Array<{
    name: string | null;
    cloud: string;
    region: string;
    zone: string | null;
    instance_type: string;
    accelerators: Record<string, number> | null;
    use_spot: boolean;
    num_nodes: number;
    hourly_price: number;
    estimated_cost: number;
  }>;
  total_cost: number;
}

/** Money for JSON: rounded to 1e-6 (never to cents). */
function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

export function planToJson(plan: Plan): PlanJson {
  return {
    target: plan.target,
    tasks: plan.tasks.map((p) => {
      const c = p.choice;
      return {
        name: p.task.name ?? null,
        cloud: c.cloud,
        region: c.region,
        zone: c.zone ?? c.zones[0] ?? null,
        instance_type: c.instanceType,
        accelerators: c.accelerators ? { [c.accelerators.name]: c.accelerators.count } : null,
        use_spot: c.useSpot,
        num_nodes: p.task.numNodes,
        hourly_price: round6(c.hourlyPrice),
        estimated_cost: round6(p.estimatedCost),
      };
    }),
    total_cost: round6(plan.totalCost),
  };
}

function hoursText(h: number): string {
  if (h >= 10) return h.toFixed(1);
  return Number(h.toPrecision(3)).toString();
}

/** The display name of a registered cloud skyhop can only plan for (features.ts canProvision); else null. */
function planningOnly(cloud: string): string | null {
  const c = allClouds().find((x) => x.name === cloud);
  return c && !canProvision(c) ? c.displayName : null;
}

function choiceLine(p: PlannedTask, i: number): string {
  const c = p.choice;
  const nodes = p.task.numNodes;
  const spot = c.useSpot ? 'spot' : 'on-demand';
  const only = planningOnly(c.cloud);
  return (
    `${taskLabel(p.task, i)}: ${c.cloud} ${c.instanceType} in ${placeOf(c)} (${accString(c)}, ${spot}), ` +
    `${nodes} node${nodes === 1 ? '' : 's'} x $${money(c.hourlyPrice)}/h x ${hoursText(p.estimatedHours)} h ` +
    `= $${money(p.estimatedCost)}${only ? ` (${planningOnlyProblem(only)})` : ''}`
  );
}

/**
 * The best candidate of each (cloud, region), in ranked order: the best of every cloud, then the
 * next best places up to MAX_ROWS rows. Returns the rows and how many (cloud, region) were left out.
 */
function tableRows(p: PlannedTask): { rows: Launchable[]; hidden: number } {
  const seen = new Set<string>();
  const perRegion: Launchable[] = [];
  for (const l of p.ranked) {
    const key = `${l.cloud}\0${l.region}`;
    if (seen.has(key)) continue;
    seen.add(key);
    perRegion.push(l);
  }
  const keep = new Set<Launchable>();
  const clouds = new Set<string>();
  for (const l of perRegion) {
    if (clouds.has(l.cloud)) continue;
    clouds.add(l.cloud);
    keep.add(l);
  }
  for (const l of perRegion) {
    if (keep.size >= MAX_ROWS) break;
    keep.add(l);
  }
  const rows = perRegion.filter((l) => keep.has(l));
  return { rows, hidden: perRegion.length - rows.length };
}

/** The plan for humans: the choice per task, then the best candidates per cloud and region. */
export function renderPlan(plan: Plan, note?: string | null): string {
  const out: string[] = [];
  if (note) out.push(note);
  out.push(`Optimizer target: ${plan.target === 'time' ? 'estimated time' : 'cost'}.`);
  plan.tasks.forEach((p, i) => {
    out.push(choiceLine(p, i));
    const tie = tieNote(plan, p);
    if (tie) out.push(tie);
  });
  if (plan.tasks.length > 1 || plan.egressCost > 0) {
    const eg = plan.egressCost > 0 ? ` (egress $${money(plan.egressCost)})` : '';
    out.push(`Total: $${money(plan.totalCost)}${eg}, ${hoursText(plan.totalHours)} h.`);
  }
  const time = plan.target === 'time';
  plan.tasks.forEach((p, i) => {
    const nodes = p.task.numNodes;
    out.push('');
    out.push(
      `Considered resources for ${taskLabel(p.task, i)} (${nodes} node${nodes === 1 ? '' : 's'}, ` +
        `best per cloud and region):`,
    );
    const head = ['CLOUD', 'INSTANCE', 'vCPUs', 'Mem(GB)', 'ACCELERATORS', 'REGION/ZONE', 'COST ($)'];
    if (time) head.push('HOURS');
    head.push('CHOSEN');
    const { rows, hidden } = tableRows(p);
    const ref = p.ranked[0];
    const body: Array<Array<string | number>> = [];
    let marked = false;
    for (const l of rows) {
      const only = planningOnly(l.cloud) !== null;
      marked ||= only;
      // Another candidate's hours under the time model: scale the choice's hours by throughput.
      const hours = time ? (p.estimatedHours * throughput(ref)) / throughput(l) : p.estimatedHours;
      const row = [
        only ? `${l.cloud}*` : l.cloud,
        `${l.instanceType}${l.useSpot ? '[spot]' : ''}`,
        l.vcpus ?? '-',
        l.memoryGiB ?? '-',
        accString(l),
        placeOf(l),
        money(l.hourlyPrice * nodes * hours),
      ];
      if (time) row.push(hoursText(hours));
      row.push(l === p.choice ? '✔' : '');
      body.push(row);
    }
    out.push(textTable(head, body));
    if (hidden > 0) out.push(`  ... and ${hidden} more cloud/region option${hidden === 1 ? '' : 's'}.`);
    if (marked)
      out.push('  * planning only: skyhop cannot launch on this cloud yet (`launch` leaves it out).');
  });
  return out.join('\n');
}
