// Temporary A/B: local launch → first output, base vs after, alternating.
import { firstLine, median } from './lib.js';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const sides = { base: '/work/wt/base', after: '/work/wt/after' } as const;
function first(bin: string, args: string[], env: Record<string, string>, cwd: string): Promise<number> {
  return new Promise((res, rej) => {
    const t = process.hrtime.bigint();
    const c = spawn(process.execPath, [bin, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = false; let err = '';
    c.stderr.on('data', (d) => (err += d));
    c.stdout.on('data', () => { if (!seen) { seen = true; res(Number(process.hrtime.bigint() - t) / 1e6); } });
    c.on('close', (code) => { if (!seen) rej(new Error(`${code} ${err}`)); });
  });
}
const t: Record<string, number[]> = { base: [], after: [] };
const dirs: Record<string, string> = {};
for (const s of Object.keys(sides)) dirs[s] = mkdtempSync(join(tmpdir(), `abl-${s}-`));
for (let i = 0; i < 6; i++) {
  for (const [side, root] of Object.entries(sides)) {
    const env = { PATH: process.env.PATH!, HOME: join(dirs[side], 'home'), SKYHOP_HOME: join(dirs[side], 'sky'), CI: 'true' };
    t[side].push(await first(join(root, 'bin/skyhop.js'), ['launch', '-y', '-c', `l${i}`, 'examples/hello.yaml'], env, root));
    spawnSync(process.execPath, [join(root, 'bin/skyhop.js'), 'down', '-y', `l${i}`], { env, cwd: root });
  }
}
for (const side of ['base', 'after']) console.log(side, median(t[side]).toFixed(0), t[side].map((x) => x.toFixed(0)).join(' '));
void firstLine;
