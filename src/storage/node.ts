/**
 * Buckets on the nodes (SkyPilot's storage modes, with Debian's `rclone`; no hand-written FUSE).
 *
 * `mountStorage` runs one shell script per node, on every node at once, after writing the node's
 * rclone config. What it leaves on a node (`~/.skyhop/storage/`, 0700):
 *
 * | file | what |
 * |---|---|
 * | `rclone.conf` (0600) | one remote, `skyhop`: S3 with the keys of `S3Access.credentials`, or `env_auth = true` (an IAM instance profile) |
 * | `mounts/<id>` | a record per FUSE mount this node made: line 1 the path, line 2 the source (`skyhop:bucket/prefix`), line 3 the mode. `<id>` is a hash of the path. The local cloud's teardown reads it (`src/clouds/local/mounts.ts`) |
 * | `cache/<id>/` | the mount's rclone VFS cache (`--cache-dir`) |
 * | `mount-<id>.log`, `copy-<id>.log`, `check-<id>.log` | rclone's own output (it never prints keys) |
 * | `flush.sh` | waits until no mount of this node has data left to upload (the agent runs it after a job; see `flushScript`) |
 *
 * Modes (flags measured with rclone 1.60 against moto):
 * - COPY: `rclone copy skyhop:bucket/prefix PATH --transfers 16 --checkers 16` before setup; nested
 *   folders kept; on a reused cluster only new or changed objects are fetched.
 * - MOUNT: `rclone mount --daemon --vfs-cache-mode writes --vfs-write-back 0s`: ordinary writes
 *   (seek, rewrite, append) work, and a file is uploaded as soon as it is closed. `--dir-cache-time
 *   10s` so objects written by other clusters appear soon (S3 has no change notifications).
 * - MOUNT_CACHED: `--vfs-cache-mode full --vfs-write-back 1s`: reads are cached on the node's disk
 *   too, writes are uploaded a second after close.
 *
 * The flush signal: rclone keeps one metadata file per cached object under
 * `<cache>/vfsMeta/skyhop/<bucket>/<prefix>/...`, and sets `"Dirty": true` in it (saved before the
 * first write returns) until the object is uploaded, then `"Dirty": false`. That state is on disk, so
 * it survives a restart of rclone (which resumes the uploads) and needs no rc server.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeInfo } from '../core/cluster.js';
import type { S3Access, StorageMount } from '../core/storage.js';
import type { CommandRunner } from '../runtime/types.js';
import { InterruptedError, UserError } from '../util/errors.js';
import { shq } from '../util/shell.js';

/** The node's storage folder (`~` is the node's HOME). */
export const STORAGE_DIR = '~/.skyhop/storage';
export const RCLONE_CONFIG = `${STORAGE_DIR}/rclone.conf`;
/** The rclone remote's name in `rclone.conf`. */
export const REMOTE = 'skyhop';

export const MOUNT_FLAGS: Readonly<Record<'MOUNT' | 'MOUNT_CACHED', readonly string[]>> = {
  // write-back 1s, not 0s: a file renamed right after it is closed (write to tmp, then rename: how
  // checkpoints are saved) must be renamed in the cache, before its upload starts; rclone 1.60 loses
  // the race with 0s ("corrupted on transfer") and the file then never reaches the bucket.
  MOUNT: ['--vfs-cache-mode', 'writes', '--vfs-write-back', '1s', '--dir-cache-time', '10s'],
  MOUNT_CACHED: [
    '--vfs-cache-mode',
    'full',
    '--vfs-write-back',
    '1s',
    '--vfs-cache-max-age',
    '24h',
    '--dir-cache-time',
    '10s',
  ],
};
const COMMON_MOUNT_FLAGS = ['--transfers', '8', '--log-level', 'INFO', '--daemon-wait', '30s'];
export const COPY_FLAGS: readonly string[] = ['--transfers', '16', '--checkers', '16'];

export interface MountStorageOptions {
  signal?: AbortSignal;
  onStep?(m: string): void;
}

/** The short id of a mount path on a node (its record, cache folder and logs are named by it). */
export function mountId(path: string): string {
  return createHash('sha256').update(path).digest('hex').slice(0, 12);
}

/** `bucket/prefix` as rclone names it on the `skyhop` remote. */
export function rcloneSource(m: Pick<StorageMount, 'bucket' | 'prefix'>): string {
  return `${REMOTE}:${m.bucket}${m.prefix ? `/${m.prefix}` : ''}`;
}

function s3Url(m: Pick<StorageMount, 'bucket' | 'prefix'>): string {
  return `s3://${m.bucket}${m.prefix ? `/${m.prefix}` : ''}`;
}

/** The text of `rclone.conf` (it holds the keys when `access.credentials` is set: write it 0600). */
export function rcloneConfig(access: S3Access): string {
  const lines = [`[${REMOTE}]`, 'type = s3'];
  const put = (k: string, v: string) => {
    if (/[\r\n]/.test(v)) throw new UserError(`the S3 setting ${k} must not contain a line break`);
    lines.push(`${k} = ${v}`);
  };
  if (access.endpoint) {
    put('provider', 'Other');
    put('endpoint', access.endpoint);
    put('force_path_style', 'true');
  } else {
    put('provider', 'AWS');
  }
  put('region', access.region);
  const c = access.credentials;
  if (c) {
    put('env_auth', 'false');
    put('access_key_id', c.accessKeyId);
    put('secret_access_key', c.secretAccessKey);
    if (c.sessionToken) put('session_token', c.sessionToken);
  } else {
    put('env_auth', 'true');
  }
  // Never try to create the bucket on upload (a node may lack that permission).
  put('no_check_bucket', 'true');
  return `${lines.join('\n')}\n`;
}

/**
 * `flush.sh [SECONDS] [STALL]` (at `STORAGE_FLUSH_SCRIPT` of src/agent/types.ts, which the agent
 * runs): exits 0 as soon as no mount recorded on this node has a dirty (not yet uploaded) object in
 * its cache; otherwise waits, printing one line per mount it waits for, and exits 1 with a line
 * naming the mount after SECONDS (default 1800), at once when the rclone of a mount with dirty
 * objects is gone, or when the dirty objects have not changed for STALL seconds (default 30) and
 * rclone logged a failed upload (it does not retry those).
 */
export function flushScript(): string {
  return `#!/bin/bash
# skyhop: wait until every bucket mounted on this node has uploaded what was written to it.
# A dirty file rclone gave up on (its upload failed and was not retried) never gets clean: when the
# dirty files have not changed for 30 s ($2) and the mount's log says an upload failed, say so and stop.
S="$HOME/.skyhop/storage"; limit="\${1:-1800}"; stall="\${2:-30}"; start=$(date +%s); said=" "; last_sig=""; same_since=$start
while :; do
  wait_for=0; sig=""; gave_up=""
  for r in "$S"/mounts/*; do
    [ -f "$r" ] || continue
    id=\${r##*/}; d="$S/cache/$id/vfsMeta"
    [ -d "$d" ] || continue
    n=$(grep -rlsF '"Dirty": true' "$d" | wc -l)
    [ "$n" -gt 0 ] || continue
    { IFS= read -r p; IFS= read -r src; } < "$r"
    if ! { mountpoint -q -- "$p" 2>/dev/null && timeout 10 stat -f -- "$p" >/dev/null 2>&1; }; then
      echo "$p: $n file(s) not uploaded to \${src#skyhop:} and its rclone is not running"; exit 1
    fi
    if [ $(( $(date +%s) - start )) -ge "$limit" ]; then
      echo "$p: $n file(s) still not uploaded to \${src#skyhop:} after \${limit}s (see $S/mount-$id.log)"; exit 1
    fi
    case "$said" in *" $id "*) ;; *) echo "[skyhop] uploading $n file(s) of $p to the bucket"; said="$said$id ";; esac
    sig="$sig $id:$(grep -rlsF '"Dirty": true' "$d" | sort | xargs -r -d '\n' stat -c '%n %s %Y' | cksum)"
    e=$(grep -E 'failed to transfer|upload failed|corrupted on transfer' "$S/mount-$id.log" 2>/dev/null | tail -n 1 | sed -E 's#^[0-9/]+ [0-9:]+ (ERROR|NOTICE) *: *##')
    [ -n "$gave_up" ] || { [ -z "$e" ] || gave_up="$p: $n file(s) not uploaded to \${src#skyhop:}: $e"; }
    wait_for=1
  done
  [ "$wait_for" = 0 ] && exit 0
  now=$(date +%s)
  if [ "$sig" != "$last_sig" ]; then last_sig=$sig; same_since=$now
  elif [ -n "$gave_up" ] && [ $(( now - same_since )) -ge "$stall" ]; then echo "$gave_up"; exit 1; fi
  sleep 0.2
done
`;
}

/** Is $1 a mount point? (/proc/self/mountinfo writes space, tab, newline and backslash as \\ooo.) */
const ISMOUNTED = `ismounted() { P="$1" awk '{ m = $5; gsub(/\\\\040/, " ", m); gsub(/\\\\011/, "\\t", m); gsub(/\\\\012/, "\\n", m); gsub(/\\\\134/, "\\\\", m); if (m == ENVIRON["P"]) f = 1 } END { exit !f }' /proc/self/mountinfo; }`;
/** Unmount $1: politely, then lazily (a process may still hold a file open there). */
const UNMOUNT_PATH =
  'unmount_path() { fusermount3 -u "$1" 2>/dev/null || fusermount -u "$1" 2>/dev/null || fusermount3 -uz "$1" 2>/dev/null || fusermount -uz "$1" 2>/dev/null || umount -l "$1" 2>/dev/null; }';

/** `$P` set to a node path (`~/x` is the node's HOME). */
function setP(path: string): string {
  return `P=${path.startsWith('~/') ? `"$HOME"/${shq(path.slice(2))}` : shq(path)}`;
}

interface Planned {
  index: number;
  path: string;
  mount: StorageMount;
}

/** The one script a node runs: install what is missing, then each mount in order. */
export function nodeScript(planned: readonly Planned[]): string {
  const needFuse = planned.some((p) => p.mount.mode !== 'COPY');
  const out: string[] = [
    'set -u',
    // rclone cannot use an http endpoint while AWS_CA_BUNDLE is set.
    'unset AWS_CA_BUNDLE',
    'S="$HOME/.skyhop/storage"; C="$S/rclone.conf"; NEW=()',
    ISMOUNTED,
    UNMOUNT_PATH,
    // rclone's last meaningful line, without its timestamp.
    `lasterr() { grep -E 'ERROR|CRITICAL|Fatal|fatal|Failed|failed|error' "$1" 2>/dev/null | grep -v 'Serving remote control' | tail -n 1 | sed -E 's#^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9:]{8} ##; s#^(ERROR|CRITICAL|NOTICE) *: *##'; }`,
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell text, not a template
    'fail() { local i="$1" m="$2" p; for p in "${NEW[@]+"${NEW[@]}"}"; do unmount_path "$p"; done; [ -n "$m" ] || m="rclone gave no reason"; printf "SKYHOP_ERR %s %s\\n" "$i" "$m"; exit 1; }',
    'mkdir -p "$S/cache" "$S/mounts" && chmod 700 "$S" || fail - "cannot create $S"',
    'need=""',
    'command -v rclone >/dev/null 2>&1 || need="rclone"',
  ];
  if (needFuse) {
    out.push(
      'command -v fusermount3 >/dev/null 2>&1 || command -v fusermount >/dev/null 2>&1 || need="$need fuse3"',
    );
  }
  out.push(
    'if [ -n "$need" ]; then',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell text, not a template
    '  need=${need# }; sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"',
    '  command -v apt-get >/dev/null 2>&1 || fail - "$need is not installed and the node has no apt-get to install it"',
    '  echo "SKYHOP_STEP installing $need"',
    '  { timeout 600 $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 600 $sudo apt-get install -y -qq --no-install-recommends $need; } >"$S/install.log" 2>&1 || fail - "installing $need failed: $(grep -v "^\\s*$" "$S/install.log" | tail -n 1)"',
    '  command -v rclone >/dev/null 2>&1 || fail - "rclone is still missing after installing $need"',
    'fi',
  );
  if (needFuse) out.push('[ -e /dev/fuse ] || fail - "FUSE is not available on this node (no /dev/fuse)"');
  out.push(
    `printf '%s' ${shq(flushScript())} > "$S/flush.sh.tmp" && chmod 700 "$S/flush.sh.tmp" && mv -f "$S/flush.sh.tmp" "$S/flush.sh" || fail - "cannot write $S/flush.sh"`,
  );
  for (const { index, path, mount } of planned) {
    const id = mountId(path);
    const src = rcloneSource(mount);
    const i = String(index);
    // The path as the node's shell sees it (`~/x` is the node's HOME), in `$P`.
    out.push(setP(path));
    const p = '"$P"';
    if (mount.mode === 'COPY') {
      out.push(
        `mkdir -p -- ${p} || fail ${i} "cannot create the folder"`,
        `rclone --config "$C" copy ${shq(src)} ${p} ${COPY_FLAGS.join(' ')} --log-level ERROR >/dev/null 2>"$S/copy-${id}.log" || fail ${i} "$(lasterr "$S/copy-${id}.log")"`,
        `echo "SKYHOP_DONE ${i}"`,
      );
      continue;
    }
    const rest = `\n${src}\n${mount.mode}\n`;
    const flags = [...MOUNT_FLAGS[mount.mode], ...COMMON_MOUNT_FLAGS].join(' ');
    const esc = p;
    out.push(
      `r="$S/mounts/${id}"; want="$P"${shq(rest)}`,
      `if ismounted ${esc}; then`,
      `  if [ -f "$r" ] && [ "$(cat "$r"; echo .)" = "$want." ] && timeout 10 stat -- ${p} >/dev/null 2>&1; then kept=1; else kept=0; unmount_path ${p}; ! ismounted ${esc} || fail ${i} "something else is mounted there and cannot be unmounted"; fi`,
      'else kept=0; fi',
      'if [ "$kept" = 1 ]; then',
      `  echo "SKYHOP_KEPT ${i}"`,
      'else',
      `  rm -f "$r"; mkdir -p -- ${p} || fail ${i} "cannot create the folder"`,
      `  timeout 120 rclone --config "$C" lsf --max-depth 1 ${shq(src)} >/dev/null 2>"$S/check-${id}.log" || fail ${i} "$(lasterr "$S/check-${id}.log")"`,
      '  printf "%s" "$want" > "$r"',
      `  : >> "$S/mount-${id}.log"; before=$(wc -l < "$S/mount-${id}.log")`,
      `  rclone --config "$C" mount ${shq(src)} ${p} --daemon --cache-dir "$S/cache/${id}" --log-file "$S/mount-${id}.log" ${flags} >>"$S/mount-${id}.log" 2>&1`,
      `  if ! ismounted ${esc} || ! timeout 20 ls -- ${p} >/dev/null 2>&1; then`,
      `    e=$(tail -n +$((before + 1)) "$S/mount-${id}.log" > "$S/mount-${id}.err"; lasterr "$S/mount-${id}.err"); rm -f "$S/mount-${id}.err"`,
      `    ! ismounted ${esc} || unmount_path ${p}; rm -f "$r"; fail ${i} "$e"`,
      '  fi',
      `  NEW+=(${p}); echo "SKYHOP_NEW ${i}"`,
      'fi',
    );
  }
  out.push('echo SKYHOP_OK');
  return `${out.join('\n')}\n`;
}

function nodeLabel(node: NodeInfo, index: number): string {
  const rank = node.rank ?? index;
  return `node rank ${rank} of ${node.cluster}`;
}

/** rclone's wording, made plain where it is obscure. */
function explain(msg: string): string {
  if (/directory not found/i.test(msg)) return `the bucket or folder does not exist (rclone: ${msg})`;
  if (/NoSuchBucket/i.test(msg)) return `the bucket does not exist (rclone: ${msg})`;
  if (/AccessDenied|Forbidden/i.test(msg)) return `no permission (rclone: ${msg})`;
  return msg;
}

/**
 * Makes every mount of `mounts` (remote path -> bucket) available on every node, in parallel: COPY
 * mounts are copied, MOUNT/MOUNT_CACHED are FUSE-mounted by an rclone daemon and checked. Installs
 * rclone (and fuse3) from apt where missing. On a reused cluster a mount of the same bucket at a
 * path is kept; a different one is replaced. A failure throws a UserError with one line naming the
 * mount and the node; the FUSE mounts this call made are unmounted again on every node.
 */
export async function mountStorage(
  nodes: readonly NodeInfo[],
  runners: readonly CommandRunner[],
  mounts: Readonly<Record<string, StorageMount>>,
  access: S3Access,
  opts: MountStorageOptions = {},
): Promise<void> {
  const entries = Object.entries(mounts);
  if (entries.length === 0) return;
  if (nodes.length !== runners.length) throw new Error('mountStorage: one runner per node');
  const planned: Planned[] = entries.map(([path, mount], index) => {
    if (/[\n\r\0]/.test(path) || !(path.startsWith('/') || path.startsWith('~/'))) {
      throw new UserError(
        `file_mounts[${JSON.stringify(path)}]: a bucket's path must be absolute (or start with ~/), on one line`,
      );
    }
    return { index, path, mount };
  });
  // Local-cloud nodes share this machine's filesystem: a bucket at an absolute path is mounted (or
  // copied) once, by the cluster's first local node, and every node sees it there. Paths under `~/`
  // are per node (each local node has its own HOME).
  const firstLocal = nodes.findIndex((x) => x.connection.kind === 'local');
  const scripts = nodes.map((x, n) =>
    nodeScript(
      x.connection.kind === 'local' && n !== firstLocal
        ? planned.filter((p) => !p.path.startsWith('/'))
        : planned,
    ),
  );
  const dir = await mkdtemp(join(tmpdir(), 'skyhop-rclone-'));
  const conf = join(dir, 'rclone.conf');
  const made: Array<Set<number>> = nodes.map(() => new Set());
  try {
    await writeFile(conf, rcloneConfig(access), { mode: 0o600 });
    const results = await Promise.allSettled(
      runners.map(async (runner, n) => {
        const label = nodeLabel(nodes[n], n);
        opts.onStep?.(`storage: ${entries.length} bucket(s) on ${label}`);
        await runner.upload(conf, RCLONE_CONFIG, { mode: 0o600 });
        if (opts.signal?.aborted) throw new InterruptedError();
        let lines = '';
        let pending = '';
        const res = await runner.run(scripts[n], {
          signal: opts.signal,
          onStdout: (c) => {
            lines += c;
            pending += c;
            let nl = pending.indexOf('\n');
            while (nl >= 0) {
              const line = pending.slice(0, nl);
              pending = pending.slice(nl + 1);
              if (line.startsWith('SKYHOP_NEW ')) made[n].add(Number(line.slice(11)));
              else if (line.startsWith('SKYHOP_STEP '))
                opts.onStep?.(`storage: ${line.slice(12)} on ${label}`);
              nl = pending.indexOf('\n');
            }
          },
        });
        if (opts.signal?.aborted) throw new InterruptedError();
        const errLine = parseErr(lines, planned);
        if (errLine || res.code !== 0) {
          const m = errLine?.m ?? null;
          const why =
            errLine?.why ||
            `the storage script exited with code ${res.code}${res.stderr.trim() ? `: ${lastLine(res.stderr)}` : ''}`;
          const what = m
            ? `file_mounts[${JSON.stringify(m.path)}]: cannot ${m.mount.mode === 'COPY' ? 'copy' : 'mount'} ${s3Url(m.mount)} on ${label}`
            : `storage: cannot mount buckets on ${label}`;
          throw new UserError(`${what}: ${explain(why)}`);
        }
      }),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      // Nothing half-mounted: undo the FUSE mounts this call made on the other nodes.
      await Promise.allSettled(
        runners.map((runner, n) => {
          const paths = [...made[n]].map((i) => planned[i].path);
          return paths.length ? runner.run(unmountCommand(paths), { timeoutMs: 60_000 }) : Promise.resolve();
        }),
      );
      throw failed.reason;
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function lastLine(s: string): string {
  const lines = s.split('\n').filter((l) => l.trim());
  return lines[lines.length - 1] ?? '';
}

function parseErr(stdout: string, planned: readonly Planned[]): { m: Planned | null; why: string } | null {
  const line = stdout.split('\n').find((l) => l.startsWith('SKYHOP_ERR '));
  if (!line) return null;
  const rest = line.slice(11);
  const sp = rest.indexOf(' ');
  const i = rest.slice(0, sp);
  return { m: i === '-' ? null : (planned[Number(i)] ?? null), why: rest.slice(sp + 1).trim() };
}

/**
 * A shell line that unmounts FUSE mounts at `paths` on a node (their rclone daemons then exit) and
 * drops their records. Paths that are not mounted are skipped.
 */
export function unmountCommand(paths: readonly string[]): string {
  const lines = [ISMOUNTED, UNMOUNT_PATH];
  for (const p of paths) {
    lines.push(
      setP(p),
      `! ismounted "$P" || unmount_path "$P"; rm -f "$HOME/.skyhop/storage/mounts/${mountId(p)}"`,
    );
  }
  return `${lines.join('\n')}\ntrue\n`;
}

/**
 * Unmounts every FUSE mount recorded on each node (`~/.skyhop/storage/mounts/`), e.g. before a
 * cluster is stopped. Uploads still pending stay in the node's cache (rclone resumes them when the
 * same bucket is mounted there again).
 */
export async function unmountStorage(runners: readonly CommandRunner[]): Promise<void> {
  const line = [
    'S="$HOME/.skyhop/storage"',
    'for r in "$S"/mounts/*; do [ -f "$r" ] || continue; IFS= read -r p < "$r"',
    '  fusermount3 -u "$p" 2>/dev/null || fusermount -u "$p" 2>/dev/null || fusermount3 -uz "$p" 2>/dev/null || fusermount -uz "$p" 2>/dev/null || umount -l "$p" 2>/dev/null',
    '  rm -f "$r"',
    'done',
    'true',
  ].join('\n');
  await Promise.allSettled(runners.map((r) => r.run(line, { timeoutMs: 60_000 })));
}
