/**
 * A command run through the team server (`skyhop api login`): the same command line is a request on
 * the server; its output streams back to this terminal's stdout and stderr and its exit code is this
 * process's. The task's local files (the YAML, workdir, file_mounts and bucket sources) are uploaded
 * first, mirrored by absolute path, so paths in the task mean what they mean here. `status` (without
 * --refresh) is answered by the server directly and rendered here.
 */
import { existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import type { ApiClient } from '../sdk/api-client.js';
import type { statusAnswer } from '../sdk/api-schemas.js';
import type { ApiTarget } from '../sdk/api-target.js';
import { UserError } from '../util/errors.js';

type StatusAnswer = import('zod').infer<typeof statusAnswer>;

/** Commands whose argv may name a task file (its local files are uploaded). */
const TASK_COMMANDS = new Set(['launch', 'exec', 'jobs', 'serve', 'optimize']);

export async function runRemote(target: ApiTarget, argv: string[]): Promise<number> {
  if (!target.token) {
    throw new UserError(
      `no token for the API server at ${target.endpoint}; log in: skyhop api login -e ${target.endpoint} --token TOKEN`,
    );
  }
  if (argv[0] === 'status' && !argv.some((a) => a === '-r' || a === '--refresh')) {
    return remoteStatus(target, argv);
  }
  const { ApiClient } = await import('../sdk/api-client.js');
  const client = new ApiClient(target);
  let upload: string | undefined;
  if (TASK_COMMANDS.has(argv[0])) upload = await uploadTaskFiles(client, argv);
  const stdinTty = process.stdin.isTTY === true;
  const { request_id } = await client.submit({ argv, upload, cwd: process.cwd(), home: homedir(), stdinTty });
  return follow(client, request_id, { stdinTty });
}

/** Streams a request to this terminal until it ends; Ctrl-C is sent to it (twice: leave at once). */
export async function follow(
  client: ApiClient,
  id: string,
  o: { stdinTty?: boolean; after?: number } = {},
): Promise<number> {
  let interrupts = 0;
  const onSig = (sig: NodeJS.Signals) => {
    interrupts++;
    void client.signal(id, sig === 'SIGTERM' ? 'SIGTERM' : 'SIGINT').catch(() => {});
    if (interrupts > 1) process.exit(130);
  };
  process.on('SIGINT', onSig);
  process.on('SIGTERM', onSig);
  let rl: import('node:readline').Interface | null = null;
  if (o.stdinTty) {
    // Lines typed here (a confirmation's answer) go to the command's stdin on the server.
    const { createInterface } = await import('node:readline');
    rl = createInterface({ input: process.stdin, terminal: false });
    rl.on('line', (line) => void client.stdin(id, `${line}\n`).catch(() => {}));
  }
  try {
    const end = await client.stream(
      id,
      (e) => {
        if (e.type === 'out') process.stdout.write(e.data);
        else if (e.type === 'err') process.stderr.write(e.data);
      },
      { after: o.after },
    );
    if (end.error) process.stderr.write(`error: ${end.error}\n`);
    return end.exit_code ?? (end.status === 'SUCCEEDED' ? 0 : 1);
  } finally {
    process.off('SIGINT', onSig);
    process.off('SIGTERM', onSig);
    rl?.close();
    if (o.stdinTty) process.stdin.destroy();
  }
}

/**
 * `status` through a server: the answer (GET /api/v1/status, in the shape of `api-schemas.ts`
 * `statusAnswer`) rendered by the local command's code. This path loads no schema library, so it costs
 * what a local `status` costs plus one request; the shape is checked by hand, enough to render.
 */
async function remoteStatus(target: ApiTarget, argv: string[]): Promise<number> {
  const { apiRequest, ApiError } = await import('../sdk/api-http.js');
  const { parse, renderStatus } = await import('./status.js');
  const names = argv.slice(1).filter((a) => !a.startsWith('-'));
  const q = names.map((n) => `clusters=${encodeURIComponent(n)}`).join('&');
  const answer = (await (
    await apiRequest(target, `/api/v1/status${q ? `?${q}` : ''}`)
  ).json()) as StatusAnswer;
  if (!Array.isArray(answer?.clusters) || !Array.isArray(answer?.changes)) {
    throw new ApiError(
      `the API server's answer to status is not what this skyhop expects; is it another version?`,
    );
  }
  const clusters = answer.clusters.map((c) => ({
    name: c.name,
    cloud: c.cloud,
    region: c.region,
    zone: c.zone,
    status: c.status,
    resources: c.resources as never,
    nodes: [],
    launchedAt: c.launched_at,
    statusUpdatedAt: c.status_updated_at,
    hourlyPrice: c.hourly_price,
    autostop: c.autostop,
    headIp: c.head_ip,
    lastUse: c.last_use,
  }));
  return renderStatus(parse({ clusters: names, json: argv.includes('--json') }), {
    clusters,
    changes: answer.changes,
  });
}

/** The local files a task names, as absolute paths (the YAML first). */
async function taskFiles(argv: string[]): Promise<string[]> {
  const { isYamlPath, loadTask } = await import('../sdk/tasks.js');
  // A task file is one word naming a .yaml/.yml or any existing file (isYamlPath, as the command reads
  // its entrypoint); which word is the entrypoint is the command's business, so every word that could be
  // one is sent when it is a file of at most 1 MiB (a stray small file costs nothing).
  const files = argv.slice(1).filter((a) => !a.startsWith('-') && isYamlPath(a));
  const out: string[] = [];
  for (const f of files) {
    const abs = resolve(f);
    if (!existsSync(abs) || !statSync(abs).isFile() || statSync(abs).size > 1024 * 1024) continue;
    out.push(abs);
    // Parsed here too, for the paths it names. One this side cannot read (it needs --env values,
    // say) is sent alone: the server reports its mistakes in the same words.
    let dag: Awaited<ReturnType<typeof loadTask>>;
    try {
      dag = await loadTask(abs, {}, {});
    } catch {
      continue;
    }
    for (const t of dag.tasks) {
      if (t.workdir) out.push(t.workdir);
      for (const src of Object.values(t.fileMounts ?? {})) if (existsSync(src)) out.push(src);
      for (const m of Object.values(t.storageMounts ?? {})) {
        const local = (m as { localSource?: string }).localSource;
        if (local) out.push(local);
      }
      // A service's TLS key and certificate (the load balancer reads them on the controller).
      for (const f of [t.service?.tls?.keyfile, t.service?.tls?.certfile])
        if (f && existsSync(f)) out.push(f);
    }
  }
  return [...new Set(out)];
}

/**
 * Which paths of an upload are sent (tar's paths: absolute without the leading /): what the sync to
 * the nodes would leave out is not sent either (each uploaded folder's .skyignore, else its
 * .gitignore, as runtime/sync.ts reads them), nor .git.
 */
export async function uploadFilter(
  files: string[],
): Promise<(p: string, st: { isDirectory(): boolean }) => boolean> {
  const { compileIgnore, ignorePatterns } = await import('../runtime/sync.js');
  const roots = files
    .filter((f) => statSync(f).isDirectory())
    .map((dir) => ({ dir: dir.replace(/\/+$/, ''), ignored: compileIgnore(ignorePatterns(dir).patterns) }))
    .sort((a, b) => b.dir.length - a.dir.length);
  return (p, st) => {
    if (/(^|\/)\.git(\/|$)/.test(p)) return false;
    const abs = `/${p.replace(/^\/+/, '').replace(/\/+$/, '')}`;
    const root = roots.find((r) => abs.startsWith(`${r.dir}/`));
    return !root?.ignored(abs.slice(root.dir.length + 1), st.isDirectory());
  };
}

async function uploadTaskFiles(client: ApiClient, argv: string[]): Promise<string | undefined> {
  const files = await taskFiles(argv);
  if (files.length === 0) return undefined;
  const { create } = await import('tar');
  const S = await import('../sdk/api-schemas.js');
  const keep = await uploadFilter(files);
  const stream = create(
    { gzip: true, cwd: '/', portable: true, filter: (p, st) => keep(p, st as { isDirectory(): boolean }) },
    files.map((f) => f.replace(/^\/+/, '')),
  ) as unknown as NodeJS.ReadableStream;
  const r = await client.json(S.uploadAnswer, '/api/v1/uploads', {
    method: 'POST',
    headers: { 'content-type': 'application/gzip' },
    body: stream,
  });
  return r.upload_id;
}
