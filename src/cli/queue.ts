import { openStore } from '../state/index.js';
import { options, type OptionsOf, flags } from './options.js';
import { ago, duration, printJson, table } from './ui.js';

// --all is accepted (SkyPilot's flag) and is the only behaviour: finished jobs are always listed.
export const parse = options({ clusters: flags.words(), all: flags.bool(), json: flags.bool() });
export type QueueOptions = OptionsOf<typeof parse>;

export default async function queueCmd(o: QueueOptions): Promise<number> {
  const { queue } = await import('../sdk/queue.js');
  const all = await queue({ clusters: o.clusters, store: openStore() });
  if (o.json) {
    printJson(all);
    return 0;
  }
  const now = Date.now();
  for (const [name, jobs] of Object.entries(all)) {
    const rows = [...jobs]
      .sort((a, b) => b.id - a.id)
      .map((j) => [
        j.id,
        j.name ?? '-',
        ago(j.submittedAt, now),
        j.startedAt ? duration((j.endedAt ?? now) - j.startedAt) : '-',
        `${j.demand?.cpus ?? 0.5}CPU${j.demand?.accelerators ? `, ${j.demand.accelerators.name}:${j.demand.accelerators.count}` : ''}`,
        j.status,
        j.reason ?? '',
      ]);
    process.stdout.write(`Job queue of ${name}\n`);
    process.stdout.write(
      `${rows.length ? await table(['ID', 'NAME', 'SUBMITTED', 'DURATION', 'RESOURCES', 'STATUS', 'REASON'], rows) : 'No jobs.'}\n`,
    );
  }
  return 0;
}
