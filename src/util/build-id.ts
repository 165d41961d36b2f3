/**
 * An id of the skyhop build at `root` (default: this one): a hash of its built CLI entry, so two
 * copies of the same build (this machine's and one shipped to a jobs controller) have the same id,
 * and a rebuild changes it. null when there is no build.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from './package-root.js';

const cache = new Map<string, string | null>();

export function buildId(root: string = packageRoot()): string | null {
  if (cache.has(root)) return cache.get(root)!;
  let id: string | null;
  try {
    id = createHash('sha256')
      .update(readFileSync(join(root, 'dist', 'cli.js')))
      .digest('hex')
      .slice(0, 16);
  } catch {
    id = null;
  }
  cache.set(root, id);
  return id;
}
