/** Shared set-up for the optimizer tests: a temp SKYHOP_HOME, the real clouds, tasks built in code. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Cloud } from '../../../src/clouds/types.js';
import type { DataEstimate, Resources, Task } from '../../../src/core/task.js';
import { type BruteCloudInfo, type BruteRequest, type RawCatalog, loadRawCatalog } from './bruteforce.js';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/** The clouds with bundled catalogs (local depends on the machine, so it stays out). */
export const CATALOG_CLOUDS = ['aws', 'gcp', 'lambda', 'runpod', 'fluffycloud'];

/** A temp SKYHOP_HOME (catalog caches go there); returns the function that removes it. */
export function tempHome(): { home: string; cleanup(): void } {
  const home = mkdtempSync(join(tmpdir(), 'skyhop-opt-'));
  const prev = process.env.SKYHOP_HOME;
  process.env.SKYHOP_HOME = home;
  return {
    home,
    cleanup() {
      if (prev === undefined) delete process.env.SKYHOP_HOME;
      else process.env.SKYHOP_HOME = prev;
      rmSync(home, { recursive: true, force: true });
    },
  };
}

export async function catalogClouds(): Promise<Cloud[]> {
  const { allClouds } = await import('../../../src/clouds/registry.js');
  const clouds = allClouds().filter((c) => CATALOG_CLOUDS.includes(c.name));
  if (clouds.length !== CATALOG_CLOUDS.length) {
    throw new Error(
      `expected clouds ${CATALOG_CLOUDS.join(', ')}, got ${clouds.map((c) => c.name).join(', ')}`,
    );
  }
  return clouds;
}

export function rawCatalogs(clouds: Cloud[]): { cats: RawCatalog[]; infos: Map<string, BruteCloudInfo> } {
  const cats = CATALOG_CLOUDS.map((c) => loadRawCatalog(REPO, c));
  const infos = new Map<string, BruteCloudInfo>(
    clouds.map((c) => [
      c.name,
      { name: c.name, features: c.features, egressPerGb: (gb) => c.egressCostPerGb(gb) },
    ]),
  );
  return { cats, infos };
}

export function toResources(q: BruteRequest): Resources {
  const r: Resources = { useSpot: q.spot };
  if (q.cloud !== undefined) r.cloud = q.cloud;
  if (q.region !== undefined) r.region = q.region;
  if (q.zone !== undefined) r.zone = q.zone;
  if (q.instanceType !== undefined) r.instanceType = q.instanceType;
  if (q.cpus) r.cpus = { ...q.cpus };
  if (q.memory) r.memory = { ...q.memory };
  if (q.acc) r.accelerators = { ...q.acc };
  return r;
}

export function mkTask(
  resources: Resources[],
  o: {
    name?: string;
    ordered?: boolean;
    numNodes?: number;
    hours?: number;
    outputs?: DataEstimate;
    inputs?: DataEstimate;
  } = {},
): Task {
  return {
    name: o.name,
    numNodes: o.numNodes ?? 1,
    envs: {},
    secrets: {},
    fileMounts: {},
    resources,
    ordered: o.ordered ?? false,
    estimatedHours: o.hours,
    outputs: o.outputs,
    inputs: o.inputs,
  };
}

/** mulberry32: a small seeded PRNG, so every randomized case can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
