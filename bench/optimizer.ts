/**
 * In-process optimizer time with catalogs already loaded (what a long-lived SDK user or the
 * failover loop pays per plan). Usage: node --import tsx bench/optimizer.ts [runs]
 */
import { allClouds } from '../src/clouds/registry.js';
import { optimize } from '../src/optimizer/index.js';
import { parseTaskText } from '../src/task/index.js';
import { knownNamesFromClouds } from '../src/task/known.js';
import { freshHome, printRows, summarize } from './lib.js';

const RUNS = Number(process.argv[2] ?? 200);
const h = freshHome();
process.env.SKYHOP_HOME = h.env.SKYHOP_HOME;
try {
  const clouds = allClouds();
  const known = knownNamesFromClouds(clouds);
  for (const c of clouds) c.catalog(); // load every catalog first
  const accs = ['A100:8', 'V100:4', 'T4:1', 'L4:1', 'H100:8'];
  const chainText = [
    'name: pipeline',
    ...Array.from(
      { length: 20 },
      (_, i) =>
        `name: step${i}\nresources:\n  accelerators: ${accs[i % accs.length]}\noutputs:\n  s3://b/o${i}: ${10 + i}\nrun: echo`,
    ),
  ].join('\n---\n');
  const cases = {
    'A100:8': parseTaskText('resources:\n  accelerators: A100:8\nrun: x\n', '/tmp/a.yaml', { known }),
    'cpus: 4+': parseTaskText('resources:\n  cpus: 4+\nrun: x\n', '/tmp/c.yaml', { known }),
    '20-task chain': parseTaskText(chainText, '/tmp/chain.yaml', { known }),
  };
  const rows = Object.entries(cases).map(([name, dag]) => {
    optimize(dag, { clouds }); // warm-up
    const xs = Array.from({ length: RUNS }, () => {
      const t = process.hrtime.bigint();
      optimize(dag, { clouds });
      return Number(process.hrtime.bigint() - t) / 1e6;
    });
    return summarize(
      `optimize ${name} over ${clouds.length} clouds`,
      xs,
      'ms',
      name === '20-task chain' ? '' : '< 20 ms',
    );
  });
  printRows('Optimizer, in process, catalogs loaded', rows);
} finally {
  h.dispose();
}
