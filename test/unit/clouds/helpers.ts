/**
 * Shared set-up for the clouds tests: a temporary HOME and SKYHOP_HOME, with every credential
 * environment variable the checks read cleared; `restore` puts the environment back and deletes
 * the folder.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const CREDENTIAL_ENV = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_DEFAULT_PROFILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_CONFIG_FILE',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_ROLE_ARN',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'GOOGLE_APPLICATION_CREDENTIALS',
  'CLOUDSDK_CONFIG',
  'CLOUDSDK_ACTIVE_CONFIG_NAME',
  'GOOGLE_CLOUD_PROJECT',
  'CLOUDSDK_CORE_PROJECT',
  'GCLOUD_PROJECT',
  'RUNPOD_API_KEY',
  'FLUFFYCLOUD_CREDENTIALS',
];

export interface Sandbox {
  /** The temporary HOME. */
  home: string;
  /** Write a file under HOME (parents created); returns its absolute path. */
  write(rel: string, text: string): string;
  /** Set (string) or unset (undefined) environment variables for this test. */
  env(vars: Record<string, string | undefined>): void;
  restore(): void;
}

export function sandbox(): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), 'skyhop-clouds-test-'));
  const keys = ['HOME', 'SKYHOP_HOME', ...CREDENTIAL_ENV];
  const saved = new Map(keys.map((k) => [k, process.env[k]]));
  for (const k of CREDENTIAL_ENV) delete process.env[k];
  process.env.HOME = dir;
  process.env.SKYHOP_HOME = join(dir, '.skyhop-test');
  return {
    home: dir,
    write(rel, text) {
      const p = join(dir, rel);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, text);
      return p;
    },
    env(vars) {
      for (const [k, v] of Object.entries(vars)) {
        if (!saved.has(k)) saved.set(k, process.env[k]);
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    },
    restore() {
      for (const [k, v] of saved) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
