/**
 * The client side of the agent protocol. Everything goes through a CommandRunner for the head
 * node (a local process today, SSH next) with plain POSIX sh commands built with src/util/shell.ts;
 * nothing here assumes the head node is this machine.
 */
import { userInfo } from 'node:os';
import type { CommandRunner, RunResult } from '../runtime/types.js';
import { CloudError, UserError } from '../util/errors.js';
import { shPath, shq } from '../util/shell.js';
import {
  AGENT_DIR,
  AGENT_FILES,
  AGENT_PROCESS_TITLE,
  type AutostopConfig,
  type ClusterInfoFile,
  isTerminal,
  JOB_FILES,
  type JobRecord,
  type JobSpec,
} from './types.js';

export type {
  AutostopConfig,
  ClusterInfoFile,
  ClusterNodeInfo,
  JobDemand,
  JobRecord,
  JobSpec,
  JobStatus,
} from './types.js';
export { isTerminal } from './types.js';

const EXIT_NOT_INSTALLED = 3;
const EXIT_IO = 4;
const EXIT_NOT_STARTED = 5;
const LOGS_EXIT_NO_JOB = 2;
const LOGS_EXIT_AGENT_DEAD = 3;

/** `cd` into the agent directory, or exit 3. */
const CD = `cd ${shPath(AGENT_DIR)} 2>/dev/null || { echo 'the skyhop agent is not installed on this node' >&2; exit ${EXIT_NOT_INSTALLED}; }`;

/** True (status 0) when agent.pid names a live daemon of this directory; leaves its pid in $p. */
const ALIVE =
  `{ IFS= read -r p < ${AGENT_FILES.pid} && IFS= read -r c < "/proc/$p/comm" && ` +
  `[ "$c" = ${AGENT_PROCESS_TITLE} ] && [ "/proc/$p/cwd" -ef . ]; } 2>/dev/null`;

/** Signal the daemon to rescan now (no-op when it is not running; it rescans every second anyway). */
const WAKE = `if ${ALIVE}; then kill -USR1 "$p" 2>/dev/null; fi`;

/** Start the daemon unless it runs, then wait (up to ~10 s) until it does. Needs node_path. */
const START = [
  `IFS= read -r n < ${AGENT_FILES.nodePath} && [ -f ${AGENT_FILES.bundle} ] && [ -f ${AGENT_FILES.cluster} ] ||` +
    ` { echo 'the skyhop agent is not installed on this node' >&2; exit ${EXIT_NOT_INSTALLED}; }`,
  `if ! ${ALIVE}; then setsid nohup "$n" ${AGENT_FILES.bundle} daemon >> ${AGENT_FILES.log} 2>&1 < /dev/null & fi`,
  'i=0',
  // Every 10 ms: the agent is usually up in ~150 ms, and a coarser poll adds up to its whole tick.
  `while [ "$i" -lt 1000 ]; do if ${ALIVE}; then exit 0; fi; sleep 0.01; i=$((i + 1)); done`,
  `echo 'the skyhop agent did not start; its log ends with:' >&2; tail -n 5 ${AGENT_FILES.log} >&2`,
  `exit ${EXIT_NOT_STARTED}`,
].join('\n');

function where(head: CommandRunner): string {
  const c = head.connection;
  return c.kind === 'local' ? `local node ${c.nodeId}` : `${c.user}@${c.host}:${c.port}`;
}

function firstLine(s: string): string {
  return (
    s
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .pop() ?? ''
  );
}

async function runChecked(
  head: CommandRunner,
  what: string,
  command: string,
  stdin?: string,
): Promise<RunResult> {
  const res = await head.run(command, stdin === undefined ? {} : { stdin });
  if (res.code === EXIT_NOT_INSTALLED) {
    throw new CloudError(
      `Cannot ${what}: the skyhop agent is not installed on the head node (${where(head)}); run 'skyhop launch' or 'skyhop start' on the cluster again.`,
    );
  }
  if (res.code !== 0) {
    const msg = firstLine(res.stderr) || `exit code ${res.code}`;
    throw new CloudError(`Cannot ${what} on the head node (${where(head)}): ${msg}`, {
      details: res.stderr.trim() ? res.stderr.trim().split('\n').slice(-5) : [],
    });
  }
  return res;
}

/**
 * Install (or update) the agent on the head node and make sure it runs: uploads the bundle, writes
 * cluster.json, starts the daemon detached if it is not running. Idempotent and safe to race: the
 * daemon itself guarantees there is only one per directory. A running daemon keeps running (it
 * re-reads cluster.json; a new bundle takes effect when it next starts).
 */
export async function installAgent(
  head: CommandRunner,
  info: ClusterInfoFile,
  agentBundlePath: string,
): Promise<void> {
  await head.upload(agentBundlePath, `${AGENT_DIR}/${AGENT_FILES.bundle}`, { mode: 0o644 });
  const write = [
    `mkdir -p ${shPath(AGENT_DIR)}/${AGENT_FILES.jobs}`,
    CD,
    `cat > ${AGENT_FILES.cluster}.tmp.$$ && mv -f ${AGENT_FILES.cluster}.tmp.$$ ${AGENT_FILES.cluster} || exit ${EXIT_IO}`,
    `printf '%s\\n' ${shq(info.nodePath)} > ${AGENT_FILES.nodePath}.tmp.$$ && mv -f ${AGENT_FILES.nodePath}.tmp.$$ ${AGENT_FILES.nodePath} || exit ${EXIT_IO}`,
    WAKE,
    START,
  ].join('\n');
  await runChecked(head, 'start the skyhop agent', write, `${JSON.stringify(info, null, 2)}\n`);
}

/** Start the agent if it is not running (it must have been installed). */
export async function ensureAgent(head: CommandRunner): Promise<void> {
  await runChecked(head, 'start the skyhop agent', `${CD}\n${START}`);
}

/** Whether the agent daemon is running on the head node. */
export async function agentRunning(head: CommandRunner): Promise<boolean> {
  const res = await head.run(`${CD}\nif ${ALIVE}; then echo yes; else echo no; fi`);
  return res.code === 0 && res.stdout.trim() === 'yes';
}

export type JobSpecInput = Omit<JobSpec, 'submittedAt' | 'user'> &
  Partial<Pick<JobSpec, 'submittedAt' | 'user'>>;

/**
 * Specs up to this size are read by the shell's `read` builtin (no process to spawn, but one system
 * call per byte); larger ones by `cat`.
 */
const READ_SPEC_MAX = 4 * 1024;

/**
 * Queue a job; returns its id. One command on the head, made of shell builtins only for a spec of
 * usual size (a process spawn costs more than everything else a submission does): the id is claimed
 * by creating `jobs/<id>.json` exclusively (`set -C`, i.e. O_EXCL; the next id when it exists) and
 * the spec is written into it; `next_id` is only a hint where to start. Then the agent is woken. An
 * agent found not running is started. The spec travels on the command's stdin, never in the command
 * itself: it holds the job's secrets, and a command line is visible to every user of a machine (the
 * client's, where ssh runs, and the node's).
 */
export async function submitJob(head: CommandRunner, spec: JobSpecInput): Promise<number> {
  let user = spec.user;
  if (user === undefined) {
    try {
      user = userInfo().username;
    } catch {
      user = process.env.USER ?? '';
    }
  }
  const full: JobSpec = { ...spec, submittedAt: spec.submittedAt ?? Date.now(), user };
  // One line: JSON.stringify escapes every control character, newlines included.
  const json = JSON.stringify(full);
  const small = Buffer.byteLength(json) <= READ_SPEC_MAX;
  const writer = small ? `printf '%s\\n' "$s"` : 'cat';
  const jobs = AGENT_FILES.jobs;
  const cmd = [
    CD,
    `[ -d ${jobs} ] || exit ${EXIT_NOT_INSTALLED}`,
    small ? `IFS= read -r s || { echo 'the job spec did not arrive on stdin' >&2; exit ${EXIT_IO}; }` : ':',
    `IFS= read -r i < next_id 2>/dev/null; case $i in ''|*[!0-9]*) i=1;; esac`,
    'umask 077', // the spec may carry secrets: readable by the node's user only
    // Claim an id by creating its file exclusively (noclobber: fails only when it exists), then write
    // the spec into it. Apart, so a write that fails (a full disk) is an error, never "id taken": that
    // read made a submission on a full disk claim ids forever, or take an empty spec for a job.
    'set -C',
    `until : 2>/dev/null > ${jobs}/$i.json; do`,
    `  [ -e ${jobs}/$i.json ] || { echo "cannot create $PWD/${jobs}/$i.json" >&2; exit ${EXIT_IO}; }`,
    '  i=$((i + 1))',
    'done',
    `{ ${writer} >> ${jobs}/$i.json; } 2>/dev/null || { echo "cannot write $PWD/${jobs}/$i.json (is the head node's disk full?)" >&2; exit ${EXIT_IO}; }`,
    'echo $((i + 1)) >| next_id',
    `if ${ALIVE}; then kill -USR1 "$p" 2>/dev/null; echo "$i 1"; else echo "$i 0"; fi`,
  ].join('\n');
  const res = await runChecked(head, 'submit a job', cmd, `${json}\n`);
  const m = /^(\d+) ([01])$/m.exec(res.stdout);
  if (!m) throw new CloudError(`Unexpected answer from the head node (${where(head)}) to a job submission.`);
  if (m[2] === '0') await ensureAgent(head);
  return Number(m[1]);
}

/** Every job on the cluster, oldest first (the agent's snapshot: jobs submitted in the last moment may lag). */
export async function getQueue(head: CommandRunner): Promise<JobRecord[]> {
  const res = await runChecked(
    head,
    'read the job queue',
    `${CD}\ncat ${AGENT_FILES.queue} 2>/dev/null || echo '[]'`,
  );
  try {
    return JSON.parse(res.stdout) as JobRecord[];
  } catch {
    throw new CloudError(`The job queue on the head node (${where(head)}) is unreadable.`);
  }
}

function checkId(id: number): void {
  if (!Number.isInteger(id) || id < 1)
    throw new UserError(`Invalid job id ${id}: job ids are positive integers.`);
}

/** One job's record, or null when there is no such job. A job the agent has not picked up yet shows as INIT. */
export async function getJob(head: CommandRunner, id: number): Promise<JobRecord | null> {
  checkId(id);
  const d = `${AGENT_FILES.jobs}/${id}`;
  const res = await runChecked(
    head,
    `read job ${id}`,
    [
      CD,
      `if [ -f ${d}/${JOB_FILES.state} ]; then echo STATE; cat ${d}/${JOB_FILES.state}`,
      `elif [ -f ${d}.json ]; then echo SPEC; cat ${d}.json`,
      'else echo NONE; fi',
    ].join('\n'),
  );
  const nl = res.stdout.indexOf('\n');
  const tag = (nl === -1 ? res.stdout : res.stdout.slice(0, nl)).trim();
  const body = nl === -1 ? '' : res.stdout.slice(nl + 1);
  if (tag === 'NONE') return null;
  const init: JobRecord = {
    id,
    name: '',
    status: 'INIT',
    submittedAt: 0,
    startedAt: null,
    endedAt: null,
    exitCode: null,
    reason: null,
    demand: { cpus: 0.5, accelerators: null },
    numNodes: 1,
    user: '',
    nodes: null,
    gpus: null,
  };
  if (tag === 'STATE') {
    try {
      return JSON.parse(body) as JobRecord;
    } catch {
      throw new CloudError(`The record of job ${id} on the head node (${where(head)}) is unreadable.`);
    }
  }
  let spec: JobSpec;
  try {
    spec = JSON.parse(body) as JobSpec;
  } catch {
    return init; // still being written
  }
  return {
    ...init,
    name: spec.name,
    submittedAt: spec.submittedAt,
    user: spec.user,
    numNodes: spec.numNodes,
    demand: { cpus: spec.demand?.cpus ?? 0.5, accelerators: spec.demand?.accelerators ?? null },
  };
}

/**
 * Cancel jobs (or every unfinished job with 'all'): writes each job's `cancel` marker and wakes
 * the agent, which kills the job's processes on all its nodes. By default waits until they have
 * ended. Returns the ids of the jobs that were cancelled (jobs already finished are left alone).
 * Unknown ids are a UserError (nothing is cancelled then).
 */
export async function cancelJobs(
  head: CommandRunner,
  ids: number[] | 'all',
  opts: { wait?: boolean; timeoutMs?: number } = {},
): Promise<number[]> {
  const queue = await getQueue(head);
  const byId = new Map(queue.map((j) => [j.id, j]));
  let targets: number[];
  if (ids === 'all') {
    targets = queue.filter((j) => !isTerminal(j.status)).map((j) => j.id);
  } else {
    ids.forEach(checkId);
    targets = [...new Set(ids)].filter((id) => {
      const j = byId.get(id);
      return !j || !isTerminal(j.status);
    });
  }
  if (targets.length === 0) return [];
  const cmd = [
    CD,
    `for i in ${targets.join(' ')}; do`,
    `  if [ -f ${AGENT_FILES.jobs}/$i.json ] && { [ -d ${AGENT_FILES.jobs}/$i ] || mkdir -p ${AGENT_FILES.jobs}/$i; } &&` +
      ` : >| ${AGENT_FILES.jobs}/$i/${JOB_FILES.cancel}; then echo "ok $i"; fi`,
    'done',
    WAKE,
  ].join('\n');
  // Check existence first so that a typo cancels nothing.
  const check = await runChecked(
    head,
    'cancel jobs',
    `${CD}\nfor i in ${targets.join(' ')}; do [ -f ${AGENT_FILES.jobs}/$i.json ] || echo "$i"; done`,
  );
  const missing = check.stdout.split('\n').filter(Boolean);
  if (missing.length > 0) {
    throw new UserError(`No job ${missing.join(', ')} on this cluster; see 'skyhop queue' for the job ids.`);
  }
  const res = await runChecked(head, 'cancel jobs', cmd);
  const marked = [...res.stdout.matchAll(/^ok (\d+)$/gm)].map((m) => Number(m[1]));
  if (opts.wait === false) return marked;
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    const now = new Map((await getQueue(head)).map((j) => [j.id, j]));
    const done = marked.every((id) => {
      const j = now.get(id);
      return j && isTerminal(j.status);
    });
    if (done) return marked.filter((id) => now.get(id)?.status === 'CANCELLED');
    if (Date.now() > deadline) {
      throw new CloudError(
        `Jobs ${marked.join(', ')} were asked to stop but have not ended after ${Math.round((opts.timeoutMs ?? 60_000) / 1000)} s; check 'skyhop queue'.`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Stream a job's log (setup output included) from its start through `onData`; with `follow`,
 * until the job has ended. Returns the job's record at the end (terminal when following, unless
 * `signal` aborted the stream first).
 */
export async function followLogs(
  head: CommandRunner,
  id: number,
  opts: { follow: boolean; onData: (chunk: string) => void; signal?: AbortSignal },
): Promise<JobRecord> {
  checkId(id);
  let stderr = '';
  const res = await head.run(
    `${CD}\nIFS= read -r n < ${AGENT_FILES.nodePath} || exit ${EXIT_NOT_INSTALLED}\n` +
      `exec "$n" ${AGENT_FILES.bundle} logs ${id}${opts.follow ? ' --follow' : ''}`,
    {
      onStdout: opts.onData,
      onStderr: (c) => {
        stderr += c;
      },
      signal: opts.signal,
    },
  );
  if (!opts.signal?.aborted) {
    if (res.code === LOGS_EXIT_NO_JOB)
      throw new UserError(`No job ${id} on this cluster; see 'skyhop queue'.`);
    if (res.code === LOGS_EXIT_AGENT_DEAD) {
      throw new CloudError(
        `Cannot follow job ${id}: the skyhop agent on the head node (${where(head)}) is not running; restart the cluster with 'skyhop start'.`,
      );
    }
    if (res.code !== 0) {
      throw new CloudError(
        `Cannot read the log of job ${id} on the head node (${where(head)}): ${firstLine(stderr) || `exit code ${res.code}`}`,
      );
    }
  }
  const rec = await getJob(head, id);
  if (!rec) throw new UserError(`No job ${id} on this cluster; see 'skyhop queue'.`);
  return rec;
}

/** Change (or turn off, with null) autostop: rewrites cluster.json's autostop and wakes the agent. */
export async function setAutostop(head: CommandRunner, autostop: AutostopConfig | null): Promise<void> {
  const res = await runChecked(head, 'read the cluster info', `${CD}\ncat ${AGENT_FILES.cluster}`);
  let info: ClusterInfoFile;
  try {
    info = JSON.parse(res.stdout) as ClusterInfoFile;
  } catch {
    throw new CloudError(
      `The cluster info on the head node (${where(head)}) is unreadable; run 'skyhop launch' again.`,
    );
  }
  info.autostop = autostop;
  await runChecked(
    head,
    'set autostop',
    `${CD}\ncat > ${AGENT_FILES.cluster}.tmp.$$ && mv -f ${AGENT_FILES.cluster}.tmp.$$ ${AGENT_FILES.cluster} || exit ${EXIT_IO}\n${WAKE}`,
    `${JSON.stringify(info, null, 2)}\n`,
  );
}
