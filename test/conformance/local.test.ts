/** The local cloud passes the conformance kit. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCloud } from '../../src/clouds/local/index.js';
import { conformance } from './kit.js';

let dir = '';
let saved: string | undefined;
conformance({
  name: 'local',
  region: 'local',
  instanceType: 'local',
  reachable: true,
  noCapacityReason:
    'one machine has no capacity errors to inject (the local cloud classifies every error fatal)',
  async setup() {
    dir = mkdtempSync(join(tmpdir(), 'skyhop-conf-local-'));
    saved = process.env.SKYHOP_HOME;
    process.env.SKYHOP_HOME = dir;
    return createCloud();
  },
  async teardown() {
    if (saved === undefined) delete process.env.SKYHOP_HOME;
    else process.env.SKYHOP_HOME = saved;
    rmSync(dir, { recursive: true, force: true });
  },
});
