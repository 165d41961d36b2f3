/**
 * Typed command options. Each command module declares the shape of its options (positional
 * arguments and flags, as commander hands them over) with the readers below, and main.ts parses
 * them once before the command runs, so a command reads typed fields, never a flag by string.
 *
 * Not zod: a zod schema here pulls zod's core (a 670 KB chunk, ~40 ms to load, shared with the task
 * schema) into every command, a third of `status`'s start-up; these readers cost nothing.
 */
import { UserError } from '../util/errors.js';

/** What commander hands a command: its flags, and its positional arguments by their (camelCased) names. */
export type RawOptions = Record<string, unknown>;

/** Reads one field of the raw options; `key` is its name (for messages). Throws a UserError. */
export type Reader<T> = (v: unknown, key: string) => T;

type Value<R> = R extends Reader<infer T> ? T : never;
/** The typed options of a shape: a field whose reader may give undefined is optional. */
export type Parsed<S> = {
  [K in keyof S as undefined extends Value<S[K]> ? K : never]?: Value<S[K]>;
} & { [K in keyof S as undefined extends Value<S[K]> ? never : K]: Value<S[K]> };

export type OptionsOf<P> = P extends (raw: RawOptions) => infer T ? T : never;

/** The parser of a command's options: every field read once by its reader; other keys are dropped. */
export function options<S extends Record<string, Reader<unknown>>>(shape: S): (raw: RawOptions) => Parsed<S> {
  return (raw) => {
    const out: Record<string, unknown> = {};
    for (const [k, read] of Object.entries(shape)) {
      const v = read(raw[k], k);
      if (v !== undefined) out[k] = v;
    }
    return out as Parsed<S>;
  };
}

function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

function bad(key: string, what: string, v: unknown): never {
  throw new UserError(`${flagName(key)}: expected ${what}, got ${JSON.stringify(v)}`);
}

/** "--idle-minutes 30" style values (fractions allowed). */
export function minutesValue(v: unknown, flag: string): number {
  const n = Number(v);
  if (v === undefined || v === '' || !Number.isFinite(n) || n < 0) {
    throw new UserError(
      `${flag}: expected a number of minutes (fractions allowed), got ${JSON.stringify(v)}`,
    );
  }
  return n;
}

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

export const flags = {
  /** A switch (absent: undefined). */
  bool: (): Reader<boolean | undefined> => (v, k) =>
    v === undefined || typeof v === 'boolean' ? v : bad(k, 'a switch', v),
  /** A switch with a default (e.g. commander's `--no-follow`). */
  boolDefault:
    (d: boolean): Reader<boolean> =>
    (v, k) =>
      v === undefined ? d : typeof v === 'boolean' ? v : bad(k, 'a switch', v),
  /** A string value (absent: undefined). */
  str: (): Reader<string | undefined> => (v, k) =>
    v === undefined || typeof v === 'string' ? v : bad(k, 'a value', v),
  /** A required positional argument. */
  arg: (): Reader<string> => (v, k) => {
    if (typeof v !== 'string') throw new UserError(`expected the argument <${k}>, got ${JSON.stringify(v)}`);
    return v;
  },
  /** A repeatable flag (absent: undefined). */
  list: (): Reader<string[] | undefined> => (v, k) =>
    v === undefined || isStrings(v) ? v : bad(k, 'values', v),
  /** Positional words (a variadic argument); absent is empty. */
  words: (): Reader<string[]> => (v, k) => (v === undefined ? [] : isStrings(v) ? v : bad(k, 'words', v)),
  /** Minutes (fractions allowed); `flag` names it in the message. */
  minutes:
    (flag: string): Reader<number | undefined> =>
    (v) =>
      v === undefined ? undefined : minutesValue(v, flag),
  /** What to minimise. */
  target: (): Reader<'cost' | 'time'> => (v) => {
    if (v === undefined) return 'cost';
    if (v !== 'cost' && v !== 'time') throw new UserError(`--target must be cost or time, got ${String(v)}.`);
    return v;
  },
  /** A job id: digits only (absent: undefined). */
  jobId: (): Reader<number | undefined> => (v) => {
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !/^\d+$/.test(v))
      throw new UserError(`job id must be a number, got ${JSON.stringify(v)}`);
    return Number(v);
  },
  /** Job ids: digits only; absent is empty. */
  jobIds: (): Reader<number[]> => (v, k) => {
    const ids = v === undefined ? [] : isStrings(v) ? v : bad(k, 'job ids', v);
    const wrong = ids.filter((a) => !/^\d+$/.test(a));
    if (wrong.length) throw new UserError(`job ids must be numbers: ${wrong.join(', ')}`);
    return ids.map(Number);
  },
};

/** The task-field overrides shared by launch, exec and optimize (main.ts's resourceOverrides). */
export const resourceFlags = {
  env: flags.list(),
  secret: flags.list(),
  infra: flags.str(),
  cloud: flags.str(),
  region: flags.str(),
  zone: flags.str(),
  gpus: flags.str(),
  cpus: flags.str(),
  memory: flags.str(),
  instanceType: flags.str(),
  numNodes: flags.str(),
  useSpot: flags.bool(),
  diskSize: flags.str(),
  imageId: flags.str(),
  ports: flags.list(),
};

/** The planning flags of launch and optimize (main.ts's planFlags). */
export const planFlags = {
  clouds: flags.str(),
  allClouds: flags.bool(),
  target: flags.target(),
  json: flags.bool(),
};

type ResourceFlags = Parsed<typeof resourceFlags>;

/** The task overrides (SDK spelling) from the resource flags, with -n, -i and --down where the command has them. */
export function overridesOf(
  o: ResourceFlags & { name?: string; idleMinutesToAutostop?: number; down?: boolean },
): import('../sdk/tasks.js').TaskOverrides {
  return {
    env: o.env,
    secret: o.secret,
    infra: o.infra,
    cloud: o.cloud,
    region: o.region,
    zone: o.zone,
    gpus: o.gpus,
    cpus: o.cpus,
    memory: o.memory,
    instanceType: o.instanceType,
    numNodes: o.numNodes,
    useSpot: o.useSpot,
    diskSize: o.diskSize,
    imageId: o.imageId,
    ports: o.ports,
    name: o.name,
    idleMinutes: o.idleMinutesToAutostop,
    down: o.down === true ? true : undefined,
  };
}
