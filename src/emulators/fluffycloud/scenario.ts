/**
 * The scenario: who may call the API (users, API keys, quotas) and how the cloud behaves (capacity per
 * region and zone, unavailable regions, boot delays, injected failures, spot preemption). Given as a YAML
 * file at start (`--scenario`) or replaced live with `PUT /admin/scenario` (JSON or YAML body).
 * docs/fluffycloud-api.md shows the format.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { EmulatorCatalog } from './catalog.js';

const nonNegInt = z.number().int().min(0);
const share = z.number().min(0).max(1);
const capacity = z.record(z.string(), nonNegInt);

const zoneSchema = z.strictObject({
  capacity: capacity.optional(),
});

const regionSchema = z.strictObject({
  capacity: capacity.optional(),
  boot_delay_s: z.number().min(0).optional(),
  unavailable: z.boolean().optional(),
  zones: z.record(z.string(), zoneSchema).optional(),
});

/** The API calls that injected failures may hit (`failures.calls`); every /v1 call when not given. */
export const CALL_NAMES = [
  'list_instance_types',
  'list_regions',
  'add_ssh_key',
  'list_ssh_keys',
  'delete_ssh_key',
  'launch',
  'remove',
  'set_tags',
  'list_instances',
  'get_instance',
] as const;
export type CallName = (typeof CALL_NAMES)[number];

const failuresSchema = z.strictObject({
  rate: share.default(0),
  slow_rate: share.default(0),
  slow_ms: nonNegInt.default(1000),
  timeout_rate: share.default(0),
  rate_limited_rate: share.default(0),
  seed: z.number().int().optional(),
  calls: z.array(z.enum(CALL_NAMES)).optional(),
});

const scenarioSchema = z.strictObject({
  users: z
    .record(
      z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a user name: letters, digits, ".", "_", "-"'),
      z
        .strictObject({
          api_key: z.string().min(8, 'an API key of at least 8 characters').optional(),
          /** What state.json keeps instead of the key itself (hex SHA-256 of the key). */
          api_key_sha256: z
            .string()
            .regex(/^[0-9a-f]{64}$/, 'the hex SHA-256 of an API key')
            .optional(),
          max_instances: nonNegInt.optional(),
          max_vcpus: z.number().min(0).optional(),
        })
        .refine((u) => (u.api_key === undefined) !== (u.api_key_sha256 === undefined), {
          message: 'give api_key (or api_key_sha256, as state.json keeps it), not both',
        }),
    )
    .default({}),
  boot_delay_s: z.number().min(0).default(0),
  regions: z.record(z.string(), regionSchema).default({}),
  failures: failuresSchema.optional(),
  spot: z.strictObject({ preempt_after_s: z.number().min(0).nullable().optional() }).optional(),
});

export type Scenario = z.infer<typeof scenarioSchema>;
export type RegionScenario = z.infer<typeof regionSchema>;

export class ScenarioError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScenarioError';
  }
}

function where(path: readonly PropertyKey[]): string {
  return path.length ? path.map(String).join('.') : '(top level)';
}

/** Validate a scenario object against the schema and the catalog; ScenarioError (one line) if wrong. */
export function parseScenario(raw: unknown, catalog: EmulatorCatalog, source = 'scenario'): Scenario {
  const r = scenarioSchema.safeParse(raw ?? {});
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new ScenarioError(`${source}: ${where(issue.path)}: ${issue.message}`);
  }
  const s = r.data;
  const keys = new Map<string, string>();
  for (const [user, u] of Object.entries(s.users)) {
    const h = apiKeyHash(u);
    const other = keys.get(h);
    if (other) throw new ScenarioError(`${source}: users ${other} and ${user} have the same api_key`);
    keys.set(h, user);
  }
  const typeNames = new Set(catalog.types.map((t) => t.name));
  const checkCapacity = (cap: Record<string, number> | undefined, at: string) => {
    for (const t of Object.keys(cap ?? {})) {
      if (t !== '*' && !typeNames.has(t)) {
        throw new ScenarioError(`${source}: ${at}.capacity: '${t}' is not a FluffyCloud instance type`);
      }
    }
  };
  for (const [region, rs] of Object.entries(s.regions)) {
    const zones = catalog.regions.get(region);
    if (!zones) {
      throw new ScenarioError(
        `${source}: regions.${region}: not a FluffyCloud region (${[...catalog.regions.keys()].join(', ')})`,
      );
    }
    checkCapacity(rs.capacity, `regions.${region}`);
    for (const [zone, zs] of Object.entries(rs.zones ?? {})) {
      if (!zones.includes(zone)) {
        throw new ScenarioError(
          `${source}: regions.${region}.zones.${zone}: not a zone of ${region} (${zones.join(', ') || 'it has none'})`,
        );
      }
      checkCapacity(zs.capacity, `regions.${region}.zones.${zone}`);
    }
  }
  return s;
}

/** Parse scenario text (YAML or JSON). */
export function parseScenarioText(text: string, catalog: EmulatorCatalog, source: string): Scenario {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new ScenarioError(`${source}: not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  return parseScenario(raw, catalog, source);
}

export function loadScenarioFile(path: string, catalog: EmulatorCatalog): Scenario {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ScenarioError(`cannot read the scenario file ${path}: ${(e as NodeJS.ErrnoException).code}`);
  }
  return parseScenarioText(text, catalog, path);
}

/** The hex SHA-256 of a user's API key (from api_key, or as given in api_key_sha256). */
export function apiKeyHash(u: { api_key?: string; api_key_sha256?: string }): string {
  return u.api_key !== undefined ? sha256Hex(u.api_key) : u.api_key_sha256!;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The scenario as state.json keeps it: every API key replaced by its SHA-256. */
export function scenarioForState(s: Scenario): Scenario {
  const users = Object.fromEntries(
    Object.entries(s.users).map(([name, { api_key: _key, api_key_sha256: _hash, ...rest }]) => [
      name,
      { api_key_sha256: apiKeyHash(s.users[name]!), ...rest },
    ]),
  );
  return { ...s, users };
}

/** The capacity limit of a type in a map ("*" is the default for types not named); undefined: no limit. */
export function capacityOf(cap: Record<string, number> | undefined, type: string): number | undefined {
  if (!cap) return undefined;
  return cap[type] ?? cap['*'];
}
