/**
 * The file protocol between the client and the on-cluster agent (see README.md in this folder).
 * All times are milliseconds since the epoch.
 */
import type { Connection } from '../core/cluster.js';

export type JobStatus =
  | 'INIT' // its id is claimed, its spec is not (completely) written yet
  | 'PENDING'
  | 'SETTING_UP'
  | 'RUNNING'
  | 'SUCCEEDED'
  | 'FAILED'
  | 'FAILED_SETUP'
  | 'CANCELLED';

export const JOB_STATUSES: readonly JobStatus[] = [
  'INIT',
  'PENDING',
  'SETTING_UP',
  'RUNNING',
  'SUCCEEDED',
  'FAILED',
  'FAILED_SETUP',
  'CANCELLED',
];

const TERMINAL: ReadonlySet<JobStatus> = new Set(['SUCCEEDED', 'FAILED', 'FAILED_SETUP', 'CANCELLED']);

export function isTerminal(s: JobStatus): boolean {
  return TERMINAL.has(s);
}

export interface AcceleratorCount {
  name: string;
  count: number;
}

export interface AutostopConfig {
  /** Idle minutes before the command runs; fractions allowed (0.05 = 3 s). */
  idleMinutes: number;
  /** Informational: whether the command tears the cluster down (true) or stops it. */
  down: boolean;
  /**
   * `argv` runs on the head, detached, without the node marker or the agent's environment (PATH,
   * HOME, USER, LANG kept); `workers`, when given, runs first on every other node.
   */
  command: { argv: string[]; env: Record<string, string>; workers?: string };
}

export interface ClusterNodeInfo {
  /** 0 = head; workers 1..n-1. */
  rank: number;
  /** The node's IP as jobs see it (SKYPILOT_NODE_IPS). */
  ip: string;
  /** How the agent on the head reaches this node. */
  connection: Connection;
  /** The container jobs run in on this node (`image_id: docker:<image>`), through `docker exec`. */
  container?: string;
}

/** `~/.skyhop/agent/cluster.json` on the head node; written by the client. */
export interface ClusterInfoFile {
  name: string;
  /** For SKYPILOT_CLUSTER_INFO (optional). */
  cloud?: string;
  region?: string;
  zone?: string | null;
  nodes: ClusterNodeInfo[];
  perNode: { cpus: number; memoryGiB: number; accelerators: AcceleratorCount | null };
  autostop: AutostopConfig | null;
  /** Where the agent bundle lives on the head (`~/.skyhop/agent/agent.cjs`). */
  agentPath: string;
  /** The node binary on the head that runs the agent. */
  nodePath: string;
}

export interface JobDemand {
  /** Per node; null/undefined means the default, 0.5 (SkyPilot's). */
  cpus?: number | null;
  /** Per node. */
  accelerators: AcceleratorCount | null;
}

/** `jobs/<id>.json`; written once by the client at submission. */
export interface JobSpec {
  name: string;
  /** The run script (bash); empty or absent: nothing to run after setup. */
  run?: string;
  setup?: string;
  envs: Record<string, string>;
  /** Passed to setup and run like envs; never written by the agent, redacted from logs. */
  secrets: Record<string, string>;
  numNodes: number;
  demand: JobDemand;
  /** Whether the workdir was synced to ~/sky_workdir (then setup and run start there). */
  workdir: boolean;
  submittedAt: number;
  user: string;
  /**
   * The cluster has buckets mounted (MOUNT / MOUNT_CACHED): after the run, the agent waits on every
   * job node until what the job wrote to them is uploaded (`~/.skyhop/storage/flush.sh`, written by
   * src/storage/node.ts) before the job counts as ended; a flush that fails makes it FAILED.
   */
  flushStorage?: boolean;
}

/** `jobs/<id>/state.json` and each element of `queue.json`; written only by the agent. */
export interface JobRecord {
  id: number;
  name: string;
  status: JobStatus;
  submittedAt: number;
  /** When its resources were allocated (setup or run began). */
  startedAt: number | null;
  endedAt: number | null;
  exitCode: number | null;
  reason: string | null;
  demand: { cpus: number; accelerators: AcceleratorCount | null };
  numNodes: number;
  user: string;
  /** Cluster ranks of the nodes the job was given (job rank order). */
  nodes: number[] | null;
  /** Per job node, the GPU indices given (CUDA_VISIBLE_DEVICES). */
  gpus: string[] | null;
}

/** Paths relative to the agent directory (`~/.skyhop/agent` on the head node). */
export const AGENT_DIR = '~/.skyhop/agent';
export const AGENT_FILES = {
  bundle: 'agent.cjs',
  cluster: 'cluster.json',
  nodePath: 'node_path',
  pid: 'agent.pid',
  log: 'agent.log',
  queue: 'queue.json',
  jobs: 'jobs',
  autostopLog: 'autostop.log',
  /** Space the daemon frees when the disk is full (see daemon.ts). */
  reserve: 'reserve',
} as const;
/** Files in `jobs/<id>/` (the directory is made by the agent when it takes the job in). */
export const JOB_FILES = {
  state: 'state.json',
  log: 'run.log',
  cancel: 'cancel',
} as const;

/**
 * `jobs/<id>.json`: the job's spec, which is also its claim on the id (created with an exclusive
 * create by the submitter, never removed, so an id is never handed out twice).
 */
export function specFileName(id: number): string {
  return `${id}.json`;
}
export const SPEC_FILE_RE = /^([0-9]+)\.json$/;

/** The process title of the daemon (what /proc/<pid>/comm shows): how clients recognise it. */
export const AGENT_PROCESS_TITLE = 'skyhop-agent';
/** The process title of the daemon's supervisor (restarts the daemon when it dies). */
export const SUPERVISOR_PROCESS_TITLE = 'skyhop-sup';

/** The per-job marker every process of a job carries (see src/runtime/procs.ts). */
export const JOB_MARKER = 'SKYHOP_JOB_ID';

export const DEFAULT_JOB_CPUS = 0.5;

/** The node-side flush script (see `JobSpec.flushStorage`) and how long the agent lets it wait. */
export const STORAGE_FLUSH_SCRIPT = '~/.skyhop/storage/flush.sh';
export const STORAGE_FLUSH_TIMEOUT_S = 1800;
