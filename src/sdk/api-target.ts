/**
 * Whether this process talks to a team server, and which: read on every CLI command, so it loads
 * nothing (no zod, no HTTP); the client itself is `api-client.ts`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configPath } from '../config/config.js';
import { skyhopHome } from '../util/paths.js';

export interface ApiTarget {
  endpoint: string;
  token: string | null;
}

/** Where `skyhop api login` keeps the token (0600; never in the config file, which users share). */
export function tokenPath(): string {
  return join(skyhopHome(), 'api', 'token');
}

/** The configured endpoint in the config file's `api_server.endpoint`, read without the YAML parser when absent. */
function configuredEndpoint(): string | null {
  const { path } = configPath();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  if (!text.includes('api_server')) return null;
  // `api_server:\n  endpoint: URL` as `api login` writes it (and as users write it by hand).
  const m = /^api_server:\s*\n(?:[ \t]+#.*\n|[ \t]*\n)*[ \t]+endpoint:[ \t]*['"]?([^'"\s#]+)['"]?/m.exec(
    text,
  );
  return m ? m[1] : null;
}

/** The server this process talks to, or null (everything local, as without a server). */
export function apiTarget(): ApiTarget | null {
  if (process.env.SKYHOP_API_USER) return null; // a worker on the server runs locally there
  const endpoint = process.env.SKYHOP_API_SERVER_ENDPOINT || configuredEndpoint();
  if (!endpoint) return null;
  let token = process.env.SKYHOP_API_TOKEN || null;
  if (!token && existsSync(tokenPath())) token = readFileSync(tokenPath(), 'utf8').trim() || null;
  return { endpoint: endpoint.replace(/\/+$/, ''), token };
}
