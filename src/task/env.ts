/** Environment variables and secrets: overrides from --env/--secret, and ${VAR} substitution in paths. */
import { UserError } from '../util/errors.js';
import { type Where, whereError } from '../util/yaml/where.js';

export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * `--env KEY=VAL` pairs, and `--env KEY` (value taken from the caller's environment). Errors name
 * the flag and the key, never a value (values may be secrets).
 */
export function parseEnvOverrides(
  items: readonly string[] | undefined,
  flag: '--env' | '--secret',
  environ: NodeJS.ProcessEnv = process.env,
): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const item of items ?? []) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    if (!ENV_NAME.test(key)) {
      throw new UserError(
        `${flag}: '${key}' is not a valid variable name (letters, digits and _, not starting with a digit); use ${flag} KEY=VALUE`,
      );
    }
    if (eq >= 0) out.push([key, item.slice(eq + 1)]);
    else {
      const v = environ[key];
      if (v === undefined) {
        throw new UserError(
          `${flag} ${key}: ${key} is not set in your environment; use ${flag} ${key}=VALUE`,
        );
      }
      out.push([key, v]);
    }
  }
  return out;
}

/**
 * Replaces `${VAR}` and `$VAR` with values from `envs` (SkyPilot substitutes task envs into
 * file_mounts and workdir); `$$` is a literal `$`. A reference to a variable that is not defined is
 * an error.
 */
export function substituteEnvs(s: string, envs: Readonly<Record<string, string>>, where: Where): string {
  return s.replace(
    /\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*)|(\{[^}]*\}?))/g,
    (m, dollar, braced, bare, bad) => {
      if (dollar) return '$';
      if (bad !== undefined) throw whereError(where, `bad variable reference '${m}' (write \${NAME})`);
      const name = (braced ?? bare) as string;
      if (!Object.hasOwn(envs, name)) {
        throw whereError(
          where,
          `\${${name}} is not defined in envs (add it under envs: or pass --env ${name}=VALUE)`,
        );
      }
      return envs[name];
    },
  );
}
