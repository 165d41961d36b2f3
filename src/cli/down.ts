import { openStore } from '../state/index.js';
import { targetClusters } from './targets.js';
import { confirm, progress } from './ui.js';

export default async function downCmd(args: string[], opts: Record<string, unknown>): Promise<number> {
  const store = openStore();
  const names = targetClusters(store, args, opts, 'down');
  if (names.length === 0) {
    process.stderr.write('No clusters to tear down.\n');
    return 0;
  }
  if (
    !(await confirm(
      `Tear down ${names.join(', ')}? Everything on ${names.length > 1 ? 'them' : 'it'} is deleted`,
      opts.yes,
    ))
  )
    return 1;
  const { down } = await import('../sdk/lifecycle.js');
  const ui = await progress();
  let failed = 0;
  try {
    for (const n of names) {
      try {
        await down(store, n, { onStep: (m) => ui.step(m), purge: Boolean(opts.purge) });
      } catch (e) {
        if (names.length === 1) throw e;
        failed++;
        process.stderr.write(`error: ${n}: ${(e as Error).message}\n`);
      }
    }
  } finally {
    ui.stop();
  }
  return failed ? 2 : 0;
}
