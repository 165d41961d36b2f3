/**
 * The one quoting helper. Every string that goes into a shell line (local or remote) passes
 * through `shq` (one word) or `shJoin` (an argv). Nothing else in skyhop splices user strings
 * into shell text.
 *
 * POSIX single quotes keep every byte literal except the single quote itself, which is closed,
 * escaped and reopened: it's -> 'it'\''s'. Newlines, $(...), backticks, globs and NUL-free
 * binary all survive unchanged.
 */
export function shq(s: string): string {
  if (s.includes('\0')) throw new Error('a NUL byte cannot be passed through a shell');
  if (s !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Quote each word of an argv and join them with spaces. */
export function shJoin(argv: readonly string[]): string {
  return argv.map(shq).join(' ');
}

/** `export K=V` lines for an environment; keys must be valid shell identifiers. */
export function shExports(env: Readonly<Record<string, string>>): string {
  return Object.entries(env)
    .map(([k, v]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`invalid environment variable name: ${k}`);
      return `export ${k}=${shq(v)}`;
    })
    .join('\n');
}

/**
 * A remote path for a shell line: a leading `~/` stays unquoted so the remote shell expands it
 * to the node's HOME; the rest is quoted.
 */
export function shPath(p: string): string {
  if (p === '~') return '~';
  if (p.startsWith('~/')) return `~/${shq(p.slice(2))}`;
  return shq(p);
}
