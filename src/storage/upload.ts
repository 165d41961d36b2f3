/**
 * Uploads a local directory tree (or one file) into bucket/prefix, skipping what is unchanged.
 *
 * - Which files: the workdir sync's rules (`.skyignore`, else `.gitignore`; src/runtime/sync.ts).
 * - Unchanged files are never sent. The bucket's listing (ListObjectsV2) is the truth; a manifest in
 *   `$SKYHOP_HOME/storage/<bucket>.json` remembers key -> {size, mtimeMs, etag} of what was sent or
 *   checked. A file whose size and mtime match the manifest, and whose listed ETag is the manifest's,
 *   is skipped without reading it. Otherwise, when the listed size matches, its ETag is computed
 *   (MD5; for a multipart object the MD5 of the parts' MD5s and "-N", with the part size) and the
 *   file is sent only when it differs.
 * - Files are sent in parallel (a bounded pool); a file above the part size goes as a multipart
 *   upload (lib-storage `Upload`) with its parts in parallel.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { compileIgnore, ignorePatterns } from '../runtime/sync.js';
import { CloudError, InterruptedError, UserError } from '../util/errors.js';
import { skyhopHome } from '../util/paths.js';
import { loadLibStorage, type S3Handle, s3ErrorFacts } from './s3.js';

export interface UploadOptions {
  /** Files sent at once (default 32). */
  concurrency?: number;
  /** Multipart part size in bytes (default 16 MiB, at least 5 MiB); a larger file goes in parts. */
  partSize?: number;
  /** Parts of one file sent at once (default 8). */
  partConcurrency?: number;
  /** Files above the part size sent at once (default 2; each holds partConcurrency parts in memory). */
  largeConcurrency?: number;
  signal?: AbortSignal;
  onStep?(m: string): void;
}

export interface UploadResult {
  /** Objects sent. */
  sent: number;
  /** Files left alone because the bucket already has them. */
  skipped: number;
  /** Bytes sent. */
  bytes: number;
}

export const DEFAULT_PART_SIZE = 16 * 1024 * 1024;
const MIN_PART_SIZE = 5 * 1024 * 1024;
/** Files up to this size are read into memory and sent in one request. */
const BUFFERED_MAX = 8 * 1024 * 1024;

interface LocalFile {
  abs: string;
  key: string;
  size: number;
  mtimeMs: number;
}

interface ManifestEntry {
  size: number;
  mtimeMs: number;
  etag: string;
}

interface Manifest {
  endpoint: string | null;
  objects: Record<string, ManifestEntry>;
}

function manifestPath(bucket: string): string {
  return join(skyhopHome(), 'storage', `${bucket}.json`);
}

async function readManifest(bucket: string, endpoint: string | null): Promise<Manifest> {
  try {
    const m = JSON.parse(await fsp.readFile(manifestPath(bucket), 'utf8')) as Manifest;
    if (m && m.endpoint === endpoint && m.objects && typeof m.objects === 'object') return m;
  } catch {
    // none yet, or unreadable: every file is checked against the listing
  }
  return { endpoint, objects: {} };
}

async function writeManifest(bucket: string, m: Manifest): Promise<void> {
  const p = manifestPath(bucket);
  await fsp.mkdir(dirname(p), { recursive: true, mode: 0o700 });
  const tmp = `${p}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, JSON.stringify(m), { mode: 0o600 });
  await fsp.rename(tmp, p);
}

/** Forgets the manifest of a bucket (it was deleted). */
export async function dropManifest(bucket: string): Promise<void> {
  await fsp.rm(manifestPath(bucket), { force: true });
}

const unquote = (etag: string | undefined) => (etag ?? '').replace(/^"|"$/g, '');

/** The files of `source` (a directory, minus its ignore rules; or one file), with their keys. */
async function localFiles(source: string, prefix: string): Promise<LocalFile[]> {
  const st = await fsp.stat(source).catch(() => null);
  if (!st) throw new UserError(`${source}: no such file or directory`);
  const keyOf = (rel: string) => (prefix ? `${prefix}/${rel}` : rel);
  if (st.isFile()) return [{ abs: source, key: keyOf(basename(source)), size: st.size, mtimeMs: st.mtimeMs }];
  if (!st.isDirectory()) throw new UserError(`${source}: not a file or directory`);
  const excluded = compileIgnore(ignorePatterns(source).patterns);
  const out: LocalFile[] = [];
  const walk = async (rel: string): Promise<void> => {
    const dir = rel ? join(source, rel) : source;
    const entries = await fsp.readdir(dir, { withFileTypes: true });
    await Promise.all(
      entries.map(async (e) => {
        const r = rel ? `${rel}/${e.name}` : e.name;
        let isDir = e.isDirectory();
        let isFile = e.isFile();
        const abs = join(dir, e.name);
        let s: Awaited<ReturnType<typeof fsp.stat>> | null = null;
        if (e.isSymbolicLink()) {
          // A link to a file is uploaded as that file; links to directories are not followed (loops).
          s = await fsp.stat(abs).catch(() => null);
          isFile = !!s?.isFile();
          isDir = false;
        }
        if (excluded(r, isDir)) return;
        if (isDir) return walk(r);
        if (!isFile) return; // sockets, fifos, devices, dangling or directory links
        s ??= await fsp.stat(abs);
        out.push({ abs, key: keyOf(r), size: s.size, mtimeMs: s.mtimeMs });
      }),
    );
  };
  await walk('');
  return out;
}

/** The ETag S3 gives the file's content when sent as skyhop sends it (single part or `partSize` parts). */
export async function localEtag(abs: string, size: number, partSize: number): Promise<string> {
  if (size <= partSize) {
    const h = createHash('md5');
    for await (const chunk of createReadStream(abs, { highWaterMark: 1024 * 1024 }))
      h.update(chunk as Buffer);
    return h.digest('hex');
  }
  const parts: Buffer[] = [];
  let part = createHash('md5');
  let inPart = 0;
  for await (const c of createReadStream(abs, { highWaterMark: 1024 * 1024 })) {
    let chunk = c as Buffer;
    while (chunk.length > 0) {
      const take = Math.min(chunk.length, partSize - inPart);
      part.update(chunk.subarray(0, take));
      inPart += take;
      chunk = chunk.subarray(take);
      if (inPart === partSize) {
        parts.push(part.digest());
        part = createHash('md5');
        inPart = 0;
      }
    }
  }
  if (inPart > 0) parts.push(part.digest());
  return `${createHash('md5').update(Buffer.concat(parts)).digest('hex')}-${parts.length}`;
}

/** The part size a multipart ETag "…-N" of an object of `size` bytes was most likely made with. */
function partSizeFor(etag: string, size: number, ours: number): number | null {
  const m = /-(\d+)$/.exec(etag);
  if (!m) return null;
  const n = Number(m[1]);
  if (Math.ceil(size / ours) === n) return ours;
  // Another tool's part size: the smallest whole MiB that gives N parts (rclone, aws s3 use MiB sizes).
  const mib = 1024 * 1024;
  const ps = Math.ceil(size / n / mib) * mib;
  return Math.ceil(size / ps) === n ? ps : null;
}

/** Everything under `prefix` in the bucket: key -> {size, etag}. */
async function listRemote(
  h: S3Handle,
  bucket: string,
  prefix: string,
  signal?: AbortSignal,
): Promise<Map<string, { size: number; etag: string }>> {
  const out = new Map<string, { size: number; etag: string }>();
  let token: string | undefined;
  do {
    const page = await h.client.send(
      new h.sdk.ListObjectsV2Command({
        Bucket: bucket,
        MaxKeys: 1000,
        ...(prefix ? { Prefix: prefix } : {}),
        ...(token ? { ContinuationToken: token } : {}),
      }),
      { abortSignal: signal },
    );
    for (const o of page.Contents ?? []) {
      if (o.Key !== undefined) out.set(o.Key, { size: o.Size ?? -1, etag: unquote(o.ETag) });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/** A counting semaphore. */
function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async (fn) => {
    if (active >= n) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

/**
 * Uploads `source` (a directory or a file) to s3://bucket/prefix. Unchanged files are not sent.
 * The bucket must exist.
 */
export async function uploadTree(
  h: S3Handle,
  source: string,
  bucket: string,
  prefix: string,
  opts: UploadOptions = {},
): Promise<UploadResult> {
  const partSize = Math.max(MIN_PART_SIZE, opts.partSize ?? DEFAULT_PART_SIZE);
  const concurrency = Math.max(1, opts.concurrency ?? 32);
  const partConcurrency = Math.max(1, opts.partConcurrency ?? 8);
  const large = limiter(Math.max(1, opts.largeConcurrency ?? 2));
  const signal = opts.signal;
  const cleanPrefix = prefix.replace(/^\/+|\/+$/g, '');
  const endpoint = h.endpoint ?? null;

  const [files, remote, manifest] = await Promise.all([
    localFiles(source, cleanPrefix),
    listRemote(h, bucket, cleanPrefix ? `${cleanPrefix}/` : '', signal),
    readManifest(bucket, endpoint),
  ]);
  const result: UploadResult = { sent: 0, skipped: 0, bytes: 0 };
  const toCheck: LocalFile[] = [];
  for (const f of files) {
    const listed = remote.get(f.key);
    const m = manifest.objects[f.key];
    if (
      listed &&
      m &&
      listed.size === f.size &&
      m.size === f.size &&
      m.mtimeMs === f.mtimeMs &&
      m.etag === listed.etag
    ) {
      result.skipped++;
    } else {
      toCheck.push(f);
    }
  }
  if (toCheck.length === 0) return result;
  opts.onStep?.(
    `s3://${bucket}${cleanPrefix ? `/${cleanPrefix}` : ''}: checking ${toCheck.length} of ${files.length} file${files.length === 1 ? '' : 's'}`,
  );

  let changedManifest = false;
  const send = async (f: LocalFile): Promise<void> => {
    const listed = remote.get(f.key);
    if (listed && listed.size === f.size) {
      const ps = partSizeFor(listed.etag, f.size, partSize) ?? partSize;
      const etag = await localEtag(f.abs, f.size, ps);
      if (etag === listed.etag) {
        manifest.objects[f.key] = { size: f.size, mtimeMs: f.mtimeMs, etag };
        changedManifest = true;
        result.skipped++;
        return;
      }
    }
    let etag: string;
    if (f.size <= partSize) {
      const body = f.size <= BUFFERED_MAX ? await fsp.readFile(f.abs) : createReadStream(f.abs);
      const r = await h.client.send(
        new h.sdk.PutObjectCommand({ Bucket: bucket, Key: f.key, Body: body, ContentLength: f.size }),
        { abortSignal: signal },
      );
      etag = unquote(r.ETag);
    } else {
      etag = await large(async () => {
        const { Upload } = await loadLibStorage();
        const up = new Upload({
          client: h.client,
          params: {
            Bucket: bucket,
            Key: f.key,
            Body: createReadStream(f.abs, { highWaterMark: 1024 * 1024 }),
          },
          partSize,
          queueSize: partConcurrency,
          leavePartsOnError: false,
        });
        const onAbort = () => void up.abort().catch(() => {});
        signal?.addEventListener('abort', onAbort, { once: true });
        try {
          const r = await up.done();
          return unquote(r.ETag);
        } finally {
          signal?.removeEventListener('abort', onAbort);
        }
      });
    }
    manifest.objects[f.key] = { size: f.size, mtimeMs: f.mtimeMs, etag };
    changedManifest = true;
    result.sent++;
    result.bytes += f.size;
  };

  let failure: unknown = null;
  let next = 0;
  const worker = async () => {
    while (failure === null && next < toCheck.length) {
      const f = toCheck[next++];
      if (signal?.aborted) {
        failure ??= new InterruptedError('upload interrupted');
        return;
      }
      try {
        await send(f);
      } catch (e) {
        failure ??= { file: f, error: e };
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, toCheck.length) }, worker));
  } finally {
    if (changedManifest) await writeManifest(bucket, manifest).catch(() => {});
  }
  if (failure !== null) {
    if (failure instanceof InterruptedError) throw failure;
    const { file, error } = failure as { file: LocalFile; error: unknown };
    if (signal?.aborted) throw new InterruptedError('upload interrupted');
    if (error instanceof UserError) throw error;
    const f = s3ErrorFacts(error);
    const msg = `uploading ${file.abs} to s3://${bucket}/${file.key}: ${f.code}: ${f.message}`;
    if (f.status === 403) throw new UserError(msg, { cause: error });
    throw new CloudError(msg, { cause: error });
  }
  return result;
}
