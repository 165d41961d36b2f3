import { openStore } from '../state/index.js';
import { targetClusters } from '../sdk/status.js';
import { options, type OptionsOf, flags } from './options.js';
import { confirm, progress } from './ui.js';

export const parse = options({
  clusters: flags.words(),
  all: flags.bool(),
  yes: flags.bool(),
  purge: flags.bool(),
});
export type DownOptions = OptionsOf<typeof parse>;

export default async function downCmd(o: DownOptions): Promise<number> {
  const store = openStore();
  const names = targetClusters('down', o.clusters, o.all, store);
  if (names.length === 0) {
    process.stderr.write(
      'No clusters to tear down. (Clusters the local state does not know: `skyhop status --refresh` finds them by their tags.)\n',
    );
    return 0;
  }
  if (
    !(await confirm(
      `Tear down ${names.join(', ')}? Everything on ${names.length > 1 ? 'them' : 'it'} is deleted`,
      o.yes,
    ))
  )
    return 1;
  const { down } = await import('../sdk/lifecycle.js');
  const ui = await progress();
  let failed = 0;
  try {
    for (const n of names) {
      try {
        await down(store, n, { onStep: (m) => ui.step(m), purge: Boolean(o.purge) });
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
