/**
 * The catalog module: SkyPilot-format price catalogs (vms.csv, schema v7), loaded once per process
 * (parsed cache on disk), and the query functions every cloud shares.
 */
export { CatalogImpl, catalogFromRows } from './catalog.js';
export {
  bundledCatalogClouds,
  bundledCatalogPath,
  catalogCachePath,
  clearCatalogMemo,
  commonAcceleratorNames,
  loadCatalog,
  parsedCachePath,
} from './load.js';
export { CATALOG_COLUMNS, parseCatalogCsv } from './parse.js';
export {
  type AttachableHostRule,
  type CatalogProfile,
  catalogProfile,
  knownCatalogClouds,
  publicCatalogClouds,
} from './profiles.js';
export type * from './types.js';
export {
  CATALOG_SCHEMA,
  checkUpdatable,
  DEFAULT_CATALOG_BASE_URL,
  type UpdateOptions,
  type UpdateResult,
  updateCatalog,
} from './update.js';
