// Temporary A/B: exec over SSH (FluffyCloud) and local launch, base vs after builds, alternating.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator } from '../test/helpers/fluffycloud.js';
import { median } from './lib.js';
const KEY = 'fc-bench-key-123';
const emu = await startEmulator({ scenario: { users: { bench: { api_key: KEY } }, boot_delay_s: 0 } });
const sides = { base: '/work/wt/base/bin/skyhop.js', after: '/work/wt/after/bin/skyhop.js' } as const;
const envs: Record<string, Record<string, string>> = {};
try {
  for (const [side, bin] of Object.entries(sides)) {
    const dir = mkdtempSync(join(tmpdir(), `ab-${side}-`));
    const home = join(dir, 'home');
    mkdirSync(join(home, '.fluffycloud'), { recursive: true });
    writeFileSync(join(home, '.fluffycloud', 'credentials'), `api_key = ${KEY}\nendpoint = ${emu.url}\n`);
    envs[side] = { PATH: `/tmp/shim:${process.env.PATH}`, HOME: home, SKYHOP_HOME: join(dir, 'sky'), CI: 'true' };
    const r = spawnSync(process.execPath, [bin, 'launch', '-y', '-c', `ab${side}`, '--cloud', 'fluffycloud', 'echo up'], { env: envs[side], encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
  }
  const t: Record<string, number[]> = { base: [], after: [] };
  for (let i = 0; i < (process.env.N ? Number(process.env.N) : 12); i++) {
    for (const [side, bin] of Object.entries(sides)) {
      const s = process.hrtime.bigint();
      const r = spawnSync(process.execPath, [bin, 'exec', `ab${side}`, 'echo hi'], { env: envs[side], encoding: 'utf8' });
      if (r.status !== 0) throw new Error(r.stderr);
      t[side].push(Number(process.hrtime.bigint() - s) / 1e6);
    }
  }
  for (const side of ['base', 'after']) console.log(side, 'exec ssh median', median(t[side]).toFixed(0), t[side].map((x) => x.toFixed(0)).join(' '));
  for (const [side, bin] of Object.entries(sides)) spawnSync(process.execPath, [bin, 'down', '-y', `ab${side}`], { env: envs[side] });
} finally {
  await emu.stop();
}
