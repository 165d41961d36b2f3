/**
 * SkyPilot's `autostop` value, read the same way in a task's `resources.autostop` and in the config
 * file's `jobs.controller.autostop` (src/task re-exports it from its values). No YAML, no zod here.
 */
import { show, ValueError } from '../util/yaml/value.js';

export interface AutostopSpec {
  idleMinutes: number;
  down: boolean;
}

const AUTOSTOP_EXPECTED = (v: unknown) =>
  `expected true, false, idle minutes like 10 or "10m"/"2h", or {idle_minutes: 10, down: true}, got ${show(v)}`;
const TIME_UNITS: Record<string, number> = { m: 1, h: 60, d: 1440, w: 10080 };

/** SkyPilot's autostop: true (5 idle minutes), false (off -> null), 10, "10m", "2h", {idle_minutes, down}. */
export function parseAutostop(v: unknown): AutostopSpec | null {
  if (v === true) return { idleMinutes: 5, down: false };
  if (v === false) return null;
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0) throw new ValueError(AUTOSTOP_EXPECTED(v));
    return { idleMinutes: v, down: false };
  }
  if (typeof v === 'string') {
    const m = /^\s*(\d+)\s*([mhdwMHDW])?\s*$/.exec(v);
    if (!m) throw new ValueError(AUTOSTOP_EXPECTED(v));
    return { idleMinutes: Number(m[1]) * TIME_UNITS[(m[2] ?? 'm').toLowerCase()], down: false };
  }
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (k !== 'idle_minutes' && k !== 'down') {
        throw new ValueError(`unknown field '${k}' in autostop (expected idle_minutes and down)`);
      }
    }
    const idle = o.idle_minutes ?? 5;
    if (typeof idle !== 'number' || !Number.isInteger(idle) || idle < 0) {
      throw new ValueError(`autostop.idle_minutes: expected whole minutes like 10, got ${show(idle)}`);
    }
    const down = o.down ?? false;
    if (typeof down !== 'boolean')
      throw new ValueError(`autostop.down: expected true or false, got ${show(down)}`);
    return { idleMinutes: idle, down };
  }
  throw new ValueError(AUTOSTOP_EXPECTED(v));
}
