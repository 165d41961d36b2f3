/**
 * The error for a task nothing fits: one line that names the task and the request, and details
 * that list the nearest feasible offers (the same accelerator count elsewhere, other counts of
 * the accelerator, close names, the largest CPU-only types).
 */
import { closestName, nearestNames } from '../util/suggest.js';
import type { AcceleratorOffer } from '../catalog/types.js';
import type { Cloud } from '../clouds/types.js';
import type { BlocklistEntry } from '../core/cluster.js';
import { canProvision, missingFeatures, planningOnlyProblem } from '../core/features.js';
import type { Resources, Task } from '../core/task.js';
import { UserError } from '../util/errors.js';
import { describeRequest, money, taskLabel } from './describe.js';

const MAX_DETAILS = 10;

function sameName(o: AcceleratorOffer, name: string): boolean {
  return o.acceleratorName.toLowerCase() === name.toLowerCase();
}

function offerText(cloud: string, o: AcceleratorOffer, spot: boolean): string {
  const type = o.instanceType || `${o.acceleratorName}:${o.acceleratorCount} attached`;
  const price = spot ? (o.cheapestSpotPrice ?? o.cheapestPrice) : o.cheapestPrice;
  const label = spot && o.cheapestSpotPrice !== null ? ' spot' : '';
  return price === null ? `${cloud} ${type}` : `${cloud} ${type} ($${money(price)}/h${label})`;
}

function acceleratorDetails(r: Resources, clouds: readonly Cloud[]): string[] {
  const acc = r.accelerators!;
  const lname = acc.name.toLowerCase();
  const same: string[] = [];
  const others: string[] = [];
  const names = new Set<string>();
  for (const cloud of clouds) {
    const cat = cloud.catalog();
    for (const n of cat.acceleratorNames()) names.add(n);
    const offers = cat
      .listAccelerators({ name: acc.name, includeAttachable: true })
      .filter((o) => o.acceleratorName.toLowerCase() === lname);
    const exact = offers
      .filter((o) => o.acceleratorCount === acc.count)
      .sort((a, b) => (a.cheapestPrice ?? Infinity) - (b.cheapestPrice ?? Infinity));
    if (exact.length) same.push(offerText(cloud.name, exact[0], r.useSpot));
    const counts = [...new Set(offers.map((o) => o.acceleratorCount))]
      .filter((c) => c !== acc.count)
      .sort((a, b) => a - b);
    if (counts.length) others.push(`${cloud.name} ${counts.join(', ')}`);
  }
  const out: string[] = [];
  if (same.length) out.push(`${acc.name}:${acc.count} is offered: ${same.join(', ')}`);
  if (others.length) out.push(`other counts of ${acc.name}: ${others.join('; ')}`);
  if (!same.length && !others.length) {
    const fuzzy = new Set<string>();
    for (const cloud of clouds) {
      for (const f of cloud.catalog().instanceTypesForAccelerator(acc.name, acc.count).fuzzy) fuzzy.add(f);
    }
    const near = nearestNames(acc.name, names, 5);
    const all = [...new Set([...near, ...fuzzy])].slice(0, 8);
    const none = `none of ${clouds.map((c) => c.name).join(', ') || 'the clouds'} offers ${acc.name}`;
    if (all.length) out.push(`${none}; close names: ${all.join(', ')}`);
    else out.push(none);
  }
  return out;
}

function instanceTypeDetails(r: Resources, clouds: readonly Cloud[]): string[] {
  const it = r.instanceType!;
  const owners = clouds.filter((c) => c.catalog().instanceTypeExists(it)).map((c) => c.name);
  if (owners.length) return [`${it} is offered by ${owners.join(', ')}`];
  const types = new Set<string>();
  for (const c of clouds)
    for (const row of c.catalog().rows) if (row.instanceType) types.add(row.instanceType);
  if (types.size === 0) return [];
  return [`no cloud has instance type ${it}; closest: ${closestName(it, types)}`];
}

function cpuDetails(clouds: readonly Cloud[]): string[] {
  const biggest: string[] = [];
  for (const c of clouds) {
    let best: { t: string; v: number; m: number | null; p: number | null } | null = null;
    const cat = c.catalog();
    for (const row of cat.rows) {
      if (!row.instanceType || row.vcpus === null || cat.acceleratorsOf(row.instanceType)) continue;
      const better =
        !best || row.vcpus > best.v || (row.vcpus === best.v && (row.memoryGiB ?? 0) > (best.m ?? 0));
      if (better) best = { t: row.instanceType, v: row.vcpus, m: row.memoryGiB, p: row.price };
    }
    if (best) biggest.push(`${c.name} ${best.t} (${best.v} vCPUs, ${best.m ?? '?'} GiB)`);
  }
  return biggest.length ? [`largest CPU-only types: ${biggest.join(', ')}`] : [];
}

/** Build the UserError for a task with no feasible launchable. */
export function infeasibleError(
  task: Task,
  index: number,
  clouds: readonly Cloud[],
  blocklist: readonly BlocklistEntry[],
  beforeBlocklist: number,
  others: readonly Cloud[] = [],
): UserError {
  const label = taskLabel(task, index);
  const req = describeRequest(task);
  const names = clouds.map((c) => c.name);
  if (beforeBlocklist > 0) {
    const places = blocklist.map((b) => [b.cloud, b.region, b.zone].filter(Boolean).join('/'));
    return new UserError(
      `${label}: every place that fits ${req} is blocked (${places.join(', ')}); ` +
        'retry later, or allow more clouds or regions.',
      { details: [`${beforeBlocklist} candidate(s) were excluded by the blocklist`] },
    );
  }
  const details: string[] = [];
  const pinned = new Set<string>();
  for (const r of task.resources) {
    if (r.cloud !== undefined && !names.includes(r.cloud)) pinned.add(r.cloud);
  }
  if (task.numNodes > 1) {
    const single = clouds.filter((c) => !c.features.has('multi-node')).map((c) => c.name);
    if (single.length)
      details.push(`${single.join(', ')} cannot run multi-node tasks (num_nodes: ${task.numNodes})`);
  }
  for (const p of pinned) {
    const only = others.find((c) => c.name === p && !canProvision(c));
    details.push(
      only
        ? `cloud ${p}: ${planningOnlyProblem(only.displayName)}; \`skyhop optimize\` plans for it`
        : `cloud ${p} is not among the clouds planned over; enable it (\`skyhop check\`) or pass --clouds ${p}`,
    );
  }
  const scope = (r: Resources) => (r.cloud !== undefined ? clouds.filter((c) => c.name === r.cloud) : clouds);
  for (const r of task.resources) {
    const cs = scope(r).length ? scope(r) : clouds;
    if (r.instanceType) details.push(...instanceTypeDetails(r, cs));
    else if (r.accelerators) details.push(...acceleratorDetails(r, clouds));
    else details.push(...cpuDetails(cs));
    const lacking = cs
      .map((c) => ({ c: c.name, f: missingFeatures(r, c) }))
      .filter((x) => x.f.length > 0)
      .map((x) => `${x.c} (no ${x.f.join(', ')})`);
    if (lacking.length) details.push(`clouds without a feature the request needs: ${lacking.join(', ')}`);
    if (r.networkTier === 'best' && cs.some((c) => c.features.has('network-tier-best'))) {
      details.push(
        'network_tier: best plans only instance types with a high-performance network (EFA on AWS), and none of them fits the rest of the request',
      );
    }
    if (r.autostop && !r.autostop.down && cs.some((c) => c.features.has('autostop'))) {
      details.push(
        r.useSpot
          ? 'no cloud here can stop spot instances; ask for autodown (--down) to tear the cluster down when idle instead'
          : 'autostop needs a cloud that can stop instances; autodown (--down) tears the cluster down instead and works on more clouds',
      );
    }
    if (r.region)
      details.push(`the request is pinned to region ${r.region}${r.zone ? `, zone ${r.zone}` : ''}`);
  }
  const uniq = [...new Set(details)];
  // Where it was looked for: the clouds the alternatives pin (when all do), else every cloud planned over.
  const pins = task.resources.every((r) => r.cloud !== undefined)
    ? [...new Set(task.resources.map((r) => r.cloud!))]
    : names;
  const where = pins.length ? pins.join(', ') : 'no clouds';
  // A cloud whose catalog has no instance types yet (a new cloud's scaffold) fits nothing at all.
  const looked = clouds.filter((c) => pins.includes(c.name));
  if (looked.length > 0 && looked.every((c) => c.catalog().rows.length === 0)) {
    const files = looked.map((c) => `catalogs/${c.name}/vms.csv`).join(', ');
    return new UserError(
      `${label}: the catalog of ${where} has no instance types, so nothing can be planned there; add rows to ${files}.`,
    );
  }
  const acc = task.resources.find((r) => r.accelerators)?.accelerators;
  const offered =
    acc !== undefined &&
    clouds.some((c) =>
      c
        .catalog()
        .listAccelerators({ name: acc.name })
        .some((o) => sameName(o, acc.name)),
    );
  const elsewhere =
    acc === undefined
      ? []
      : others
          .filter((c) => !names.includes(c.name))
          .filter((c) =>
            c
              .catalog()
              .listAccelerators({ name: acc.name })
              .some((o) => sameName(o, acc.name) && Math.abs(o.acceleratorCount - acc.count) <= 0.01),
          )
          .map((c) => (canProvision(c) ? c.name : `${c.name} (planning only)`));
  if (elsewhere.length) {
    uniq.unshift(
      `${acc!.name}:${acc!.count} is offered by ${elsewhere.join(', ')}, not planned over: ` +
        'enable them (`skyhop check`) or plan with --clouds/--all-clouds',
    );
  }
  const hint = acc
    ? elsewhere.length && !offered
      ? `${elsewhere.join(', ')} offer it but are not planned over`
      : offered
        ? `see \`skyhop show-gpus ${acc.name}\``
        : 'see `skyhop show-gpus --all` for the accelerators offered'
    : 'relax the request or allow more clouds';
  // The request without the cloud the message names anyway ("nothing fits acme on acme" said nothing).
  const shown = req === 'any' ? 'any resources' : req;
  return new UserError(`${label}: nothing fits ${shown} on ${where}; ${hint}.`, {
    details: uniq.slice(0, MAX_DETAILS),
  });
}
