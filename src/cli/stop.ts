import { openStore } from '../state/index.js';
import { targetClusters } from './targets.js';
import { confirm, progress } from './ui.js';

export default async function stopCmd(args: string[], opts: Record<string, unknown>): Promise<number> {
  const store = openStore();
  const names = targetClusters(store, args, opts, 'stop');
  if (names.length === 0) {
    process.stderr.write('No clusters to stop.\n');
    return 0;
  }
  if (!(await confirm(`Stop ${names.join(', ')}?`, opts.yes))) return 1;
  const { stop } = await import('../sdk/lifecycle.js');
  const ui = await progress();
  try {
    for (const n of names) await stop(store, n, { onStep: (m) => ui.step(m) });
  } finally {
    ui.stop();
  }
  return 0;
}
