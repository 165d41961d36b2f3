/**
 * A task's `service:` section (SkyPilot's SkyServe service YAML) -> Task.service: every field, the
 * defaults, SkyPilot's example files unchanged, each error at its file:line:col, and the checks
 * against the resources that `serve up` makes (checkServiceTask) but `launch` does not.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ServiceSpec } from '../../../src/core/serve.js';
import {
  applyOverrides,
  checkServiceTask,
  isServiceIgnoredWarning,
  parseTaskText,
  probeWithSecrets,
  SERVICE_DEFAULTS,
  serviceIgnoredWarning,
  type Task,
} from '../../../src/task/index.js';
import { UserError } from '../../../src/util/errors.js';
import { tempDir, testKnown } from './helpers.js';

const known = testKnown();

function parse(yaml: string, file = 'svc.yaml') {
  return parseTaskText(yaml, file, { known });
}

function one(yaml: string): Task {
  return parse(yaml).tasks[0];
}

function service(yaml: string): ServiceSpec {
  const s = one(yaml).service;
  assert.ok(s, 'no Task.service');
  return s;
}

function error(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof UserError, `not a UserError: ${String(e)}`);
    return e.message;
  }
  assert.fail('no error');
}

const parseError = (yaml: string) => error(() => parse(yaml));

/** The serve-time error of a task that parses (launch takes it; serve up would not). */
function serveError(yaml: string): string {
  const t = one(yaml);
  assert.equal(t.service, undefined, 'Task.service set for a service serve up refuses');
  return error(() => checkServiceTask(t));
}

const probe = (path: string, more: Partial<ServiceSpec['readinessProbe']> = {}) => ({
  path,
  initialDelaySeconds: 1200,
  timeoutSeconds: 15,
  headers: {},
  ...more,
});

const fixed = (n: number) => ({
  minReplicas: n,
  maxReplicas: n,
  upscaleDelaySeconds: 300,
  downscaleDelaySeconds: 1200,
  baseOndemandFallbackReplicas: 0,
  dynamicOndemandFallback: false,
});

describe('service: SkyPilot example files unchanged', () => {
  it("a vLLM service (SkyPilot's llm/vllm/service.yaml form): post_data with $MODEL_NAME, autoscaling, spot with fallback", () => {
    const yaml = [
      'envs:',
      '  MODEL_NAME: meta-llama/Meta-Llama-3-8B-Instruct',
      '  HF_TOKEN: hf_secret',
      '',
      'service:',
      '  readiness_probe:',
      '    path: /v1/chat/completions',
      '    post_data:',
      '      model: $MODEL_NAME',
      '      messages:',
      '        - role: user',
      '          content: Hello! What is your name?',
      '      max_tokens: 1',
      '    initial_delay_seconds: 1800',
      '  replica_policy:',
      '    min_replicas: 2',
      '    max_replicas: 4',
      '    target_qps_per_replica: 2.5',
      '    upscale_delay_seconds: 120',
      '    downscale_delay_seconds: 600',
      '    base_ondemand_fallback_replicas: 1',
      '    dynamic_ondemand_fallback: true',
      '',
      'resources:',
      '  accelerators: {V100, A100:8}',
      '  use_spot: true',
      '  disk_size: 512',
      '  ports: 8000',
      '',
      'setup: |',
      '  pip install vllm==0.4.0.post1 flash-attn==2.5.7 gradio openai',
      '',
      'run: |',
      '  python -u -m vllm.entrypoints.openai.api_server \\',
      '    --port 8000 --model $MODEL_NAME --trust-remote-code \\',
      '    --tensor-parallel-size $SKYPILOT_NUM_GPUS_PER_NODE',
      '',
    ].join('\n');
    const dag = parse(yaml);
    assert.deepEqual(dag.tasks[0].service, {
      readinessProbe: probe('/v1/chat/completions', {
        initialDelaySeconds: 1800,
        postData: {
          model: 'meta-llama/Meta-Llama-3-8B-Instruct',
          messages: [{ role: 'user', content: 'Hello! What is your name?' }],
          max_tokens: 1,
        },
      }),
      replicaPolicy: {
        minReplicas: 2,
        maxReplicas: 4,
        targetQpsPerReplica: 2.5,
        upscaleDelaySeconds: 120,
        downscaleDelaySeconds: 600,
        baseOndemandFallbackReplicas: 1,
        dynamicOndemandFallback: true,
      },
      port: 8000,
      loadBalancingPolicy: 'least_load',
    });
    assert.deepEqual(checkServiceTask(dag.tasks[0]), dag.tasks[0].service);
    // The run script keeps its $VARs: only the section's strings are substituted.
    assert.match(dag.tasks[0].run ?? '', /--model \$MODEL_NAME/);
    assert.deepEqual(dag.warnings, [
      'svc.yaml:5:1: service: ignored; services run with skyhop serve up, so the task runs without it',
    ]);
  });

  it("SkyPilot's http_server example: readiness_probe as a path, fixed replicas, the port from resources", () => {
    const yaml = [
      'service:',
      '  readiness_probe: /health',
      '  replicas: 2',
      '',
      'resources:',
      '  ports: 8081',
      '  cpus: 2+',
      '',
      'workdir: .',
      '',
      'run: python3 server.py',
      '',
    ].join('\n');
    assert.deepEqual(service(yaml), {
      readinessProbe: probe('/health'),
      replicaPolicy: fixed(2),
      port: 8081,
      loadBalancingPolicy: 'least_load',
    });
  });
});

describe('service: every field and its default', () => {
  it("an empty probe section: SkyPilot's defaults (GET /, 1200 s, 15 s, one replica, least_load)", () => {
    assert.deepEqual(service('service: {}\nresources:\n  ports: 80\n'), {
      readinessProbe: probe('/'),
      replicaPolicy: fixed(1),
      port: 80,
      loadBalancingPolicy: 'least_load',
    });
    assert.equal(SERVICE_DEFAULTS.initialDelaySeconds, 1200);
    assert.equal(SERVICE_DEFAULTS.loadBalancingPolicy, 'least_load');
  });

  it('`service:` with nothing is no service (as SkyPilot reads it)', () => {
    assert.equal(one('service:\nrun: ls\n').service, undefined);
    assert.equal(checkServiceTask(one('service:\nrun: ls\n')), undefined);
    assert.equal(checkServiceTask(one('run: ls\n')), undefined);
  });

  it('readiness_probe as a mapping: every field', () => {
    const s = service(
      [
        'service:',
        '  readiness_probe:',
        '    path: /ready',
        '    initial_delay_seconds: 30',
        '    timeout_seconds: 2.5',
        '    post_data: \'{"model": "m", "n": 1}\'',
        '    headers:',
        '      Authorization: Bearer abc',
        '      X-Num: 007',
        '      X-Flag: true',
        '  ports: 9000',
        '',
      ].join('\n'),
    );
    assert.deepEqual(
      s.readinessProbe,
      probe('/ready', {
        initialDelaySeconds: 30,
        timeoutSeconds: 2.5,
        postData: { model: 'm', n: 1 },
        // Numbers and booleans as written (as labels are).
        headers: { Authorization: 'Bearer abc', 'X-Num': '007', 'X-Flag': 'true' },
      }),
    );
    assert.equal(s.port, 9000);
  });

  it('post_data: a mapping as it is, a JSON string parsed (any JSON value)', () => {
    const pd = (v: string) =>
      service(`service:\n  readiness_probe:\n    path: /\n    post_data: ${v}\n  ports: 80\n`).readinessProbe
        .postData;
    assert.deepEqual(pd('{a: [1, 2]}'), { a: [1, 2] });
    assert.deepEqual(pd("'[1, 2]'"), [1, 2]);
    assert.deepEqual(pd('\'"text"\''), 'text');
  });

  it('replicas: a fixed count; replica_policy: min only is fixed too, and its defaults', () => {
    assert.deepEqual(service('service:\n  replicas: 3\n  ports: 80\n').replicaPolicy, fixed(3));
    assert.deepEqual(
      service('service:\n  replica_policy:\n    min_replicas: 2\n  ports: 80\n').replicaPolicy,
      fixed(2),
    );
    assert.deepEqual(
      service('service:\n  replica_policy:\n    min_replicas: 2\n    max_replicas: 2\n  ports: 80\n')
        .replicaPolicy,
      fixed(2),
    );
  });

  it('replica_policy: autoscaling from 0 (the first request scales up)', () => {
    assert.deepEqual(
      service(
        'service:\n  replica_policy:\n    min_replicas: 0\n    max_replicas: 3\n    target_qps_per_replica: 1\n  ports: 80\n',
      ).replicaPolicy,
      { ...fixed(0), maxReplicas: 3, targetQpsPerReplica: 1 },
    );
  });

  it('replica_policy: the fallback fields with spot', () => {
    const s = service(
      [
        'service:',
        '  replica_policy:',
        '    min_replicas: 1',
        '    max_replicas: 3',
        '    target_qps_per_replica: 1',
        '    base_ondemand_fallback_replicas: 1',
        'resources:',
        '  use_spot: true',
        '  ports: 8081',
        '',
      ].join('\n'),
    );
    assert.equal(s.replicaPolicy.baseOndemandFallbackReplicas, 1);
    assert.equal(s.replicaPolicy.dynamicOndemandFallback, false);
  });

  it('ports: service.ports wins over resources.ports (which may then open several)', () => {
    assert.equal(service('service:\n  ports: 8080\nresources:\n  ports: [8080, 9090]\n').port, 8080);
    assert.equal(service('service:\n  ports: 8080\nresources:\n  ports: 10000-10010\n').port, 8080);
    assert.equal(service('service:\n  ports: "8080"\n').port, 8080);
    // A range of one port is that port; every alternative agreeing is fine.
    assert.equal(service('service: {}\nresources:\n  ports: 8080-8080\n').port, 8080);
    assert.equal(
      service('service: {}\nresources:\n  ports: 8080\n  any_of:\n    - infra: aws\n    - infra: lambda\n')
        .port,
      8080,
    );
  });

  it('load_balancing_policy: round_robin or least_load, in any case', () => {
    const lb = (v: string) =>
      service(`service:\n  load_balancing_policy: ${v}\n  ports: 80\n`).loadBalancingPolicy;
    assert.equal(lb('round_robin'), 'round_robin');
    assert.equal(lb('LEAST_LOAD'), 'least_load');
  });

  it('braced and bare $VAR take envs (--env too); other names, secrets among them, stay as written', () => {
    const yaml = [
      'envs:',
      '  PROBE: /v1/models',
      '  MODEL: null',
      'secrets:',
      '  TOKEN: s3cr3t',
      'service:',
      '  readiness_probe:',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal env reference in YAML
      '    path: ${PROBE}',
      '    post_data: {model: $MODEL, note: costs $5 and $UNDEFINED}',
      '    headers:',
      '      Authorization: Bearer $TOKEN',
      '  ports: 80',
      '',
    ].join('\n');
    const dag = parseTaskText(yaml, 'svc.yaml', { known, env: ['MODEL=llama'] });
    const t = dag.tasks[0];
    assert.deepEqual(
      t.service?.readinessProbe,
      probe('/v1/models', {
        postData: { model: 'llama', note: 'costs $5 and $UNDEFINED' },
        headers: { Authorization: 'Bearer $TOKEN' },
      }),
    );
    // The spec travels with the task (a managed job's state): no secret's value in it. The serve
    // controller fills secrets in right before it probes, as SkyPilot substitutes them.
    assert.doesNotMatch(JSON.stringify(t.service), /s3cr3t/);
    assert.deepEqual(
      probeWithSecrets(t.service?.readinessProbe as ServiceSpec['readinessProbe'], t.secrets),
      {
        ...t.service?.readinessProbe,
        headers: { Authorization: 'Bearer s3cr3t' },
      },
    );
    // --env given to the overrides reads the section again.
    const o = applyOverrides(parseTaskText(yaml, 'svc.yaml', { env: ['MODEL=a'] }), { env: ['MODEL=b'] });
    assert.deepEqual(o.tasks[0].service?.readinessProbe.postData, {
      model: 'b',
      note: 'costs $5 and $UNDEFINED',
    });
  });

  it('a pipeline with a service in a task parses (the serve commands refuse pipelines themselves)', () => {
    const dag = parse(
      'name: p\n---\nname: a\nrun: ls\n---\nname: b\nservice:\n  readiness_probe: /\n  ports: 80\nrun: ls\n',
    );
    assert.equal(dag.tasks[0].service, undefined);
    assert.equal(dag.tasks[1].service?.port, 80);
    assert.deepEqual(dag.warnings, [
      'svc.yaml:7:1: service: ignored; services run with skyhop serve up, so the task runs without it',
    ]);
  });
});

describe('service: tls', () => {
  const tmp = tempDir();
  const proj = join(tmp.dir, 'proj');
  let oldHome: string | undefined;
  before(() => {
    mkdirSync(join(proj, 'certs'), { recursive: true });
    mkdirSync(join(tmp.dir, 'home'), { recursive: true });
    writeFileSync(join(proj, 'certs', 'key.pem'), 'KEY');
    writeFileSync(join(proj, 'certs', 'cert.pem'), 'CERT');
    writeFileSync(join(tmp.dir, 'home', 'cert.pem'), 'CERT');
    oldHome = process.env.HOME;
    process.env.HOME = join(tmp.dir, 'home');
  });
  after(() => {
    if (oldHome === undefined) delete process.env.HOME;
    else process.env.HOME = oldHome;
    tmp.done();
  });
  const tls = (key: string, cert: string) =>
    `service:\n  ports: 443\n  tls:\n    keyfile: ${key}\n    certfile: ${cert}\n`;

  it('relative paths from the current directory (baseDir), ~ expanded, envs substituted', () => {
    const t = parseTaskText(
      `envs:\n  DIR: certs\n${tls('$DIR/key.pem', '~/cert.pem')}`,
      join(proj, 'svc.yaml'),
      { baseDir: proj },
    ).tasks[0];
    assert.deepEqual(t.service?.tls, {
      keyfile: join(proj, 'certs', 'key.pem'),
      certfile: join(tmp.dir, 'home', 'cert.pem'),
    });
  });

  it('a path found only beside the task file is taken from there, with a warning', () => {
    const file = join(proj, 'svc.yaml');
    const dag = parseTaskText(tls('certs/key.pem', 'certs/cert.pem'), file, { known });
    assert.equal(dag.tasks[0].service?.tls?.keyfile, join(proj, 'certs', 'key.pem'));
    assert.equal(dag.warnings?.length, 3);
    assert.match(
      dag.warnings?.[1] ?? '',
      /svc\.yaml:4:14: service\.tls\.keyfile: 'certs\/key\.pem' is not in the current directory; using .*beside the task file/,
    );
  });

  it('errors: a missing file, a directory, a missing field, an unknown one', () => {
    const p = (yaml: string) => error(() => parseTaskText(yaml, 'svc.yaml', { baseDir: proj }));
    assert.equal(
      p(tls('certs/nokey.pem', 'certs/cert.pem')),
      `svc.yaml:4:14: service.tls.keyfile: local file 'certs/nokey.pem' does not exist (looked for ${join(proj, 'certs', 'nokey.pem')})`,
    );
    assert.equal(
      p(tls('certs/key.pem', 'certs')),
      `svc.yaml:5:15: service.tls.certfile: 'certs' is not a file (looked at ${join(proj, 'certs')})`,
    );
    assert.equal(
      p('service:\n  tls:\n    keyfile: certs/key.pem\n'),
      'svc.yaml:3:5: service.tls: give both keyfile and certfile (the load balancer serves HTTPS with them); certfile is missing',
    );
    assert.equal(
      p('service:\n  tls:\n    key_file: certs/key.pem\n'),
      "svc.yaml:3:5: service.tls: unknown field 'key_file' (did you mean 'keyfile'?)",
    );
    assert.equal(
      p('service:\n  tls: yes\n'),
      'svc.yaml:2:8: service.tls: expected a mapping {keyfile, certfile}, got true',
    );
  });
});

describe('service: errors at the key or value at fault', () => {
  const cases: Array<[string, string, string]> = [
    [
      'a scalar section',
      'service: 5\n',
      'svc.yaml:1:10: service: expected a mapping of service fields (readiness_probe, replicas or replica_policy, ports, ...), got 5',
    ],
    [
      'a misspelt key',
      'service:\n  readyness_probe: /\n',
      "svc.yaml:2:3: service: unknown field 'readyness_probe' (did you mean 'readiness_probe'?)",
    ],
    [
      'an unknown key with nothing close',
      'service:\n  zzz: 1\n',
      "svc.yaml:2:3: service: unknown field 'zzz' (service takes readiness_probe, replicas, replica_policy, ports, load_balancing_policy, tls)",
    ],
    [
      'a pool field',
      'service:\n  workers: 2\n',
      "svc.yaml:2:3: service: field 'workers' is not supported by skyhop (SkyPilot's worker pools are not built in skyhop)",
    ],
    [
      'a misspelt probe key',
      'service:\n  readiness_probe:\n    path: /\n    initial_delay_second: 5\n',
      "svc.yaml:4:5: service.readiness_probe: unknown field 'initial_delay_second' (did you mean 'initial_delay_seconds'?)",
    ],
    [
      'a probe key with nothing close: the list',
      'service:\n  readiness_probe:\n    path: /\n    initial_delay: 5\n',
      "svc.yaml:4:5: service.readiness_probe: unknown field 'initial_delay' (readiness_probe takes path, post_data, initial_delay_seconds, timeout_seconds, headers)",
    ],
    [
      'a probe that is a number',
      'service:\n  readiness_probe: 5\n',
      'svc.yaml:2:20: service.readiness_probe: expected a URL path like /health, or a mapping {path, post_data, initial_delay_seconds, timeout_seconds, headers}, got 5',
    ],
    [
      'a probe without path',
      'service:\n  readiness_probe:\n    timeout_seconds: 5\n',
      'svc.yaml:3:5: service.readiness_probe: give path: the URL path to probe, like /health (a GET that answers 200 once a replica is ready)',
    ],
    [
      'a path without /',
      'service:\n  readiness_probe: health\n',
      `svc.yaml:2:20: service.readiness_probe: the readiness probe path must start with '/' (as in SkyPilot), got "health"`,
    ],
    [
      'a path with a space',
      'service:\n  readiness_probe:\n    path: /a b\n',
      'svc.yaml:3:11: service.readiness_probe.path: the readiness probe path cannot hold spaces or control characters (write %20), got "/a b"',
    ],
    [
      'a negative initial delay',
      'service:\n  readiness_probe:\n    path: /\n    initial_delay_seconds: -1\n',
      'svc.yaml:4:28: service.readiness_probe.initial_delay_seconds: expected a number of seconds, 0 or more, got -1',
    ],
    [
      'a zero timeout',
      'service:\n  readiness_probe:\n    path: /\n    timeout_seconds: 0\n',
      'svc.yaml:4:22: service.readiness_probe.timeout_seconds: expected a number of seconds above 0, got 0',
    ],
    [
      'post_data that is not JSON',
      "service:\n  readiness_probe:\n    path: /\n    post_data: '{model: x'\n",
      'svc.yaml:4:16: service.readiness_probe.post_data: a post_data string must be JSON (the probe sends it as its JSON body): ',
    ],
    [
      'post_data that is a list',
      'service:\n  readiness_probe:\n    path: /\n    post_data: [1]\n',
      "svc.yaml:4:16: service.readiness_probe.post_data: expected a mapping (the probe's JSON body) or a string of JSON, got a list",
    ],
    [
      'a bad header name',
      'service:\n  readiness_probe:\n    path: /\n    headers:\n      "Bad Name": x\n',
      "svc.yaml:5:7: service.readiness_probe.headers: 'Bad Name' is not a valid HTTP header name (letters, digits and !#$%&'*+.^_`|~-)",
    ],
    [
      'a header value that is a list',
      'service:\n  readiness_probe:\n    path: /\n    headers:\n      X-A: [1]\n',
      'svc.yaml:5:12: service.readiness_probe.headers.X-A: expected a header value (a string), got a list',
    ],
    [
      'a header value with a line break',
      'service:\n  readiness_probe:\n    path: /\n    headers:\n      X-A: "a\\nb"\n',
      'svc.yaml:5:12: service.readiness_probe.headers.X-A: a header value cannot hold a line break',
    ],
    [
      'replicas: 0',
      'service:\n  replicas: 0\n',
      'svc.yaml:2:13: service.replicas: replicas: 0 never starts a replica; to start replicas only when requests come, write replica_policy: {min_replicas: 0, max_replicas: N, target_qps_per_replica: Q}',
    ],
    [
      'replicas: -1',
      'service:\n  replicas: -1\n',
      'svc.yaml:2:13: service.replicas: expected a number of replicas (a whole number, 1 or more), got -1',
    ],
    [
      'replicas: 1.5',
      'service:\n  replicas: 1.5\n',
      'svc.yaml:2:13: service.replicas: expected a number of replicas (a whole number, 1 or more), got 1.5',
    ],
    [
      'replicas and replica_policy',
      'service:\n  replica_policy:\n    min_replicas: 1\n  replicas: 2\n',
      'svc.yaml:4:3: service: give either replicas (a fixed count) or replica_policy (autoscaling), not both (as in SkyPilot)',
    ],
    [
      'a policy without min_replicas',
      'service:\n  replica_policy:\n    max_replicas: 2\n',
      'svc.yaml:3:5: service.replica_policy: give min_replicas: the number of replicas to keep running (0 or more)',
    ],
    [
      'a misspelt policy key',
      'service:\n  replica_policy:\n    min_replicas: 1\n    max_replica: 2\n',
      "svc.yaml:4:5: service.replica_policy: unknown field 'max_replica' (did you mean 'max_replicas'?)",
    ],
    [
      'num_overprovision',
      'service:\n  replica_policy:\n    min_replicas: 1\n    num_overprovision: 1\n',
      "svc.yaml:4:5: service.replica_policy: field 'num_overprovision' is not supported by skyhop (over-provisioning spot replicas (SkyPilot's SpotHedge) is not built in skyhop; raise min_replicas instead)",
    ],
    [
      'spot_placer',
      'service:\n  replica_policy:\n    min_replicas: 1\n    spot_placer: dynamic_fallback\n',
      "svc.yaml:4:5: service.replica_policy: field 'spot_placer' is not supported by skyhop (SkyPilot's spot placers (SpotHedge) are not built in skyhop; dynamic_ondemand_fallback replaces spot replicas that are not ready with on-demand ones)",
    ],
    [
      'max below min',
      'service:\n  replica_policy:\n    min_replicas: 3\n    max_replicas: 2\n    target_qps_per_replica: 1\n',
      'svc.yaml:4:19: service.replica_policy.max_replicas: max_replicas (2) is below min_replicas (3); it must be greater than or equal to it',
    ],
    [
      'a target without max_replicas',
      'service:\n  replica_policy:\n    min_replicas: 1\n    target_qps_per_replica: 2\n',
      'svc.yaml:4:29: service.replica_policy.target_qps_per_replica: autoscaling needs max_replicas too: add max_replicas (the most replicas to scale up to)',
    ],
    [
      'max_replicas without a target',
      'service:\n  replica_policy:\n    min_replicas: 1\n    max_replicas: 3\n',
      'svc.yaml:4:19: service.replica_policy.max_replicas: max_replicas (3) differs from min_replicas (1) but target_qps_per_replica is not set; to autoscale, set target_qps_per_replica (requests per second each replica should take); for a fixed count, write replicas: N',
    ],
    [
      'a target of 0',
      'service:\n  replica_policy:\n    min_replicas: 1\n    max_replicas: 3\n    target_qps_per_replica: 0\n',
      'svc.yaml:5:29: service.replica_policy.target_qps_per_replica: expected a number of requests per second above 0, got 0',
    ],
    [
      'a target per accelerator',
      'service:\n  replica_policy:\n    min_replicas: 1\n    max_replicas: 3\n    target_qps_per_replica: {A100: 5}\n',
      "svc.yaml:5:29: service.replica_policy.target_qps_per_replica: a target per accelerator (SkyPilot's instance-aware autoscaling) is not supported by skyhop; give one number of requests per second",
    ],
    [
      'at most 0 replicas',
      'service:\n  replica_policy:\n    min_replicas: 0\n    max_replicas: 0\n    target_qps_per_replica: 1\n',
      'svc.yaml:4:19: service.replica_policy.max_replicas: a service that scales to at most 0 replicas never starts a replica; to start replicas only when requests come, write replica_policy: {min_replicas: 0, max_replicas: N, target_qps_per_replica: Q}',
    ],
    [
      'a fixed policy of 0',
      'service:\n  replica_policy:\n    min_replicas: 0\n',
      'svc.yaml:3:19: service.replica_policy.min_replicas: a service that scales to at most 0 replicas never starts a replica; to start replicas only when requests come, write replica_policy: {min_replicas: 0, max_replicas: N, target_qps_per_replica: Q}',
    ],
    [
      'a negative delay',
      'service:\n  replica_policy:\n    min_replicas: 1\n    upscale_delay_seconds: -5\n',
      'svc.yaml:4:28: service.replica_policy.upscale_delay_seconds: expected a number of seconds, 0 or more, got -5',
    ],
    [
      'a fallback flag that is not a boolean',
      'service:\n  replica_policy:\n    min_replicas: 1\n    dynamic_ondemand_fallback: sometimes\n',
      'svc.yaml:4:32: service.replica_policy.dynamic_ondemand_fallback: expected true or false, got "sometimes"',
    ],
    [
      'a port out of range',
      'service:\n  ports: 70000\n',
      'svc.yaml:2:10: service.ports: expected a port from 1 to 65535 (the port every replica serves on), got 70000',
    ],
    [
      'a port range',
      'service:\n  ports: 8080-8081\n',
      'svc.yaml:2:10: service.ports: service.ports is the one port every replica serves on, got "8080-8081"; open other ports under resources.ports',
    ],
    [
      'a misspelt policy',
      'service:\n  load_balancing_policy: least_loaded\n',
      `svc.yaml:2:26: service.load_balancing_policy: unknown load balancing policy "least_loaded" (did you mean 'least_load'?) (skyhop has round_robin, least_load)`,
    ],
    [
      "SkyPilot's instance-aware policy",
      'service:\n  load_balancing_policy: instance_aware_least_load\n',
      "svc.yaml:2:26: service.load_balancing_policy: instance_aware_least_load is not supported by skyhop (SkyPilot's instance-aware load balancing is not built in skyhop); use round_robin or least_load",
    ],
  ];
  for (const [name, yaml, want] of cases) {
    it(name, () => {
      const got = parseError(yaml);
      if (want.endsWith(': ')) assert.ok(got.startsWith(want), got);
      else assert.equal(got, want);
    });
  }

  it('a section error stops launch too (as sky launch reads the section)', () => {
    assert.throws(() => parse('service:\n  replicas: 0\nrun: ls\n'), UserError);
  });
});

describe('service: the checks serve up makes against the resources (launch does not)', () => {
  it('no port anywhere: launch parses it with its warning; checkServiceTask says what to add', () => {
    const dag = parse('service:\n  readiness_probe: /\n  replicas: 2\nresources:\n  infra: aws\nrun: ls\n');
    assert.equal(dag.tasks[0].service, undefined);
    assert.deepEqual(dag.warnings, [
      'svc.yaml:1:1: service: ignored; services run with skyhop serve up, so the task runs without it',
    ]);
    assert.equal(
      error(() => checkServiceTask(dag.tasks[0])),
      'svc.yaml:1:1: service: no port for the replicas: add service.ports: PORT (the port your server listens on), or resources.ports: PORT',
    );
  });

  it('several ports, or a range, in resources.ports', () => {
    assert.equal(
      serveError('service: {}\nresources:\n  ports: [8080, 8081]\n'),
      "svc.yaml:3:10: resources.ports: opens 8080, 8081; a service's replicas serve on one port: add service.ports: PORT to say which one (the others stay open), or open only that one here",
    );
    assert.equal(
      serveError('service: {}\nresources:\n  ports: 10000-10002\n'),
      "svc.yaml:3:10: resources.ports: opens 10000-10002; a service's replicas serve on one port: add service.ports: PORT to say which one (the others stay open), or open only that one here",
    );
  });

  it('alternatives that open different ports, or one that opens none', () => {
    assert.equal(
      serveError(
        'service: {}\nresources:\n  any_of:\n    - infra: aws\n      ports: 8080\n    - infra: lambda\n      ports: 9090\n',
      ),
      'svc.yaml:7:14: resources.any_of[1].ports: alternative 2 opens port 9090 and alternative 1 port 8080; every replica must serve on the same port: give the same one in each, or service.ports: PORT',
    );
    assert.equal(
      serveError(
        'service: {}\nresources:\n  any_of:\n    - infra: aws\n      ports: 8080\n    - infra: lambda\n',
      ),
      'svc.yaml:1:1: service: no port for the replicas in alternative 2 (alternative 1 opens 8080): add service.ports: PORT (the port your server listens on), or resources.ports: PORT',
    );
  });

  it('on-demand fallback without spot', () => {
    assert.equal(
      serveError(
        'service:\n  replica_policy:\n    min_replicas: 1\n    dynamic_ondemand_fallback: true\n  ports: 80\n',
      ),
      'svc.yaml:4:32: service.replica_policy.dynamic_ondemand_fallback: on-demand fallback is for spot replicas: set use_spot: true under resources (as SkyPilot requires)',
    );
    assert.equal(
      serveError(
        'service:\n  replica_policy:\n    min_replicas: 2\n    base_ondemand_fallback_replicas: 1\n  ports: 80\n',
      ),
      'svc.yaml:4:38: service.replica_policy.base_ondemand_fallback_replicas: on-demand fallback is for spot replicas: set use_spot: true under resources (as SkyPilot requires)',
    );
  });

  it('spot in some alternatives only', () => {
    assert.equal(
      serveError(
        'service:\n  ports: 80\nresources:\n  any_of:\n    - infra: aws\n      use_spot: true\n    - infra: aws/us-west-2\n',
      ),
      "svc.yaml:6:17: resources.any_of[0].use_spot: a service's resources must all use spot or none use spot (as in SkyPilot); to mix spot and on-demand replicas, use use_spot: true with replica_policy's base_ondemand_fallback_replicas or dynamic_ondemand_fallback",
    );
  });

  it('job_recovery', () => {
    assert.equal(
      serveError('service:\n  ports: 80\nresources:\n  use_spot: true\n  job_recovery: FAILOVER\n'),
      'svc.yaml:5:17: resources.job_recovery: job_recovery does not apply to a service (as in SkyPilot): its controller replaces preempted or failed replicas with spot ones itself; leave job_recovery out',
    );
  });

  it('the CLI overrides can fix (or break) it: checked again after them', () => {
    const dag = parse('service:\n  readiness_probe: /\n  replicas: 2\nrun: ls\n');
    const fixedDag = applyOverrides(dag, { ports: ['8080'] }, known);
    assert.equal(fixedDag.tasks[0].service?.port, 8080);
    assert.equal(checkServiceTask(fixedDag.tasks[0])?.port, 8080);
    const spot = parse(
      'service:\n  replica_policy:\n    min_replicas: 1\n    dynamic_ondemand_fallback: true\n  ports: 80\n',
    );
    assert.equal(spot.tasks[0].service, undefined);
    assert.equal(applyOverrides(spot, { useSpot: true }, known).tasks[0].service?.port, 80);
    const broken = applyOverrides(parse('service:\n  ports: 80\nresources:\n  use_spot: true\n'), {
      useSpot: false,
    });
    assert.equal(broken.tasks[0].service?.port, 80);
  });

  it('a Task built in code: its service is checked against its resources too', () => {
    const base = one('service:\n  ports: 80\nrun: ls\n');
    const spec = base.service as ServiceSpec;
    const task: Task = {
      numNodes: 1,
      envs: {},
      secrets: {},
      fileMounts: {},
      resources: [{ useSpot: false }],
      ordered: false,
      service: { ...spec, replicaPolicy: { ...spec.replicaPolicy, dynamicOndemandFallback: true } },
    };
    assert.equal(
      error(() => checkServiceTask(task)),
      'service.replicaPolicy.dynamicOndemandFallback: on-demand fallback is for spot replicas: set use_spot: true under resources (as SkyPilot requires)',
    );
    task.resources = [{ useSpot: true }];
    assert.equal(checkServiceTask(task)?.port, 80);
  });
});

describe("launch's warning", () => {
  it('isServiceIgnoredWarning finds it (and nothing else), so the serve commands can drop it', () => {
    const dag = parse('service:\n  ports: 80\npool:\n  workers: 1\nrun: ls\n');
    assert.deepEqual(
      dag.warnings?.map((w) => isServiceIgnoredWarning(w)),
      [true, false],
    );
    assert.equal(isServiceIgnoredWarning(serviceIgnoredWarning('x.yaml:3:1: service')), true);
    assert.equal(isServiceIgnoredWarning('x.yaml:3:1: pool: ignored; worker pools are not built'), false);
  });
});
