import { openStore } from '../state/index.js';
import { minutes } from './ui.js';

export default async function autostopCmd(args: string[], opts: Record<string, unknown>): Promise<number> {
  const store = openStore();
  const { setAutostop } = await import('../sdk/lifecycle.js');
  const setting = opts.cancel
    ? null
    : { idleMinutes: minutes(opts.idleMinutes, '--idle-minutes'), down: Boolean(opts.down) };
  for (const n of args) {
    await setAutostop(store, n, setting);
    process.stderr.write(
      setting
        ? `${n}: ${setting.down ? 'autodown' : 'autostop'} after ${setting.idleMinutes} idle minute${setting.idleMinutes === 1 ? '' : 's'}.\n`
        : `${n}: autostop cancelled.\n`,
    );
  }
  return 0;
}
