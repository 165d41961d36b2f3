import { openStore } from '../state/index.js';
import { options, type OptionsOf, flags } from './options.js';
import { confirm, progress } from './ui.js';

export const parse = options({
  clusters: flags.words(),
  idleMinutesToAutostop: flags.minutes('-i'),
  yes: flags.bool(),
});
export type StartOptions = OptionsOf<typeof parse>;

export default async function startCmd(o: StartOptions): Promise<number> {
  const store = openStore();
  if (!(await confirm(`Start ${o.clusters.join(', ')}?`, o.yes))) return 1;
  const { start, setAutostop } = await import('../sdk/lifecycle.js');
  const ui = await progress();
  try {
    for (const n of o.clusters) {
      await start(store, n, { onStep: (m) => ui.step(m) });
      if (o.idleMinutesToAutostop !== undefined) {
        await setAutostop(store, n, { idleMinutes: o.idleMinutesToAutostop, down: false });
      }
      ui.step(`Cluster ${n} is UP.`);
    }
  } finally {
    ui.stop();
  }
  return 0;
}
