/**
 * A client's files for a request: a gzipped tar whose entries are the files' absolute paths (without
 * the leading /), extracted under the upload's directory. Entries that would land outside it (`..`,
 * absolute paths, links pointing out) are refused by the tar library's defaults and by the check here.
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BadRequest } from './requests.js';

export async function extract(body: Readable, dir: string): Promise<{ files: number; bytes: number }> {
  const { x } = await import('tar');
  let files = 0;
  let bytes = 0;
  let refused: string | null = null;
  const sink = x({
    cwd: dir,
    strict: true,
    preservePaths: false,
    preserveOwner: false,
    filter: (path, entry) => {
      const p = String(path);
      const type = (entry as { type?: string }).type;
      if (p.split('/').includes('..') || type === 'SymbolicLink' || type === 'Link') {
        refused ??= p;
        return false;
      }
      if (type === 'File') {
        files++;
        bytes += (entry as { size?: number }).size ?? 0;
      }
      return true;
    },
  });
  await pipeline(body, sink);
  if (refused !== null)
    throw new BadRequest(
      `the upload names a path outside its folder or a link: '${String(refused).slice(0, 200)}'`,
    );
  return { files, bytes };
}
