/** Which clusters may stop or tear themselves down, checked before anything is asked of them. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getCloud } from '../../../src/clouds/registry.js';
import { checkAutostop } from '../../../src/sdk/jobs.js';
import type { ClusterRecord } from '../../../src/state/index.js';
import { UserError } from '../../../src/util/errors.js';

function rec(cloud: string, useSpot = false): ClusterRecord {
  return {
    name: 'c1',
    cloud,
    region: 'r',
    zone: null,
    status: 'UP',
    resources: { instanceType: 't', accelerators: null, useSpot, vcpus: 2, memoryGiB: 4, numNodes: 2 },
    nodes: [],
    launchedAt: 0,
    statusUpdatedAt: 0,
    hourlyPrice: 0,
    autostop: null,
    headIp: null,
  };
}

const STOP = { idleMinutes: 10, down: false };
const DOWN = { idleMinutes: 10, down: true };

function refuses(cloud: string, spot: boolean, a: typeof STOP, message: string): void {
  assert.throws(
    () => checkAutostop(getCloud(cloud), rec(cloud, spot), a),
    (e: unknown) => e instanceof UserError && e.message === message,
  );
}

test('checkAutostop: what each provisioning cloud can do', () => {
  for (const cloud of ['local', 'aws']) {
    checkAutostop(getCloud(cloud), rec(cloud), STOP);
    checkAutostop(getCloud(cloud), rec(cloud), DOWN);
    checkAutostop(getCloud(cloud), rec(cloud), null);
  }
  checkAutostop(getCloud('aws'), rec('aws', true), DOWN);
  refuses(
    'aws',
    true,
    STOP,
    'AWS cannot stop spot instances, only tear them down; use autodown (`skyhop autostop --down c1`)',
  );
  checkAutostop(getCloud('fluffycloud'), rec('fluffycloud'), DOWN);
  refuses(
    'fluffycloud',
    false,
    STOP,
    'FluffyCloud cannot stop instances, only tear them down; use autodown (`skyhop autostop --down c1`)',
  );
  refuses('gcp', false, DOWN, 'GCP clusters cannot stop themselves; autostop is not available for c1');
});
