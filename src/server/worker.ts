/**
 * A request's worker (`skyhop api-worker ID`, started by `requests.ts` in its own session): runs the
 * CLI command as a child process with the user's identity in its environment, writes its output to the
 * request's log in the database (batched: every 50 ms or 32 KiB), passes on what the client sends
 * (stdin lines, Ctrl-C), and records the ending. It outlives the server that started it.
 */
import { spawn } from 'node:child_process';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { CONTROL_STREAMS } from '../state/api.js';
import { openApiStore } from '../state/index.js';
import { hideFlagValues, selfStartTime } from '../state/process.js';
import { packageRoot } from '../util/package-root.js';
import type { WorkerInput } from './requests.js';

const FLUSH_MS = 50;
const FLUSH_BYTES = 32 * 1024;
const CONTROL_POLL_MS = 100;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function runWorker(id: string): Promise<number> {
  const input = JSON.parse(await readStdin()) as WorkerInput;
  if (input.dbUrl) process.env.SKYHOP_DB = input.dbUrl;
  const api = await openApiStore();
  const start = selfStartTime();
  api.updateRequest(id, {
    status: 'RUNNING',
    server: input.server,
    host: hostname(),
    pid: process.pid,
    pidStart: start === null ? null : Number(start),
    startedAt: Date.now(),
  });

  // The command line goes in a file only this user reads (the CLI reads and removes it): on the
  // process's own command line `ps` would show `--secret`/`--env` values to everyone on the server.
  // What `ps` shows is the command line with those values hidden.
  const argvFile = join(process.env.SKYHOP_HOME ?? process.cwd(), 'api', 'workers', `${id}.argv`);
  writeFileSync(argvFile, JSON.stringify(input.argv), { mode: 0o600 });
  const child = spawn(
    process.execPath,
    [join(packageRoot(), 'dist', 'cli.js'), ...hideFlagValues(input.argv)],
    {
      cwd: input.cwd,
      env: { ...process.env, ...input.env, SKYHOP_ARGV_FILE: argvFile },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );

  // Output, batched per stream in arrival order.
  let pending: Array<{ stream: 'out' | 'err'; data: string }> = [];
  let pendingBytes = 0;
  let timer: NodeJS.Timeout | null = null;
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    const batch = pending;
    pending = [];
    pendingBytes = 0;
    // Adjacent chunks of one stream become one row.
    let cur: { stream: 'out' | 'err'; data: string } | null = null;
    for (const c of batch) {
      if (cur && cur.stream === c.stream) cur.data += c.data;
      else {
        if (cur) api.appendLog(id, cur.stream, unmirror(cur.data));
        cur = { ...c };
      }
    }
    if (cur) api.appendLog(id, cur.stream, unmirror(cur.data));
  };
  // The client's files are mirrored under its upload's folder: a path the command prints (a task file's
  // `file:line:col`) is shown as the client's own path, as a local run shows it.
  const root = input.env.SKYHOP_CLIENT_ROOT?.replace(/\/+$/, '');
  const unmirror = (text: string) => (root ? text.split(`${root}/`).join('/') : text);
  const onData = (stream: 'out' | 'err') => (text: string) => {
    pending.push({ stream, data: text });
    pendingBytes += text.length;
    if (pendingBytes >= FLUSH_BYTES) flush();
    else timer ??= setTimeout(flush, FLUSH_MS);
  };
  // Decoded as UTF-8 across chunk boundaries (a character split between two reads stays whole).
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', onData('out'));
  child.stderr.on('data', onData('err'));
  child.stdin.on('error', () => {}); // a child that exits before reading its stdin

  // What the client sends: stdin data and signals.
  let seen = 0;
  const control = setInterval(() => {
    for (const c of api.readLog(id, seen, 100, CONTROL_STREAMS)) {
      seen = c.seq;
      if (c.stream === 'in') child.stdin.write(c.data);
      else if (c.data === 'SIGINT' || c.data === 'SIGTERM') child.kill(c.data);
    }
  }, CONTROL_POLL_MS);

  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
    (resolve) => child.on('close', (code, signal) => resolve({ code, signal })),
  );
  clearInterval(control);
  flush();
  // The client's uploaded files served this command only (a launch has synced them to its nodes, a
  // managed job to its controller); a task file may hold secrets, which must not stay on the server.
  if (input.upload) rmSync(input.upload, { recursive: true, force: true });
  const exitCode = code ?? (signal ? 128 + (signal === 'SIGINT' ? 2 : signal === 'SIGKILL' ? 9 : 15) : 1);
  api.finishRequest(id, {
    status: exitCode === 0 ? 'SUCCEEDED' : exitCode === 130 ? 'CANCELLED' : 'FAILED',
    exitCode,
    endedAt: Date.now(),
  });
  api.close();
  // The worker's own diagnostics file (its stdout and stderr, not the command's): gone when empty.
  try {
    const log = join(dirname(argvFile), `${id}.log`);
    if (statSync(log).size === 0) rmSync(log, { force: true });
  } catch {
    // kept
  }
  return 0;
}
