/**
 * YAML syntax errors in the user's terms. The YAML library reports an indentation mistake where it
 * noticed it ("Nested mappings are not allowed in compact mappings" at the line *before* the mistake);
 * these explain what is wrong and point at the line that needs fixing. Duplicate keys are found here in
 * one pass (the library's own check compares each key with every earlier one: quadratic).
 */
import { type Document, isMap, isPair, isScalar, isSeq, type LineCounter } from 'yaml';
import { UserError } from '../errors.js';

interface Line {
  n: number;
  text: string;
  indent: number;
}

function lineAt(lines: string[], n: number): Line {
  const text = lines[n - 1] ?? '';
  return { n, text, indent: text.length - text.trimStart().length };
}

/** The first line after `n` that holds something (not blank, not only a comment). */
function nextContentLine(lines: string[], n: number): Line | null {
  for (let i = n + 1; i <= lines.length; i++) {
    const l = lineAt(lines, i);
    const t = l.text.trim();
    if (t !== '' && !t.startsWith('#')) return l;
  }
  return null;
}

/** The key a line starts with (`cpus` of `  cpus: 2`, `- name` of `- name: x`), or null. */
function keyOf(l: Line): string | null {
  const m = /^\s*(?:-\s+)?([^\s:#][^:#]*?)\s*:(?:\s|$)/.exec(l.text);
  return m ? m[1] : null;
}

function quoteKey(k: string | null): string {
  return k === null ? 'the entry' : `'${k}'`;
}

/** One clear line for the first syntax error of `doc`. */
export function syntaxError(file: string, text: string, doc: Document.Parsed): UserError {
  const e = doc.errors[0];
  const pos = e.linePos?.[0] ?? { line: 1, col: 1 };
  const lines = text.split(/\r?\n/);
  const at = (line: number, col: number, msg: string) =>
    new UserError(`${file}:${line}:${col}: YAML syntax error: ${msg}`);

  if (e.code === 'BLOCK_AS_IMPLICIT_KEY' || e.code === 'MULTILINE_IMPLICIT_KEY') {
    const here = lineAt(lines, pos.line);
    const next = nextContentLine(lines, pos.line);
    if (next && next.indent > here.indent) {
      const hereKey = keyOf(here);
      return at(
        next.n,
        next.indent + 1,
        `line ${next.n} is indented more than ${quoteKey(hereKey)} on line ${here.n} above it, ` +
          `so YAML reads it as part of that value; keys of one mapping start at the same column ` +
          `(column ${here.indent + 1} here), and a nested mapping goes on the lines after a key that has no value` +
          (hereKey ? ` ('${hereKey}:' alone on its line)` : ''),
      );
    }
    const col = pos.col;
    return at(
      pos.line,
      col,
      `a key and a nested mapping on one line (${JSON.stringify(here.text.trim().slice(0, 60))}); ` +
        'put the nested keys on their own lines, indented under the key',
    );
  }
  if (e.code === 'BAD_INDENT' && e.message.startsWith('All mapping items must start at the same column')) {
    const here = lineAt(lines, pos.line);
    let prev: Line | null = null;
    for (let i = pos.line - 1; i >= 1; i--) {
      const l = lineAt(lines, i);
      const t = l.text.trim();
      if (t === '' || t.startsWith('#')) continue;
      prev = l;
      break;
    }
    const hereKey = keyOf(here);
    if (prev && keyOf(prev) !== null && prev.indent !== here.indent) {
      return at(
        here.n,
        here.indent + 1,
        `${quoteKey(hereKey)} on line ${here.n} starts at column ${here.indent + 1}, but ${quoteKey(keyOf(prev))} ` +
          `above it on line ${prev.n} starts at column ${prev.indent + 1}; keys of one mapping start at the same column`,
      );
    }
    return at(
      here.n,
      here.indent + 1,
      `${quoteKey(hereKey)} on line ${here.n} does not line up with the keys of the mapping it is in; ` +
        'keys of one mapping start at the same column',
    );
  }
  if (e.code === 'TAB_AS_INDENT') {
    return at(pos.line, pos.col, `line ${pos.line} is indented with a tab; YAML indentation must be spaces`);
  }
  const what = e.message
    .split(/ at line \d+, column \d+/)[0]
    .replace(/\s+/g, ' ')
    .trim();
  return at(pos.line, pos.col, what);
}

function keyText(k: unknown): string | null {
  if (isScalar(k)) return String(k.value);
  return null;
}

/** A key written twice in one mapping (found in one pass per mapping), or null. */
export function duplicateKeyError(file: string, doc: Document.Parsed, lc: LineCounter): UserError | null {
  const stack: unknown[] = [doc.contents];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isMap(node)) {
      const seen = new Map<string, number>();
      for (const p of node.items) {
        if (!isPair(p)) continue;
        const k = keyText(p.key);
        const start = (p.key as { range?: [number, number, number] } | null)?.range?.[0];
        if (k !== null && start !== undefined) {
          const first = seen.get(k);
          if (first !== undefined) {
            const here = lc.linePos(start);
            const then = lc.linePos(first);
            const shown = k.length > 60 ? `${k.slice(0, 60)}…` : k;
            return new UserError(
              `${file}:${here.line}:${here.col}: YAML syntax error: key '${shown}' appears twice in one mapping (first on line ${then.line}); keep one of them`,
            );
          }
          seen.set(k, start);
        }
        stack.push(p.value);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) stack.push(item);
    }
  }
  return null;
}
