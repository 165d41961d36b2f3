/** FluffyCloud passes the conformance kit, against its emulator over real HTTP and real SSH hosts. */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCloud } from '../../src/clouds/fluffycloud/index.js';
import { type EmulatorHandle, startEmulator } from '../helpers/fluffycloud.js';
import { conformance } from './kit.js';

let emu: EmulatorHandle;
let dir = '';
const saved = { home: process.env.HOME, skyhop: process.env.SKYHOP_HOME };
const scenario = (extra: object = {}) => ({
  users: { conformance: { api_key: 'fc-conformance-key' } },
  boot_delay_s: 0,
  ...extra,
});

conformance({
  name: 'fluffycloud',
  region: 'fluffy-east',
  instanceType: 'ff.small',
  reachable: true,
  expectedCapacityScope: 'region',
  async setup() {
    dir = mkdtempSync(join(tmpdir(), 'skyhop-conf-fluffy-'));
    const home = join(dir, 'home');
    mkdirSync(home, { recursive: true });
    process.env.HOME = home;
    process.env.SKYHOP_HOME = join(dir, 'skyhop');
    emu = await startEmulator({ scenario: scenario() });
    emu.writeCredentials(home);
    return createCloud();
  },
  async teardown() {
    await emu?.stop();
    process.env.HOME = saved.home;
    if (saved.skyhop === undefined) delete process.env.SKYHOP_HOME;
    else process.env.SKYHOP_HOME = saved.skyhop;
    rmSync(dir, { recursive: true, force: true });
  },
  async injectCapacityError() {
    await emu.setScenario(scenario({ regions: { 'fluffy-east': { capacity: { '*': 0 } } } }));
    return () => emu.setScenario(scenario());
  },
  async slowDown() {
    await emu.setScenario(scenario({ boot_delay_s: 3 }));
    return () => emu.setScenario(scenario());
  },
});
