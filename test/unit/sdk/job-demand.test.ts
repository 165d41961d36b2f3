/**
 * A job's demand (what the agent's scheduler holds it to) is that of the task's alternative the
 * cluster was launched for: an `any_of` task placed on its second alternative is not held to the
 * first one's cpus or accelerators (it used to be, and never ran: "it needs 100000 CPUs per node").
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { allClouds } from '../../../src/clouds/registry.js';
import { incompatibility, jobDemand } from '../../../src/sdk/clusters.js';
import type { ClusterRecord } from '../../../src/state/index.js';
import { knownNamesFromClouds } from '../../../src/task/known.js';
import { parseTaskText } from '../../../src/task/parse.js';

const parse = (text: string) =>
  parseTaskText(text, 'task.yaml', { known: knownNamesFromClouds(allClouds()), baseDir: '/tmp' }).tasks[0]!;

const record = (cloud: string, instanceType: string, vcpus: number): ClusterRecord => ({
  name: 'c',
  cloud,
  region: 'r',
  zone: null,
  status: 'UP',
  resources: { instanceType, accelerators: null, useSpot: false, vcpus, memoryGiB: 8, numNodes: 1 },
  nodes: [],
  launchedAt: 0,
  statusUpdatedAt: 0,
  hourlyPrice: 0.08,
  autostop: null,
  headIp: null,
  spec: {
    cluster: 'c',
    numNodes: 1,
    instanceType,
    region: 'r',
    zone: null,
    useSpot: false,
    accelerators: null,
  },
});

describe('jobDemand', () => {
  const anyOf = parse(
    [
      'resources:',
      '  any_of:',
      '    - cloud: local',
      '      cpus: 100000+',
      '    - cloud: fluffycloud',
      '      instance_type: ff.small',
      '      cpus: 2',
      'run: echo',
    ].join('\n'),
  );

  test('the alternative the cluster fits, not the first one', () => {
    const rec = record('fluffycloud', 'ff.small', 2);
    assert.equal(incompatibility(rec, anyOf), null);
    assert.deepEqual(jobDemand(anyOf, rec), { cpus: 2, accelerators: null });
  });

  test('without a cluster (or one no alternative fits): the first alternative', () => {
    assert.deepEqual(jobDemand(anyOf), { cpus: 100000, accelerators: null });
    assert.deepEqual(jobDemand(anyOf, record('aws', 't3.micro', 2)), { cpus: 100000, accelerators: null });
  });

  test('a task without cpus asks for half a CPU', () => {
    assert.deepEqual(jobDemand(parse('run: echo\n'), record('local', 'local', 4)), {
      cpus: 0.5,
      accelerators: null,
    });
  });
});
