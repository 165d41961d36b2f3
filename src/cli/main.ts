/**
 * The skyhop CLI: declares every command and its flags (so `--help` needs nothing else) and
 * loads a command's module only when it runs. No logic here beyond parsing and rendering.
 */
import { readFileSync, rmSync } from 'node:fs';
import { Command, Option } from 'commander';
import { REMOTE_COMMANDS } from '../sdk/remote-commands.js';
import { SkyhopError } from '../util/errors.js';
import { VERSION } from '../version.js';

// The AWS SDK (loaded by the AWS cloud and by buckets) warns on Node 20 that its releases after
// January 2027 need Node 22. skyhop pins its SDK versions and supports Node 20, so the warning only
// adds noise to every command that talks to AWS; a user who wants it sets the variable to false.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/**
 * A command module: `parse` turns what commander hands over (flags, and positional arguments by
 * their camelCased names) into the command's typed options, once; `default` runs the command.
 */
interface CommandModule<T> {
  parse(raw: Record<string, unknown>): T;
  // biome-ignore lint/suspicious/noConfusingVoidType: command modules may return nothing
  default(options: T): Promise<number | undefined | void>;
}

function camel(s: string): string {
  return s.replace(/[-_]([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The top-level command a (sub)command belongs to: `jobs` for `jobs launch`. */
function topCommand(cmd: Command): string {
  let c = cmd;
  while (c.parent?.parent) c = c.parent;
  return c.name();
}

/** Run `src/cli/<mod>.ts` with its options parsed from the command line. */
function lazy<T>(load: () => Promise<CommandModule<T>>) {
  return async (...a: unknown[]) => {
    const cmd = a[a.length - 1] as Command;
    if (REMOTE_COMMANDS.has(topCommand(cmd))) {
      // Flags were checked here already (commander); the server runs the same command line.
      const { apiTarget } = await import('../sdk/api-target.js');
      const target = apiTarget();
      if (target) {
        const { runRemote } = await import('./remote.js');
        process.exitCode = await runRemote(target, process.argv.slice(2));
        return;
      }
    }
    const raw: Record<string, unknown> = { ...cmd.optsWithGlobals() };
    cmd.registeredArguments.forEach((arg, i) => {
      raw[camel(arg.name())] = cmd.processedArgs[i];
    });
    const mod = await load();
    const code = await mod.default(mod.parse(raw));
    if (typeof code === 'number') process.exitCode = code;
  };
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

/** The overrides shared by launch, exec, optimize (SkyPilot's names). */
function resourceOverrides(c: Command): Command {
  return c
    .option('--env <KEY=VAL>', 'set or override an environment variable of the task (repeatable)', collect)
    .option('--secret <KEY=VAL>', 'set or override a secret of the task (repeatable)', collect)
    .option('--infra <INFRA>', 'where to run: CLOUD[/REGION[/ZONE]]')
    .option('--cloud <CLOUD>', 'cloud to use')
    .option('--region <REGION>', 'region to use')
    .option('--zone <ZONE>', 'zone to use')
    .option('--gpus <ACC>', 'accelerators, e.g. A100:8')
    .option('--cpus <N>', 'vCPUs per node, e.g. 4 or 4+')
    .option('--memory <GB>', 'memory per node in GiB, e.g. 16 or 16+')
    .option('-t, --instance-type <TYPE>', 'instance type')
    .option('--num-nodes <N>', 'number of nodes')
    .option('--use-spot', 'use spot instances')
    .option('--no-use-spot', 'use on-demand instances')
    .option('--disk-size <GB>', 'root disk size in GiB')
    .option('--image-id <IMAGE>', 'machine image')
    .option('--ports <PORTS>', 'ports to open (repeatable)', collect);
}

function planFlags(c: Command): Command {
  return c
    .option('--clouds <LIST>', 'plan over these clouds (comma-separated), enabled or not')
    .option('--all-clouds', 'plan over every registered cloud, enabled or not')
    .addOption(new Option('--target <TARGET>', 'what to minimise').choices(['cost', 'time']).default('cost'))
    .option('--json', 'print the plan as one JSON object');
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('skyhop')
    .description('Run a task on the cheapest cloud that fits; fail over when a cloud says no.')
    .version(VERSION, '-v, --version')
    .showSuggestionAfterError(true)
    .configureHelp({ sortSubcommands: false });

  resourceOverrides(
    planFlags(
      program
        .command('launch')
        .description('Launch a cluster (or reuse one) and run a task on it')
        .argument('[entrypoint...]', 'a task YAML, or a command to run')
        .option('-c, --cluster <NAME>', 'cluster name (default: generated)')
        .option('-y, --yes', 'do not ask for confirmation')
        .option('-d, --detach-run', 'submit the job and return without streaming its logs')
        .option('--dryrun', 'plan only: print the plan, provision nothing')
        .option('--down', 'tear the cluster down when the job finishes')
        .option('-i, --idle-minutes-to-autostop <MIN>', 'stop the cluster after MIN idle minutes')
        .option('--retry-until-up', 'keep retrying provisioning with backoff until it succeeds')
        .option('-n, --name <NAME>', 'task name'),
    ),
  ).action(lazy(() => import('./launch.js')));

  resourceOverrides(
    program
      .command('exec')
      .description('Run a command or task YAML on an existing cluster (no provisioning, no setup)')
      .argument('<cluster>', 'cluster name')
      .argument('<entrypoint...>', 'a task YAML, or a command to run')
      .option('-d, --detach-run', 'submit the job and return without streaming its logs')
      .option('-n, --name <NAME>', 'job name'),
  ).action(lazy(() => import('./exec.js')));

  program
    .command('status')
    .description('Show clusters')
    .argument('[clusters...]', 'only these clusters')
    .option('-r, --refresh', 'reconcile with the clouds')
    .option('--json', 'print JSON')
    .action(lazy(() => import('./status.js')));

  program
    .command('queue')
    .description("Show a cluster's job queue")
    .argument('[clusters...]', 'clusters (default: all UP clusters)')
    .option('-a, --all', 'include finished jobs (default: true)', true)
    .option('--json', 'print JSON')
    .action(lazy(() => import('./queue.js')));

  program
    .command('logs')
    .description("Stream a job's logs (the latest job by default)")
    .argument('<cluster>', 'cluster name')
    .argument('[job_id]', 'job id')
    .option('--no-follow', 'print what is there and return')
    .option('--status', 'print the job status and exit with 0 if it succeeded')
    .action(lazy(() => import('./logs.js')));

  program
    .command('cancel')
    .description('Cancel jobs on a cluster')
    .argument('<cluster>', 'cluster name')
    .argument('[job_ids...]', 'job ids')
    .option('-a, --all', 'cancel every unfinished job')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(lazy(() => import('./cancel.js')));

  program
    .command('stop')
    .description('Stop clusters (disks kept; restart with `start`)')
    .argument('[clusters...]', 'cluster names')
    .option('-a, --all', 'every cluster')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(lazy(() => import('./stop.js')));

  program
    .command('start')
    .description('Restart stopped clusters')
    .argument('<clusters...>', 'cluster names')
    .option('-i, --idle-minutes-to-autostop <MIN>', 'stop the cluster after MIN idle minutes')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(lazy(() => import('./start.js')));

  program
    .command('down')
    .description('Tear down clusters (everything on them is deleted)')
    .argument('[clusters...]', 'cluster names')
    .option('-a, --all', 'every cluster')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('-p, --purge', 'forget the cluster locally even if the cloud cannot be reached')
    .action(lazy(() => import('./down.js')));

  program
    .command('autostop')
    .description('Stop (or tear down) a cluster after it has been idle')
    .argument('<clusters...>', 'cluster names')
    .option('-i, --idle-minutes <MIN>', 'idle minutes before stopping (fractions allowed)', '5')
    .option('--cancel', 'cancel autostop')
    .option('--down', 'tear down instead of stopping')
    .action(lazy(() => import('./autostop.js')));

  program
    .command('cost-report')
    .description('Costs of clusters, live and torn down')
    .option('--json', 'print JSON')
    .action(lazy(() => import('./cost-report.js')));

  program
    .command('check')
    .description('Which clouds are enabled, and how to enable the others')
    .argument('[clouds...]', 'only these clouds')
    .option('--verbose', "also ask each cloud's API who you are (uses the network)")
    .option('--json', 'print JSON')
    .action(lazy(() => import('./check.js')));

  program
    .command('show-gpus')
    .description('Accelerators, their counts, instance types and prices')
    .argument('[accelerator]', 'NAME or NAME:COUNT')
    .option('--cloud <CLOUD>', 'only this cloud')
    .option('--region <REGION>', 'only this region')
    .option('-a, --all', 'every accelerator, not only the common ones')
    .option('--json', 'print JSON')
    .action(lazy(() => import('./show-gpus.js')));

  resourceOverrides(
    planFlags(
      program
        .command('optimize')
        .description('Print the cheapest plan for a task YAML (provisions nothing; needs no credentials)')
        .argument('<file>', 'task YAML'),
    ),
  ).action(lazy(() => import('./optimize.js')));

  const catalog = program.command('catalog').description('Price catalogs');
  catalog
    .command('update')
    .description('Download the newest catalog CSV from the skypilot-catalog repository')
    .argument('[clouds...]', 'clouds (default: every cloud with a public catalog)')
    .option('--base-url <URL>', 'base URL of the catalog files (or SKYHOP_CATALOG_URL)')
    .option(
      '--from-api',
      "aws: build the catalog from EC2's own APIs (instance types, offerings, spot prices)",
    )
    .option('--regions <LIST>', 'with --from-api: only these regions (comma-separated)')
    .action(lazy(() => import('./catalog-update.js')));
  catalog
    .command('show')
    .description('Where each cloud’s catalog comes from')
    .argument('[clouds...]', 'clouds')
    .action(lazy(() => import('./catalog-show.js')));

  const storage = program.command('storage').description('Buckets skyhop created or uses (S3)');
  storage
    .command('ls')
    .description('List buckets: source, status, and the clusters that use them')
    .option('--json', 'print JSON')
    .action(lazy(() => import('./storage-ls.js')));
  storage
    .command('delete')
    .description('Delete buckets skyhop created (with their objects); forget ones it only uses')
    .argument('[names...]', 'bucket names')
    .option('-a, --all', 'every bucket skyhop knows')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(lazy(() => import('./storage-delete.js')));

  const jobs = program
    .command('jobs')
    .description('Managed jobs: run on the cheapest place, recover from preemption, clean up when done');
  resourceOverrides(
    planFlags(
      jobs
        .command('launch')
        .description('Launch a managed job (a task YAML, a pipeline of several, or a command)')
        .argument('[entrypoint...]', 'a task YAML, or a command to run')
        .option('-n, --name <NAME>', 'the job name')
        .option('-y, --yes', 'do not ask for confirmation')
        .option('-d, --detach-run', 'submit the job and return without streaming its logs'),
    ),
  ).action(lazy(() => import('./jobs-launch.js')));
  jobs
    .command('queue')
    .description('Show managed jobs')
    .option('-a, --all', 'show every column (start, cluster, cloud/region/zone)')
    .option('-s, --skip-finished', 'only unfinished jobs')
    .option('-r, --refresh', 'start the jobs controller first if it is stopped')
    .option('--json', 'print JSON')
    .action(lazy(() => import('./jobs-queue.js')));
  jobs
    .command('logs')
    .description("Stream a managed job's logs, across its recoveries (default: the latest job)")
    .argument('[job_id]', 'managed job id')
    .option('--controller', "the controller's log of the job (launches, preemptions, teardowns)")
    .option('--no-follow', 'print what is there and return')
    .action(lazy(() => import('./jobs-logs.js')));
  jobs
    .command('cancel')
    .description('Cancel managed jobs; their clusters are torn down')
    .argument('[job_ids...]', 'managed job ids')
    .option('-n, --name <NAME>', 'the job with this name')
    .option('-a, --all', 'every unfinished managed job')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(lazy(() => import('./jobs-cancel.js')));
  program
    .command('jobs-controller', { hidden: true })
    .description("the jobs controller's side (run on its node by skyhop itself)")
    .argument('<op>', 'ping | restart | submit | queue | clusters | cancel | logs | serve')
    .argument('[args...]', "the op's arguments")
    .option('--controller', 'logs: the controller log')
    .option('--no-follow', 'logs: do not follow')
    .action(lazy(() => import('./jobs-controller.js')));

  const serve = program
    .command('serve')
    .description('Services: replicas anywhere behind one endpoint, autoscaled, spot with on-demand fallback');
  resourceOverrides(
    planFlags(
      serve
        .command('up')
        .description('Serve a task with a service: section (replicas behind a load balancer)')
        .argument('[entrypoint...]', 'a service YAML')
        .option('-n, --service-name <NAME>', 'the service name (default: service-XXXX)')
        .option('-y, --yes', 'do not ask for confirmation'),
    ),
  ).action(lazy(() => import('./serve-up.js')));
  serve
    .command('status')
    .description('Show services and their replicas')
    .argument('[service_names...]', 'services to show (default: all)')
    .option('--endpoint', "print only the service's endpoint URL (one service)")
    .option('--json', 'print JSON')
    .action(lazy(() => import('./serve-status.js')));
  serve
    .command('logs')
    .description("Stream a replica's output, or the controller's or load balancer's log of a service")
    .argument('<service_name>', 'the service')
    .argument('[replica_id]', 'the replica (see serve status)')
    .option('--controller', "the controller's log of the service (launches, probes, scaling)")
    .option('--load-balancer', "the load balancer's log")
    .option('--no-follow', 'print what is there and return')
    .action(lazy(() => import('./serve-logs.js')));
  resourceOverrides(
    planFlags(
      serve
        .command('update')
        .description('Update a service to a new version (its task and service: section); the endpoint stays')
        .argument('<service_name>', 'the service')
        .argument('[entrypoint...]', 'the new service YAML')
        .option(
          '--mode <MODE>',
          'rolling (default: replace replicas one by one) or blue_green (switch once all new ones are ready)',
        )
        .option('-y, --yes', 'do not ask for confirmation'),
    ),
  ).action(lazy(() => import('./serve-update.js')));
  serve
    .command('down')
    .description('Tear down services: every replica, the load balancer, the service')
    .argument('[service_names...]', 'services to take down')
    .option('-a, --all', 'every service')
    .option('-p, --purge', 'forget a service even if some of its replicas could not be torn down')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(lazy(() => import('./serve-down.js')));
  program
    .command('serve-controller', { hidden: true })
    .description("the serve controller's side (run on its node by skyhop itself)")
    .argument('<op>', 'ping | restart | up | update | status | down | clusters | logs | serve | lb')
    .argument('[args...]', "the op's arguments")
    .option('--replica <ID>', 'logs: a replica')
    .option('--controller', 'logs: the controller log')
    .option('--load-balancer', 'logs: the load balancer log')
    .option('--no-follow', 'logs: do not follow')
    .action(lazy(() => import('./serve-controller.js')));

  const api = program.command('api').description('A team server: run one, log in to one, manage its users');
  api
    .command('start')
    .description('start the API server (in the background unless --foreground)')
    .option('--host <HOST>', 'address to listen on', '127.0.0.1')
    .option('--port <PORT>', 'port to listen on (default 46580)')
    .option('--db <URL>', 'PostgreSQL database (postgresql://...); default: SQLite in SKYHOP_HOME')
    .option('--foreground', 'run in this process (logs on stdout)')
    .action(lazy(() => import('./api-start.js')));
  api
    .command('stop')
    .description("stop this SKYHOP_HOME's API server(s)")
    .option('--port <PORT>', 'only the one on this port')
    .action(lazy(() => import('./api-stop.js')));
  api
    .command('status')
    .description('the server you are logged in to, and your requests')
    .argument('[args...]', 'request ids (default: your recent requests)')
    .option('-a, --all', "every user's requests (admins)")
    .option('--json', 'as JSON')
    .action(lazy(() => import('./api-status.js')));
  api
    .command('logs')
    .description("follow a request's output (re-attach), or print the server log")
    .argument('[args...]', 'REQUEST_ID')
    .option('--no-follow', 'say where the request stands first')
    .action(lazy(() => import('./api-logs.js')));
  api
    .command('login')
    .description('run every command on a team server from now on')
    .requiredOption('-e, --endpoint <URL>', 'the server, e.g. http://127.0.0.1:46580')
    .option('--token <TOKEN>', 'your token (from skyhop api users add); asked for when omitted')
    .action(lazy(() => import('./api-login.js')));
  api
    .command('logout')
    .description('run commands on this machine again')
    .action(lazy(() => import('./api-logout.js')));
  api
    .command('users')
    .description("the server's users: add NAME [--role admin|user] (prints a token once), ls, revoke NAME")
    .argument('[args...]', 'add NAME | ls | revoke NAME')
    .option('--role <ROLE>', 'admin or user', 'user')
    .option('--db <URL>', "on the server's machine without a login: its PostgreSQL database")
    .action(lazy(() => import('./api-users.js')));
  program
    .command('api-worker', { hidden: true })
    .description("a team server's request worker (started by the server itself)")
    .argument('<id>', 'the request id')
    .action(lazy(() => import('./api-worker.js')));

  program
    .command('new-cloud')
    .description(
      'Scaffold a new cloud: src/clouds/<name>/ with every file to fill in (docs/adding-a-cloud.md)',
    )
    .argument('<name>', 'the cloud name (lowercase)')
    .option('--dir <path>', 'where cloud folders live', 'src/clouds')
    .option('--register', 'also add its line to src/clouds/registry.ts')
    .option('--force', 'overwrite an existing folder')
    .action(lazy(() => import('./new-cloud.js')));

  return program;
}

export function reportError(e: unknown): number {
  const debug = process.env.SKYHOP_DEBUG === '1';
  if (e instanceof SkyhopError) {
    process.stderr.write(`error: ${e.message}\n`);
    for (const d of e.details) process.stderr.write(`  ${d}\n`);
    if (debug && e.stack) process.stderr.write(`${e.stack}\n`);
    return e.exitCode;
  }
  const err = e as Error;
  process.stderr.write(`error: internal error: ${err?.message ?? String(e)}\n`);
  if (debug) process.stderr.write(`${err?.stack ?? ''}\n`);
  else process.stderr.write('  (set SKYHOP_DEBUG=1 for the stack trace, and please report it)\n');
  return 3;
}

/**
 * A team server's worker hands its command the real command line in a file (SKYHOP_ARGV_FILE, 0600),
 * read and removed here: the one on the process's command line, which `ps` shows to everyone on the
 * server, has its `--secret` and `--env` values hidden.
 */
function realArgv(): string[] {
  const file = process.env.SKYHOP_ARGV_FILE;
  if (!file) return process.argv;
  delete process.env.SKYHOP_ARGV_FILE;
  const args = JSON.parse(readFileSync(file, 'utf8')) as string[];
  rmSync(file, { force: true });
  process.argv = [...process.argv.slice(0, 2), ...args];
  return process.argv;
}

async function main(): Promise<void> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(realArgv());
  } catch (e) {
    const ce = e as { code?: string; exitCode?: number };
    if (typeof ce.code === 'string' && ce.code.startsWith('commander.')) {
      // commander has printed its own message (or help/version).
      process.exitCode = ce.exitCode ?? 1;
      return;
    }
    process.exitCode = reportError(e);
  }
}

await main();
