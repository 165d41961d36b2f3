/**
 * Directory mirroring for runners that can reach the node's file system directly (the local
 * runner), and the ignore rules every runner shares.
 *
 * Which files are left out of a workdir sync (SkyPilot's rule, simplified):
 * - if the directory has a top-level `.skyignore`, its patterns are used;
 * - otherwise, if it has a top-level `.gitignore`, its patterns are used;
 * - the runner's `exclude` option adds patterns on top;
 * - `.git` is synced (like SkyPilot) unless a pattern names it.
 * Only those top-level files are read (nested `.gitignore` files are not). Pattern syntax is the
 * common part of gitignore: `#` comments and blank lines are skipped; `!pat` re-includes; a trailing
 * `/` matches directories only; a pattern with no other `/` matches a name at any depth; a pattern
 * with a `/` (a leading one is dropped) is anchored at the top; `*` and `?` do not cross `/`, `**`
 * does, `[abc]` is a character class. The last matching pattern wins; an excluded directory is not
 * entered, so nothing below it can be re-included.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';

interface Rule {
  re: RegExp;
  negate: boolean;
  dirOnly: boolean;
  anchored: boolean;
}

/** One gitignore-style line, parsed: the glob (leading `/` removed), and how it applies. */
export interface IgnorePattern {
  glob: string;
  negate: boolean;
  dirOnly: boolean;
  /** Matched against the whole relative path (the line had a `/`), not just the base name. */
  anchored: boolean;
}

/** Parse gitignore-style lines (comments, `!`, trailing `/`, anchoring); blank lines are dropped. */
export function parseIgnore(patterns: readonly string[]): IgnorePattern[] {
  const out: IgnorePattern[] = [];
  for (const raw of patterns) {
    let p = raw.replace(/(?<!\\)\s+$/, '');
    if (p === '' || p.startsWith('#')) continue;
    let negate = false;
    if (p.startsWith('!')) {
      negate = true;
      p = p.slice(1);
    }
    let dirOnly = false;
    if (p.endsWith('/')) {
      dirOnly = true;
      p = p.replace(/\/+$/, '');
    }
    if (p === '') continue;
    const anchored = p.includes('/');
    if (p.startsWith('/')) p = p.slice(1);
    out.push({ glob: p, negate, dirOnly, anchored });
  }
  return out;
}

/** Returns a test `(relPath, isDir) => excluded` for gitignore-style patterns (see the file comment). */
export function compileIgnore(patterns: readonly string[]): (relPath: string, isDir: boolean) => boolean {
  const rules: Rule[] = parseIgnore(patterns).map((p) => ({
    re: globToRegExp(p.glob),
    negate: p.negate,
    dirOnly: p.dirOnly,
    anchored: p.anchored,
  }));
  return (relPath: string, isDir: boolean) => {
    const base = relPath.slice(relPath.lastIndexOf('/') + 1);
    let excluded = false;
    for (const r of rules) {
      if (r.dirOnly && !isDir) continue;
      if (r.re.test(r.anchored ? relPath : base)) excluded = !r.negate;
    }
    return excluded;
  };
}

function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const atStart = i === 0 || glob[i - 1] === '/';
        if (atStart && glob[i + 2] === '/') {
          out += '(?:.*/)?';
          i += 2;
        } else {
          out += '.*';
          i += 1;
        }
      } else {
        out += '[^/]*';
      }
    } else if (c === '?') {
      out += '[^/]';
    } else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end === -1) {
        out += '\\[';
      } else {
        let cls = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
        if (cls.startsWith('!')) cls = `^${cls.slice(1)}`;
        out += `[${cls}]`;
        i = end;
      }
    } else if (c === '\\' && i + 1 < glob.length) {
      out += escapeRe(glob[i + 1]);
      i += 1;
    } else {
      out += escapeRe(c);
    }
  }
  return new RegExp(`^${out}$`);
}

function escapeRe(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}

/** The ignore patterns of a directory: its top-level `.skyignore`, else its `.gitignore`, else none. */
export function ignorePatterns(localDir: string): {
  file: '.skyignore' | '.gitignore' | null;
  patterns: string[];
} {
  for (const file of ['.skyignore', '.gitignore'] as const) {
    const p = join(localDir, file);
    if (existsSync(p)) return { file, patterns: readFileSync(p, 'utf8').split(/\r?\n/) };
  }
  return { file: null, patterns: [] };
}

export interface MirrorResult {
  copied: number;
  deleted: number;
}

/**
 * Make `dest` a copy of `src`: new and changed files (size or mtime differ) are copied with their
 * mode and mtime, symlinks are recreated as symlinks, excluded paths are skipped. With `delete`,
 * files in `dest` that are not in `src` are removed (excluded ones are kept, like rsync).
 */
export async function mirrorDir(
  src: string,
  dest: string,
  opts: { exclude?: readonly string[]; delete?: boolean } = {},
): Promise<MirrorResult> {
  const st = await fsp.stat(src).catch(() => null);
  if (!st?.isDirectory()) throw new Error(`not a directory: ${src}`);
  const excluded = compileIgnore([...ignorePatterns(src).patterns, ...(opts.exclude ?? [])]);
  const result: MirrorResult = { copied: 0, deleted: 0 };
  await fsp.mkdir(dest, { recursive: true });
  await copyTree(src, dest, '', excluded, !!opts.delete, result);
  return result;
}

async function copyTree(
  srcRoot: string,
  destRoot: string,
  rel: string,
  excluded: (rel: string, isDir: boolean) => boolean,
  del: boolean,
  result: MirrorResult,
): Promise<void> {
  const srcDir = rel ? join(srcRoot, rel) : srcRoot;
  const destDir = rel ? join(destRoot, rel) : destRoot;
  const entries = await fsp.readdir(srcDir, { withFileTypes: true });
  const kept = new Set<string>();
  for (const e of entries) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    const isDir = e.isDirectory();
    if (excluded(r, isDir)) continue;
    const s = join(srcDir, e.name);
    const d = join(destDir, e.name);
    if (isDir) {
      kept.add(e.name);
      const dst = await fsp.lstat(d).catch(() => null);
      if (dst && !dst.isDirectory()) await fsp.rm(d, { recursive: true, force: true });
      const sst = await fsp.stat(s);
      await fsp.mkdir(d, { recursive: true });
      await fsp.chmod(d, sst.mode & 0o7777);
      await copyTree(srcRoot, destRoot, r, excluded, del, result);
    } else if (e.isSymbolicLink()) {
      kept.add(e.name);
      const target = await fsp.readlink(s);
      const dst = await fsp.lstat(d).catch(() => null);
      if (dst?.isSymbolicLink() && (await fsp.readlink(d)) === target) continue;
      if (dst) await fsp.rm(d, { recursive: true, force: true });
      await fsp.symlink(target, d);
      result.copied++;
    } else if (e.isFile()) {
      kept.add(e.name);
      const sst = await fsp.stat(s);
      const dst = await fsp.lstat(d).catch(() => null);
      if (dst?.isFile() && dst.size === sst.size && Math.abs(dst.mtimeMs - sst.mtimeMs) < 1) {
        if ((dst.mode & 0o7777) !== (sst.mode & 0o7777)) await fsp.chmod(d, sst.mode & 0o7777);
        continue;
      }
      if (dst && !dst.isFile()) await fsp.rm(d, { recursive: true, force: true });
      const tmp = `${d}.skyhop-sync-${process.pid}`;
      await fsp.copyFile(s, tmp);
      await fsp.chmod(tmp, sst.mode & 0o7777);
      await fsp.utimes(tmp, sst.atime, sst.mtime);
      await fsp.rename(tmp, d);
      result.copied++;
    }
    // sockets, fifos and devices are not synced
  }
  if (!del) return;
  for (const e of await fsp.readdir(destDir, { withFileTypes: true })) {
    if (kept.has(e.name)) continue;
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (excluded(r, e.isDirectory())) continue;
    await fsp.rm(join(destDir, e.name), { recursive: true, force: true });
    result.deleted++;
  }
}
