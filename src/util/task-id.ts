/**
 * SkyPilot's task id shape, `<prefix>-<YYYY-MM-DD-HH-MM-SS-micros>_<name>_<id>` (UTC): the agent's
 * `SKYPILOT_TASK_ID` of a job (prefix `skyhop`, the cluster's name, the job id) and the jobs
 * controller's of a managed task (prefix `skyhop-managed`, the job's name, `<id>-<task index>`).
 */
export function taskIdOf(prefix: string, at: number, name: string, id: string | number): string {
  const d = new Date(at);
  const p = (x: number, w = 2) => String(x).padStart(w, '0');
  const ts =
    `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}-` +
    `${p(d.getUTCHours())}-${p(d.getUTCMinutes())}-${p(d.getUTCSeconds())}-${p(d.getUTCMilliseconds() * 1000, 6)}`;
  return `${prefix}-${ts}_${name}_${id}`;
}
