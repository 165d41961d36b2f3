import { openStore } from '../state/index.js';
import { UserError } from '../util/errors.js';
import { ago, duration, printJson, table } from './ui.js';

export default async function queueCmd(args: string[], opts: Record<string, unknown>): Promise<number> {
  const store = openStore();
  const { clusterQueue } = await import('../sdk/jobs.js');
  const names = args.length
    ? args
    : store
        .listClusters()
        .filter((c) => c.status === 'UP')
        .map((c) => c.name);
  if (names.length === 0) throw new UserError('no UP clusters; name one, or see `skyhop status`');
  const all: Record<string, unknown> = {};
  for (const name of names) {
    const jobs = await clusterQueue(store, name);
    if (opts.json) {
      all[name] = jobs;
      continue;
    }
    const now = Date.now();
    const rows = jobs
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
  if (opts.json) printJson(all);
  return 0;
}
