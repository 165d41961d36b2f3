/**
 * Task parsing at scale (issue 9 item 5): 20,000 `envs` entries, and 20,000 unknown `resources` keys
 * (an error naming the first ones), in process with the catalogs loaded, plus `launch --dryrun` of the
 * 20,000-env file as a whole process. Goal: under 300 ms each in process (it was 55 s and 69 s: source
 * positions were found by a scan per key, and the YAML library's duplicate-key check is quadratic).
 * Usage: node --import tsx bench/parse.ts [runs]
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { allClouds } from '../src/clouds/registry.js';
import { parseTaskText } from '../src/task/index.js';
import { knownNamesFromClouds } from '../src/task/known.js';
import { freshHome, printRows, type Row, summarize, timeCli } from './lib.js';

const RUNS = Number(process.argv[2] ?? 5);
const N = 20_000;
const h = freshHome();
process.env.SKYHOP_HOME = h.env.SKYHOP_HOME;
try {
  const known = knownNamesFromClouds(allClouds());
  const envs = `name: big\nenvs:\n${Array.from({ length: N }, (_, i) => `  K${i}: v${i}`).join('\n')}\nrun: echo hi\n`;
  const unknown = `resources:\n  cpus: 1\n${Array.from({ length: N }, (_, i) => `  unk${i}: v${i}`).join('\n')}\nrun: echo hi\n`;
  const time = (f: () => void) => {
    const t = process.hrtime.bigint();
    f();
    return Number(process.hrtime.bigint() - t) / 1e6;
  };
  parseTaskText('run: x\n', '/tmp/warm.yaml', { known }); // load the YAML and schema code once
  const rows: Row[] = [];
  const envRuns = Array.from({ length: RUNS }, () =>
    time(() => parseTaskText(envs, '/tmp/envs.yaml', { known })),
  );
  rows.push(summarize(`parse ${N} envs entries (in process)`, envRuns, 'ms', '< 300 ms'));
  const unkRuns = Array.from({ length: RUNS }, () =>
    time(() => {
      try {
        parseTaskText(unknown, '/tmp/unknown.yaml', { known });
        throw new Error('expected an error');
      } catch (e) {
        if (!String(e).includes("unknown field 'unk0'")) throw e;
      }
    }),
  );
  rows.push(summarize(`parse ${N} unknown resources keys → error (in process)`, unkRuns, 'ms', '< 300 ms'));
  const file = join(h.dir, 'envs.yaml');
  writeFileSync(file, envs);
  const cli = Array.from({ length: RUNS }, () => timeCli(['launch', '--dryrun', file], h.env));
  rows.push(summarize(`\`launch --dryrun\` of the ${N}-env file (whole process)`, cli, 'ms'));
  printRows('Task parsing at scale', rows);
} finally {
  h.dispose();
}
