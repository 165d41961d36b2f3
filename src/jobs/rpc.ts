/**
 * `skyhop jobs-controller <op>`: what the client runs on the controller's node (through the
 * controller cluster's runner), reading JSON on stdin and answering JSON on stdout. Ops:
 *
 *   ping                      {serving, home, build (of this copy), serveBuild (of the serving process)}
 *   restart                   ends the serving process (its job's loop starts it again, with this build)
 *   submit       (stdin)      writes the carried credentials (0600), records a managed job (PENDING) and
 *                             its secrets (0600), wakes the controller; {id, serving, serveBuild}
 *   queue                     {now, jobs, serving, serveBuild}
 *   clusters                  {clusters}: the names of the clusters the controller owns
 *   cancel       (stdin)      {cancelled: ids}
 *   logs ID [--controller] [--no-follow]
 *                             the job's output (or the controller's log of it) on stdout, followed
 *                             until the job ends; its end as one JSON line on stderr
 *   serve                     the controller's process (controller.ts)
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { CarriedCredentials, ManagedSubmission } from '../sdk/managed.js';
import { isManagedTerminal, newManagedTask, openStore } from '../state/index.js';
import { UserError } from '../util/errors.js';
import { skyhopHome } from '../util/paths.js';
import { sleep } from '../util/sleep.js';
import { type ControllerProcess, controllerServing, serve } from './controller.js';
import { buildId } from '../util/build-id.js';
import {
  controllerEnvPath,
  jobFiles,
  readJson,
  secretsPath,
  serveRecordPath,
  writePrivate,
} from './files.js';

/** How often `logs` looks for new output. */
const LOG_POLL_MS = 100;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** An op's input: the JSON on stdin (`op` names the command in the error). */
export async function readInput<T>(op = 'jobs-controller'): Promise<T> {
  const text = await readStdin();
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new UserError(`${op}: the input on stdin is not JSON`);
  }
}

/** An op's answer: one line of JSON on stdout. */
export function answer(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v)}\n`);
}

function expand(p: string): string {
  if (p === '~') return homedir();
  if (p.startsWith('~/')) return join(homedir(), p.slice(2));
  if (!p.startsWith('/')) throw new UserError(`jobs-controller: '${p}' is not an absolute or ~/ path`);
  return p;
}

/** Runs one op; resolves with the process's exit code. */
export async function controllerOp(
  op: string,
  args: string[],
  flags: { controller?: boolean; follow?: boolean },
): Promise<number> {
  switch (op) {
    case 'ping': {
      const serving = await controllerServing();
      const rec = readJson<{ pid?: number; build?: string | null }>(serveRecordPath(skyhopHome()), {});
      answer({
        serving,
        home: homedir(),
        build: buildId(),
        serveBuild: serving ? (rec.build ?? null) : null,
      });
      return 0;
    }
    case 'restart':
      answer({ restarted: await restartServe() });
      return 0;
    case 'submit': {
      const sub = await readInput<{ submission: ManagedSubmission; credentials?: CarriedCredentials }>();
      if (sub.credentials) writeCredentials(sub.credentials);
      const id = recordSubmission(sub.submission);
      answer({ id, ...(await servingNow({ wake: true })) });
      return 0;
    }
    case 'clusters': {
      // The clusters this controller owns (records and launches in flight): the client's
      // `status --refresh` must not adopt them as its own.
      answer({ clusters: ownedClusterNames() });
      return 0;
    }
    case 'queue':
      answer({ now: Date.now(), jobs: openStore().listManagedJobs(), ...(await servingNow()) });
      return 0;
    case 'cancel': {
      const c = await readInput<{ ids: number[] | null; name: string | null; all: boolean }>();
      answer({ cancelled: cancel(c) });
      return 0;
    }
    case 'logs':
      return logs(Number(args[0]), flags);
    case 'serve': {
      const { loadConfig } = await import('../config/config.js');
      const cfg = (await loadConfig()).jobs.controller;
      return serve({
        idleMs: (cfg.autostop?.idleMinutes ?? 10) * 60_000,
        pollMs: cfg.pollIntervalSeconds * 1000,
      });
    }
    default:
      throw new UserError(`jobs-controller: no op '${op}'`);
  }
}

/**
 * Whether a controller process of `kind` serves this home (`wake`: and tell it to look now), and its
 * build (from its record at `recordPath`).
 */
export async function servingNow(
  o: { wake?: boolean } = {},
  kind: ControllerProcess = 'jobs',
  recordPath = serveRecordPath(skyhopHome()),
): Promise<{ serving: boolean; serveBuild: string | null }> {
  const serving = await controllerServing(skyhopHome(), o, kind);
  const rec = readJson<{ build?: string | null }>(recordPath, {});
  return { serving, serveBuild: serving ? (rec.build ?? null) : null };
}

/** Writes the carried credential files (0600) and the environment the controller's process applies. */
export function writeCredentials(c: CarriedCredentials): void {
  for (const f of c.files) writePrivate(expand(f.remote), Buffer.from(f.content, 'base64'));
  // Merged over what earlier submissions carried: a job for one cloud must not take away another
  // running job's credentials (a variable carried again takes its newer value).
  const env = { ...readJson<Record<string, string>>(controllerEnvPath(skyhopHome()), {}), ...c.env };
  // Variables that name a carried file point at its copy here.
  for (const [k, remote] of Object.entries(c.pathEnv ?? {})) env[k] = expand(remote);
  writePrivate(controllerEnvPath(skyhopHome()), JSON.stringify(env));
}

/**
 * Records a submitted job (PENDING); its id. Its secrets are written first (0600), in a file named by
 * a fresh key that the job's request then names: the job never exists without them, and a file whose
 * job was never recorded (a crash in between) names no job and is removed by the controller.
 */
export function recordSubmission(s: ManagedSubmission): number {
  if (!s || !Array.isArray(s.dag?.tasks) || s.dag.tasks.length === 0) {
    throw new UserError('jobs-controller submit: no tasks');
  }
  const home = skyhopHome();
  const secretsKey = randomUUID();
  writePrivate(secretsPath(home, secretsKey), JSON.stringify(s.secrets ?? []));
  const tasks = s.dag.tasks.map((t, i) => newManagedTask(t.name ?? `task-${i}`));
  return openStore().insertManagedJob({
    name: s.name,
    user: s.user,
    tasks,
    dag: JSON.stringify(s.dag),
    request: JSON.stringify({ ...s.request, secretsKey }),
  });
}

function cancel(c: { ids: number[] | null; name: string | null; all: boolean }): number[] {
  const store = openStore();
  if (c.all) return store.requestManagedCancel('all');
  if (c.name !== null) {
    const live = store.listManagedJobs().filter((j) => j.name === c.name && !isManagedTerminal(j.status));
    if (live.length === 0) throw new UserError(`no unfinished managed job is named '${c.name}'`);
    if (live.length > 1) {
      throw new UserError(
        `${live.length} unfinished managed jobs are named '${c.name}' (ids ${live.map((j) => j.id).join(', ')}); cancel by id`,
      );
    }
    return store.requestManagedCancel([live[0]!.id]);
  }
  const ids = c.ids ?? [];
  for (const id of ids) {
    const j = store.getManagedJob(id);
    if (!j) throw new UserError(`there is no managed job ${id}`);
  }
  return store.requestManagedCancel(ids);
}

/** The clusters a controller owns: its records and its launches in flight, sorted. */
export function ownedClusterNames(): string[] {
  const store = openStore();
  const names = new Set([
    ...store.listClusters().map((c) => c.name),
    ...store.openIntents().map((i) => i.cluster),
  ]);
  return [...names].sort();
}

/** A function that copies to stdout what `path` has gained since its last call (nothing while it is missing). */
export function drainer(path: string): () => void {
  let pos = 0;
  const buf = Buffer.alloc(64 * 1024);
  return () => {
    if (!existsSync(path) || statSync(path).size <= pos) return;
    const fd = openSync(path, 'r');
    try {
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, pos);
        if (n <= 0) break;
        pos += n;
        process.stdout.write(Buffer.from(buf.subarray(0, n)));
      }
    } finally {
      closeSync(fd);
    }
  };
}

/** Streams a job's log file from the start, following it until the job has ended and all is read. */
async function logs(id: number, flags: { controller?: boolean; follow?: boolean }): Promise<number> {
  const store = openStore();
  if (!Number.isInteger(id) || !store.getManagedJob(id)) throw new UserError(`there is no managed job ${id}`);
  const f = jobFiles(skyhopHome(), id);
  const path = flags.controller ? f.controllerLog : f.runLog;
  const drain = drainer(path);
  for (;;) {
    const j = store.getManagedJob(id)!;
    const ended = isManagedTerminal(j.status);
    drain();
    if (ended || flags.follow === false) {
      process.stderr.write(`${JSON.stringify({ status: j.status, reason: j.reason })}\n`);
      return 0;
    }
    await sleep(LOG_POLL_MS);
  }
}

/**
 * Ends the serving process (SIGTERM), so that its job's loop starts it again from the files on disk
 * (a newer build). Safe at any moment: the jobs resume from their rows. Resolves once it has exited.
 */
export async function restartServe(
  kind: ControllerProcess = 'jobs',
  recordPath = serveRecordPath(skyhopHome()),
): Promise<boolean> {
  const home = skyhopHome();
  const rec = readJson<{ pid?: number }>(recordPath, {});
  const pid = rec.pid;
  if (!pid || !(await controllerServing(home, {}, kind))) return false;
  let cmd = '';
  try {
    cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return false;
  }
  if (!cmd.includes(`${kind}-controller serve`)) return false;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && (await controllerServing(home, {}, kind)); i++) await sleep(100);
  return true;
}
