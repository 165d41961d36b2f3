import { openStore } from '../state/index.js';
import { options, type OptionsOf, flags } from './options.js';

export const parse = options({
  clusters: flags.words(),
  idleMinutes: flags.minutes('--idle-minutes'), // commander's default: '5'
  cancel: flags.bool(),
  down: flags.bool(),
});
export type AutostopOptions = OptionsOf<typeof parse>;

export default async function autostopCmd(o: AutostopOptions): Promise<number> {
  const store = openStore();
  const { setAutostop } = await import('../sdk/lifecycle.js');
  const setting = o.cancel ? null : { idleMinutes: o.idleMinutes ?? 5, down: Boolean(o.down) };
  for (const n of o.clusters) {
    await setAutostop(store, n, setting);
    process.stderr.write(
      setting
        ? `${n}: ${setting.down ? 'autodown' : 'autostop'} after ${setting.idleMinutes} idle minute${setting.idleMinutes === 1 ? '' : 's'}.\n`
        : `${n}: autostop cancelled.\n`,
    );
  }
  return 0;
}
