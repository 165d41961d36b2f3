/**
 * Small clouds for the task tests: real Catalogs (src/catalog's catalogFromRows) over a handful of
 * rows, wrapped in Cloud objects that carry a name, features and the catalog. Task parsing uses
 * only those three; the provisioning methods are never reached here and say so if called.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { catalogFromRows } from '../../../src/catalog/catalog.js';
import type { Catalog, CatalogRow } from '../../../src/catalog/types.js';
import type { Cloud } from '../../../src/clouds/types.js';
import type { Feature } from '../../../src/core/cluster.js';
import { type KnownNames, knownNamesFromClouds } from '../../../src/task/known.js';

function row(
  instanceType: string,
  acc: [string, number] | null,
  vcpus: number,
  memoryGiB: number,
  region: string,
  zone: string | null,
  price: number,
  spotPrice: number | null,
): CatalogRow {
  return {
    instanceType,
    acceleratorName: acc ? acc[0] : null,
    acceleratorCount: acc ? acc[1] : null,
    vcpus,
    memoryGiB,
    gpuInfo: null,
    price,
    spotPrice,
    region,
    zone,
  };
}

function testCloud(name: string, features: Feature[], rows: CatalogRow[]): Cloud {
  let catalog: Catalog | undefined;
  const notHere = (what: string) => new Error(`${what} is not part of the task-parsing tests`);
  return {
    name,
    displayName: name.toUpperCase(),
    features: new Set(features),
    maxClusterNameLength: 40,
    catalog() {
      catalog ??= catalogFromRows(name, rows, { kind: 'generated', path: `<test ${name}>` });
      return catalog;
    },
    async checkCredentials() {
      return { ok: false, reason: 'test cloud', hint: 'none' };
    },
    feasibleResources() {
      throw notHere('feasibleResources');
    },
    egressCostPerGb() {
      return 0;
    },
    provider() {
      throw notHere('provider');
    },
    classifyError() {
      return 'fatal';
    },
  };
}

/**
 * - aws: zones named like us-east-1a; m6i.large (CPU), p3.2xlarge (V100:1), p4d.24xlarge (A100:8);
 *   every feature.
 * - lambda: no zones; gpu_1x_a100 (A100:1), gpu_8x_a100 (A100:8); no spot, no custom images.
 * - solo: one region, one CPU type; single node only.
 */
export function testClouds(): Cloud[] {
  const all: Feature[] = [
    'stop',
    'autostop',
    'spot',
    'multi-node',
    'ports',
    'image-id',
    'disk-size',
    'labels',
    'zones',
  ];
  const aws: CatalogRow[] = [];
  for (const [region, zones] of [
    ['us-east-1', ['us-east-1a', 'us-east-1b']],
    ['us-west-2', ['us-west-2a']],
  ] as const) {
    for (const zone of zones) {
      aws.push(row('m6i.large', null, 2, 8, region, zone, 0.096, 0.03));
      aws.push(row('p3.2xlarge', ['V100', 1], 8, 61, region, zone, 3.06, 0.9));
      aws.push(row('p4d.24xlarge', ['A100', 8], 96, 1152, region, zone, 32.77, 9.8));
    }
  }
  const lambda: CatalogRow[] = [];
  for (const region of ['us-east-1', 'us-west-1']) {
    lambda.push(row('gpu_1x_a100', ['A100', 1], 30, 200, region, null, 1.29, null));
    lambda.push(row('gpu_8x_a100', ['A100', 8], 124, 1800, region, null, 10.32, null));
  }
  const solo = [row('solo-1', null, 4, 16, 'home', null, 0, null)];
  return [
    testCloud('aws', all, aws),
    testCloud('lambda', ['autostop', 'multi-node', 'ports'], lambda),
    testCloud('solo', ['stop'], solo),
  ];
}

export function testKnown(): KnownNames {
  return knownNamesFromClouds(testClouds());
}

/** A fresh temp dir (also used as SKYHOP_HOME/HOME where a test needs them); `done()` removes it. */
export function tempDir(prefix = 'skyhop-task-'): { dir: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}
