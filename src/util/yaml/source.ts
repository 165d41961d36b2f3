/**
 * Where a value came from, for error messages: a position in a YAML file (file:line:col plus
 * the field path), a CLI flag, or a field of a task built in code.
 */
import {
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  type LineCounter,
  type Node,
  type Pair,
  type YAMLMap,
} from 'yaml';
import type { UserError } from '../errors.js';

import { formatPath, type Path, type Where, whereError } from './where.js';

export { fieldWhere, flagWhere, formatPath, type Path, type Where, whereError } from './where.js';

/** One YAML document of a file, able to point at any field path in it. */
export class SourceDoc {
  constructor(
    /** The file name as the user gave it (relative paths stay relative). */
    readonly file: string,
    readonly doc: Document.Parsed,
    readonly lines: LineCounter,
  ) {}

  /** 1-based line and column of the value at `path` (or of its key with `key: true`). */
  pos(path: Path, opts: { key?: boolean } = {}): { line: number; col: number } {
    const offset = this.offset(path, opts.key === true);
    return this.lines.linePos(offset);
  }

  private offset(path: Path, wantKey: boolean): number {
    let node: unknown = this.doc.contents;
    let last = rangeStart(node) ?? 0;
    for (let i = 0; i < path.length; i++) {
      const seg = path[i];
      if (isAlias(node)) node = node.resolve(this.doc);
      if (isMap(node)) {
        const pair = pairOf(node, seg);
        if (!pair) return last;
        const keyStart = rangeStart(pair.key);
        if (i === path.length - 1 && wantKey && keyStart !== undefined) return keyStart;
        if (keyStart !== undefined) last = keyStart;
        const v = pair.value;
        const vs = rangeStart(v);
        // `key:` with nothing after it: point at the key.
        if (vs !== undefined && !(isScalar(v) && v.value === null && (v.source ?? '') === '')) last = vs;
        node = v;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg];
        const s = rangeStart(item);
        if (s === undefined) return last;
        last = s;
        node = item;
      } else {
        return last;
      }
    }
    return last;
  }

  /** The node at `path`, or undefined. */
  node(path: Path): Node | undefined {
    let node: unknown = this.doc.contents;
    for (const seg of path) {
      if (isAlias(node)) node = node.resolve(this.doc);
      if (isMap(node)) {
        const pair = pairOf(node, seg);
        if (!pair) return undefined;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        node = node.items[seg];
      } else {
        return undefined;
      }
    }
    if (isAlias(node)) node = node.resolve(this.doc);
    return (node ?? undefined) as Node | undefined;
  }

  /** The text of a plain scalar exactly as written (`1.10`, `1e-4`), else undefined. */
  sourceText(path: Path): string | undefined {
    const n = this.node(path);
    return isScalar(n) && typeof n.source === 'string' && n.source !== '' ? n.source : undefined;
  }

  /** A Where for the value (or key) at `path`, labelled with `label` (default: the path). */
  where(path: Path, opts: { key?: boolean; label?: Path } = {}): Where {
    return {
      prefix: () => {
        const { line, col } = this.pos(path, opts);
        const label = formatPath(opts.label ?? path);
        return label ? `${this.file}:${line}:${col}: ${label}` : `${this.file}:${line}:${col}`;
      },
    };
  }

  /** `file:line:col: path: message` (or `file:line:col: message` for the document itself). */
  error(path: Path, message: string, opts: { key?: boolean; label?: Path } = {}): UserError {
    return whereError(this.where(path, opts), message);
  }
}

/**
 * Each mapping's pairs by key, built once per mapping: a lookup per field is then O(1), so pointing at
 * every key of a 20,000-key mapping stays linear (a scan per lookup made parsing quadratic).
 */
const pairIndex = new WeakMap<YAMLMap, Map<string, Pair>>();

function pairOf(map: YAMLMap, seg: string | number): Pair | undefined {
  let index = pairIndex.get(map);
  if (!index) {
    index = new Map();
    for (const p of map.items) {
      // The first pair of a key wins, as the linear search did.
      if (isPair(p) && !index.has(keyString(p.key))) index.set(keyString(p.key), p as Pair);
    }
    pairIndex.set(map, index);
  }
  return index.get(String(seg));
}

function rangeStart(n: unknown): number | undefined {
  const r = (n as { range?: [number, number, number] } | null | undefined)?.range;
  return r ? r[0] : undefined;
}

function keyString(k: unknown): string {
  if (isScalar(k)) return String(k.value);
  return String(k);
}
