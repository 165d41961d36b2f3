/**
 * Cloud storage in file_mounts (SkyPilot's storage forms) through the real parser: bucket URLs, the
 * {name, source, store, mode, persistent} mapping, S3's bucket naming rules, the stores skyhop does
 * not have yet, env substitution and --env overrides, and the check for tasks built in code.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StorageMount } from '../../../src/core/storage.js';
import {
  applyOverrides,
  bucketNameProblem,
  checkStorageMounts,
  type ParseOptions,
  parseTaskFile,
  parseTaskText,
  type Task,
  taskFromCommand,
} from '../../../src/task/index.js';
import { UserError } from '../../../src/util/errors.js';
import { tempDir } from './helpers.js';

function one(yaml: string, opts: ParseOptions = {}): Task {
  const dag = parseTaskText(yaml, 'task.yaml', opts);
  assert.equal(dag.tasks.length, 1);
  return dag.tasks[0];
}

function throwsMessage(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof UserError, `not a UserError: ${String(e)}`);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

/** A file_mounts entry `/ckpt` whose mapping holds `lines` (each `key: value`). */
function mapping(...lines: string[]): string {
  return ['file_mounts:', '  /ckpt:', ...lines.map((l) => `    ${l}`), ''].join('\n');
}

const copyOf = (bucket: string, prefix: string): StorageMount => ({
  bucket,
  prefix,
  store: 's3',
  mode: 'COPY',
  create: false,
  persistent: true,
});

describe('file_mounts: a bucket URL', () => {
  it('s3://bucket/path is a COPY of an existing bucket (SkyPilot copies bucket URLs)', () => {
    const t = one('file_mounts:\n  /data: s3://bucket/path\n');
    assert.deepEqual(t.storageMounts, { '/data': copyOf('bucket', 'path') });
    assert.deepEqual(t.fileMounts, {});
  });

  it('the whole bucket, a deeper folder, and slashes around the path', () => {
    const t = one(
      [
        'file_mounts:',
        '  /a: s3://my-bucket',
        '  /b: s3://my-bucket/',
        '  ~/c: s3://my.bucket.1/x/y/z/',
        '  /d: S3://bucket-2//deep//',
        '',
      ].join('\n'),
    );
    assert.deepEqual(t.storageMounts, {
      '/a': copyOf('my-bucket', ''),
      '/b': copyOf('my-bucket', ''),
      '~/c': copyOf('my.bucket.1', 'x/y/z'),
      '/d': copyOf('bucket-2', 'deep'),
    });
  });

  it('sits beside local file_mounts', () => {
    const t = one('file_mounts:\n  /pkg: package.json\n  /data: s3://bucket/x\n');
    assert.deepEqual(t.fileMounts, { '/pkg': join(process.cwd(), 'package.json') });
    assert.deepEqual(t.storageMounts, { '/data': copyOf('bucket', 'x') });
  });

  it('a task without buckets has no storageMounts', () => {
    assert.equal(one('file_mounts:\n  /pkg: package.json\n').storageMounts, undefined);
    assert.equal(one('run: echo hi\n').storageMounts, undefined);
  });

  it('other stores get one message naming the store', () => {
    const cases: Array<[string, string]> = [
      ['gs://b/x', 'gs:// (Google Cloud Storage) buckets'],
      ['r2://b', 'r2:// (Cloudflare R2) buckets'],
      ['cos://us-east/b', 'cos:// (IBM Cloud Object Storage) buckets'],
      ['oci://b', 'oci:// (OCI Object Storage) buckets'],
      ['nebius://b', 'nebius:// (Nebius Object Storage) buckets'],
      ['cw://b', 'cw:// (CoreWeave Object Storage) buckets'],
      ['hf://datasets/x', 'hf:// (Hugging Face) buckets'],
      [
        'https://acct.blob.core.windows.net/container/x',
        'Azure Blob Storage containers (https://<account>.blob.core.windows.net/...)',
      ],
    ];
    for (const [url, what] of cases) {
      throwsMessage(
        () => one(`file_mounts:\n  /data: ${url}\n`),
        `task.yaml:2:10: file_mounts['/data']: ${what} are not supported yet; skyhop stores data in S3 only (s3://...)`,
      );
    }
  });

  it('a URL that is no bucket store is an error, not a missing local path', () => {
    throwsMessage(
      () => one('file_mounts:\n  /data: https://example.com/data.tar\n'),
      'task.yaml:2:10: file_mounts[\'/data\']: "https://example.com/data.tar" is not a bucket URL skyhop reads; use s3://BUCKET/PATH or a local path',
    );
    throwsMessage(
      () => one('file_mounts:\n  /data: s3:///x\n'),
      'task.yaml:2:10: file_mounts[\'/data\']: "s3:///x" names no bucket; write s3://BUCKET/PATH',
    );
  });

  it('the bucket name in a URL is checked against S3 rules', () => {
    throwsMessage(
      () => one('file_mounts:\n  /data: s3://My_Bucket/x\n'),
      `task.yaml:2:10: file_mounts['/data']: bucket name "My_Bucket" has "M"; S3 bucket names use only lowercase letters, digits, '.' and '-' (no uppercase letters)`,
    );
  });
});

describe('file_mounts: a storage mapping', () => {
  let tmp: ReturnType<typeof tempDir>;
  let proj: string;
  before(() => {
    tmp = tempDir();
    proj = join(tmp.dir, 'proj');
    mkdirSync(join(proj, 'ckpt-dir'), { recursive: true });
    mkdirSync(join(proj, 'run-7'), { recursive: true });
    writeFileSync(join(proj, 'one-file.txt'), 'x');
  });
  after(() => tmp.done());

  it('name alone: a bucket created when missing, mounted (MOUNT is the default), persistent', () => {
    assert.deepEqual(one(mapping('name: my-bucket')).storageMounts, {
      '/ckpt': {
        bucket: 'my-bucket',
        prefix: '',
        store: 's3',
        mode: 'MOUNT',
        create: true,
        persistent: true,
      },
    });
  });

  it('name and a local source: created and uploaded; the source resolves like other file_mounts paths', () => {
    const t = one(
      mapping('name: my-bucket', 'source: ./ckpt-dir', 'store: s3', 'mode: MOUNT', 'persistent: true'),
      { baseDir: proj },
    );
    assert.deepEqual(t.storageMounts, {
      '/ckpt': {
        bucket: 'my-bucket',
        prefix: '',
        store: 's3',
        mode: 'MOUNT',
        create: true,
        persistent: true,
        localSource: join(proj, 'ckpt-dir'),
      },
    });
  });

  it('a relative source missing from the current directory is taken beside the task file, with the usual warning', () => {
    const p = join(proj, 'task.yaml');
    writeFileSync(p, mapping('name: my-bucket', 'source: ckpt-dir'));
    const dag = parseTaskFile(p);
    assert.equal(dag.tasks[0].storageMounts?.['/ckpt'].localSource, join(proj, 'ckpt-dir'));
    assert.deepEqual(dag.warnings, [
      `${p}:4:13: file_mounts['/ckpt'].source: 'ckpt-dir' is not in the current directory; using ${join(proj, 'ckpt-dir')} beside the task file (relative paths start from the current directory, as in SkyPilot)`,
    ]);
  });

  it('an absolute and a ~ source', () => {
    const t = one(mapping('name: my-bucket', `source: ${join(proj, 'ckpt-dir')}`));
    assert.equal(t.storageMounts?.['/ckpt'].localSource, join(proj, 'ckpt-dir'));
    const old = process.env.HOME;
    process.env.HOME = proj;
    try {
      const t2 = one(mapping('name: my-bucket', 'source: ~/ckpt-dir'));
      assert.equal(t2.storageMounts?.['/ckpt'].localSource, join(proj, 'ckpt-dir'));
    } finally {
      if (old === undefined) delete process.env.HOME;
      else process.env.HOME = old;
    }
  });

  it('a bucket URL source without name: an existing bucket (folder kept), in the mode asked', () => {
    assert.deepEqual(one(mapping('source: s3://data-bucket/train/')).storageMounts, {
      '/ckpt': {
        bucket: 'data-bucket',
        prefix: 'train',
        store: 's3',
        mode: 'MOUNT',
        create: false,
        persistent: true,
      },
    });
    assert.deepEqual(one(mapping('source: s3://data-bucket', 'mode: COPY')).storageMounts?.['/ckpt'], {
      ...copyOf('data-bucket', ''),
    });
  });

  it('mode and store in any case, as SkyPilot reads them; persistent: false', () => {
    const t = one(mapping('name: my-bucket', 'store: S3', 'mode: mount_cached', 'persistent: false'));
    assert.deepEqual(t.storageMounts?.['/ckpt'], {
      bucket: 'my-bucket',
      prefix: '',
      store: 's3',
      mode: 'MOUNT_CACHED',
      create: true,
      persistent: false,
    });
    assert.equal(one(mapping('name: my-bucket', 'mode: Mount')).storageMounts?.['/ckpt'].mode, 'MOUNT');
  });

  it('null values are defaults, as in SkyPilot', () => {
    assert.deepEqual(
      one(mapping('name: my-bucket', 'mode:', 'persistent:', 'store:')).storageMounts?.['/ckpt'],
      {
        bucket: 'my-bucket',
        prefix: '',
        store: 's3',
        mode: 'MOUNT',
        create: true,
        persistent: true,
      },
    );
  });

  it('SkyPilot keys skyhop ignores warn once each, with their place', () => {
    const dag = parseTaskText(
      mapping('name: my-bucket', 'config:', '  mount_cached:', '    transfers: 8', '_force_delete: true'),
      'task.yaml',
    );
    assert.equal(dag.tasks[0].storageMounts?.['/ckpt'].bucket, 'my-bucket');
    assert.deepEqual(dag.warnings, [
      "task.yaml:4:5: file_mounts['/ckpt'].config: ignored; skyhop mounts with its own rclone settings (SkyPilot's mount_cached tuning and volume settings are not read)",
      "task.yaml:7:5: file_mounts['/ckpt']._force_delete: ignored; SkyPilot's internal flag for deleting buckets it did not create; skyhop deletes only buckets it created, with persistent: false",
    ]);
  });

  it("SkyPilot's rules for name and source", () => {
    throwsMessage(
      () => one(mapping('name: my-bucket', 'source: s3://other-bucket/x')),
      `task.yaml:3:11: file_mounts['/ckpt'].name: give either name: or a bucket URL in source:, not both (SkyPilot takes the bucket from "s3://other-bucket/x"); drop name:`,
    );
    throwsMessage(
      () => one(mapping('name: my-bucket', 'mode: COPY')),
      "task.yaml:4:11: file_mounts['/ckpt'].mode: mode COPY needs a source: a local directory to upload (with name:), or source: s3://BUCKET/PATH to copy an existing bucket",
    );
    throwsMessage(
      () => one(mapping('source: ./ckpt-dir'), { baseDir: proj }),
      `task.yaml:3:13: file_mounts['/ckpt'].source: a local source needs name: (the bucket to upload "./ckpt-dir" to); to copy it to the nodes without a bucket, give the path as the file_mounts value instead of a mapping`,
    );
    throwsMessage(
      () => one('file_mounts:\n  /ckpt: {}\n'),
      "task.yaml:2:10: file_mounts['/ckpt']: give name: (a bucket, created when missing) or source: (s3://BUCKET/PATH, or a local directory with name:)",
    );
    throwsMessage(
      () => one('file_mounts:\n  /ckpt:\n    mode: MOUNT\n'),
      "task.yaml:3:5: file_mounts['/ckpt']: give name: (a bucket, created when missing) or source: (s3://BUCKET/PATH, or a local directory with name:)",
    );
    throwsMessage(
      () => one(mapping('name: s3://my-bucket')),
      `task.yaml:3:11: file_mounts['/ckpt'].name: expected a bucket name, got the URL "s3://my-bucket"; to use an existing bucket write source: s3://my-bucket (without name:), to create one write name: BUCKET (and store: s3)`,
    );
  });

  it('a list of sources is not supported yet', () => {
    throwsMessage(
      () => one(mapping('name: my-bucket', 'source: [./a, ./b]')),
      "task.yaml:4:13: file_mounts['/ckpt'].source: a list of sources is not supported yet; give one local directory (uploaded to the bucket) or a bucket URL, and copy single files with plain file_mounts entries",
    );
  });

  it('a local source must exist and be a directory, without a trailing /', () => {
    throwsMessage(
      () => one(mapping('name: my-bucket', 'source: ./nope'), { baseDir: proj }),
      `task.yaml:4:13: file_mounts['/ckpt'].source: local directory './nope' does not exist (looked for ${join(proj, 'nope')})`,
    );
    throwsMessage(
      () => one(mapping('name: my-bucket', 'source: ./one-file.txt'), { baseDir: proj }),
      `task.yaml:4:13: file_mounts['/ckpt'].source: './one-file.txt' is not a directory (looked at ${join(proj, 'one-file.txt')}); a bucket's source must be a directory (copy a single file with a plain file_mounts entry, REMOTE: FILE)`,
    );
    throwsMessage(
      () => one(mapping('name: my-bucket', 'source: ./ckpt-dir/'), { baseDir: proj }),
      `task.yaml:4:13: file_mounts['/ckpt'].source: a source directory cannot end with '/' (write "./ckpt-dir", as SkyPilot requires)`,
    );
  });

  it('unknown keys are errors at the key, with the nearest name', () => {
    throwsMessage(
      () => one(mapping('name: my-bucket', 'sorce: ./x')),
      "task.yaml:4:5: file_mounts['/ckpt'].sorce: unknown field 'sorce' (did you mean 'source'?)",
    );
    throwsMessage(
      () => one(mapping('name: my-bucket', 'persistant: true')),
      "task.yaml:4:5: file_mounts['/ckpt'].persistant: unknown field 'persistant' (did you mean 'persistent'?)",
    );
    throwsMessage(
      () => one(mapping('name: my-bucket', 'region: us-east-1')),
      "task.yaml:4:5: file_mounts['/ckpt'].region: unknown field 'region'",
    );
    throwsMessage(
      () => one(mapping('name: my-bucket', '_bucket_sub_path: x')),
      "task.yaml:4:5: file_mounts['/ckpt']._bucket_sub_path: field '_bucket_sub_path' is not supported by skyhop (SkyPilot's internal sub-path field is not supported; to use a folder of an existing bucket write source: s3://bucket/folder)",
    );
  });

  it('bad values of mode, store, persistent, name and source', () => {
    throwsMessage(
      () => one(mapping('name: my-bucket', 'mode: COPPY')),
      `task.yaml:4:11: file_mounts['/ckpt'].mode: expected MOUNT, COPY or MOUNT_CACHED, got "COPPY" (did you mean 'COPY'?)`,
    );
    throwsMessage(
      () => one(mapping('name: my-bucket', 'mode: 3')),
      "task.yaml:4:11: file_mounts['/ckpt'].mode: expected MOUNT, COPY or MOUNT_CACHED, got 3",
    );
    throwsMessage(
      () => one(mapping('name: my-bucket', 'store: gcs')),
      "task.yaml:4:12: file_mounts['/ckpt'].store: gcs (Google Cloud Storage) is not supported yet; skyhop stores data in S3 only (store: s3)",
    );
    for (const [store, what] of [
      ['AZURE', 'azure (Azure Blob Storage)'],
      ['r2', 'r2 (Cloudflare R2)'],
      ['ibm', 'ibm (IBM Cloud Object Storage)'],
      ['oci', 'oci (OCI Object Storage)'],
      ['nebius', 'nebius (Nebius Object Storage)'],
    ]) {
      throwsMessage(
        () => one(mapping('name: my-bucket', `store: ${store}`)),
        `task.yaml:4:12: file_mounts['/ckpt'].store: ${what} is not supported yet; skyhop stores data in S3 only (store: s3)`,
      );
    }
    throwsMessage(
      () => one(mapping('name: my-bucket', 'store: volume')),
      "task.yaml:4:12: file_mounts['/ckpt'].store: store: volume (SkyPilot volumes, persistent disks mounted on the nodes) is not built yet; use store: s3",
    );
    throwsMessage(
      () => one(mapping('name: my-bucket', 'store: s4')),
      `task.yaml:4:12: file_mounts['/ckpt'].store: unknown store "s4"; skyhop stores data in S3 only (store: s3)`,
    );
    throwsMessage(
      () => one(mapping('name: my-bucket', 'store: gcss')),
      `task.yaml:4:12: file_mounts['/ckpt'].store: unknown store "gcss" (did you mean 'gcs'?); skyhop stores data in S3 only (store: s3)`,
    );
    throwsMessage(
      () => one(mapping('name: my-bucket', 'persistent: maybe')),
      `task.yaml:4:17: file_mounts['/ckpt'].persistent: expected true or false, got "maybe"`,
    );
    throwsMessage(
      () => one(mapping('name: 123')),
      "task.yaml:3:11: file_mounts['/ckpt'].name: expected a bucket name, got 123",
    );
    throwsMessage(
      () => one(mapping('source: {a: b}')),
      "task.yaml:3:13: file_mounts['/ckpt'].source: expected a local directory or a bucket URL (s3://BUCKET/PATH), got a mapping",
    );
    throwsMessage(
      () => one('file_mounts:\n  /ckpt: [a, b]\n'),
      "task.yaml:2:10: file_mounts['/ckpt']: expected a local path, a bucket URL (s3://BUCKET/PATH) or a storage mapping {name, source, mode, ...}, got a list",
    );
  });

  it('the mapping form names other stores the same way as the URL form', () => {
    throwsMessage(
      () => one(mapping('source: gs://b/x')),
      "task.yaml:3:13: file_mounts['/ckpt'].source: gs:// (Google Cloud Storage) buckets are not supported yet; skyhop stores data in S3 only (s3://...)",
    );
  });
});

describe("S3's bucket naming rules, each with its reason", () => {
  const cases: Array<[string, string]> = [
    ['ab', 'bucket name "ab" is 2 characters long; S3 bucket names are 3 to 63 characters long'],
    [
      'a'.repeat(64),
      `bucket name "${'a'.repeat(64)}" is 64 characters long; S3 bucket names are 3 to 63 characters long`,
    ],
    [
      'my_bucket',
      `bucket name "my_bucket" has "_"; S3 bucket names use only lowercase letters, digits, '.' and '-'`,
    ],
    [
      'MyBucket',
      `bucket name "MyBucket" has "M"; S3 bucket names use only lowercase letters, digits, '.' and '-' (no uppercase letters)`,
    ],
    ['-bucket', 'bucket name "-bucket" must begin and end with a lowercase letter or a digit'],
    ['bucket.', 'bucket name "bucket." must begin and end with a lowercase letter or a digit'],
    ['my..bucket', `bucket name "my..bucket" has two dots in a row ('..'), which S3 does not allow`],
    ['192.168.5.4', 'bucket name "192.168.5.4" looks like an IP address, which S3 does not allow'],
    ['xn--bucket', `bucket name "xn--bucket" starts with 'xn--', a prefix S3 reserves`],
    ['sthree-bucket', `bucket name "sthree-bucket" starts with 'sthree-', a prefix S3 reserves`],
    ['bucket-s3alias', `bucket name "bucket-s3alias" ends with '-s3alias', a suffix S3 reserves`],
    ['bucket--ol-s3', `bucket name "bucket--ol-s3" ends with '--ol-s3', a suffix S3 reserves`],
  ];
  for (const [name, why] of cases) {
    it(name.length > 20 ? 'a 64-character name' : name, () => {
      assert.equal(bucketNameProblem(name), why);
      throwsMessage(
        () => one(mapping(`name: "${name}"`)),
        `task.yaml:3:11: file_mounts['/ckpt'].name: ${why}`,
      );
    });
  }

  it('names that follow the rules', () => {
    for (const n of ['abc', 'my-bucket', 'my.bucket.2', '1bucket', 'a'.repeat(63), '192.168.5']) {
      assert.equal(bucketNameProblem(n), undefined, n);
    }
  });
});

describe('where a bucket may go on the nodes', () => {
  it('absolute paths and paths under ~', () => {
    const t = one('file_mounts:\n  /mnt/data: s3://bucket\n  ~/data: s3://bucket\n');
    assert.deepEqual(Object.keys(t.storageMounts ?? {}), ['/mnt/data', '~/data']);
  });

  it('not /, not ~, not relative, not ending in /', () => {
    throwsMessage(
      () => one('file_mounts:\n  /: s3://bucket\n'),
      "task.yaml:2:3: file_mounts['/']: cannot put a bucket at / (the node's root); choose a folder like /data",
    );
    throwsMessage(
      () => one('file_mounts:\n  "~":\n    name: my-bucket\n'),
      "task.yaml:2:3: file_mounts['~']: cannot put a bucket over the home directory; choose a folder under it like ~/data",
    );
    throwsMessage(
      () => one('file_mounts:\n  data: s3://bucket\n'),
      `task.yaml:2:3: file_mounts.data: a bucket's remote path must be absolute (/data) or under ~ (~/data), got "data"`,
    );
    throwsMessage(
      () => one('file_mounts:\n  /data/: s3://bucket\n'),
      `task.yaml:2:3: file_mounts['/data/']: a bucket's remote path cannot end with '/' (write "/data")`,
    );
  });

  it('two entries that become the same path after substitution', () => {
    throwsMessage(
      () => one('envs:\n  D: data\nfile_mounts:\n  /data: package.json\n  /$D: s3://bucket\n'),
      "task.yaml:5:3: file_mounts['/$D']: '/data' is the remote path of another file_mounts entry; use each path once",
    );
  });
});

describe('env substitution in bucket names, sources and remote paths', () => {
  let tmp: ReturnType<typeof tempDir>;
  before(() => {
    tmp = tempDir();
    mkdirSync(join(tmp.dir, 'run-1'));
    mkdirSync(join(tmp.dir, 'run-2'));
  });
  after(() => tmp.done());

  it('braced and bare variables are filled in from envs', () => {
    const t = one(
      [
        'envs:',
        '  BUCKET: team-ckpt',
        '  RUN: run-1',
        '  SRC: s3://shared-data/train',
        'file_mounts:',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal env reference in YAML
        '  /ckpt/${RUN}:',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal env reference in YAML
        '    name: ${BUCKET}-$RUN',
        '    source: ./$RUN',
        '  /data: $SRC',
        '',
      ].join('\n'),
      { baseDir: tmp.dir },
    );
    assert.deepEqual(t.storageMounts, {
      '/ckpt/run-1': {
        bucket: 'team-ckpt-run-1',
        prefix: '',
        store: 's3',
        mode: 'MOUNT',
        create: true,
        persistent: true,
        localSource: join(tmp.dir, 'run-1'),
      },
      '/data': copyOf('shared-data', 'train'),
    });
  });

  it('an undefined variable and a substituted name that breaks the rules point at the field', () => {
    throwsMessage(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal env reference in YAML
      () => one(mapping('name: ${NOPE}')),
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the message names the reference
      "task.yaml:3:11: file_mounts['/ckpt'].name: ${NOPE} is not defined in envs (add it under envs: or pass --env NOPE=VALUE)",
    );
    throwsMessage(
      () => one(`envs:\n  B: Bad_Name\n${mapping('name: $B')}`),
      `task.yaml:5:11: file_mounts['/ckpt'].name: bucket name "Bad_Name" has "B"; S3 bucket names use only lowercase letters, digits, '.' and '-' (no uppercase letters)`,
    );
  });

  it('--env at parse time and applyOverrides --env redo the substitution', () => {
    const p = join(tmp.dir, 'task.yaml');
    writeFileSync(
      p,
      'envs:\n  RUN: run-1\n  SRC: s3://a-bucket/x\nfile_mounts:\n  /ckpt:\n    name: ckpt-$RUN\n    source: $RUN\n  /data: $SRC\n',
    );
    const d = parseTaskFile(p, { baseDir: tmp.dir, env: ['RUN=run-2'] });
    assert.equal(d.tasks[0].storageMounts?.['/ckpt'].bucket, 'ckpt-run-2');
    assert.equal(d.tasks[0].storageMounts?.['/ckpt'].localSource, join(tmp.dir, 'run-2'));

    const base = parseTaskFile(p, { baseDir: tmp.dir });
    assert.equal(base.tasks[0].storageMounts?.['/ckpt'].bucket, 'ckpt-run-1');
    const o = applyOverrides(base, { env: ['RUN=run-2', 'SRC=s3://b-bucket/y'] });
    assert.deepEqual(o.tasks[0].storageMounts, {
      '/ckpt': {
        bucket: 'ckpt-run-2',
        prefix: '',
        store: 's3',
        mode: 'MOUNT',
        create: true,
        persistent: true,
        localSource: join(tmp.dir, 'run-2'),
      },
      '/data': copyOf('b-bucket', 'y'),
    });
    // The input Dag is unchanged.
    assert.equal(base.tasks[0].storageMounts?.['/ckpt'].bucket, 'ckpt-run-1');
    // A value that turns the URL into a local path moves it to fileMounts.
    const local = applyOverrides(base, { env: ['SRC=run-1'] });
    assert.deepEqual(local.tasks[0].fileMounts, { '/data': join(tmp.dir, 'run-1') });
    assert.deepEqual(Object.keys(local.tasks[0].storageMounts ?? {}), ['/ckpt']);
    throwsMessage(
      () => applyOverrides(base, { env: ['SRC=gs://b/x'] }),
      `${p}:8:10: file_mounts['/data']: gs:// (Google Cloud Storage) buckets are not supported yet; skyhop stores data in S3 only (s3://...)`,
    );
    throwsMessage(
      () => applyOverrides(base, { env: ['RUN=run-3'] }),
      `${p}:7:13: file_mounts['/ckpt'].source: local directory 'run-3' does not exist (looked for ${join(tmp.dir, 'run-3')})`,
    );
  });
});

describe('overrides without --env', () => {
  it('keep the storage mounts as parsed', () => {
    const d = parseTaskText('file_mounts:\n  /data: s3://bucket/x\n', 'task.yaml');
    const o = applyOverrides(d, { cpus: '4', name: 'n' });
    assert.deepEqual(o.tasks[0].storageMounts, { '/data': copyOf('bucket', 'x') });
  });
});

describe('tasks built in code', () => {
  const good: StorageMount = {
    bucket: 'my-bucket',
    prefix: 'x',
    store: 's3',
    mode: 'MOUNT',
    create: true,
    persistent: true,
  };

  it('taskFromCommand has none; checkStorageMounts accepts a good mount', () => {
    const t = taskFromCommand('echo hi').tasks[0];
    assert.equal(t.storageMounts, undefined);
    checkStorageMounts(t);
    checkStorageMounts({
      ...t,
      storageMounts: { '/data': good, '~/out': { ...good, localSource: '/tmp/x' } },
    });
  });

  it('checkStorageMounts names the field at fault', () => {
    const bad =
      (remote: string, m: Partial<StorageMount>, fileMounts: Record<string, string> = {}) =>
      () =>
        checkStorageMounts({ fileMounts, storageMounts: { [remote]: { ...good, ...m } as StorageMount } });
    throwsMessage(
      bad('/data', { bucket: 'Bad' }),
      `storageMounts['/data'].bucket: bucket name "Bad" has "B"; S3 bucket names use only lowercase letters, digits, '.' and '-' (no uppercase letters)`,
    );
    throwsMessage(
      bad('/data', { store: 'gcs' as 's3' }),
      "storageMounts['/data'].store: gcs (Google Cloud Storage) is not supported yet; skyhop stores data in S3 only (store: s3)",
    );
    throwsMessage(
      bad('/data', { mode: 'mount' as 'MOUNT' }),
      `storageMounts['/data'].mode: expected 'MOUNT', 'COPY' or 'MOUNT_CACHED', got "mount"`,
    );
    throwsMessage(
      bad('/data', { prefix: '/x' }),
      "storageMounts['/data'].prefix: expected a folder in the bucket without leading or trailing '/' ('' for all of it)",
    );
    throwsMessage(
      bad('/data', { localSource: 'rel/dir' }),
      `storageMounts['/data'].localSource: expected an absolute local directory, got "rel/dir"`,
    );
    throwsMessage(
      bad('/', {}),
      "storageMounts['/']: cannot put a bucket at / (the node's root); choose a folder like /data",
    );
    throwsMessage(
      bad('/data', {}, { '/data': '/tmp' }),
      `storageMounts['/data']: "/data" is also a file_mounts path; use it once`,
    );
  });
});

describe('storage outside file_mounts', () => {
  it('a top-level storage: field says where buckets go', () => {
    throwsMessage(
      () => one('storage:\n  name: x\n'),
      "task.yaml:1:1: field 'storage' is not supported by skyhop (buckets go in file_mounts, as in SkyPilot: {/data: s3://bucket/path} or {/data: {name: bucket, source: ./dir, mode: MOUNT}})",
    );
  });
});
