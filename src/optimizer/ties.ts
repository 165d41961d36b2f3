/**
 * Why a place was chosen among equally priced ones, for the plan: SkyPilot's order decides (cloud
 * name; on AWS and Lambda US regions first; then region name), and the plan says so.
 */
import { regionPreference } from '../catalog/profiles.js';
import { cmpNum } from './candidates.js';
import type { Plan, PlannedTask } from './types.js';

/**
 * A line for the plan when other places (cloud/region) cost the same as the choice under the cost
 * target, naming the rule that put the choice first; null when the price alone decided.
 */
export function tieNote(plan: Plan, p: PlannedTask): string | null {
  if (plan.target !== 'cost' || plan.egressCost > 0) return null;
  const c = p.choice;
  const same = new Set<string>();
  const regionsOfCloud = new Set<string>();
  for (const l of p.ranked) {
    if (p.task.ordered && l.alternative !== c.alternative) continue;
    if (cmpNum(l.hourlyPrice, c.hourlyPrice) !== 0) continue;
    if (l.cloud === c.cloud && l.region === c.region) continue;
    same.add(`${l.cloud}/${l.region}`);
    if (l.cloud === c.cloud) regionsOfCloud.add(l.region);
  }
  if (same.size === 0) return null;
  const others = same.size === 1 ? '1 other place costs' : `${same.size} other places cost`;
  let why: string;
  if (regionsOfCloud.size === 0) why = 'clouds in name order';
  else if (
    [...regionsOfCloud].some((r) => regionPreference(c.cloud, r) > regionPreference(c.cloud, c.region))
  ) {
    why = `${c.cloud} tries US regions first, then by name`;
  } else why = 'regions in name order';
  return `  (${others} the same; ${c.cloud}/${c.region} comes first in SkyPilot's order: ${why}.)`;
}
