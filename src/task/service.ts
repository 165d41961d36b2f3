/**
 * A task's `service:` section (SkyPilot's SkyServe service YAML) -> `ServiceSpec`.
 *
 * Two steps, as in SkyPilot:
 * - `readService` checks the section on its own, as SkyPilot does whenever it reads a task file
 *   (`sky launch` too): its JSON schema (get_service_schema) and SkyServiceSpec's own rules. Every
 *   error is `file:line:col: service.x.y: message`, at the key or value at fault.
 * - `serviceSpecFor` / `checkServiceTask` check it against the task's resources, as SkyPilot does only
 *   at `sky serve up` (serve_utils.validate_service_task): the replicas' port (service.ports, else the
 *   one port of resources.ports), spot with on-demand fallback, no job_recovery. A plain `launch`
 *   ignores the section, so these never stop it: the parser sets `Task.service` when they pass and
 *   leaves it unset when not; `checkServiceTask` (the serve commands call it after the CLI overrides)
 *   says why.
 *
 * Deliberate differences from SkyPilot (each stricter where SkyPilot would accept a service that can
 * never work): `replicas: 0` (or max_replicas 0) is an error (a fixed count of 0 never starts a
 * replica); a negative `replicas`, delay or timeout is an error (SkyPilot's schema has no minimum);
 * `target_qps_per_replica: 0` is an error (SkyPilot's schema allows 0, which divides by zero); the
 * probe path may hold no spaces or control characters and header names/values must be valid HTTP;
 * header values may be numbers or booleans (their text, as labels are in skyhop). SkyPilot's
 * `num_overprovision`, `spot_placer`, a per-accelerator `target_qps_per_replica` mapping, the
 * `instance_aware_least_load` policy and the pool fields (`pool`, `workers`) are not built in skyhop
 * and are errors that say so.
 */
import { type Stats, statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import type { LoadBalancingPolicy, ReadinessProbe, ReplicaPolicy, ServiceSpec } from '../core/serve.js';
import type { Resources, Task } from '../core/task.js';
import { UserError } from '../util/errors.js';
import { caseInsensitiveMatch, didYouMean } from '../util/suggest.js';
import type { SourceDoc } from '../util/yaml/source.js';
import { fieldWhere, type Path, type Where, whereError } from '../util/yaml/where.js';
import { clientPath, expandHome } from './command.js';
import { getOrigins, getTaskMeta } from './meta.js';
import { show } from './values.js';

/** SkyPilot's defaults (sky/serve/constants.py), used where the section leaves a field out. */
export const SERVICE_DEFAULTS = {
  readinessPath: '/',
  initialDelaySeconds: 1200,
  timeoutSeconds: 15,
  minReplicas: 1,
  upscaleDelaySeconds: 300,
  downscaleDelaySeconds: 1200,
  baseOndemandFallbackReplicas: 0,
  dynamicOndemandFallback: false,
  loadBalancingPolicy: 'least_load' as LoadBalancingPolicy,
};

export const SERVICE_KEYS = [
  'readiness_probe',
  'replicas',
  'replica_policy',
  'ports',
  'load_balancing_policy',
  'tls',
];
export const PROBE_KEYS = ['path', 'post_data', 'initial_delay_seconds', 'timeout_seconds', 'headers'];
export const POLICY_KEYS = [
  'min_replicas',
  'max_replicas',
  'target_qps_per_replica',
  'upscale_delay_seconds',
  'downscale_delay_seconds',
  'base_ondemand_fallback_replicas',
  'dynamic_ondemand_fallback',
];
export const TLS_KEYS = ['keyfile', 'certfile'];
export const LB_POLICIES: readonly LoadBalancingPolicy[] = ['round_robin', 'least_load'];

const POOLS = "SkyPilot's worker pools are not built in skyhop";
const UNSUPPORTED: Record<string, Record<string, string>> = {
  service: { pool: POOLS, workers: POOLS },
  replica_policy: {
    num_overprovision:
      "over-provisioning spot replicas (SkyPilot's SpotHedge) is not built in skyhop; raise min_replicas instead",
    spot_placer:
      "SkyPilot's spot placers (SpotHedge) are not built in skyhop; dynamic_ondemand_fallback replaces spot replicas that are not ready with on-demand ones",
  },
};
const UNSUPPORTED_LB: Record<string, string> = {
  instance_aware_least_load: "SkyPilot's instance-aware load balancing is not built in skyhop",
};

/** Why `launch` ignores the section (the ending of its warning line; see isServiceIgnoredWarning). */
export const SERVICE_IGNORED_WHY = 'services run with skyhop serve up';

/** `launch`'s warning for a task's `service:` section (at: `file:line:col: service`). */
export function serviceIgnoredWarning(at: string): string {
  return `${at}: ignored; ${SERVICE_IGNORED_WHY}, so the task runs without it`;
}

/**
 * True for the warning line a parsed Dag carries for each `service:` section (launch prints it; the
 * serve commands drop it: `dag.warnings.filter((w) => !isServiceIgnoredWarning(w))`).
 */
export function isServiceIgnoredWarning(line: string): boolean {
  return line.endsWith(`: service: ignored; ${SERVICE_IGNORED_WHY}, so the task runs without it`);
}

/** The section checked on its own; `port` only when `service.ports` gives it. */
export interface ServiceDraft {
  readinessProbe: ReadinessProbe;
  replicaPolicy: ReplicaPolicy;
  loadBalancingPolicy: LoadBalancingPolicy;
  tls?: { keyfile: string; certfile: string };
  port?: number;
  /** Where things are, for the checks against the resources. */
  where: {
    section: Where;
    /** The on-demand fallback field that asks for spot replicas, when one does. */
    fallback?: Where;
  };
}

/** What reading the section needs besides the section. */
export interface ServiceContext {
  src: SourceDoc;
  /**
   * The task's envs: `${VAR}`/`$VAR` in the section's strings take their values. Secrets are left as
   * written (Task.service travels where secrets may not, e.g. a managed job's state): the serve
   * controller fills them into its probe with `probeWithSecrets`.
   */
  vars: Readonly<Record<string, string>>;
  /** Where relative tls paths start (the current directory, as in SkyPilot). */
  baseDir: string;
  /** The task file's folder, tried next with a warning (as other local paths of a task). */
  fileDir?: string;
  warnings: string[];
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Set);
}

/**
 * `${VAR}` and `$VAR` replaced in every string of the section, as SkyPilot's _fill_in_env_vars does
 * (before its schema check): only names in `vars`; others stay as written.
 */
function substitute(v: unknown, vars: Readonly<Record<string, string>>): unknown {
  if (typeof v === 'string') {
    return v.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (m, braced, bare) => {
      const name = (braced ?? bare) as string;
      return Object.hasOwn(vars, name) ? vars[name] : m;
    });
  }
  if (Array.isArray(v)) return v.map((x) => substitute(x, vars));
  if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substitute(x, vars)]));
  return v;
}

/** Errors and places inside the section. */
class At {
  constructor(readonly src: SourceDoc) {}
  where(path: Path): Where {
    return this.src.where(['service', ...path]);
  }
  error(path: Path, message: string): UserError {
    return this.src.error(['service', ...path], message);
  }
  keyError(path: Path, message: string): UserError {
    return this.src.error(['service', ...path], message, {
      key: true,
      label: ['service', ...path.slice(0, -1)],
    });
  }
  /** Unknown and unsupported keys of the mapping at `path` (named `name` in messages). */
  keys(o: Obj, path: Path, allowed: readonly string[], name: string): void {
    const unsupported = UNSUPPORTED[name] ?? {};
    for (const k of Object.keys(o)) {
      if (allowed.includes(k)) continue;
      if (Object.hasOwn(unsupported, k)) {
        throw this.keyError([...path, k], `field '${k}' is not supported by skyhop (${unsupported[k]})`);
      }
      const hint = didYouMean(k, allowed, 1);
      throw this.keyError(
        [...path, k],
        `unknown field '${k}'${hint || ` (${name} takes ${allowed.join(', ')})`}`,
      );
    }
  }
}

function wholeNumber(at: At, path: Path, v: unknown, min: number, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw at.error(path, `expected ${what}, got ${show(v)}`);
  }
  return v;
}

function seconds(at: At, path: Path, v: unknown, positive: boolean): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (positive && v === 0)) {
    throw at.error(
      path,
      `expected a number of seconds${positive ? ' above 0' : ', 0 or more'}, got ${show(v)}`,
    );
  }
  return v;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function readProbe(at: At, v: unknown): ReadinessProbe {
  const probe: ReadinessProbe = {
    path: SERVICE_DEFAULTS.readinessPath,
    initialDelaySeconds: SERVICE_DEFAULTS.initialDelaySeconds,
    timeoutSeconds: SERVICE_DEFAULTS.timeoutSeconds,
    headers: {},
  };
  const p: Path = ['readiness_probe'];
  if (v === undefined || v === null) return probe;
  if (typeof v === 'string') {
    probe.path = checkPath(at, p, v);
    return probe;
  }
  if (!isObj(v)) {
    throw at.error(
      p,
      `expected a URL path like /health, or a mapping {path, post_data, initial_delay_seconds, timeout_seconds, headers}, got ${show(v)}`,
    );
  }
  at.keys(v, p, PROBE_KEYS, 'readiness_probe');
  if (v.path === undefined || v.path === null) {
    throw at.error(
      p,
      'give path: the URL path to probe, like /health (a GET that answers 200 once a replica is ready)',
    );
  }
  for (const [k, x] of Object.entries(v)) {
    if (x === null || x === undefined) continue;
    const kp = [...p, k];
    if (k === 'path') probe.path = checkPath(at, kp, x);
    else if (k === 'initial_delay_seconds') probe.initialDelaySeconds = seconds(at, kp, x, false);
    else if (k === 'timeout_seconds') probe.timeoutSeconds = seconds(at, kp, x, true);
    else if (k === 'post_data') probe.postData = readPostData(at, kp, x);
    else if (k === 'headers') probe.headers = readHeaders(at, kp, x);
  }
  return probe;
}

function checkPath(at: At, p: Path, v: unknown): string {
  if (typeof v !== 'string') throw at.error(p, `expected a URL path like /health, got ${show(v)}`);
  if (!v.startsWith('/')) {
    throw at.error(p, `the readiness probe path must start with '/' (as in SkyPilot), got ${show(v)}`);
  }
  // SkyPilot checks only the leading '/'; a space or control character would make every probe fail.
  if (/[\s\x00-\x1f\x7f]/.test(v)) {
    throw at.error(
      p,
      `the readiness probe path cannot hold spaces or control characters (write %20), got ${show(v)}`,
    );
  }
  return v;
}

/** SkyPilot's `post_data`: a mapping, or a string holding JSON (parsed, as SkyPilot's json.loads does). */
function readPostData(at: At, p: Path, v: unknown): unknown {
  if (typeof v === 'string') {
    try {
      return JSON.parse(v);
    } catch (e) {
      throw at.error(
        p,
        `a post_data string must be JSON (the probe sends it as its JSON body): ${(e as Error).message}; or write it as a YAML mapping`,
      );
    }
  }
  if (isObj(v)) return v;
  throw at.error(p, `expected a mapping (the probe's JSON body) or a string of JSON, got ${show(v)}`);
}

function readHeaders(at: At, p: Path, v: unknown): Record<string, string> {
  if (!isObj(v)) throw at.error(p, `expected a mapping of header names to values, got ${show(v)}`);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (!TOKEN.test(k)) {
      throw at.keyError(
        [...p, k],
        `'${k}' is not a valid HTTP header name (letters, digits and !#$%&'*+.^_\`|~-)`,
      );
    }
    let s: string;
    if (typeof x === 'string') s = x;
    else if (typeof x === 'number' || typeof x === 'boolean')
      s = at.src.sourceText(['service', ...p, k]) ?? String(x);
    else throw at.error([...p, k], `expected a header value (a string), got ${show(x)}`);
    if (/[\r\n\x00]/.test(s)) throw at.error([...p, k], 'a header value cannot hold a line break');
    out[k] = s;
  }
  return out;
}

const NEVER =
  'never starts a replica; to start replicas only when requests come, write replica_policy: {min_replicas: 0, max_replicas: N, target_qps_per_replica: Q}';

function fixedPolicy(n: number): ReplicaPolicy {
  return {
    minReplicas: n,
    maxReplicas: n,
    upscaleDelaySeconds: SERVICE_DEFAULTS.upscaleDelaySeconds,
    downscaleDelaySeconds: SERVICE_DEFAULTS.downscaleDelaySeconds,
    baseOndemandFallbackReplicas: SERVICE_DEFAULTS.baseOndemandFallbackReplicas,
    dynamicOndemandFallback: SERVICE_DEFAULTS.dynamicOndemandFallback,
  };
}

function readReplicas(at: At, v: unknown): ReplicaPolicy {
  const n = wholeNumber(at, ['replicas'], v, 0, 'a number of replicas (a whole number, 1 or more)');
  if (n === 0) throw at.error(['replicas'], `replicas: 0 ${NEVER}`);
  return fixedPolicy(n);
}

function readPolicy(at: At, v: unknown): { policy: ReplicaPolicy; fallback?: Path } {
  const p: Path = ['replica_policy'];
  if (!isObj(v)) {
    throw at.error(
      p,
      `expected a mapping {min_replicas, max_replicas, target_qps_per_replica, ...}, got ${show(v)}`,
    );
  }
  at.keys(v, p, POLICY_KEYS, 'replica_policy');
  if (v.min_replicas === undefined || v.min_replicas === null) {
    throw at.error(p, 'give min_replicas: the number of replicas to keep running (0 or more)');
  }
  const policy = fixedPolicy(0);
  let max: number | undefined;
  let fallback: Path | undefined;
  for (const [k, x] of Object.entries(v)) {
    if (x === null || x === undefined) continue;
    const kp = [...p, k];
    if (k === 'min_replicas') policy.minReplicas = wholeNumber(at, kp, x, 0, 'a whole number, 0 or more');
    else if (k === 'max_replicas') max = wholeNumber(at, kp, x, 0, 'a whole number, 0 or more');
    else if (k === 'target_qps_per_replica') {
      if (isObj(x)) {
        throw at.error(
          kp,
          "a target per accelerator (SkyPilot's instance-aware autoscaling) is not supported by skyhop; give one number of requests per second",
        );
      }
      if (typeof x !== 'number' || !Number.isFinite(x) || x <= 0) {
        throw at.error(kp, `expected a number of requests per second above 0, got ${show(x)}`);
      }
      policy.targetQpsPerReplica = x;
    } else if (k === 'upscale_delay_seconds') policy.upscaleDelaySeconds = seconds(at, kp, x, false);
    else if (k === 'downscale_delay_seconds') policy.downscaleDelaySeconds = seconds(at, kp, x, false);
    else if (k === 'base_ondemand_fallback_replicas') {
      policy.baseOndemandFallbackReplicas = wholeNumber(at, kp, x, 0, 'a whole number, 0 or more');
      if (policy.baseOndemandFallbackReplicas > 0) fallback ??= kp;
    } else if (k === 'dynamic_ondemand_fallback') {
      if (typeof x !== 'boolean') throw at.error(kp, `expected true or false, got ${show(x)}`);
      policy.dynamicOndemandFallback = x;
      if (x) fallback = kp;
    }
  }
  // SkyServiceSpec's rules, in its order.
  if (max !== undefined && max < policy.minReplicas) {
    throw at.error(
      [...p, 'max_replicas'],
      `max_replicas (${max}) is below min_replicas (${policy.minReplicas}); it must be greater than or equal to it`,
    );
  }
  if (policy.targetQpsPerReplica !== undefined) {
    if (max === undefined) {
      throw at.error(
        [...p, 'target_qps_per_replica'],
        'autoscaling needs max_replicas too: add max_replicas (the most replicas to scale up to)',
      );
    }
  } else if (max !== undefined && max !== policy.minReplicas) {
    throw at.error(
      [...p, 'max_replicas'],
      `max_replicas (${max}) differs from min_replicas (${policy.minReplicas}) but target_qps_per_replica is not set; to autoscale, set target_qps_per_replica (requests per second each replica should take); for a fixed count, write replicas: N`,
    );
  }
  policy.maxReplicas = max ?? policy.minReplicas;
  if (policy.maxReplicas === 0) {
    const key = max === undefined ? 'min_replicas' : 'max_replicas';
    throw at.error([...p, key], `a service that scales to at most 0 replicas ${NEVER}`);
  }
  return { policy, fallback };
}

function readPort(at: At, v: unknown): number {
  const n = typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v;
  if (typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535) return n;
  if ((typeof v === 'string' && /^\s*\d+\s*-\s*\d+\s*$/.test(v)) || Array.isArray(v)) {
    throw at.error(
      ['ports'],
      `service.ports is the one port every replica serves on, got ${show(v)}; open other ports under resources.ports`,
    );
  }
  throw at.error(
    ['ports'],
    `expected a port from 1 to 65535 (the port every replica serves on), got ${show(v)}`,
  );
}

function readLbPolicy(at: At, v: unknown): LoadBalancingPolicy {
  if (typeof v !== 'string') {
    throw at.error(['load_balancing_policy'], `expected ${LB_POLICIES.join(' or ')}, got ${show(v)}`);
  }
  // SkyPilot's schema takes the names in any case.
  const hit = caseInsensitiveMatch(v.trim(), LB_POLICIES);
  if (hit) return hit as LoadBalancingPolicy;
  const lower = v.trim().toLowerCase();
  if (Object.hasOwn(UNSUPPORTED_LB, lower)) {
    throw at.error(
      ['load_balancing_policy'],
      `${lower} is not supported by skyhop (${UNSUPPORTED_LB[lower]}); use ${LB_POLICIES.join(' or ')}`,
    );
  }
  throw at.error(
    ['load_balancing_policy'],
    `unknown load balancing policy ${show(v)}${didYouMean(lower, LB_POLICIES, 1)} (skyhop has ${LB_POLICIES.join(', ')})`,
  );
}

function statOf(p: string): Stats | undefined {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}

/** A local file of the section: `~` expanded, relative to the base directory (then the file's folder, with a warning). */
function localFile(at: At, ctx: ServiceContext, p: Path, value: string): string {
  const where = at.where(p);
  const relative = !isAbsolute(expandHome(value));
  let abs = clientPath(value, ctx.baseDir);
  let st = statOf(abs);
  const beside = relative && ctx.fileDir !== undefined ? clientPath(value, ctx.fileDir) : undefined;
  if (!st && beside !== undefined && beside !== abs) {
    st = statOf(beside);
    if (!st) {
      throw whereError(where, `local file '${value}' does not exist (looked for ${abs} and ${beside})`);
    }
    ctx.warnings.push(
      `${where.prefix()}: '${value}' is not in the current directory; using ${beside} beside the task file ` +
        '(relative paths start from the current directory, as in SkyPilot)',
    );
    abs = beside;
  }
  if (!st) throw whereError(where, `local file '${value}' does not exist (looked for ${abs})`);
  if (!st.isFile()) throw whereError(where, `'${value}' is not a file (looked at ${abs})`);
  return abs;
}

function readTls(at: At, ctx: ServiceContext, v: unknown): { keyfile: string; certfile: string } {
  const p: Path = ['tls'];
  if (!isObj(v)) throw at.error(p, `expected a mapping {keyfile, certfile}, got ${show(v)}`);
  at.keys(v, p, TLS_KEYS, 'tls');
  const out: Partial<Record<'keyfile' | 'certfile', string>> = {};
  for (const [k, x] of Object.entries(v)) {
    const kp = [...p, k];
    if (typeof x !== 'string' || x.trim() === '') {
      throw at.error(
        kp,
        `expected the path of a local ${k === 'keyfile' ? 'key' : 'certificate'} file (PEM), got ${show(x)}`,
      );
    }
    out[k as 'keyfile' | 'certfile'] = localFile(at, ctx, kp, x.trim());
  }
  for (const k of TLS_KEYS) {
    if (out[k as 'keyfile' | 'certfile'] === undefined) {
      throw at.error(
        p,
        `give both keyfile and certfile (the load balancer serves HTTPS with them); ${k} is missing`,
      );
    }
  }
  return out as { keyfile: string; certfile: string };
}

/**
 * The `service:` value of a task document, checked on its own (see the module comment); undefined
 * for an empty section (`service:` with nothing, which SkyPilot reads as no service).
 */
export function readService(value: unknown, ctx: ServiceContext): ServiceDraft | undefined {
  if (value === undefined || value === null) return undefined;
  const at = new At(ctx.src);
  const section = ctx.src.where(['service'], { key: true });
  if (!isObj(value)) {
    throw ctx.src.error(
      ['service'],
      `expected a mapping of service fields (readiness_probe, replicas or replica_policy, ports, ...), got ${show(value)}`,
    );
  }
  at.keys(value, [], SERVICE_KEYS, 'service');
  const v = substitute(value, ctx.vars) as Obj;
  const has = (k: string) => v[k] !== undefined && v[k] !== null;
  if (has('replicas') && has('replica_policy')) {
    const keys = Object.keys(v);
    const second = keys.indexOf('replicas') > keys.indexOf('replica_policy') ? 'replicas' : 'replica_policy';
    throw at.keyError(
      [second],
      'give either replicas (a fixed count) or replica_policy (autoscaling), not both (as in SkyPilot)',
    );
  }
  const draft: ServiceDraft = {
    readinessProbe: readProbe(at, v.readiness_probe),
    replicaPolicy: fixedPolicy(SERVICE_DEFAULTS.minReplicas),
    loadBalancingPolicy: SERVICE_DEFAULTS.loadBalancingPolicy,
    where: { section },
  };
  for (const k of Object.keys(v)) {
    const x = v[k];
    if (x === null || x === undefined || k === 'readiness_probe') continue;
    if (k === 'replicas') draft.replicaPolicy = readReplicas(at, x);
    else if (k === 'replica_policy') {
      const r = readPolicy(at, x);
      draft.replicaPolicy = r.policy;
      if (r.fallback) draft.where.fallback = at.where(r.fallback);
    } else if (k === 'ports') draft.port = readPort(at, x);
    else if (k === 'load_balancing_policy') draft.loadBalancingPolicy = readLbPolicy(at, x);
    else if (k === 'tls') draft.tls = readTls(at, ctx, x);
  }
  return draft;
}

/**
 * The probe with the task's secrets filled into its path, headers and post_data (`$NAME`/`${NAME}`),
 * as SkyPilot substitutes secrets into the section; for the serve controller, right before it probes
 * (the spec itself never holds a secret's value). Names that are not secrets stay as they are.
 */
export function probeWithSecrets(
  probe: ReadinessProbe,
  secrets: Readonly<Record<string, string>>,
): ReadinessProbe {
  if (Object.keys(secrets).length === 0) return probe;
  const out: ReadinessProbe = {
    ...probe,
    path: substitute(probe.path, secrets) as string,
    headers: substitute(probe.headers, secrets) as Record<string, string>,
  };
  if (probe.postData !== undefined) out.postData = substitute(probe.postData, secrets);
  return out;
}

/** The number of ports in `resources.ports` entries ("8080", "10000-10010"). */
function portCount(ports: readonly string[]): number {
  let n = 0;
  for (const p of ports) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(p);
    n += m?.[2] !== undefined ? Number(m[2]) - Number(m[1]) + 1 : 1;
  }
  return n;
}

function alternativeName(task: Task, i: number): string {
  return task.resources.length === 1 ? 'resources' : `alternative ${i + 1}`;
}

/**
 * The replicas' port when service.ports does not give it: the one port every alternative's
 * resources.ports opens (SkyPilot's validate_service_task).
 */
function portFromResources(task: Task, section: Where): number {
  let port: { n: number; i: number } | undefined;
  task.resources.forEach((r: Resources, i) => {
    const where = getOrigins(r).ports ?? section;
    const ports = r.ports ?? [];
    if (ports.length === 0) {
      const other = port ? ` (${alternativeName(task, port.i)} opens ${port.n})` : '';
      throw whereError(
        section,
        `no port for the replicas${task.resources.length > 1 ? ` in ${alternativeName(task, i)}${other}` : ''}: add service.ports: PORT (the port your server listens on), or resources.ports: PORT`,
      );
    }
    if (portCount(ports) !== 1) {
      throw whereError(
        where,
        `opens ${ports.join(', ')}; a service's replicas serve on one port: add service.ports: PORT to say which one (the others stay open), or open only that one here`,
      );
    }
    const n = Number(/^(\d+)/.exec(ports[0])?.[1]);
    if (port && port.n !== n) {
      throw whereError(
        where,
        `${alternativeName(task, i)} opens port ${n} and ${alternativeName(task, port.i)} port ${port.n}; every replica must serve on the same port: give the same one in each, or service.ports: PORT`,
      );
    }
    port ??= { n, i };
  });
  if (!port) {
    throw whereError(section, 'no port for the replicas: add service.ports: PORT, or resources.ports: PORT');
  }
  return port.n;
}

/**
 * The service of `task` checked against its resources, as `sky serve up` does: every alternative
 * uses spot or none does; no job_recovery (SkyServe replaces replicas itself); on-demand fallback
 * only with spot; the replicas' port. Throws a UserError at the place at fault.
 */
export function serviceSpecFor(task: Task, draft: ServiceDraft, recoveryWhere?: Where): ServiceSpec {
  const section = draft.where.section;
  const spot = task.resources.map((r) => r.useSpot === true);
  const odd = spot.findIndex((s) => s !== spot[0]);
  if (odd >= 0) {
    throw whereError(
      getOrigins(task.resources[odd]).useSpot ?? getOrigins(task.resources[0]).useSpot ?? section,
      "a service's resources must all use spot or none use spot (as in SkyPilot); to mix spot and " +
        "on-demand replicas, use use_spot: true with replica_policy's base_ondemand_fallback_replicas " +
        'or dynamic_ondemand_fallback',
    );
  }
  if (task.jobRecovery !== undefined) {
    const what = draft.replicaPolicy.dynamicOndemandFallback ? 'on-demand' : 'spot';
    throw whereError(
      recoveryWhere ?? section,
      `job_recovery does not apply to a service (as in SkyPilot): its controller replaces preempted or failed replicas with ${what} ones itself; leave job_recovery out`,
    );
  }
  const fallback =
    draft.replicaPolicy.dynamicOndemandFallback || draft.replicaPolicy.baseOndemandFallbackReplicas > 0;
  if (fallback && !spot.every((s) => s)) {
    throw whereError(
      draft.where.fallback ?? section,
      'on-demand fallback is for spot replicas: set use_spot: true under resources (as SkyPilot requires)',
    );
  }
  const port = draft.port ?? portFromResources(task, section);
  const spec: ServiceSpec = {
    readinessProbe: {
      ...draft.readinessProbe,
      headers: { ...draft.readinessProbe.headers },
    },
    replicaPolicy: { ...draft.replicaPolicy },
    port,
    loadBalancingPolicy: draft.loadBalancingPolicy,
  };
  if (draft.tls) spec.tls = { ...draft.tls };
  return spec;
}

/** The same service checks where no draft was kept (a Task built in code): places are field paths. */
function draftOf(spec: ServiceSpec): ServiceDraft {
  const p = spec.replicaPolicy;
  const fallback = p.dynamicOndemandFallback
    ? 'dynamicOndemandFallback'
    : p.baseOndemandFallbackReplicas > 0
      ? 'baseOndemandFallbackReplicas'
      : undefined;
  return {
    ...spec,
    where: {
      section: fieldWhere(['service']),
      fallback: fallback ? fieldWhere(['service', 'replicaPolicy', fallback]) : undefined,
    },
  };
}

/**
 * The task's service, checked against its resources as `sky serve up` does (call it after the CLI
 * overrides; `serve up` and `serve update` do); undefined when the task has no `service:` section.
 * Throws a UserError (file:line:col when the task came from a file) saying what to change.
 */
export function checkServiceTask(task: Task): ServiceSpec | undefined {
  const m = getTaskMeta(task)?.service;
  if (m) return serviceSpecFor(task, m.draft, m.recovery);
  if (task.service) return serviceSpecFor(task, draftOf(task.service));
  return undefined;
}

/** `serviceSpecFor`, or undefined where a serve command would refuse it (a `launch` ignores it anyway). */
export function trySpecFor(task: Task, draft: ServiceDraft, recoveryWhere?: Where): ServiceSpec | undefined {
  try {
    return serviceSpecFor(task, draft, recoveryWhere);
  } catch (e) {
    if (e instanceof UserError) return undefined;
    throw e;
  }
}
