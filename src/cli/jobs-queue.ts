/** `skyhop jobs queue`: managed jobs, SkyPilot's columns (a pipeline: a row per task under its job). */
import { taskCostSoFar, taskRunMs } from '../state/managed.js';
import { options, type OptionsOf, flags } from './options.js';
import { ago, duration, printJson, progress, table } from './ui.js';

export const parse = options({
  all: flags.bool(),
  json: flags.bool(),
  skipFinished: flags.bool(),
  refresh: flags.bool(),
});
export type JobsQueueOptions = OptionsOf<typeof parse>;

export default async function jobsQueueCmd(o: JobsQueueOptions): Promise<number> {
  const { managedQueue, isManagedTerminal, managedControllerStopped } = await import('../sdk/managed.js');
  const ui = o.refresh ? await progress() : null;
  let jobs: Awaited<ReturnType<typeof managedQueue>>;
  try {
    jobs = await managedQueue({ refresh: o.refresh, onStep: (m) => ui?.step(m) });
  } finally {
    ui?.stop();
  }
  const stopped = !o.refresh && managedControllerStopped();
  if (stopped) {
    process.stderr.write(
      'The jobs controller is stopped (it stops itself once idle), so its jobs are not listed; `skyhop jobs queue --refresh` starts it.\n',
    );
  }
  if (o.skipFinished) jobs = jobs.filter((j) => !isManagedTerminal(j.status));
  if (o.json) {
    printJson(jobs);
    return 0;
  }
  if (jobs.length === 0) {
    // A stopped controller's jobs are unknown, not absent: the line above said so.
    if (!stopped) process.stdout.write('No managed jobs.\n');
    return 0;
  }
  const now = Date.now();
  const live = jobs.filter((j) => !isManagedTerminal(j.status));
  const byStatus = new Map<string, number>();
  for (const j of live) byStatus.set(j.status, (byStatus.get(j.status) ?? 0) + 1);
  const head = [
    'ID',
    'TASK',
    'NAME',
    'RESOURCES',
    'SUBMITTED',
    'TOT. DURATION',
    'JOB DURATION',
    '#RECOVERIES',
    'STATUS',
    'COST',
  ];
  if (o.all) head.push('STARTED', 'CLUSTER', 'INFRA');
  head.push('DETAILS');
  const cost = (usd: number) => (usd === 0 ? '-' : `$${usd < 0.01 ? usd.toFixed(4) : usd.toFixed(2)}`);
  const rows: Array<Array<string | number>> = [];
  for (const j of jobs) {
    const pipeline = j.tasks.length > 1;
    const cur = j.tasks[Math.min(j.currentTask, j.tasks.length - 1)]!;
    const row: Array<string | number> = [
      j.id,
      pipeline ? '-' : 0,
      j.name,
      pipeline ? '-' : cur.resources,
      ago(j.submittedAt, now),
      duration(j.totalDurationMs),
      j.jobDurationMs > 0 ? duration(j.jobDurationMs) : '-',
      j.recoveryCount,
      j.status,
      cost(j.cost),
    ];
    if (o.all)
      row.push(
        j.startedAt ? ago(j.startedAt, now) : '-',
        pipeline ? '-' : (cur.cluster ?? '-'),
        pipeline ? '-' : (cur.infra ?? '-'),
      );
    row.push(j.reason ?? (pipeline ? '' : (cur.reason ?? '')));
    rows.push(row);
    if (!pipeline) continue;
    j.tasks.forEach((t, i) => {
      const run = taskRunMs(t, now);
      const tcost = taskCostSoFar(t, now);
      const r: Array<string | number> = [
        '',
        i,
        t.name,
        t.resources,
        '',
        t.startedAt ? duration((t.endedAt ?? now) - t.startedAt) : '-',
        run > 0 ? duration(run) : '-',
        t.recoveryCount,
        t.status,
        cost(tcost),
      ];
      if (o.all) r.push(t.startedAt ? ago(t.startedAt, now) : '-', t.cluster ?? '-', t.infra ?? '-');
      r.push(t.reason ?? '');
      rows.push(r);
    });
  }
  const summary = live.length
    ? `In progress: ${live.length} (${[...byStatus].map(([s, n]) => `${n} ${s}`).join(', ')})\n`
    : '';
  process.stdout.write(`Managed jobs\n${summary}${await table(head, rows)}\n`);
  return 0;
}
