import { openStore } from '../state/index.js';
import { targetClusters } from '../sdk/status.js';
import { options, type OptionsOf, flags } from './options.js';
import { confirm, progress } from './ui.js';

export const parse = options({ clusters: flags.words(), all: flags.bool(), yes: flags.bool() });
export type StopOptions = OptionsOf<typeof parse>;

export default async function stopCmd(o: StopOptions): Promise<number> {
  const store = openStore();
  const names = targetClusters('stop', o.clusters, o.all, store);
  if (names.length === 0) {
    process.stderr.write('No clusters to stop.\n');
    return 0;
  }
  if (!(await confirm(`Stop ${names.join(', ')}?`, o.yes))) return 1;
  const { stop } = await import('../sdk/lifecycle.js');
  const ui = await progress();
  try {
    for (const n of names) await stop(store, n, { onStep: (m) => ui.step(m) });
  } finally {
    ui.stop();
  }
  return 0;
}
