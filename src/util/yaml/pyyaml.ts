/**
 * Plain-scalar resolution exactly as PyYAML's yaml.safe_load does it (SkyPilot's loader): one table
 * of implicit resolvers, the regular expressions of PyYAML's resolver.py (YAML 1.1 with PyYAML's own
 * narrowings), and the constructors' conversions. It replaces the yaml library's 1.1 scalar tags,
 * which differ (a lone `.` was a float NaN, `1e5` a number, `y`/`n` booleans, `0o17` an int).
 *
 * Checked against PyYAML's own answers: test/fixtures/pyyaml-scalars.json (scripts/pyyaml-scalars.py).
 * Deliberate differences (docs/compatibility.md): timestamps stay strings (PyYAML builds date
 * objects); `=` and an invalid date are strings where PyYAML fails to construct them.
 */
import type { ScalarTag, Tags } from 'yaml';

const NULL_TAG = 'tag:yaml.org,2002:null';
const BOOL_TAG = 'tag:yaml.org,2002:bool';
const INT_TAG = 'tag:yaml.org,2002:int';
const FLOAT_TAG = 'tag:yaml.org,2002:float';
const TIMESTAMP_TAG = 'tag:yaml.org,2002:timestamp';

/** PyYAML's implicit resolvers (resolver.py), in its order. */
export const PYYAML_RESOLVERS = {
  bool: /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/,
  float:
    /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/,
  int: /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/,
  null: /^(?:~|null|Null|NULL|)$/,
  timestamp:
    /^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$/,
} as const;

/** A sign and the rest, as PyYAML's constructors split them. */
function signed(text: string): { sign: 1 | -1; body: string } {
  const sign = text.startsWith('-') ? -1 : 1;
  return { sign, body: text[0] === '-' || text[0] === '+' ? text.slice(1) : text };
}

function sexagesimal(parts: number[]): number {
  let value = 0;
  for (const p of parts) value = value * 60 + p;
  return value;
}

/** construct_yaml_int: a number when it is exact, else a BigInt (Python ints have no limit). */
export function pyyamlInt(text: string): number | bigint {
  const { sign, body } = signed(text.replaceAll('_', ''));
  let big: bigint;
  if (body === '0') return 0;
  if (body.startsWith('0b')) big = BigInt(`0b${body.slice(2)}`);
  else if (body.startsWith('0x')) big = BigInt(`0x${body.slice(2)}`);
  else if (body.startsWith('0')) big = BigInt(`0o${body.slice(1)}`);
  else if (body.includes(':')) {
    big = 0n;
    for (const p of body.split(':')) big = big * 60n + BigInt(p);
  } else big = BigInt(body);
  if (sign < 0) big = -big;
  const n = Number(big);
  return Number.isSafeInteger(n) ? n : big;
}

/** construct_yaml_float. */
export function pyyamlFloat(text: string): number {
  const { sign, body } = signed(text.replaceAll('_', '').toLowerCase());
  if (body === '.inf') return sign * Number.POSITIVE_INFINITY;
  if (body === '.nan') return Number.NaN;
  if (body.includes(':')) return sign * sexagesimal(body.split(':').map(Number));
  return sign * Number(body);
}

const SCALAR_TAGS: ScalarTag[] = [
  {
    tag: BOOL_TAG,
    default: true,
    test: PYYAML_RESOLVERS.bool,
    identify: (v) => typeof v === 'boolean',
    resolve: (s) => /^(?:yes|true|on)$/i.test(s),
  },
  {
    tag: FLOAT_TAG,
    default: true,
    test: PYYAML_RESOLVERS.float,
    identify: (v) => typeof v === 'number' && !Number.isInteger(v),
    resolve: pyyamlFloat,
  },
  {
    tag: INT_TAG,
    default: true,
    test: PYYAML_RESOLVERS.int,
    identify: (v) => typeof v === 'bigint' || Number.isInteger(v),
    resolve: pyyamlInt,
  },
  {
    tag: NULL_TAG,
    default: true,
    test: PYYAML_RESOLVERS.null,
    identify: (v) => v === null || v === undefined,
    resolve: () => null,
  },
];

/** Replaced scalar tags: the yaml library's YAML 1.1 nulls, booleans, numbers and timestamps. */
const REPLACED = new Set([NULL_TAG, BOOL_TAG, INT_TAG, FLOAT_TAG, TIMESTAMP_TAG]);

/**
 * customTags for the yaml library (version 1.1): its scalar resolvers replaced by PyYAML's; its
 * collections (map, seq, !!set, !!omap, !!pairs), !!binary and `<<` merge keys kept. Timestamps are
 * not resolved: a date stays the string it was written as.
 */
export function pyyamlTags(tags: Tags): Tags {
  const kept = tags.filter((t) => typeof t !== 'object' || !REPLACED.has(t.tag));
  return [...SCALAR_TAGS, ...kept];
}

/** The yaml library's options for reading a file as PyYAML reads it. */
export const PYYAML_OPTIONS = { version: '1.1', customTags: pyyamlTags } as const;
