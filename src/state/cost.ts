/**
 * The cost report, computed exactly from billing events. Each cluster name may have several lives
 * (launched, torn down, launched again); each life is one row. Within a life, billed time is the sum of
 * running intervals: launch/start -> stop/down, the last one open until `now` while the cluster runs.
 * An interval is charged at the hourly price and node count of the event that began it.
 *
 * Events that do not fit the sequence are tolerated the way a bill would be: a `launch` or `start`
 * while running is a no-op (the meter is already on), a `launch` while stopped restarts the meter,
 * a `start` with no life open begins one, a `stop` while stopped and a `down` with no life open are
 * ignored.
 */
import type { CostEventKind, CostRow } from './types.js';

export interface CostEvent {
  cluster: string;
  kind: CostEventKind;
  at: number;
  hourlyPrice: number;
  numNodes: number;
  cloud: string | null;
  region: string | null;
  resources: string | null;
}

const HOUR_MS = 3_600_000;

interface Life {
  row: CostRow;
  /** Start of the running interval in progress, or null when stopped. */
  runningSince: number | null;
}

/** `events` must be ordered by (cluster, at, insertion). Rows come out newest launch first. */
export function computeCostRows(events: readonly CostEvent[], now: number): CostRow[] {
  const rows: CostRow[] = [];
  const open = new Map<string, Life>();

  const closeInterval = (life: Life, end: number) => {
    if (life.runningSince === null) return;
    const ms = Math.max(0, end - life.runningSince);
    life.row.durationMs += ms;
    life.row.cost += (ms / HOUR_MS) * life.row.hourlyPrice * life.row.numNodes;
    life.runningSince = null;
  };

  for (const e of events) {
    const life = open.get(e.cluster);
    const startLife = () => {
      const row: CostRow = {
        cluster: e.cluster,
        cloud: e.cloud,
        region: e.region,
        resources: e.resources,
        status: 'live',
        launchedAt: e.at,
        endedAt: null,
        durationMs: 0,
        cost: 0,
        hourlyPrice: e.hourlyPrice,
        numNodes: e.numNodes,
      };
      rows.push(row);
      const l: Life = { row, runningSince: e.at };
      open.set(e.cluster, l);
      return l;
    };
    const adoptMeta = (l: Life) => {
      if (e.cloud !== null) l.row.cloud = e.cloud;
      if (e.region !== null) l.row.region = e.region;
      if (e.resources !== null) l.row.resources = e.resources;
    };
    switch (e.kind) {
      case 'launch':
      case 'start':
        if (!life) {
          startLife();
        } else if (life.runningSince === null) {
          life.runningSince = e.at;
          life.row.hourlyPrice = e.hourlyPrice;
          life.row.numNodes = e.numNodes;
          life.row.status = 'live';
          adoptMeta(life);
        }
        break;
      case 'stop':
        if (life && life.runningSince !== null) {
          closeInterval(life, e.at);
          life.row.status = 'stopped';
        }
        break;
      case 'down':
        if (life) {
          closeInterval(life, e.at);
          life.row.status = 'terminated';
          life.row.endedAt = e.at;
          open.delete(e.cluster);
        }
        break;
    }
  }
  // Lives still running are charged up to now (and stay 'live').
  for (const life of open.values()) closeInterval(life, now);
  rows.sort((a, b) => b.launchedAt - a.launchedAt || a.cluster.localeCompare(b.cluster));
  return rows;
}
