/** Kept in step with package.json by scripts/build.mjs's check (test/unit/version.test.ts). */
export const VERSION = '0.1.0';
