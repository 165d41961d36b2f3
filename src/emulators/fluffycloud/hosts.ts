/**
 * Where FluffyCloud's hosts keep their sshd files (the hosts themselves are src/emulators/hosts.ts): one
 * folder per emulator under /run/skyhop-fluffycloud, beside the address claims (ipclaims.ts).
 */
import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';

export const RUN_ROOT = '/run/skyhop-fluffycloud';

/** Where the hosts of the emulator with this data dir keep their sshd files: one folder per emulator. */
export function runPrefixFor(dataDir: string): string {
  const tag = createHash('sha256').update(realpathSync(dataDir)).digest('hex').slice(0, 12);
  return join(RUN_ROOT, 'nodes', tag);
}
