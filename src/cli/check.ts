/**
 * `skyhop check [CLOUDS...] [--verbose] [--json]`: which clouds are enabled (and from which credential
 * source), which are not, why, and how to fix each. Reads local files and the environment only.
 *
 * Exit code 0, or 1 when clouds were named and one of them is not enabled (for scripts:
 * `skyhop check aws && ...`).
 */
import { planningOnlyProblem } from '../core/features.js';
import { check as checkClouds } from '../sdk/check.js';
import { options, type OptionsOf, flags } from './options.js';

const VERBOSE_NOTE =
  '--verbose: skyhop does not call cloud identity APIs yet; the checks below read local files and the environment only';

export const parse = options({ clouds: flags.words(), verbose: flags.bool(), json: flags.bool() });
export type CheckOptions = OptionsOf<typeof parse>;

export default async function check(opts: CheckOptions): Promise<number> {
  const args = opts.clouds;
  const verbose = opts.verbose === true;
  const named = args.length > 0;
  const rows = await checkClouds(args, { verbose });
  const enabled = rows.filter((r) => r.enabled && r.launchable).map((r) => r.name);
  const planningOnly = rows.filter((r) => r.enabled && !r.launchable).map((r) => r.name);
  const code = named && rows.some((r) => !r.enabled) ? 1 : 0;

  if (opts.json) {
    const out = {
      clouds: rows,
      enabled,
      planning_only: planningOnly,
      verbose,
      ...(verbose ? { note: VERBOSE_NOTE } : {}),
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return code;
  }

  const lines: string[] = [];
  lines.push(verbose ? VERBOSE_NOTE : 'Checking credentials (local files and environment; no network).');
  lines.push('');
  const width = Math.max(...rows.map((r) => r.displayName.length)) + 2;
  const indent = ' '.repeat(2 + width + 10);
  for (const r of rows) {
    const head = `  ${r.displayName.padEnd(width)}`;
    if (r.enabled) {
      lines.push(`${head}enabled   ${r.source}${r.identity ? ` [${r.identity}]` : ''}`);
      if (!r.launchable)
        lines.push(`${indent}${planningOnlyProblem(r.displayName)}; \`skyhop optimize\` plans for it`);
    } else {
      lines.push(`${head}disabled  ${r.reason}`);
      lines.push(`${indent}fix: ${r.hint}`);
    }
  }
  lines.push('');
  lines.push(
    enabled.length > 0 ? `Enabled clouds: ${enabled.join(', ')}` : 'No cloud among these is enabled.',
  );
  if (planningOnly.length > 0) lines.push(`Planning only (optimize, not launch): ${planningOnly.join(', ')}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return code;
}
