/**
 * What "this machine" offers to the local cloud: CPUs, memory and NVIDIA GPUs.
 *
 * CPUs and memory are read live (cheap). GPUs come from `nvidia-smi`, which is only spawned when
 * it is on PATH, and whose answer is cached in `$SKYHOP_HOME/cache/local-machine.json` keyed by the
 * boot id, so the CLI does not pay for a spawn on every start.
 *
 * Overrides (for tests and benchmarks; documented in docs/):
 *   SKYHOP_LOCAL_CPUS=N       pretend the machine has N CPUs
 *   SKYHOP_LOCAL_MEMORY_GB=G  pretend the machine has G GiB of memory
 * GPUs are never faked.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { delimiter, join } from 'node:path';
import { UserError } from '../../util/errors.js';
import { skyhopHome } from '../../util/paths.js';

export interface LocalGpu {
  index: number;
  /** As nvidia-smi reports it: "NVIDIA H100 80GB HBM3". */
  rawName: string;
  /** The catalog spelling: "H100". */
  name: string;
  memoryMiB: number | null;
}

export interface LocalMachine {
  cpus: number;
  memoryGiB: number;
  /** Every GPU nvidia-smi listed, in index order; [] when none or no nvidia-smi. */
  gpus: LocalGpu[];
  /** The accelerator the `local` instance type carries: the most numerous GPU model; null if none. */
  accelerator: { name: string; count: number; memoryMiB: number | null } | null;
  /** Which numbers came from overrides, for messages. */
  overridden: { cpus: boolean; memory: boolean };
}

interface GpuCache {
  version: 1;
  bootId: string;
  /** The nvidia-smi path that produced `gpus` (null: none on PATH). A different path means re-detect. */
  nvidiaSmi: string | null;
  gpus: LocalGpu[];
}

export function machineCachePath(): string {
  return join(skyhopHome(), 'cache', 'local-machine.json');
}

/** Map an nvidia-smi product name to the name the catalogs use ("NVIDIA A100-SXM4-80GB" -> "A100-80GB"). */
export function canonicalGpuName(raw: string): string {
  const s = raw
    .trim()
    .replace(/^(NVIDIA|Tesla)\s+/i, '')
    .replace(/^(GeForce|Quadro)\s+/i, '')
    .trim();
  const u = s.toUpperCase();
  const rules: Array<[RegExp, string | ((m: RegExpMatchArray) => string)]> = [
    [/^GH200\b/, 'GH200'],
    [/^H200\b/, 'H200'],
    [/^H100\b/, 'H100'],
    [/^B200\b/, 'B200'],
    [/^A100\b.*80\s*GB/, 'A100-80GB'],
    [/^A100\b/, 'A100'],
    [/^A10G\b/, 'A10G'],
    [/^A10\b/, 'A10'],
    [/^A30\b/, 'A30'],
    [/^A40\b/, 'A40'],
    [/^L40S\b/, 'L40S'],
    [/^L40\b/, 'L40'],
    [/^L4\b/, 'L4'],
    [/^V100\b.*32\s*GB/, 'V100-32GB'],
    [/^V100\b/, 'V100'],
    [/^T4\b/, 'T4'],
    [/^P100\b/, 'P100'],
    [/^P40\b/, 'P40'],
    [/^P4\b/, 'P4'],
    [/^K80\b/, 'K80'],
    [/^M60\b/, 'M60'],
    [/^RTX\s+(\d{4})\s+ADA\b/, (m) => `RTX${m[1]}-Ada`],
    [/^RTX\s+A(\d{4})\b/, (m) => `RTXA${m[1]}`],
    [/^RTX\s+(\d{4})\b/, (m) => `RTX${m[1]}`],
  ];
  for (const [re, out] of rules) {
    const m = u.match(re);
    if (m) return typeof out === 'string' ? out : out(m);
  }
  return s.replace(/\s+/g, '-');
}

/** Names that mean the same GPU in different catalogs (Lambda says A6000, RunPod RTXA6000). */
const GPU_ALIASES: Record<string, string> = { A6000: 'RTXA6000', RTXA6000: 'A6000' };

/** Whether a requested accelerator name means the detected one (case-insensitive, known aliases). */
export function gpuNameMatches(requested: string, detected: string): boolean {
  const a = requested.toUpperCase();
  const b = detected.toUpperCase();
  return a === b || GPU_ALIASES[a] === b;
}

/**
 * Parse `nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader` output:
 * "0, NVIDIA H100 80GB HBM3, 81559 MiB" per line. Lines that do not parse are skipped.
 */
export function parseNvidiaSmi(out: string): LocalGpu[] {
  const gpus: LocalGpu[] = [];
  for (const line of out.split('\n')) {
    if (!line.trim()) continue;
    const parts = line.split(',').map((p) => p.trim());
    if (parts.length < 2) continue;
    const index = Number(parts[0]);
    if (!Number.isInteger(index)) continue;
    // The last column is memory ("81559 MiB", or "[N/A]"); everything between index and it is the name.
    const hasMem = parts.length >= 3;
    const mem = hasMem ? parts[parts.length - 1].match(/^(\d+(?:\.\d+)?)\s*MiB$/i) : null;
    const rawName = (hasMem ? parts.slice(1, -1) : parts.slice(1)).join(', ');
    if (!rawName) continue;
    gpus.push({ index, rawName, name: canonicalGpuName(rawName), memoryMiB: mem ? Number(mem[1]) : null });
  }
  return gpus.sort((a, b) => a.index - b.index);
}

/** The first executable `name` on PATH, or null. Only stats files; never spawns. */
export function findOnPath(name: string, pathVar = process.env.PATH ?? ''): string | null {
  for (const dir of pathVar.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

function readCache(path: string): GpuCache | null {
  try {
    const c = JSON.parse(readFileSync(path, 'utf8')) as GpuCache;
    if (c && c.version === 1 && typeof c.bootId === 'string' && Array.isArray(c.gpus)) return c;
  } catch {
    // missing or unreadable: detect again
  }
  return null;
}

function writeCache(path: string, c: GpuCache): void {
  try {
    mkdirSync(join(path, '..'), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(c, null, 2)}\n`);
    renameSync(tmp, path);
  } catch {
    // A read-only SKYHOP_HOME only costs a spawn next time.
  }
}

function runNvidiaSmi(path: string): LocalGpu[] {
  try {
    const out = execFileSync(path, ['--query-gpu=index,name,memory.total', '--format=csv,noheader'], {
      encoding: 'utf8',
      timeout: 15_000,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return parseNvidiaSmi(out);
  } catch {
    // nvidia-smi present but failing (no driver loaded): no usable GPUs.
    return [];
  }
}

/** GPUs of this machine, from the boot-keyed cache or nvidia-smi. `fresh` skips the cache. */
export function detectGpus(opts: { fresh?: boolean } = {}): LocalGpu[] {
  const smi = findOnPath('nvidia-smi');
  const boot = bootId();
  const path = machineCachePath();
  if (!opts.fresh) {
    const c = readCache(path);
    if (c && c.bootId === boot && c.nvidiaSmi === smi) return c.gpus;
  }
  const gpus = smi ? runNvidiaSmi(smi) : [];
  writeCache(path, { version: 1, bootId: boot, nvidiaSmi: smi, gpus });
  return gpus;
}

function envNumber(name: string, integer: boolean): number | null {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return null;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new UserError(
      `${name}=${JSON.stringify(raw)} is not a positive ${integer ? 'whole number' : 'number'}; ` +
        `fix or unset it in your environment`,
    );
  }
  return v;
}

/** The most numerous GPU model (ties: the one with the lowest index). */
function pickAccelerator(gpus: LocalGpu[]): LocalMachine['accelerator'] {
  if (gpus.length === 0) return null;
  const byName = new Map<string, LocalGpu[]>();
  for (const g of gpus) byName.set(g.name, [...(byName.get(g.name) ?? []), g]);
  let best: LocalGpu[] = [];
  for (const group of byName.values()) if (group.length > best.length) best = group;
  return { name: best[0].name, count: best.length, memoryMiB: best[0].memoryMiB };
}

export function detectMachine(opts: { fresh?: boolean } = {}): LocalMachine {
  const cpuOverride = envNumber('SKYHOP_LOCAL_CPUS', true);
  const memOverride = envNumber('SKYHOP_LOCAL_MEMORY_GB', false);
  const gpus = detectGpus(opts);
  return {
    cpus: cpuOverride ?? availableParallelism(),
    memoryGiB: memOverride ?? Math.round((totalmem() / 2 ** 30) * 10) / 10,
    gpus,
    accelerator: pickAccelerator(gpus),
    overridden: { cpus: cpuOverride !== null, memory: memOverride !== null },
  };
}

/** "2 CPUs and 23.4 GiB of memory and no GPUs" / "... and 8 H100 GPUs". */
export function describeMachine(m: LocalMachine): string {
  const cpus = `${m.cpus} CPU${m.cpus === 1 ? '' : 's'}`;
  const gpus = m.accelerator
    ? `${m.accelerator.count} ${m.accelerator.name} GPU${m.accelerator.count === 1 ? '' : 's'}`
    : 'no GPUs';
  const others = m.gpus.filter((g) => m.accelerator && g.name !== m.accelerator.name);
  const extra = others.length
    ? ` (and ${others.length} other GPU${others.length === 1 ? '' : 's'} not offered)`
    : '';
  return `${cpus} and ${m.memoryGiB} GiB of memory and ${gpus}${extra}`;
}
