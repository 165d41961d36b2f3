/** Turning launch/exec/optimize arguments into a Dag: a YAML file or an inline command, plus the flags. */
import { existsSync, statSync } from 'node:fs';
import type { Cloud } from '../clouds/types.js';
import { taskFromCommand } from '../task/command.js';
import { knownNamesFromClouds } from '../task/known.js';
import { applyOverrides, type CliOverrides } from '../task/overrides.js';
import type { Dag } from '../core/task.js';
import { minutes } from './ui.js';

export function isYamlPath(args: string[]): boolean {
  if (args.length !== 1) return false;
  const a = args[0];
  return /\.ya?ml$/i.test(a) || (existsSync(a) && statSync(a).isFile());
}

export function overridesFrom(opts: Record<string, unknown>): CliOverrides {
  const s = (k: string) => (opts[k] === undefined ? undefined : String(opts[k]));
  return {
    env: opts.env as string[] | undefined,
    secret: opts.secret as string[] | undefined,
    infra: s('infra'),
    cloud: s('cloud'),
    region: s('region'),
    zone: s('zone'),
    gpus: s('gpus'),
    cpus: s('cpus'),
    memory: s('memory'),
    instanceType: s('instanceType'),
    numNodes: s('numNodes'),
    useSpot: opts.useSpot as boolean | undefined,
    diskSize: s('diskSize'),
    imageId: s('imageId'),
    ports: opts.ports as string[] | undefined,
    name: s('name'),
    idleMinutes:
      opts.idleMinutesToAutostop === undefined
        ? undefined
        : minutes(opts.idleMinutesToAutostop, '--idle-minutes-to-autostop'),
    down: opts.down === true ? true : undefined,
  };
}

/** The task(s) from the entrypoint words, validated against the known clouds' catalogs. */
export async function dagFromArgs(
  args: string[],
  opts: Record<string, unknown>,
  clouds: Cloud[],
): Promise<Dag> {
  const known = knownNamesFromClouds(clouds);
  const o = overridesFrom(opts);
  // Catalog checks run once, after the flags are applied, so a flag can fix what the file pins.
  // The YAML parser and schema load only for files: an inline command starts faster.
  const dag = isYamlPath(args)
    ? (await import('../task/parse.js')).parseTaskFile(args[0], { env: o.env, secret: o.secret })
    : taskFromCommand(args.join(' '), { env: o.env, secret: o.secret });
  return applyOverrides(dag, o, known);
}
