/**
 * The container runtime for `image_id: docker:<image>` (SkyPilot's Docker support): every node of
 * the cluster runs one long-lived container of the image, and the agent runs each job's setup and
 * run in it with `docker exec`.
 *
 * - The engine: a local node uses this machine's Docker Engine (`DOCKER_HOST`, else the default
 *   socket) and never installs one. An SSH node uses the engine that answers on it; where none does,
 *   node setup installs Debian/Ubuntu's `docker.io` when `dockerd` is missing and starts the daemon
 *   (systemd's `docker` service, or on a node without systemd a private `dockerd` with its own
 *   data-root, exec-root, socket and pidfile under skyhop's folders). A default engine that does
 *   not see the node's HOME at the same path (a host's daemon through a shared socket) gives way
 *   to a private one on an SSH node, and is an error on a local one.
 * - `~/.skyhop/docker/docker` on each node is the docker command bound to that engine (its
 *   `DOCKER_HOST`, `sudo -E` for a user who is not root); `~/.skyhop/docker/container` names the
 *   node's container. Jobs and the local cloud's stop and teardown use both.
 * - The container: `--network host`, the node's GPUs (`--gpus all` where the node has NVIDIA GPUs),
 *   the node's HOME mounted at the same path and set as HOME (so `~/sky_workdir` and file mounts
 *   under HOME are the same files inside), `--pull never` (the image was found or pulled just
 *   before; an image on the node is never pulled again), label `skyhop-cluster=<cluster>`.
 * - Environment values reach the container through the docker client's own environment:
 *   `docker exec -e NAME` copies NAME's value from it, so values never appear in an argv (the runner
 *   passes the environment on stdin over SSH, in the process environment locally).
 */
import { shq } from '../util/shell.js';

/** The folder on a node that holds the docker wrapper and the container's name. */
export const DOCKER_DIR = '.skyhop/docker';
/** The docker command bound to the node's engine, as node shell text (`$HOME` expands there). */
export const NODE_DOCKER = `"$HOME"/${DOCKER_DIR}/docker`;

/**
 * The container of a cluster's node: `skyhop-<cluster>-<rank>-<node id>`. The node's id keeps it
 * unique in an engine several nodes share (the local cloud's: two SKYHOP_HOMEs may each have a
 * cluster of the same name on this machine's engine).
 */
export function containerName(cluster: string, rank: number, nodeId: string): string {
  const safe = (x: string) => x.toLowerCase().replace(/[^a-z0-9_.-]+/g, '-');
  return `skyhop-${safe(cluster)}-${rank}-${safe(nodeId).slice(-16)}`;
}

export interface ContainerOptions {
  cluster: string;
  rank: number;
  /** The node's id (the cloud's instance id). */
  nodeId: string;
  image: string;
  /**
   * `local`: this machine's engine (at `dockerHost`, else the default socket); never installed.
   * `node`: the engine on a remote node, installed and started when missing.
   */
  engine: 'local' | 'node';
  /** For `local`: the DOCKER_HOST the client was given (passed to the node in its environment). */
  dockerHost?: string;
  /** Extra `docker run` arguments (SkyPilot's `docker.run_options`), each one argv element. */
  runOptions?: readonly string[];
}

/**
 * The shell script that readies a node's engine and container (idempotent: a running container of
 * the same image is kept, a stopped one started, one of another image replaced). It exits non-zero
 * with one line on stderr naming what is wrong (no engine, the image missing and not pullable, ...).
 * The environment it needs is in `containerScriptEnv`.
 */
export function containerScript(o: ContainerOptions): string {
  const name = containerName(o.cluster, o.rank, o.nodeId);
  const runOpts = (o.runOptions ?? []).map(shq).join(' ');
  return [
    'set -u',
    `d="$HOME"/${DOCKER_DIR}`,
    'mkdir -p "$d"',
    `img=${shq(o.image)}`,
    `name=${shq(name)}`,
    `cluster=${shq(o.cluster)}`,
    'fail() { echo "$*" >&2; exit 1; }',
    o.engine === 'local' ? 'where="in this machine\'s Docker Engine"' : 'where="on node $(hostname)"',
    'sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n -E"',
    'host=""',
    'dk() { DOCKER_HOST="$host" $sudo docker "$@"; }',
    'answers() { dk info >/dev/null 2>&1; }',
    o.engine === 'local' ? LOCAL_ENGINE : NODE_ENGINE,
    // The image (used as it is when the engine has it, pulled only when it does not) and the
    // container. Returns 3 when the engine does not see the node's HOME at the same path.
    'up() {',
    '  if ! dk image inspect "$img" >/dev/null 2>&1; then',
    '    out=$(dk pull -q "$img" 2>&1) || fail "the Docker image $img is not $where and could not be pulled: $(printf %s "$out" | tail -n 1)"',
    '  fi',
    '  want=$(dk image inspect -f "{{.Id}}" "$img")',
    '  state=$(dk inspect -f "{{.State.Running}} {{.Image}}" "$name" 2>/dev/null || true)',
    '  case "$state" in',
    '    "true $want") ;;',
    '    "false $want") dk start "$name" >/dev/null || fail "could not start container $name $where";;',
    '    *)',
    '      [ -z "$state" ] || dk rm -f "$name" >/dev/null 2>&1 || true',
    '      gpus=""',
    '      if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU; then',
    '        command -v nvidia-container-runtime-hook >/dev/null 2>&1 || command -v nvidia-ctk >/dev/null 2>&1 ||',
    '          fail "node $(hostname) has NVIDIA GPUs but no NVIDIA Container Toolkit, so a container cannot use them: install nvidia-container-toolkit"',
    '        gpus="--gpus all"',
    '      fi',
    '      out=$(dk run -d --pull never --name "$name" --label skyhop-cluster="$cluster" --network host $gpus \\',
    '        -e HOME="$HOME" -v "$HOME:$HOME" -w "$HOME" --entrypoint /bin/sh ' +
      `${runOpts ? `${runOpts} ` : ''}"$img" \\`,
    '        -c \'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done\' 2>&1) ||',
    '        fail "could not start a container of $img $where: $(printf %s "$out" | tail -n 1)"',
    '      ;;',
    '  esac',
    // The engine must see the node's files where the node sees them (same HOME path).
    '  dk exec "$name" test -d "$d" >/dev/null 2>&1 && return 0',
    '  dk rm -f "$name" >/dev/null 2>&1 || true',
    '  return 3',
    '}',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, not a template
    'homeless() { fail "the Docker Engine at ${host:-the default socket} does not see this node\'s HOME ($HOME) at the same path, so a container would not see the task\'s files"; }',
    'up || {',
    o.engine === 'local'
      ? '  homeless'
      : // An engine outside the node's view of the files (a host's daemon seen through a shared
        // socket): the node gets its own.
        '  [ -n "$host" ] && homeless; install_engine; start_private; up || homeless',
    '}',
    // The wrapper every later docker call on this node goes through, bound to the engine chosen.
    'printf \'#!/bin/sh\\nDOCKER_HOST=%s exec %s docker "$@"\\n\' "\'$host\'" "$sudo" > "$d/docker.tmp"',
    'chmod 755 "$d/docker.tmp" && mv -f "$d/docker.tmp" "$d/docker"',
    'printf %s "$name" > "$d/container"',
  ].join('\n');
}

/** The environment `containerScript` runs with (a local node's engine address). */
export function containerScriptEnv(o: ContainerOptions): Record<string, string> {
  return o.engine === 'local' && o.dockerHost ? { SKYHOP_DOCKER_HOST: o.dockerHost } : {};
}

/** This machine's engine: the client's DOCKER_HOST, else the default socket. Never installed. */
const LOCAL_ENGINE = [
  'sudo=""',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, not a template
  'host="${SKYHOP_DOCKER_HOST:-}"',
  'command -v docker >/dev/null 2>&1 ||',
  '  fail "docker is not installed on this machine: the local cloud runs docker: images with this machine\'s Docker Engine (apt-get install docker.io, then start dockerd)"',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, not a template
  'answers || fail "no Docker Engine answers at ${host:-unix:///var/run/docker.sock} on this machine: start dockerd, or set DOCKER_HOST to the engine to use"',
].join('\n');

/**
 * A remote node's engine: a private dockerd this script started before, else the default one if it
 * answers, else docker.io installed where missing and the daemon started (systemd's service, or a
 * private dockerd on a node without systemd). A default engine that does not see the node's HOME at
 * the same path (a host's daemon reached through a shared socket) gives way to a private one.
 */
const NODE_ENGINE = [
  'run="/tmp/skyhop-docker-$(id -u)"',
  'install_engine() {',
  '  command -v dockerd >/dev/null 2>&1 && return 0',
  '  command -v apt-get >/dev/null 2>&1 || fail "node $(hostname) has no Docker Engine and no apt-get to install docker.io with"',
  '  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends docker.io; } >"$d/install.log" 2>&1 ||',
  '    fail "could not install docker.io on node $(hostname): $(tail -n 1 "$d/install.log")"',
  '}',
  // A private daemon that clashes with nothing on the machine; it ends with the node.
  'start_private() {',
  '  host="unix://$run/docker.sock"',
  '  answers && return 0',
  '  mkdir -p "$run" "$d/root"',
  '  $sudo setsid env -i PATH="$PATH" HOME="$HOME" dockerd --data-root "$d/root" --exec-root "$run/exec" \\',
  '    -H "$host" --pidfile "$run/docker.pid" --bridge=none --iptables=false \\',
  '    >"$d/dockerd.log" 2>&1 </dev/null &',
  '  i=0; until answers; do',
  '    i=$((i + 1)); [ $i -lt 120 ] || fail "the Docker Engine on node $(hostname) did not start: $(tail -n 1 "$d/dockerd.log")"',
  '    sleep 0.5',
  '  done',
  '}',
  // The engine that answers (this node's private one, started before, else the default one) ...
  'host="unix://$run/docker.sock"; answers || host=""',
  // ... else docker.io, installed where missing, started by systemd, else privately.
  'if ! answers; then',
  '  install_engine',
  '  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then',
  '    $sudo systemctl start docker >/dev/null 2>&1 || true',
  '  fi',
  '  answers || start_private',
  'fi',
].join('\n');

/**
 * Node shell text that runs `script` with bash inside the node's container, forwarding the
 * variables `envNames` from the calling shell's environment (values never in the argv).
 */
export function containerExec(container: string, envNames: readonly string[], script: string): string {
  const env = envNames.map((n) => `-e ${shq(n)}`).join(' ');
  return `${NODE_DOCKER} exec ${env ? `${env} ` : ''}${shq(container)} /bin/bash -c ${shq(script)}`;
}

/**
 * Node shell text that removes (`rm`) or stops (`stop`) the node's container; nothing when the node
 * has none; safe to repeat. Teardown and stop use it on nodes whose engine outlives them (the local
 * cloud's: this machine's engine).
 */
export function containerTeardown(action: 'rm' | 'stop'): string {
  const cmd = action === 'rm' ? 'rm -f' : 'stop -t 2';
  return [
    `d="$HOME"/${DOCKER_DIR}`,
    'if [ -x "$d/docker" ] && [ -s "$d/container" ]; then',
    `  "$d/docker" ${cmd} "$(cat "$d/container")" >/dev/null 2>&1 || true`,
    action === 'rm' ? '  rm -f "$d/container"' : '  :',
    'fi',
  ].join('\n');
}

/** Whether a node HOME on this machine has a container recorded (so teardown must remove it). */
export const CONTAINER_RECORD = `${DOCKER_DIR}/container`;
