/**
 * Cloud storage in `file_mounts` (SkyPilot's storage forms) -> `StorageMount`s: bucket URLs, the
 * `{name, source, store, mode, persistent}` mapping, S3's bucket naming rules, and the one message
 * for stores skyhop does not have yet. No YAML parser or schema library here: `resolvePaths`
 * (command.ts) uses it after `${VAR}` substitution, on parse and again after `--env` overrides.
 */
import { isAbsolute } from 'node:path';
import { STORAGE_MODES, type StorageMode, type StorageMount } from '../core/storage.js';
import type { Task } from '../core/task.js';
import { didYouMean } from '../util/suggest.js';
import { fieldWhere, type Where, whereError } from '../util/yaml/where.js';

/** A string as written and where (the same shape as meta.ts's RawPath). */
export interface RawValue {
  value: string;
  where: Where;
}

/**
 * A `file_mounts` storage mapping as written, before env substitution (kept in TaskMeta so `--env`
 * can redo it). Checks that do not depend on envs (keys, store, mode, persistent) are done when it
 * is read; name and source are checked after substitution.
 */
export interface RawStorageMount {
  remote: RawValue;
  /** The mapping itself (for "give name or source"). */
  where: Where;
  name?: RawValue;
  source?: RawValue;
  mode: StorageMode;
  /** Where `mode:` is written, when it is. */
  modeWhere?: Where;
  persistent: boolean;
}

/** The keys of SkyPilot's storage mapping that skyhop reads (`config` and `type` are read and ignored). */
export const STORAGE_KEYS = ['name', 'source', 'store', 'mode', 'persistent', 'config', 'type'];

/** Keys skyhop accepts and ignores, with why (a warning line each). */
export const IGNORED_STORAGE_KEYS: Record<string, string> = {
  config:
    "skyhop mounts with its own rclone settings (SkyPilot's mount_cached tuning and volume settings are not read)",
  type: "skyhop mounts with its own rclone settings (SkyPilot's MOUNT_CACHED presets are not read)",
  _force_delete:
    "SkyPilot's internal flag for deleting buckets it did not create; skyhop deletes only buckets it created, with persistent: false",
  _is_sky_managed:
    "SkyPilot's internal record of who made the bucket; skyhop decides that from name: and source:",
};

/** SkyPilot keys skyhop rejects, with why. */
export const UNSUPPORTED_STORAGE_KEYS: Record<string, string> = {
  _bucket_sub_path:
    "SkyPilot's internal sub-path field is not supported; to use a folder of an existing bucket write source: s3://bucket/folder",
  _store_region: "SkyPilot's internal bucket region field is not supported",
};

/** SkyPilot's stores (its `store:` values, any case) and what each is, for messages. */
export const SKYPILOT_STORES: Record<string, string> = {
  s3: 'Amazon S3',
  gcs: 'Google Cloud Storage',
  azure: 'Azure Blob Storage',
  r2: 'Cloudflare R2',
  ibm: 'IBM Cloud Object Storage',
  oci: 'OCI Object Storage',
  nebius: 'Nebius Object Storage',
  coreweave: 'CoreWeave Object Storage',
  vastdata: 'VAST Data',
  hf: 'Hugging Face',
};

/** Bucket URL schemes SkyPilot reads and skyhop does not have yet. */
const OTHER_SCHEMES: Record<string, string> = {
  gs: 'Google Cloud Storage',
  r2: 'Cloudflare R2',
  cos: 'IBM Cloud Object Storage',
  oci: 'OCI Object Storage',
  nebius: 'Nebius Object Storage',
  cw: 'CoreWeave Object Storage',
  vastdata: 'VAST Data',
  hf: 'Hugging Face',
};

const ONLY_S3_URL = 'skyhop stores data in S3 only (s3://...)';

/** `store: X` (any case, as SkyPilot's schema reads it) -> 's3', or a ValueError-worthy message. */
export function checkStore(v: unknown): { ok: true } | { ok: false; message: string } {
  if (typeof v !== 'string' || v.trim() === '') {
    return { ok: false, message: `expected a store like s3, got ${showValue(v)}` };
  }
  const s = v.trim().toLowerCase();
  if (s === 's3') return { ok: true };
  if (s === 'volume') {
    return {
      ok: false,
      message:
        'store: volume (SkyPilot volumes, persistent disks mounted on the nodes) is not built yet; use store: s3',
    };
  }
  const what = SKYPILOT_STORES[s];
  if (what) {
    return {
      ok: false,
      message: `${s} (${what}) is not supported yet; skyhop stores data in S3 only (store: s3)`,
    };
  }
  return {
    ok: false,
    message: `unknown store ${JSON.stringify(v)}${didYouMean(s, Object.keys(SKYPILOT_STORES))}; skyhop stores data in S3 only (store: s3)`,
  };
}

/** `mode: X` (any case) -> a StorageMode, or a message. */
export function checkMode(v: unknown): { ok: true; mode: StorageMode } | { ok: false; message: string } {
  if (typeof v === 'string') {
    const up = v.trim().toUpperCase();
    const m = STORAGE_MODES.find((x) => x === up);
    if (m) return { ok: true, mode: m };
  }
  const hint = typeof v === 'string' ? didYouMean(v.trim().toUpperCase(), STORAGE_MODES) : '';
  return { ok: false, message: `expected MOUNT, COPY or MOUNT_CACHED, got ${showValue(v)}${hint}` };
}

function showValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

/**
 * Which of S3's bucket naming rules `name` breaks (a message), or undefined when it follows them all.
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
 */
export function bucketNameProblem(name: string): string | undefined {
  const q = JSON.stringify(name);
  if (name.length < 3 || name.length > 63) {
    const n = `${name.length} character${name.length === 1 ? '' : 's'}`;
    return `bucket name ${q} is ${n} long; S3 bucket names are 3 to 63 characters long`;
  }
  const bad = [...name].find((c) => !/[a-z0-9.-]/.test(c));
  if (bad !== undefined) {
    const why = /[A-Z]/.test(bad) ? ' (no uppercase letters)' : '';
    return `bucket name ${q} has ${JSON.stringify(bad)}; S3 bucket names use only lowercase letters, digits, '.' and '-'${why}`;
  }
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name)) {
    return `bucket name ${q} must begin and end with a lowercase letter or a digit`;
  }
  if (name.includes('..')) return `bucket name ${q} has two dots in a row ('..'), which S3 does not allow`;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) {
    return `bucket name ${q} looks like an IP address, which S3 does not allow`;
  }
  for (const p of ['xn--', 'sthree-', 'amzn-s3-demo-']) {
    if (name.startsWith(p)) return `bucket name ${q} starts with '${p}', a prefix S3 reserves`;
  }
  for (const s of ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3']) {
    if (name.endsWith(s)) return `bucket name ${q} ends with '${s}', a suffix S3 reserves`;
  }
  return undefined;
}

/** `scheme://...` -> the lower-cased scheme, else undefined. */
function schemeOf(s: string): string | undefined {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(s);
  return m ? m[1].toLowerCase() : undefined;
}

/**
 * A bucket URL -> bucket and prefix (`s3://b/a/b/` -> {b, 'a/b'}), or throws at `where` with the
 * store's name when it is not S3 (gs://, r2://, cos://, oci://, Azure's https URLs, ...).
 */
export function parseBucketUrl(url: string, where: Where): { bucket: string; prefix: string } {
  const scheme = schemeOf(url) ?? '';
  if (scheme === 's3') {
    const rest = url.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const prefix = slash < 0 ? '' : rest.slice(slash + 1).replace(/^\/+|\/+$/g, '');
    if (bucket === '')
      throw whereError(where, `${JSON.stringify(url)} names no bucket; write s3://BUCKET/PATH`);
    const problem = bucketNameProblem(bucket);
    if (problem) throw whereError(where, problem);
    return { bucket, prefix };
  }
  if (Object.hasOwn(OTHER_SCHEMES, scheme)) {
    throw whereError(
      where,
      `${scheme}:// (${OTHER_SCHEMES[scheme]}) buckets are not supported yet; ${ONLY_S3_URL}`,
    );
  }
  if (scheme === 'https' && /^https:\/\/[^/]+\.blob\.core\.windows\.net(\/|$)/i.test(url)) {
    throw whereError(
      where,
      `Azure Blob Storage containers (https://<account>.blob.core.windows.net/...) are not supported yet; ${ONLY_S3_URL}`,
    );
  }
  throw whereError(
    where,
    `${JSON.stringify(url)} is not a bucket URL skyhop reads; use s3://BUCKET/PATH or a local path`,
  );
}

/** True for `scheme://...`. */
export function isBucketUrl(s: string): boolean {
  return schemeOf(s) !== undefined;
}

/**
 * Where a bucket may be mounted: an absolute path or one under `~`, not `/` or `~` themselves, not
 * ending in '/' (SkyPilot's rule). Relative paths are refused: SkyPilot puts them under
 * ~/sky_workdir, where the workdir sync would run into the mount.
 */
export function remotePathProblem(remote: string): string | undefined {
  if (remote === '/') return "cannot put a bucket at / (the node's root); choose a folder like /data";
  if (remote === '~' || remote === '~/') {
    return 'cannot put a bucket over the home directory; choose a folder under it like ~/data';
  }
  if (!remote.startsWith('/') && !remote.startsWith('~/')) {
    return `a bucket's remote path must be absolute (/data) or under ~ (~/data), got ${JSON.stringify(remote)}`;
  }
  if (remote.endsWith('/')) {
    return `a bucket's remote path cannot end with '/' (write ${JSON.stringify(remote.replace(/\/+$/, ''))})`;
  }
  return undefined;
}

/** `/data: s3://bucket/path` (after substitution): SkyPilot copies an existing bucket's objects. */
export function storageFromUrl(url: string, where: Where): StorageMount {
  const { bucket, prefix } = parseBucketUrl(url, where);
  return { bucket, prefix, store: 's3', mode: 'COPY', create: false, persistent: true };
}

/** The parts of a storage mapping after substitution, and where each is written. */
export interface StorageValues {
  name?: { value: string; where: Where };
  source?: { value: string; where: Where };
}

/**
 * A storage mapping -> StorageMount, after substitution. `resolveLocal` turns a local source into
 * an absolute directory (the same rules and messages as other file_mounts sources).
 * SkyPilot's rules: a name alone is a bucket created when missing; a name with a local directory is
 * created and the directory uploaded; a bucket URL alone is an existing bucket; a name with a URL is
 * an error; COPY needs a source; a local source needs a name.
 */
export function storageFromMapping(
  raw: RawStorageMount,
  v: StorageValues,
  resolveLocal: (source: { value: string; where: Where }) => string,
): StorageMount {
  const base = { store: 's3' as const, mode: raw.mode, persistent: raw.persistent };
  if (v.name) {
    const n = v.name.value;
    if (isBucketUrl(n)) {
      throw whereError(
        v.name.where,
        `expected a bucket name, got the URL ${JSON.stringify(n)}; to use an existing bucket write source: ${n} (without name:), to create one write name: BUCKET (and store: s3)`,
      );
    }
    const problem = bucketNameProblem(n);
    if (problem) throw whereError(v.name.where, problem);
  }
  if (!v.source) {
    if (!v.name) {
      throw whereError(
        raw.where,
        'give name: (a bucket, created when missing) or source: (s3://BUCKET/PATH, or a local directory with name:)',
      );
    }
    if (raw.mode === 'COPY') {
      throw whereError(
        raw.modeWhere ?? raw.where,
        'mode COPY needs a source: a local directory to upload (with name:), or source: s3://BUCKET/PATH to copy an existing bucket',
      );
    }
    return { bucket: v.name.value, prefix: '', ...base, create: true };
  }
  const src = v.source.value;
  if (isBucketUrl(src)) {
    if (v.name) {
      throw whereError(
        v.name.where,
        `give either name: or a bucket URL in source:, not both (SkyPilot takes the bucket from ${JSON.stringify(src)}); drop name:`,
      );
    }
    const { bucket, prefix } = parseBucketUrl(src, v.source.where);
    return { bucket, prefix, ...base, create: false };
  }
  if (!v.name) {
    throw whereError(
      v.source.where,
      `a local source needs name: (the bucket to upload ${JSON.stringify(src)} to); to copy it to the nodes without a bucket, give the path as the file_mounts value instead of a mapping`,
    );
  }
  if (src.length > 1 && src.endsWith('/')) {
    throw whereError(
      v.source.where,
      `a source directory cannot end with '/' (write ${JSON.stringify(src.replace(/\/+$/, ''))}, as SkyPilot requires)`,
    );
  }
  return { bucket: v.name.value, prefix: '', ...base, localSource: resolveLocal(v.source), create: true };
}

/**
 * Checks the storage mounts of a task built in code (the SDK's typed Dag): the same rules the YAML
 * parser applies, each error naming `storageMounts['/remote'].field`.
 */
export function checkStorageMounts(task: Pick<Task, 'storageMounts' | 'fileMounts'>): void {
  for (const [remote, m] of Object.entries(task.storageMounts ?? {})) {
    const at = (field?: string) =>
      fieldWhere(field ? ['storageMounts', remote, field] : ['storageMounts', remote]);
    const remoteProblem = remotePathProblem(remote);
    if (remoteProblem) throw whereError(at(), remoteProblem);
    if (Object.hasOwn(task.fileMounts ?? {}, remote)) {
      throw whereError(at(), `${JSON.stringify(remote)} is also a file_mounts path; use it once`);
    }
    if (!m || typeof m !== 'object') throw whereError(at(), 'expected a StorageMount object');
    if (typeof m.bucket !== 'string') throw whereError(at('bucket'), 'expected a bucket name (a string)');
    const problem = bucketNameProblem(m.bucket);
    if (problem) throw whereError(at('bucket'), problem);
    if (typeof m.prefix !== 'string' || m.prefix.startsWith('/') || m.prefix.endsWith('/')) {
      throw whereError(
        at('prefix'),
        "expected a folder in the bucket without leading or trailing '/' ('' for all of it)",
      );
    }
    const store = checkStore(m.store);
    if (!store.ok) throw whereError(at('store'), store.message);
    if (!STORAGE_MODES.includes(m.mode)) {
      throw whereError(at('mode'), `expected 'MOUNT', 'COPY' or 'MOUNT_CACHED', got ${showValue(m.mode)}`);
    }
    if (typeof m.create !== 'boolean') throw whereError(at('create'), 'expected true or false');
    if (typeof m.persistent !== 'boolean') throw whereError(at('persistent'), 'expected true or false');
    if (m.localSource !== undefined && (typeof m.localSource !== 'string' || !isAbsolute(m.localSource))) {
      throw whereError(
        at('localSource'),
        `expected an absolute local directory, got ${showValue(m.localSource)}`,
      );
    }
  }
}
