/**
 * Tasks from what a user has at hand: a task YAML, a command line, or a Dag already built; with
 * the CLI's resource overrides (`--gpus`, `--env`, ...) applied and checked against the catalogs.
 */
import { existsSync, statSync } from 'node:fs';
import { allClouds } from '../clouds/registry.js';
import type { Cloud } from '../clouds/types.js';
import { loadConfig } from '../config/config.js';
import type { Dag } from '../core/task.js';
import { clientPath, taskFromCommand } from '../task/command.js';
import { knownNamesFromClouds } from '../task/known.js';
import { applyOverrides, type CliOverrides } from '../task/overrides.js';
import { checkStorageMounts } from '../task/storage.js';

/** Overrides of a task's fields, in the CLI's spelling (`gpus: 'A100:8'`, `env: ['K=V']`). */
export type TaskOverrides = CliOverrides;

/** A YAML path, or the words of a command (`['python', 'train.py']`), or a Dag already built. */
export type TaskInput = string | string[] | Dag;

/** Whether the entrypoint words name a task file (one word ending in .yaml/.yml, or an existing file). */
export function isYamlPath(entry: string | string[]): boolean {
  const args = typeof entry === 'string' ? [entry] : entry;
  if (args.length !== 1) return false;
  const a = args[0];
  if (/\.ya?ml$/i.test(a)) return true;
  // On a team server the client's file, in its uploaded mirror (task/command.ts).
  const p = process.env.SKYHOP_CLIENT_ROOT ? clientPath(a) : a;
  return existsSync(p) && statSync(p).isFile();
}

function isDag(t: TaskInput): t is Dag {
  return typeof t === 'object' && !Array.isArray(t);
}

/**
 * The task(s) of an input, with the overrides applied. Names (clouds, regions, accelerators,
 * instance types) are checked against the catalogs of `clouds` (default: every registered cloud;
 * `[]` checks only the shape). A string is a YAML path when it looks like one, else a command.
 * Relative paths in a file start from the current directory (as in SkyPilot). What was left out or
 * changed on the way (a `service:` section, an alternative on a cloud skyhop lacks, a config key
 * skyhop does not honour) is in `dag.warnings`, one line each, for the caller to show. The config file
 * ($SKYHOP_HOME/config.yaml or SKYHOP_CONFIG) is checked here: an error in it fails the load.
 */
export async function loadTask(
  input: TaskInput,
  overrides: TaskOverrides = {},
  opts: { clouds?: Cloud[] } = {},
): Promise<Dag> {
  const known = knownNamesFromClouds(opts.clouds ?? allClouds());
  const o = overrides;
  // Catalog checks run once, after the overrides are applied, so an override can fix what the file pins.
  // The YAML parser and schema load only for files: an inline command starts faster.
  let dag: Dag;
  if (isDag(input)) {
    dag = input;
    // A task built in code gets the rules a file's buckets get (names, paths, stores).
    for (const t of dag.tasks) if (t.storageMounts) checkStorageMounts(t);
  } else if (isYamlPath(input)) {
    const path = typeof input === 'string' ? input : input[0];
    dag = (await import('../task/parse.js')).parseTaskFile(path, { env: o.env, secret: o.secret });
  } else {
    dag = taskFromCommand(typeof input === 'string' ? input : input.join(' '), {
      env: o.env,
      secret: o.secret,
    });
  }
  const out = applyOverrides(dag, o, known);
  // The config file is read here too, so its errors and warnings come before any planning.
  const config = await loadConfig();
  if (config.warnings.length > 0) out.warnings = [...config.warnings, ...(out.warnings ?? [])];
  return out;
}
