/**
 * Buckets: check (HeadBucket), create (CreateBucket with the region's LocationConstraint), delete
 * (empty it in batches of 1000, then DeleteBucket; a missing bucket counts as deleted).
 */
import { bucketNameProblem } from '../task/storage.js';
import type { S3Client } from '@aws-sdk/client-s3';
import { CloudError, UserError } from '../util/errors.js';
import { type S3Handle, s3ErrorFacts } from './s3.js';

export type BucketState =
  | { state: 'exists' }
  | { state: 'missing' }
  /** `code`: the store's error code, e.g. AccessDenied. */
  | { state: 'denied'; code: string };

function assertName(bucket: string): void {
  const why = bucketNameProblem(bucket);
  if (why) throw new UserError(`s3://${bucket}: invalid bucket name (${why})`);
}

function cloudError(what: string, e: unknown): CloudError {
  const f = s3ErrorFacts(e);
  return new CloudError(`${what}: ${f.code}${f.status ? ` (HTTP ${f.status})` : ''}: ${f.message}`, {
    cause: e,
  });
}

/** Whether the bucket exists, is missing, or is not ours to use. Other errors throw. */
export async function checkBucket(h: S3Handle, bucket: string, signal?: AbortSignal): Promise<BucketState> {
  assertName(bucket);
  try {
    await h.client.send(new h.sdk.HeadBucketCommand({ Bucket: bucket }), { abortSignal: signal });
    return { state: 'exists' };
  } catch (e) {
    const f = s3ErrorFacts(e);
    if (f.status === 404 || f.code === 'NotFound' || f.code === 'NoSuchBucket') return { state: 'missing' };
    if (f.status === 403) return { state: 'denied', code: await deniedCode(h.client, h, bucket, signal) };
    if (f.status === 400 || f.code === 'InvalidBucketName') {
      throw new UserError(`s3://${bucket}: the store refuses the bucket name (${f.code})`, { cause: e });
    }
    if (f.status === 301) {
      throw new UserError(
        `s3://${bucket} is in another region than ${h.region}; set AWS_REGION to the bucket's region`,
        { cause: e },
      );
    }
    throw cloudError(`checking s3://${bucket}`, e);
  }
}

/** A HEAD has no body, so no error code: a GET of the same bucket says which (e.g. AccessDenied). */
async function deniedCode(
  client: S3Client,
  h: S3Handle,
  bucket: string,
  signal?: AbortSignal,
): Promise<string> {
  try {
    await client.send(new h.sdk.ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1 }), {
      abortSignal: signal,
    });
  } catch (e) {
    const f = s3ErrorFacts(e);
    if (f.status === 403 && f.code && f.code !== 'Forbidden' && f.code !== '403') return f.code;
  }
  return 'AccessDenied';
}

/**
 * Creates the bucket in the client's region. A bucket this account already owns counts as created
 * (false is returned); a name another account holds is a UserError.
 */
export async function createBucket(h: S3Handle, bucket: string, signal?: AbortSignal): Promise<boolean> {
  assertName(bucket);
  try {
    await h.client.send(
      new h.sdk.CreateBucketCommand({
        Bucket: bucket,
        ...(h.region === 'us-east-1'
          ? {}
          : { CreateBucketConfiguration: { LocationConstraint: h.region as never } }),
      }),
      { abortSignal: signal },
    );
    return true;
  } catch (e) {
    const f = s3ErrorFacts(e);
    if (f.code === 'BucketAlreadyOwnedByYou') return false;
    if (f.code === 'BucketAlreadyExists') {
      throw new UserError(`s3://${bucket}: the name is taken (bucket names are global); choose another`, {
        cause: e,
      });
    }
    if (f.status === 403) {
      throw new UserError(`s3://${bucket}: creating the bucket is denied (${f.code})`, { cause: e });
    }
    if (f.code === 'InvalidBucketName') {
      throw new UserError(`s3://${bucket}: the store refuses the bucket name (${f.code})`, { cause: e });
    }
    throw cloudError(`creating s3://${bucket}`, e);
  }
}

function isMissing(e: unknown): boolean {
  const f = s3ErrorFacts(e);
  return f.code === 'NoSuchBucket' || (f.status === 404 && f.code !== 'NoSuchKey');
}

/**
 * Deletes every object (and object version) of the bucket in batches of 1000, then the bucket.
 * Returns false when the bucket was already gone (idempotent).
 */
export async function deleteBucket(
  h: S3Handle,
  bucket: string,
  ev: { onStep?(m: string): void; signal?: AbortSignal } = {},
): Promise<boolean> {
  assertName(bucket);
  const opts = { abortSignal: ev.signal };
  try {
    await abortUploads(h, bucket, ev.signal);
    await deleteObjects(h, bucket, ev);
    for (let attempt = 0; ; attempt++) {
      try {
        await h.client.send(new h.sdk.DeleteBucketCommand({ Bucket: bucket }), opts);
        return true;
      } catch (e) {
        if (s3ErrorFacts(e).code !== 'BucketNotEmpty' || attempt > 3) throw e;
        // Versioned bucket (or objects written meanwhile): remove every version and delete marker.
        await deleteVersions(h, bucket, ev.signal);
        await deleteObjects(h, bucket, ev);
      }
    }
  } catch (e) {
    if (isMissing(e)) return false;
    if (e instanceof UserError || e instanceof CloudError) throw e;
    const f = s3ErrorFacts(e);
    if (f.status === 403) {
      throw new UserError(`s3://${bucket}: deleting is denied (${f.code})`, { cause: e });
    }
    throw cloudError(`deleting s3://${bucket}`, e);
  }
}

async function deleteVersions(h: S3Handle, bucket: string, signal?: AbortSignal): Promise<void> {
  for (;;) {
    const page = await h.client.send(new h.sdk.ListObjectVersionsCommand({ Bucket: bucket, MaxKeys: 1000 }), {
      abortSignal: signal,
    });
    const ids = [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].flatMap((v) =>
      v.Key === undefined ? [] : [{ Key: v.Key, VersionId: v.VersionId }],
    );
    if (ids.length === 0) return;
    await deleteBatch(h, bucket, ids, signal);
  }
}

/**
 * Aborts the bucket's unfinished multipart uploads (an upload killed mid-file leaves its parts, which
 * S3 stores, and bills, until they are aborted).
 */
async function abortUploads(h: S3Handle, bucket: string, signal?: AbortSignal): Promise<void> {
  for (;;) {
    const page = await h.client.send(new h.sdk.ListMultipartUploadsCommand({ Bucket: bucket }), {
      abortSignal: signal,
    });
    const uploads = (page.Uploads ?? []).filter((u) => u.Key !== undefined && u.UploadId !== undefined);
    if (uploads.length === 0) return;
    await Promise.all(
      uploads.map((u) =>
        h.client.send(
          new h.sdk.AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }),
          { abortSignal: signal },
        ),
      ),
    );
  }
}

/** Deletes every object of a bucket, a page (1000 keys) at a time, saying so every 10 pages. */
async function deleteObjects(
  h: S3Handle,
  bucket: string,
  ev: { onStep?(m: string): void; signal?: AbortSignal },
): Promise<void> {
  let removed = 0;
  for (let pages = 1; ; pages++) {
    const page = await h.client.send(new h.sdk.ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000 }), {
      abortSignal: ev.signal,
    });
    const keys = (page.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [{ Key: o.Key }]));
    if (keys.length === 0) return;
    await deleteBatch(h, bucket, keys, ev.signal);
    removed += keys.length;
    if (pages % 10 === 0) ev.onStep?.(`s3://${bucket}: ${removed} objects deleted`);
  }
}

async function deleteBatch(
  h: S3Handle,
  bucket: string,
  objects: Array<{ Key: string; VersionId?: string }>,
  signal?: AbortSignal,
): Promise<void> {
  const r = await h.client.send(
    new h.sdk.DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects, Quiet: true } }),
    { abortSignal: signal },
  );
  const errs = r.Errors ?? [];
  if (errs.length > 0) {
    const first = errs[0];
    const msg = `deleting objects of s3://${bucket}: ${errs.length} failed, e.g. ${first.Key}: ${first.Code}: ${first.Message}`;
    if (first.Code === 'AccessDenied') throw new UserError(msg);
    throw new CloudError(msg);
  }
}
