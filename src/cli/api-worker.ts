/** `skyhop api-worker ID` (hidden): a team server's request worker (server/worker.ts). */
import { flags, type OptionsOf, options } from './options.js';

export const parse = options({ id: flags.str() });

export default async function apiWorkerCmd(o: OptionsOf<typeof parse>): Promise<number> {
  const { runWorker } = await import('../server/worker.js');
  return runWorker(o.id ?? '');
}
