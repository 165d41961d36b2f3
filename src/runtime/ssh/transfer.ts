/**
 * Files to a node over SSH, both riding on the control master:
 * - `upload` streams one file through one command session (`cat` into a temp file next to the
 *   destination, created private (umask 077), chmod, rename over it; parents created). Not rsync: one rsync run costs ~50 ms more
 *   here, mostly its own waits, and a single file gains nothing from it.
 * - `syncDir` runs `rsync -rlpt` over the same ssh options, with protected arguments (`-s`: remote
 *   paths are never parsed by a shell) and `mkdir -p` of the destination through `--rsync-path`; it
 *   leaves out what `.skyignore` (else `.gitignore`) and `exclude` name, read by
 *   src/runtime/sync.ts's `ignorePatterns` and translated to rsync filter rules (`rsyncFilterRules`)
 *   with the same meaning as LocalRunner's `mirrorDir`.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { CloudError, UserError } from '../../util/errors.js';
import { shPath, shq } from '../../util/shell.js';
import { ignorePatterns, parseIgnore } from '../sync.js';
import type { RunResult } from '../types.js';
import type { ControlMaster } from './master.js';
import { execFileCollect, MUX_NOISE, type SshTarget } from './target.js';

/** Runs a script on the node with a local file as its stdin (a command session). */
export type RunWithFile = (script: string, stdinFile: string) => Promise<RunResult>;

/** Copy one local file to a path on the node (see the file comment). */
export async function upload(
  target: SshTarget,
  runWithFile: RunWithFile,
  localPath: string,
  remotePath: string,
  opts: { mode?: number } = {},
): Promise<void> {
  const st = statSync(localPath, { throwIfNoEntry: false });
  if (!st?.isFile()) throw new Error(`not a file: ${localPath}`);
  const mode = ((opts.mode ?? st.mode) & 0o7777).toString(8).padStart(4, '0');
  const dest = remotePath.replace(/\/+$/, '');
  if (dest === '' || dest === '~') throw new Error(`upload needs a file path, got ${remotePath}`);
  const d = shPath(dest);
  const script = [
    'set -e',
    `mkdir -p -- ${shPath(parentOf(dest))}`,
    `if [ -d ${d} ]; then echo ${shq(`${remotePath}: is a directory`)} >&2; exit 1; fi`,
    `t=${d}.skyhop-upload-$$`,
    `trap 'rm -f -- "$t"' EXIT`,
    'umask 077', // the file is private until chmod gives it its mode (it may be a key or hold secrets)
    'cat > "$t"',
    `chmod ${mode} -- "$t"`,
    `mv -f -- "$t" ${d}`,
    'trap - EXIT',
  ].join('\n');
  const res = await runWithFile(script, resolve(localPath));
  if (res.code !== 0) {
    const line = res.stderr.trim().split('\n').pop() || `exit code ${res.code}`;
    throw new CloudError(`Cannot upload ${localPath} to ${target.where}:${remotePath}: ${line}`);
  }
}

/** Make `remoteDir` on the node a copy of `localDir` (see the file comment). */
export async function syncDir(
  target: SshTarget,
  master: ControlMaster,
  localDir: string,
  remoteDir: string,
  opts: { exclude?: string[]; delete?: boolean } = {},
): Promise<void> {
  const st = statSync(localDir, { throwIfNoEntry: false });
  if (!st?.isDirectory()) throw new Error(`not a directory: ${localDir}`);
  const rules = rsyncFilterRules([...ignorePatterns(localDir).patterns, ...(opts.exclude ?? [])]);
  const dest = rsyncRemotePath(remoteDir);
  await master.connect();
  const h = target.connection.host;
  const host = h.includes(':') ? `[${h}]` : h;
  await rsync(
    target,
    [
      '-rlpt',
      ...(opts.delete ? ['--delete'] : []),
      '--exclude-from=-',
      `--rsync-path=${mkdirThenRsync(remoteDir)}`,
      '--',
      `${resolve(localDir)}/`,
      `${host}:${dest === '.' ? './' : `${dest.replace(/\/+$/, '')}/`}`,
    ],
    `${rules.join('\n')}\n`,
    `sync ${localDir} to ${target.where}:${remoteDir}`,
  );
}

async function rsync(
  target: SshTarget,
  args: string[],
  stdin: string | undefined,
  what: string,
): Promise<void> {
  const e = ['ssh', ...target.sshOptions()].map(rsyncArgQuote).join(' ');
  const r = await execFileCollect('rsync', ['-s', '-e', e, ...args], { stdin });
  if (r.code === 0) return;
  if (r.code === -1) throw new CloudError(`Cannot ${what}: ${r.stderr.trim()}; install rsync.`);
  const err = r.stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !MUX_NOISE.test(l));
  const first = err.find((l) => !/^rsync error:|^rsync: connection unexpectedly closed/.test(l)) ?? err[0];
  const hint = /command not found|rsync: not found|No such file or directory.*rsync/.test(r.stderr)
    ? '; is rsync installed on the node?'
    : '';
  throw new CloudError(`Cannot ${what}: ${first || `rsync exit code ${r.code}`}${hint}`, {
    details: err.slice(-5),
  });
}

/**
 * Translate gitignore-style patterns (the syntax of src/runtime/sync.ts, in file order, last match
 * wins) into rsync filter rules (first match wins) with the same meaning: the order is reversed, `!`
 * becomes an include (`+`), a pattern with a `/` is anchored at the top (`/`), a trailing `/`
 * matches directories only, and because rsync's `**` never matches zero directories, each `**`
 * followed by a slash at the start of a segment also gets a variant without both. Backslash escapes of characters that are
 * not wildcards are removed (rsync compares wildcard-free patterns literally).
 */
export function rsyncFilterRules(patterns: readonly string[]): string[] {
  const out: string[] = [];
  for (const pat of parseIgnore(patterns)) {
    const sign = pat.negate ? '+' : '-';
    const p = pat.glob.replace(/\\([^*?[\\])/g, '$1');
    const rules = starStarVariants(p).map(
      (v) => `${sign} ${pat.anchored ? '/' : ''}${v}${pat.dirOnly ? '/' : ''}`,
    );
    out.push(rules.join('\n'));
  }
  return out.reverse().flatMap((r) => r.split('\n'));
}

/** `p` and its variants with any segment-starting `**` plus slash dropped (most specific first). */
function starStarVariants(p: string): string[] {
  let variants = [p];
  for (let guard = 0; guard < 6; guard++) {
    const next = new Set(variants);
    for (const v of variants) {
      for (let i = v.indexOf('**/'); i !== -1; i = v.indexOf('**/', i + 1)) {
        if (i === 0 || v[i - 1] === '/') next.add(v.slice(0, i) + v.slice(i + 3));
      }
    }
    if (next.size === variants.length) break;
    variants = [...next];
  }
  return variants;
}

/** A node path for rsync's protected (unparsed) arguments: relative paths are under the login dir (HOME). */
function rsyncRemotePath(p: string): string {
  if (p === '~' || p === '' || p === '~/') return '.';
  if (p.startsWith('~/')) p = p.slice(2);
  if (p.startsWith('-')) p = `./${p}`;
  return p;
}

/** The directory part of a node path (`~` when there is none). */
function parentOf(p: string): string {
  const i = p.replace(/\/+$/, '').lastIndexOf('/');
  if (i === -1) return '~';
  if (i === 0) return '/';
  return p.slice(0, i);
}

/** `--rsync-path` value: create `dir` on the node (through its shell, quoted), then run rsync. */
function mkdirThenRsync(dir: string): string {
  const d = dir === '' ? '~' : dir;
  return `mkdir -p -- ${shPath(d)} && rsync`;
}

/** Quote one word of rsync's `-e` command (rsync splits it on spaces and honours ' and " quotes). */
function rsyncArgQuote(a: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a)) return a;
  if (!a.includes("'")) return `'${a}'`;
  if (!a.includes('"')) return `"${a}"`;
  throw new UserError(
    `Cannot pass ${JSON.stringify(a)} to rsync's ssh command: it holds both quote characters.`,
  );
}
