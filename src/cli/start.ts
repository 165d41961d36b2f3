import { openStore } from '../state/index.js';
import { confirm, minutes, progress } from './ui.js';

export default async function startCmd(args: string[], opts: Record<string, unknown>): Promise<number> {
  const store = openStore();
  if (!(await confirm(`Start ${args.join(', ')}?`, opts.yes))) return 1;
  const { start, setAutostop } = await import('../sdk/lifecycle.js');
  const ui = await progress();
  try {
    for (const n of args) {
      await start(store, n, { onStep: (m) => ui.step(m) });
      if (opts.idleMinutesToAutostop !== undefined) {
        await setAutostop(store, n, { idleMinutes: minutes(opts.idleMinutesToAutostop, '-i'), down: false });
      }
      ui.step(`Cluster ${n} is UP.`);
    }
  } finally {
    ui.stop();
  }
  return 0;
}
