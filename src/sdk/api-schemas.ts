/**
 * The team server's API shapes, once: the server validates what it receives and what it answers with
 * these zod types, the SDK's client parses answers with them, and the OpenAPI description is generated
 * from them (`server/openapi.ts`). A field added here is added everywhere.
 */
import { z } from 'zod';

/** A user name: what `api users add` accepts (also a safe path segment and label). */
export const userName = z
  .string()
  .min(1)
  .max(40)
  .regex(/^[a-z][a-z0-9._-]*$/, 'must start with a lowercase letter and use only a-z 0-9 . _ -');

/** A cluster or bucket name in a path: the same rule as SkyPilot's cluster names, and never a path. */
export const resourceName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-zA-Z][a-zA-Z0-9._-]*$/, 'must start with a letter and use only letters, digits, . _ -');

export const requestId = z
  .string()
  .min(1)
  .max(40)
  .regex(/^[A-Za-z0-9]+$/, 'not a request id');

export const role = z.enum(['admin', 'user']);

export const errorBody = z.object({ error: z.string() }).describe('every 4xx/5xx answer');

/** POST /api/v1/requests: run one CLI command on the server. */
export const submitBody = z
  .object({
    /** The command's argv after `skyhop` (e.g. ["launch", "-c", "dev", "task.yaml"]). */
    argv: z.array(z.string().max(100_000)).min(1).max(1000),
    /** An upload (POST /api/v1/uploads) holding the command's local files, mirrored under its root. */
    upload: requestId.optional(),
    /** The client's working directory (paths in argv and the task are relative to it). */
    cwd: z.string().max(4096).optional(),
    /** The client's home (`~` in the task's paths). */
    home: z.string().max(4096).optional(),
    /** Whether the client's stdin is a terminal (a confirmation question is then asked over the API). */
    stdinTty: z.boolean().optional(),
  })
  .strict();

export const requestStatus = z.enum(['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED']);

export const requestInfo = z.object({
  id: z.string(),
  user: z.string(),
  command: z.string(),
  argv: z.array(z.string()),
  status: requestStatus,
  exit_code: z.number().nullable(),
  error: z.string().nullable(),
  created_at: z.string(),
  started_at: z.string().nullable(),
  ended_at: z.string().nullable(),
});
export type RequestInfo = z.infer<typeof requestInfo>;

export const submitAnswer = z.object({ request_id: z.string() });
export const requestList = z.object({ requests: z.array(requestInfo) });

export const stdinBody = z.object({ data: z.string().max(65_536) }).strict();
export const signalBody = z.object({ signal: z.enum(['SIGINT', 'SIGTERM']) }).strict();

/** Events of GET /api/v1/requests/:id/stream (SSE `data:` lines, JSON). */
export const streamEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('out'), seq: z.number(), data: z.string() }),
  z.object({ type: z.literal('err'), seq: z.number(), data: z.string() }),
  z.object({
    type: z.literal('end'),
    status: requestStatus,
    exit_code: z.number().nullable(),
    /** Why the request failed when its command could not say (its worker died, say). */
    error: z.string().nullable().optional(),
  }),
]);
export type StreamEvent = z.infer<typeof streamEvent>;

const autostop = z.object({ idleMinutes: z.number(), down: z.boolean() }).nullable();

export const clusterInfo = z.object({
  name: z.string(),
  owner: z.string().nullable(),
  status: z.enum(['INIT', 'UP', 'STOPPED']),
  cloud: z.string(),
  region: z.string(),
  zone: z.string().nullable(),
  resources: z.record(z.string(), z.unknown()),
  /** describeLaunched: e.g. "1x local(cpus=4, mem=8)". */
  resources_text: z.string(),
  num_nodes: z.number(),
  head_ip: z.string().nullable(),
  launched_at: z.number(),
  status_updated_at: z.number(),
  hourly_price: z.number(),
  autostop,
  last_use: z.string().nullable(),
});
export type ClusterInfo = z.infer<typeof clusterInfo>;

export const statusQuery = z
  .object({ clusters: z.union([resourceName, z.array(resourceName)]).optional() })
  .strict();
export const statusAnswer = z.object({
  clusters: z.array(clusterInfo),
  changes: z.array(
    z.object({
      cluster: z.string(),
      from: z.string().nullable(),
      to: z.string().nullable(),
      note: z.string(),
    }),
  ),
});

export const costRow = z.object({
  cluster: z.string(),
  owner: z.string().nullable(),
  cloud: z.string().nullable(),
  region: z.string().nullable(),
  resources: z.string().nullable(),
  status: z.enum(['live', 'stopped', 'terminated']),
  launchedAt: z.number(),
  endedAt: z.number().nullable(),
  durationMs: z.number(),
  cost: z.number(),
  hourlyPrice: z.number(),
  numNodes: z.number(),
});
export const costAnswer = z.object({ rows: z.array(costRow) });

export const storageRow = z.object({
  name: z.string(),
  owner: z.string().nullable(),
  store: z.string(),
  region: z.string().nullable(),
  status: z.string(),
  persistent: z.boolean(),
  createdBySkyhop: z.boolean(),
  createdAt: z.number(),
  uses: z.array(z.object({ cluster: z.string(), path: z.string(), mode: z.string() })),
});
export const storageAnswer = z.object({ buckets: z.array(storageRow) });

export const userInfo = z.object({ name: z.string(), role, created_at: z.string() });
export const whoamiAnswer = z.object({ user: z.string(), role, server: z.string(), version: z.string() });
export const usersAnswer = z.object({ users: z.array(userInfo) });
export const addUserBody = z.object({ name: userName, role: role.default('user') }).strict();
export const tokenAnswer = z.object({ user: z.string(), role, token: z.string() });

export const auditAnswer = z.object({
  entries: z.array(
    z.object({
      at: z.string(),
      user: z.string(),
      action: z.string(),
      target: z.string().nullable(),
      outcome: z.string().nullable(),
    }),
  ),
});

export const uploadAnswer = z.object({ upload_id: z.string(), files: z.number(), bytes: z.number() });

export const requestsQuery = z
  .object({
    all: z.enum(['0', '1']).optional(),
    limit: z.coerce.number().int().min(1).max(1000).optional(),
  })
  .strict();
export const streamQuery = z.object({ after: z.coerce.number().int().min(0).optional() }).strict();
