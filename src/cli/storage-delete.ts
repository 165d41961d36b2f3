import { storage } from '../sdk/storage.js';
import { UserError } from '../util/errors.js';
import { options, type OptionsOf, flags } from './options.js';
import { confirm, interruptSignal, progress } from './ui.js';

export const parse = options({ names: flags.words(), all: flags.bool(), yes: flags.bool() });
export type StorageDeleteOptions = OptionsOf<typeof parse>;

export default async function storageDeleteCmd(o: StorageDeleteOptions): Promise<number> {
  if (o.all && o.names.length > 0) throw new UserError('give bucket names or -a/--all, not both');
  if (!o.all && o.names.length === 0)
    throw new UserError('give the names of the buckets to delete, or -a/--all');
  const names = o.all ? storage.ls().map((r) => r.name) : o.names;
  if (names.length === 0) {
    process.stderr.write('No storage to delete.\n');
    return 0;
  }
  if (
    !(await confirm(
      `Delete storage ${names.join(', ')}? Buckets skyhop created are deleted with every object in them`,
      o.yes,
    ))
  )
    return 1;
  const ui = await progress();
  const sig = interruptSignal();
  try {
    const results = await storage.delete(o.all ? 'all' : names, {
      onStep: (m) => ui.step(m),
      signal: sig.signal,
    });
    ui.stop();
    for (const r of results) {
      process.stdout.write(
        r.action === 'deleted'
          ? `Deleted s3://${r.name} and its objects.\n`
          : `Forgot s3://${r.name}: skyhop did not create it, so the bucket and its objects are kept.\n`,
      );
    }
  } finally {
    ui.stop();
    sig.dispose();
  }
  return 0;
}
