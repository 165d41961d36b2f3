/** Shared set-up for the catalog tests: a temporary SKYHOP_HOME per test file, removed afterwards. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clearCatalogMemo } from '../../../src/catalog/index.js';

export interface TempHome {
  dir: string;
  restore(): void;
}

/** Point SKYHOP_HOME (and HOME) at a fresh temporary folder; `restore` puts them back and deletes it. */
export function useTempHome(): TempHome {
  const dir = mkdtempSync(join(tmpdir(), 'skyhop-catalog-test-'));
  const saved = { SKYHOP_HOME: process.env.SKYHOP_HOME, HOME: process.env.HOME };
  process.env.SKYHOP_HOME = join(dir, 'home');
  process.env.HOME = dir;
  clearCatalogMemo();
  return {
    dir,
    restore() {
      clearCatalogMemo();
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
