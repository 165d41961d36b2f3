/**
 * The jobs controller's resources: the config file's `jobs.controller.resources` (src/config keeps it
 * as written, since config/ cannot import task/) checked as a task's `resources:` is, with errors at
 * file:line:col in the config file. As in SkyPilot, the controller opens no ports.
 */
import { stringify } from 'yaml';
import { type ConfigSource, configSource } from '../config/parse.js';
import type { SkyhopConfig } from '../config/config.js';
import type { Resources } from '../core/task.js';
import { didYouMean } from '../util/suggest.js';
import { parseYamlDocument } from '../util/yaml/parse.js';
import { shapeError } from '../util/yaml/shape.js';
import type { Path, SourceDoc } from '../util/yaml/source.js';
import type { KnownNames } from './known.js';
import { setOrigins } from './meta.js';
import { buildAlternatives, checkAlternatives } from './resources.js';
import {
  ALTERNATIVE_KEYS,
  type RawResources,
  RESOURCE_KEYS,
  resourcesSchema,
  UNSUPPORTED_RESOURCE_FIELDS,
} from './schema.js';

/** Which controller: the jobs controller's (`jobs.controller`) or the serve controller's (`serve.controller`). */
export type ControllerSection = 'jobs' | 'serve';

/** Where the value is in the config file; a value built in code gets a document of its own. */
function sourceOf(
  cfg: SkyhopConfig,
  value: Record<string, unknown>,
  section: ControllerSection,
): ConfigSource {
  const known = configSource(value);
  if (known) return known;
  const text = stringify({ [section]: { controller: { resources: value } } });
  const src = parseYamlDocument(text, cfg.file ?? 'config') as SourceDoc;
  return { src, at: [section, 'controller', 'resources'] };
}

/** An unknown key under the controller's resources (`path`: the full path of its mapping). */
function keyMessage(at: Path) {
  return (path: Path, key: string): string => {
    if (Object.hasOwn(UNSUPPORTED_RESOURCE_FIELDS, key)) {
      return `field '${key}' is not supported by skyhop (${UNSUPPORTED_RESOURCE_FIELDS[key]})`;
    }
    const top = path.length === at.length;
    if ((key === 'any_of' || key === 'ordered') && !top)
      return `'${key}' cannot be nested inside any_of or ordered`;
    return `unknown field '${key}'${didYouMean(key, top ? RESOURCE_KEYS : ALTERNATIVE_KEYS, 1)}`;
  };
}

/** SkyPilot's controller resources take no `ports`. */
function rejectPorts(raw: RawResources, src: SourceDoc, at: Path, section: ControllerSection): void {
  const entries = raw.any_of ?? raw.ordered ?? [];
  const listKey = raw.any_of ? 'any_of' : 'ordered';
  const paths = [
    raw.ports !== undefined ? at : null,
    ...entries.map((e, i) => (e.ports !== undefined ? [...at, listKey, i] : null)),
  ];
  const found = paths.find((p) => p !== null);
  if (found)
    throw src.error(
      [...found, 'ports'],
      section === 'jobs'
        ? 'the jobs controller opens no ports; leave ports out (as in SkyPilot)'
        : "the serve controller's resources take no ports (it picks its load balancers' own); leave ports out (as in SkyPilot)",
      { key: true },
    );
}

/**
 * `jobs.controller.resources` as Resources alternatives (at least one), checked like a task's
 * `resources:` (against the catalogs too, with `known`), or null when the config does not give it.
 * Errors are UserErrors at file:line:col in the config file; notes (an alternative on a cloud skyhop
 * lacks, a `job_recovery` there) go to `warnings`. `autostop` there is also read by the config itself
 * (`cfg.jobs.controller.autostop`).
 */
export function controllerResources(
  cfg: SkyhopConfig,
  known?: KnownNames,
  warnings: string[] = [],
  section: ControllerSection = 'jobs',
): Resources[] | null {
  const value = cfg[section].controller.resources;
  if (value === null) return null;
  const { src, at } = sourceOf(cfg, value, section);
  const r = resourcesSchema.safeParse(value);
  if (!r.success) throw shapeError(src, r.error, keyMessage(at), at);
  rejectPorts(r.data, src, at, section);
  const built = buildAlternatives(r.data, src, warnings, at);
  if (built.recovery) {
    warnings.push(
      `${built.recovery.where.prefix()}: ignored; job_recovery applies to managed jobs, not to their controller`,
    );
  }
  let alternatives = built.alternatives;
  if (known) alternatives = checkAlternatives(alternatives, known, { numNodes: 1 }, warnings);
  return alternatives.map((a) => {
    setOrigins(a.r, a.origins);
    return a.r;
  });
}
