/**
 * `check`: which clouds are enabled (and from which credential source), which are not, why, and
 * how to fix each. Reads local files and the environment only.
 */
import { allClouds, credentialStatuses, getCloud } from '../clouds/registry.js';
import type { Cloud } from '../clouds/types.js';
import { canProvision } from '../core/features.js';

export interface CloudCheck {
  name: string;
  displayName: string;
  enabled: boolean;
  /** Whether launch may create clusters here; false: planning only (`optimize` plans for it). */
  launchable: boolean;
  /** Where the credentials come from (enabled clouds). */
  source?: string;
  identity?: string;
  /** Why the cloud is disabled, and how to fix it. */
  reason?: string;
  hint?: string;
}

/** The named clouds (default: every registered one), in order; an unknown name is a UserError. */
export async function check(clouds: string[] = [], o: { verbose?: boolean } = {}): Promise<CloudCheck[]> {
  const list: Cloud[] = [];
  for (const a of clouds.length ? clouds : allClouds().map((c) => c.name)) {
    const c = getCloud(a);
    if (!list.includes(c)) list.push(c);
  }
  const statuses = await credentialStatuses(list, { verbose: Boolean(o.verbose) });
  return statuses.map(({ cloud, status }) =>
    status.ok
      ? {
          name: cloud.name,
          displayName: cloud.displayName,
          enabled: true,
          launchable: canProvision(cloud),
          source: status.source,
          ...(status.identity ? { identity: status.identity } : {}),
        }
      : {
          name: cloud.name,
          displayName: cloud.displayName,
          enabled: false,
          launchable: canProvision(cloud),
          reason: status.reason,
          hint: status.hint,
        },
  );
}
