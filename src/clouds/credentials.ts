/**
 * Small helpers shared by the clouds' credential checks: reading credential files under the
 * user's home (resolved at call time, so tests can point HOME elsewhere), an INI reader for the
 * `key = value` files the clouds' own tools write, and ways to show paths without a home prefix.
 *
 * Nothing here ever prints a secret value; the checks only test keys for presence. `credentialBundle`
 * returns credential contents and values, for the caller to carry to another machine, and never puts
 * one in a message.
 */
import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { CloudError } from '../util/errors.js';
import type { Cloud, CredentialFile } from './types.js';

/** `~` or `~/x` -> absolute under the current home; relative paths resolve against the cwd. */
export function expandHome(p: string): string {
  if (p === '~') return homedir();
  if (p.startsWith('~/')) return join(homedir(), p.slice(2));
  return isAbsolute(p) ? p : resolve(p);
}

/** A path under the home directory as `~/...` (for messages); others unchanged. */
export function displayPath(p: string): string {
  const home = homedir();
  if (home && home !== '/' && (p === home || p.startsWith(`${home}/`))) return `~${p.slice(home.length)}`;
  return p;
}

/** A path under the current home directory, e.g. `homePath('.aws', 'credentials')`. */
export function homePath(...parts: string[]): string {
  return join(homedir(), ...parts);
}

/** The file's text, or null when it does not exist (or is not a readable regular file). */
export async function readTextIfExists(path: string): Promise<string | null> {
  try {
    const st = await stat(path);
    if (!st.isFile()) return null;
    return await readFile(path, 'utf8');
  } catch {
    return null;
  }
}

/** Whether a regular file exists at `path`. */
export async function fileExists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Sections of an INI file: section name ('' before the first header) -> key (lower-cased) -> value. */
export type Ini = Map<string, Map<string, string>>;

/**
 * Parse the INI dialect of ~/.aws/credentials, gcloud's configurations, ~/.lambda_cloud/lambda_keys
 * and the simple TOML of ~/.runpod/config.toml: `[section]` headers, `key = value` (or `key: value`)
 * lines, full-line comments starting with `#` or `;`. Indented lines are sub-settings of the key above
 * (AWS's nested `s3 =` blocks) and are skipped. A value in matching single or double quotes is unquoted
 * (TOML strings). Keys are lower-cased; a repeated key keeps its last value.
 */
export function parseIni(text: string): Ini {
  const out: Ini = new Map([['', new Map()]]);
  let current = out.get('')!;
  for (const raw of text.split(/\r?\n/)) {
    if (raw.trim() === '') continue;
    const line = raw.trim();
    if (line.startsWith('#') || line.startsWith(';')) continue;
    if (/^\s/.test(raw) && !line.startsWith('[')) continue; // nested sub-setting
    const header = /^\[\s*([^\]]*?)\s*\]\s*(?:[#;].*)?$/.exec(line);
    if (header) {
      const name = header[1];
      if (!out.has(name)) out.set(name, new Map());
      current = out.get(name)!;
      continue;
    }
    const eq = line.search(/[=:]/);
    if (eq <= 0) continue;
    const key = line.slice(0, eq).trim().toLowerCase();
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) {
      value = value.slice(1, -1);
    }
    current.set(key, value);
  }
  return out;
}

/** A key's value when present and non-empty. */
export function nonEmpty(section: Map<string, string> | undefined, key: string): string | undefined {
  const v = section?.get(key);
  return v !== undefined && v.trim() !== '' ? v.trim() : undefined;
}

/** An environment variable's value when set and non-empty (read at call time). */
export function envValue(name: string): string | undefined {
  const v = process.env[name];
  return v !== undefined && v.trim() !== '' ? v : undefined;
}

/**
 * Credentials gathered for another machine (a managed jobs controller) from the clouds'
 * `credentialSources`: what to write there and which variables to set. Contents and values are
 * secrets: write each file 0600, pass variables off argv, and never log any of them.
 */
export interface CredentialBundle {
  /** Each file's content and its `~/...` path there. */
  files: Array<{ remote: string; content: Buffer }>;
  /** Variables to set there, with this machine's values (set and non-empty only). */
  env: Record<string, string>;
  /**
   * Variables to set there to a carried file's path: name -> its `~/...` remote path, `~` to be
   * expanded to the remote user's home (e.g. AWS_CA_BUNDLE -> ~/.skyhop/aws/ca-bundle.pem).
   */
  pathEnv: Record<string, string>;
}

/** A file's bytes, or null when it went away since it was listed; other errors name the file only. */
async function readCredentialFile(f: CredentialFile): Promise<Buffer | null> {
  try {
    return await readFile(f.local);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    throw new CloudError(`cannot read the credential file ${displayPath(f.local)} (${code ?? 'error'})`);
  }
}

/** Adds one file, once per remote path; two different local files for one remote path are an error. */
function addFile(out: CredentialBundle, seen: Map<string, string>, f: CredentialFile, content: Buffer): void {
  const prev = seen.get(f.remote);
  if (prev !== undefined) {
    if (prev === f.local) return;
    throw new CloudError(
      `two credential files go to ${f.remote} on the other machine: ${displayPath(prev)} and ${displayPath(f.local)}`,
    );
  }
  seen.set(f.remote, f.local);
  out.files.push({ remote: f.remote, content });
  if (f.pathEnv !== undefined) out.pathEnv[f.pathEnv] = f.remote;
}

/**
 * What another machine needs to use `clouds` as this user: the files each cloud's
 * `credentialSources` lists (read now; one gone since is skipped) and the variables it names that are
 * set and non-empty here. Clouds without `credentialSources` add nothing.
 */
export async function credentialBundle(clouds: Cloud[]): Promise<CredentialBundle> {
  const out: CredentialBundle = { files: [], env: {}, pathEnv: {} };
  const seen = new Map<string, string>();
  for (const cloud of clouds) {
    const sources = await cloud.credentialSources?.();
    if (!sources) continue;
    for (const f of sources.files) {
      const content = await readCredentialFile(f);
      if (content !== null) addFile(out, seen, f, content);
    }
    for (const name of sources.env) {
      const v = envValue(name);
      if (v !== undefined) out.env[name] = v;
    }
  }
  return out;
}
