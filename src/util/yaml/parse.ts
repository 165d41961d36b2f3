/**
 * YAML text -> documents with positions, read as PyYAML reads it (SkyPilot's loader), shared by the
 * task parser (src/task) and the config file (src/config): a syntax error or a key written twice is
 * one `file:line:col: YAML syntax error: ...` line; every later error points into the documents
 * through a SourceDoc (source.ts).
 */
import { type Document, isScalar, LineCounter, parseAllDocuments } from 'yaml';
import { UserError } from '../errors.js';
import { duplicateKeyError, syntaxError } from './yaml-errors.js';
import { PYYAML_OPTIONS } from './pyyaml.js';
import { SourceDoc } from './source.js';

export interface YamlDocuments {
  docs: Document.Parsed[];
  lines: LineCounter;
}

/** Every document of `text` (none for an empty text); `file` names it in messages. */
export function parseYamlDocuments(text: string, file: string): YamlDocuments {
  const lines = new LineCounter();
  const parsed = parseAllDocuments(text, {
    lineCounter: lines,
    ...PYYAML_OPTIONS,
    prettyErrors: true,
    // Duplicate keys are checked by duplicateKeyError in one pass; the library's check is quadratic.
    uniqueKeys: false,
  });
  const docs = Array.isArray(parsed) ? parsed : [];
  for (const d of docs) if (d.errors.length > 0) throw syntaxError(file, text, d);
  for (const d of docs) {
    const dup = duplicateKeyError(file, d, lines);
    if (dup) throw dup;
  }
  return { docs, lines };
}

/** The one document of a single-document file as a SourceDoc, or null when the file holds nothing. */
export function parseYamlDocument(text: string, file: string): SourceDoc | null {
  const { docs, lines } = parseYamlDocuments(text, file);
  const list = docs.filter((d) => !isEmptyDocument(d));
  if (list.length === 0) return null;
  if (list.length > 1) {
    const at = lines.linePos(list[1].range[0]);
    throw new UserError(`${file}:${at.line}:${at.col}: expected one YAML document, found more`);
  }
  return new SourceDoc(file, list[0], lines);
}

/** A document with nothing in it (an empty file, `---` alone, a lone `~`). */
export function isEmptyDocument(doc: Document.Parsed): boolean {
  const c = doc.contents;
  return c === null || (isScalar(c) && c.value === null);
}
