/** Options of task parsing, shared by the YAML parser and inline commands (no imports of either). */
import type { KnownNames } from './known.js';

export interface ParseOptions {
  /** Catalog knowledge for the checks that need it; without it only the shape is checked. */
  known?: KnownNames;
  /** `--env KEY=VAL` / `--env KEY` values, applied before substitution and the null-value check. */
  env?: string[];
  /** `--secret KEY=VAL` / `--secret KEY` values. */
  secret?: string[];
  /**
   * Directory that relative workdir/file_mounts paths start from. Default: the current directory, as
   * SkyPilot resolves them; a path found only beside the YAML file is taken from there with a warning.
   * Given explicitly, it is the only place looked in.
   */
  baseDir?: string;
}
