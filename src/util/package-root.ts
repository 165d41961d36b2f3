/**
 * Where skyhop itself is installed. Kept apart from paths.ts: the agent bundle (CommonJS, where
 * import.meta is empty) uses paths.ts and never needs this.
 */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (where package.json, catalogs/ and dist/ live), from src/ or dist/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (dir.endsWith('/src') || dir.endsWith('/dist')) return dirname(dir);
    dir = dirname(dir);
  }
  throw new Error('cannot locate the skyhop package root');
}
