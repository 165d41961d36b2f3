/**
 * Variables that belong to the skyhop process that set them and must never reach a cluster's nodes
 * (their processes, the agent, jobs, a jobs controller there): the state database (SKYHOP_DB, with its
 * password) and the team server user a request runs for. A jobs controller on a node keeps its own
 * state in its own SKYHOP_HOME.
 */
export const CLIENT_ONLY_ENV: readonly string[] = ['SKYHOP_DB', 'SKYHOP_API_USER', 'SKYHOP_API_ROLE'];

/** `env` without the client-only variables (a new object). */
export function withoutClientEnv(env: Readonly<Record<string, string>>): Record<string, string> {
  const out = { ...env };
  for (const k of CLIENT_ONLY_ENV) delete out[k];
  return out;
}
