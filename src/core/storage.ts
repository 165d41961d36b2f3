/**
 * Cloud storage in a task (SkyPilot's storage model): a bucket made available on every node at a
 * path, mounted or copied. `src/task` parses the `file_mounts` forms into these; `src/storage`
 * creates buckets, uploads sources, records them in the state and mounts them on the nodes.
 */

/**
 * How a bucket reaches the nodes (SkyPilot's names):
 * - `MOUNT`: a FUSE mount; reads and writes go to the bucket (writes are uploaded when a file is
 *   closed, and every upload has finished before the job counts as ended).
 * - `MOUNT_CACHED`: a FUSE mount with a local write-back cache (reads cached too); the cache is
 *   flushed to the bucket before the job counts as ended.
 * - `COPY`: the objects are copied onto the node's disk before setup; later writes stay local.
 */
export type StorageMode = 'MOUNT' | 'COPY' | 'MOUNT_CACHED';
export const STORAGE_MODES: readonly StorageMode[] = ['MOUNT', 'COPY', 'MOUNT_CACHED'];

/** The object stores skyhop can use (S3 and S3-compatible endpoints). */
export type StoreKind = 's3';

/** One bucket at one remote path (a value of `Task.storageMounts`). */
export interface StorageMount {
  /** The bucket's name. */
  bucket: string;
  /** A folder inside the bucket ('' for the whole bucket), without leading or trailing '/'. */
  prefix: string;
  store: StoreKind;
  mode: StorageMode;
  /**
   * A local directory (absolute) uploaded into the bucket before the nodes see it (`source: ./dir`
   * with `name:`); unchanged files are not sent again.
   */
  localSource?: string;
  /**
   * Whether skyhop may create the bucket when it is missing (a `name:` was given). A bucket named
   * only by URL (`s3://b/x`, `source: s3://b`) must exist.
   */
  create: boolean;
  /**
   * false: a bucket skyhop created for this cluster is deleted when the cluster is torn down
   * (SkyPilot's `persistent: false`). Default true.
   */
  persistent: boolean;
}

/**
 * How nodes reach the S3 store: the endpoint (absent: AWS itself), the region, and keys for clouds
 * whose nodes have no better way. Without `credentials` the nodes use their own (on AWS the IAM
 * instance profile skyhop attaches; rclone's `env_auth`). Never logged, never in argv: it reaches a
 * node as a 0600 file.
 */
export interface S3Access {
  endpoint?: string;
  region: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}
