/**
 * `job_recovery` (a field of `resources:`; `spot_recovery` is SkyPilot's old name for it): how
 * `skyhop jobs launch` brings a managed job back. SkyPilot's forms: a strategy name in any case
 * (`FAILOVER`, `EAGER_NEXT_REGION`), `none` (the same as leaving it out), or a mapping
 * `{strategy, max_restarts_on_errors, recover_on_exit_codes}` whose strategy may be left out (or
 * null, or `none`) for the default. The parser is YAML-free: each problem says where inside the value
 * it is, and the caller adds file:line:col.
 */
import type { JobRecovery, RecoveryStrategy } from '../core/task.js';
import { didYouMean } from '../util/suggest.js';
import type { Path } from '../util/yaml/where.js';
import { show, ValueError } from './values.js';

export const RECOVERY_STRATEGIES: readonly RecoveryStrategy[] = ['FAILOVER', 'EAGER_NEXT_REGION'];

/** SkyPilot's default strategy (its registry's default): a mapping without a strategy gets it. */
export const DEFAULT_RECOVERY_STRATEGY: RecoveryStrategy = 'EAGER_NEXT_REGION';

export const RECOVERY_KEYS: readonly string[] = [
  'strategy',
  'max_restarts_on_errors',
  'recover_on_exit_codes',
];

/** A bad job_recovery value; `at` is the path inside the value, `key` when the key itself is at fault. */
export class RecoveryError extends ValueError {
  constructor(
    message: string,
    readonly at: Path = [],
    readonly key = false,
  ) {
    super(message);
  }
}

const EXPECTED = (v: unknown) =>
  `expected a strategy (${RECOVERY_STRATEGIES.join(' or ')}), none, or a mapping ` +
  `{strategy, max_restarts_on_errors, recover_on_exit_codes}, got ${show(v)}`;

function isNone(v: unknown): boolean {
  return typeof v === 'string' && v.trim().toLowerCase() === 'none';
}

/** A strategy name in any case -> SkyPilot's spelling. */
function parseStrategy(v: unknown, at: Path): RecoveryStrategy {
  if (typeof v !== 'string') {
    const expected = `expected a strategy (${RECOVERY_STRATEGIES.join(' or ')}), got ${show(v)}`;
    throw new RecoveryError(at.length === 0 ? EXPECTED(v) : expected, at);
  }
  const upper = v.trim().toUpperCase();
  const hit = RECOVERY_STRATEGIES.find((s) => s === upper);
  if (hit) return hit;
  throw new RecoveryError(
    `unknown strategy '${v.trim()}'${didYouMean(upper, RECOVERY_STRATEGIES, 1)} ` +
      `(SkyPilot's strategies: ${RECOVERY_STRATEGIES.join(', ')})`,
    at,
  );
}

function isWhole(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

/** `recover_on_exit_codes`: one code or a list of distinct codes, each 0 to 255. */
function parseExitCodes(v: unknown): number[] {
  const at = ['recover_on_exit_codes'];
  const list = Array.isArray(v) ? v : [v];
  const out: number[] = [];
  list.forEach((c, i) => {
    const where = Array.isArray(v) ? [...at, i] : at;
    if (!isWhole(c) || c < 0 || c > 255) {
      const what = Array.isArray(v)
        ? 'an exit code from 0 to 255'
        : 'an exit code from 0 to 255 or a list of them';
      throw new RecoveryError(`expected ${what}, got ${show(c)}`, where);
    }
    if (out.includes(c)) throw new RecoveryError(`exit code ${c} is listed twice`, where);
    out.push(c);
  });
  return out;
}

function parseMapping(o: Record<string, unknown>): JobRecovery {
  for (const k of Object.keys(o)) {
    if (!RECOVERY_KEYS.includes(k)) {
      throw new RecoveryError(
        `unknown field '${k}'${didYouMean(k, RECOVERY_KEYS, 1)} (job_recovery takes ${RECOVERY_KEYS.join(', ')})`,
        [k],
        true,
      );
    }
  }
  const s = o.strategy;
  const strategy =
    s === undefined || s === null || isNone(s) ? DEFAULT_RECOVERY_STRATEGY : parseStrategy(s, ['strategy']);
  const restarts = o.max_restarts_on_errors ?? 0;
  if (!isWhole(restarts) || restarts < 0) {
    throw new RecoveryError(`expected a whole number, 0 or more, got ${show(restarts)}`, [
      'max_restarts_on_errors',
    ]);
  }
  const codes = o.recover_on_exit_codes;
  const recoverOnExitCodes = codes === undefined || codes === null ? [] : parseExitCodes(codes);
  return { strategy, maxRestartsOnErrors: restarts, recoverOnExitCodes };
}

/** A job_recovery value -> JobRecovery, or undefined for `none` (and for nothing). */
export function parseJobRecovery(v: unknown): JobRecovery | undefined {
  if (v === undefined || v === null || isNone(v)) return undefined;
  if (typeof v === 'string') {
    return { strategy: parseStrategy(v, []), maxRestartsOnErrors: 0, recoverOnExitCodes: [] };
  }
  if (typeof v === 'object' && !Array.isArray(v) && !(v instanceof Set)) {
    return parseMapping(v as Record<string, unknown>);
  }
  throw new RecoveryError(EXPECTED(v));
}

/** Whether two alternatives recover the same way (the order of exit codes aside). */
export function sameRecovery(a: JobRecovery | undefined, b: JobRecovery | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  const codes = (r: JobRecovery) => [...r.recoverOnExitCodes].sort((x, y) => x - y).join(',');
  return (
    a.strategy === b.strategy && a.maxRestartsOnErrors === b.maxRestartsOnErrors && codes(a) === codes(b)
  );
}

/** A short human form: `none`, `FAILOVER`, `EAGER_NEXT_REGION (3 restarts on errors, exit codes 33, 34)`. */
export function recoveryToString(r: JobRecovery | undefined): string {
  if (r === undefined) return 'none';
  const more: string[] = [];
  if (r.maxRestartsOnErrors > 0) more.push(`${r.maxRestartsOnErrors} restarts on errors`);
  if (r.recoverOnExitCodes.length > 0) more.push(`exit codes ${r.recoverOnExitCodes.join(', ')}`);
  return more.length > 0 ? `${r.strategy} (${more.join(', ')})` : r.strategy;
}
