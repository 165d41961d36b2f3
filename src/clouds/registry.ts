/**
 * The clouds skyhop knows: ONE list, one line per cloud. Adding a cloud = one folder
 * `src/clouds/<name>/index.ts` exporting `createCloud(): Cloud`, plus one line below.
 *
 * Importing this module is cheap: `createCloud()` builds plain objects; catalogs load on first
 * `cloud.catalog()`, credential files are read only by `checkCredentials()`.
 */
import { nearestNames } from '../util/suggest.js';
import { UserError } from '../util/errors.js';
import { createCloud as aws } from './aws/index.js';
import { createCloud as fluffycloud } from './fluffycloud/index.js';
import { createCloud as gcp } from './gcp/index.js';
import { createCloud as lambda } from './lambda/index.js';
import { createCloud as local } from './local/index.js';
import { createCloud as runpod } from './runpod/index.js';
import type { Cloud } from './types.js';
import type { CredentialStatus } from '../core/cluster.js';

/** Every cloud, in the order `skyhop check` lists them. */
const CLOUDS: ReadonlyArray<() => Cloud> = [
  local, //
  aws,
  gcp,
  lambda,
  runpod,
  fluffycloud,
];

let memo: Cloud[] | null = null;

/** Every registered cloud (created once per process). */
export function allClouds(): Cloud[] {
  memo ??= CLOUDS.map((create) => create());
  return memo.slice();
}

/** Registry names, in list order. */
export function cloudNames(): string[] {
  return allClouds().map((c) => c.name);
}

/** The cloud with this name (case-insensitive); a UserError naming the nearest cloud otherwise. */
export function getCloud(name: string): Cloud {
  const key = name.trim().toLowerCase();
  const found = allClouds().find((c) => c.name === key);
  if (found) return found;
  const names = cloudNames();
  const hint = key === '' ? null : (nearestNames(key, names, 1)[0] ?? null);
  throw new UserError(
    `unknown cloud '${name}'${hint ? ` (did you mean '${hint}'?)` : ''}; known clouds: ${names.join(', ')}`,
  );
}

/** Each cloud's credential status, checked in parallel without the network (a throw counts as not ok). */
export async function credentialStatuses(
  clouds: readonly Cloud[] = allClouds(),
  opts: { verbose?: boolean } = {},
): Promise<Array<{ cloud: Cloud; status: CredentialStatus }>> {
  return Promise.all(
    clouds.map(async (cloud) => {
      let status: CredentialStatus;
      try {
        status = await cloud.checkCredentials(opts);
      } catch (e) {
        // A check must not take `skyhop check` down; its own message is shown (never a secret: checks
        // report names and paths only).
        const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
        status = {
          ok: false,
          reason: `credential check failed: ${msg}`,
          hint: `see \`skyhop check ${cloud.name}\``,
        };
      }
      return { cloud, status };
    }),
  );
}

/**
 * The clouds that can be used now, those whose credentials check out (no network): the local cloud
 * always does, unless a team server turned it off (SKYHOP_LOCAL_CLOUD=0).
 */
export async function enabledClouds(): Promise<Cloud[]> {
  const statuses = await credentialStatuses();
  return statuses.filter(({ status }) => status.ok).map(({ cloud }) => cloud);
}

/**
 * The clouds to plan over.
 * - `clouds: 'a,b'` (`--clouds`) or `allClouds` (`--all-clouds`): those clouds, enabled or not; `note`
 *   says so ("planning over aws, gcp (credentials not checked)"). `--all-clouds` is every cloud a real
 *   user can plan for: an emulator's cloud (fluffycloud) joins only when its credentials exist.
 * - otherwise: the enabled clouds; `note` is null.
 * `cloud` is the cloud the task (or `--cloud`) pins: unknown -> UserError with the nearest name;
 * outside an explicit `--clouds` list, or not enabled -> UserError naming `skyhop check`.
 */
export async function resolvePlanningClouds(opts: {
  clouds?: string;
  allClouds?: boolean;
  cloud?: string;
}): Promise<{ clouds: Cloud[]; note: string | null }> {
  const pinned = opts.cloud !== undefined && opts.cloud.trim() !== '' ? getCloud(opts.cloud) : null;
  const listed = opts.clouds !== undefined;
  if (listed && opts.allClouds) {
    throw new UserError('--clouds and --all-clouds do not go together; use one of them');
  }
  if (listed) {
    const names = opts
      .clouds!.split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    if (names.length === 0) {
      throw new UserError(
        `--clouds is empty; name clouds separated by commas (known: ${cloudNames().join(', ')})`,
      );
    }
    const clouds: Cloud[] = [];
    for (const n of names) {
      const c = getCloud(n);
      if (!clouds.includes(c)) clouds.push(c);
    }
    if (pinned && !clouds.includes(pinned)) {
      throw new UserError(
        `the task asks for cloud '${pinned.name}', which --clouds ${clouds.map((c) => c.name).join(',')} leaves out; ` +
          `add it to --clouds or drop the cloud from the task`,
      );
    }
    return {
      clouds,
      note: `planning over ${clouds.map((c) => c.name).join(', ')} (credentials not checked)`,
    };
  }
  if (opts.allClouds) {
    const emulated = allClouds().filter((c) => c.emulator);
    const configured = new Set(
      (await credentialStatuses(emulated)).filter((s) => s.status.ok).map((s) => s.cloud),
    );
    const clouds = allClouds().filter((c) => !c.emulator || configured.has(c));
    return {
      clouds,
      note: `planning over every cloud: ${clouds.map((c) => c.name).join(', ')} (credentials not checked)`,
    };
  }
  const statuses = await credentialStatuses();
  const clouds = statuses.filter(({ status }) => status.ok).map((s) => s.cloud);
  if (clouds.length === 0) {
    throw new UserError(
      'no cloud is enabled here: `skyhop check` says how to enable one (plan without credentials with --all-clouds)',
    );
  }
  if (pinned && !clouds.includes(pinned)) {
    const st = statuses.find((s) => s.cloud === pinned)!.status;
    const why = st.ok ? '' : ` (${st.reason})`;
    throw new UserError(
      `the task asks for cloud '${pinned.name}', which is not enabled${why}; run \`skyhop check ${pinned.name}\` ` +
        `to see how to enable it, or plan without credentials with \`--clouds ${pinned.name}\``,
    );
  }
  return { clouds, note: null };
}
