// GCP, Lambda, RunPod and FluffyCloud credential detection, with a temporary HOME and env.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import {
  checkFluffyCloudCredentials,
  loadFluffyCloudCredentials,
} from '../../../src/clouds/fluffycloud/credentials.js';
import { checkGcpCredentials } from '../../../src/clouds/gcp/credentials.js';
import { checkLambdaCredentials } from '../../../src/clouds/lambda/credentials.js';
import { checkRunpodCredentials } from '../../../src/clouds/runpod/credentials.js';
import type { CredentialStatus } from '../../../src/core/cluster.js';
import { CloudError } from '../../../src/util/errors.js';
import { type Sandbox, sandbox } from './helpers.js';

const SECRET = 'sk-test-DO-NOT-PRINT-0123456789';

let sb: Sandbox;
beforeEach(() => {
  sb = sandbox();
});
afterEach(() => sb.restore());

function ok(s: CredentialStatus): { source: string; identity?: string } {
  assert.equal(s.ok, true, s.ok ? '' : `expected ok, got: ${s.reason}`);
  assert.ok(!JSON.stringify(s).includes(SECRET), 'no secret in the status');
  return s as { ok: true; source: string; identity?: string };
}

function notOk(s: CredentialStatus): { reason: string; hint: string } {
  assert.equal(s.ok, false, 'expected not ok');
  assert.ok(!JSON.stringify(s).includes(SECRET), 'no secret in the status');
  return s as { ok: false; reason: string; hint: string };
}

const serviceAccount = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    type: 'service_account',
    project_id: 'sa-project',
    private_key_id: 'abc',
    private_key: `-----BEGIN PRIVATE KEY-----\n${SECRET}\n-----END PRIVATE KEY-----\n`,
    client_email: 'runner@sa-project.iam.gserviceaccount.com',
    ...extra,
  });

const authorizedUser = JSON.stringify({
  type: 'authorized_user',
  client_id: 'x.apps.googleusercontent.com',
  client_secret: SECRET,
  refresh_token: SECRET,
});

describe('gcp credentials', () => {
  test('nothing configured: not ok, hint names gcloud and GOOGLE_APPLICATION_CREDENTIALS', async () => {
    const s = notOk(await checkGcpCredentials());
    assert.match(
      s.reason,
      /no application default credentials \(~\/\.config\/gcloud\/application_default_credentials\.json not found/,
    );
    assert.match(s.hint, /gcloud auth application-default login/);
    assert.match(s.hint, /GOOGLE_APPLICATION_CREDENTIALS/);
  });

  test("gcloud's application default credentials + the active configuration's project", async () => {
    sb.write('.config/gcloud/application_default_credentials.json', authorizedUser);
    sb.write('.config/gcloud/active_config', 'default\n');
    sb.write(
      '.config/gcloud/configurations/config_default',
      '[core]\naccount = dev@example.com\nproject = my-proj\n\n[compute]\nzone = us-central1-a\n',
    );
    const s = ok(await checkGcpCredentials());
    assert.equal(
      s.source,
      'application default credentials (authorized_user ~/.config/gcloud/application_default_credentials.json); ' +
        "project from gcloud configuration 'default'",
    );
    assert.equal(s.identity, 'dev@example.com, project my-proj');
  });

  test('GOOGLE_APPLICATION_CREDENTIALS service-account key: project from the key', async () => {
    const key = sb.write('keys/sa.json', serviceAccount());
    sb.env({ GOOGLE_APPLICATION_CREDENTIALS: key });
    const s = ok(await checkGcpCredentials());
    assert.equal(
      s.source,
      'GOOGLE_APPLICATION_CREDENTIALS (service_account ~/keys/sa.json); project from the key file',
    );
    assert.equal(s.identity, 'runner@sa-project.iam.gserviceaccount.com, project sa-project');
  });

  test('project env vars win over gcloud config and the key file', async () => {
    const key = sb.write('keys/sa.json', serviceAccount());
    sb.write('.config/gcloud/configurations/config_default', '[core]\nproject = from-config\n');
    sb.env({ GOOGLE_APPLICATION_CREDENTIALS: key, CLOUDSDK_CORE_PROJECT: 'from-cloudsdk' });
    assert.match(ok(await checkGcpCredentials()).identity!, /project from-cloudsdk$/);
    sb.env({ GOOGLE_CLOUD_PROJECT: 'from-google' });
    const s = ok(await checkGcpCredentials());
    assert.match(s.identity!, /project from-google$/);
    assert.match(s.source, /project from GOOGLE_CLOUD_PROJECT$/);
  });

  test('CLOUDSDK_CONFIG and CLOUDSDK_ACTIVE_CONFIG_NAME choose the gcloud directory and configuration', async () => {
    sb.write('gc/application_default_credentials.json', authorizedUser);
    sb.write('gc/active_config', 'work');
    sb.write('gc/configurations/config_work', '[core]\nproject = work-proj\n');
    sb.write('gc/configurations/config_play', '[core]\nproject = play-proj\n');
    sb.env({ CLOUDSDK_CONFIG: `${sb.home}/gc` });
    assert.match(ok(await checkGcpCredentials()).identity!, /project work-proj$/);
    sb.env({ CLOUDSDK_ACTIVE_CONFIG_NAME: 'play' });
    assert.match(ok(await checkGcpCredentials()).identity!, /project play-proj$/);
  });

  test('credentials but no project: not ok, says how to set one', async () => {
    sb.write('.config/gcloud/application_default_credentials.json', authorizedUser);
    const s = notOk(await checkGcpCredentials());
    assert.match(s.reason, /no GCP project is set/);
    assert.match(s.hint, /gcloud config set project/);
  });

  test('GOOGLE_APPLICATION_CREDENTIALS pointing nowhere, at bad JSON, or at JSON without a type', async () => {
    sb.env({ GOOGLE_APPLICATION_CREDENTIALS: `${sb.home}/missing.json` });
    assert.match(notOk(await checkGcpCredentials()).reason, /~\/missing\.json does not exist/);
    // The parse error must not echo the file (it could quote a private key).
    const bad = sb.write('bad.json', `{"type": "service_account", "private_key": "${SECRET}`);
    sb.env({ GOOGLE_APPLICATION_CREDENTIALS: bad });
    assert.match(notOk(await checkGcpCredentials()).reason, /~\/bad\.json is not valid JSON$/);
    const typeless = sb.write('typeless.json', JSON.stringify({ private_key: SECRET }));
    sb.env({ GOOGLE_APPLICATION_CREDENTIALS: typeless });
    assert.match(notOk(await checkGcpCredentials()).reason, /has no "type" field/);
    const odd = sb.write('odd.json', JSON.stringify({ type: 'mystery' }));
    sb.env({ GOOGLE_APPLICATION_CREDENTIALS: odd });
    assert.match(notOk(await checkGcpCredentials()).reason, /unsupported type 'mystery'/);
  });
});

describe('lambda credentials', () => {
  test('missing file, file without api_key, and a good file', async () => {
    let s = notOk(await checkLambdaCredentials());
    assert.equal(s.reason, '~/.lambda_cloud/lambda_keys not found');
    assert.match(s.hint, /api_key = <KEY>.*~\/\.lambda_cloud\/lambda_keys/);
    sb.write('.lambda_cloud/lambda_keys', 'something = else\n');
    s = notOk(await checkLambdaCredentials());
    assert.equal(s.reason, '~/.lambda_cloud/lambda_keys has no api_key line');
    sb.write('.lambda_cloud/lambda_keys', `api_key = ${SECRET}\n`);
    assert.equal(ok(await checkLambdaCredentials()).source, '~/.lambda_cloud/lambda_keys (api_key)');
  });
});

describe('runpod credentials', () => {
  test('RUNPOD_API_KEY in the environment', async () => {
    sb.env({ RUNPOD_API_KEY: SECRET });
    assert.equal(ok(await checkRunpodCredentials()).source, 'environment (RUNPOD_API_KEY)');
  });

  test('~/.runpod/config.toml written by `runpod config`', async () => {
    let s = notOk(await checkRunpodCredentials());
    assert.match(s.reason, /RUNPOD_API_KEY is not set and ~\/\.runpod\/config\.toml not found/);
    assert.match(s.hint, /runpod config/);
    sb.write('.runpod/config.toml', `[other]\napi_key = "${SECRET}"\n`);
    s = notOk(await checkRunpodCredentials());
    assert.match(s.reason, /has no \[default\] profile/);
    sb.write('.runpod/config.toml', '[default]\nname = "x"\n');
    assert.match(notOk(await checkRunpodCredentials()).reason, /no api_key in its \[default\] profile/);
    sb.write('.runpod/config.toml', `[default]\napi_key = "${SECRET}"\n`);
    assert.equal(ok(await checkRunpodCredentials()).source, '~/.runpod/config.toml ([default] api_key)');
  });
});

describe('fluffycloud credentials', () => {
  test('both api_key and endpoint are required', async () => {
    const s = notOk(await checkFluffyCloudCredentials());
    assert.equal(s.reason, '~/.fluffycloud/credentials not found');
    assert.match(s.hint, /api_key = <KEY>.*endpoint = /);
    sb.write('.fluffycloud/credentials', `api_key = ${SECRET}\n`);
    assert.equal(
      notOk(await checkFluffyCloudCredentials()).reason,
      '~/.fluffycloud/credentials has no endpoint',
    );
    sb.write('.fluffycloud/credentials', 'endpoint = http://127.0.0.1:8080\n');
    assert.equal(
      notOk(await checkFluffyCloudCredentials()).reason,
      '~/.fluffycloud/credentials has no api_key',
    );
    sb.write('.fluffycloud/credentials', '# nothing\n');
    assert.equal(
      notOk(await checkFluffyCloudCredentials()).reason,
      '~/.fluffycloud/credentials has no api_key and no endpoint',
    );
  });

  test('endpoint must be an http(s) URL; userinfo is never shown', async () => {
    sb.write('.fluffycloud/credentials', `api_key = ${SECRET}\nendpoint = not a url\n`);
    assert.match(notOk(await checkFluffyCloudCredentials()).reason, /endpoint .* is not a URL/);
    sb.write('.fluffycloud/credentials', `api_key = ${SECRET}\nendpoint = ftp://127.0.0.1/\n`);
    assert.match(notOk(await checkFluffyCloudCredentials()).reason, /not an http\(s\) URL/);
    sb.write(
      '.fluffycloud/credentials',
      `[default]\napi_key = ${SECRET}\nendpoint = http://u:${SECRET}@127.0.0.1:8080/api/\n`,
    );
    const s = ok(await checkFluffyCloudCredentials());
    assert.equal(s.identity, 'http://127.0.0.1:8080/api');
    assert.equal(s.source, '~/.fluffycloud/credentials (api_key, endpoint)');
  });

  test('FLUFFYCLOUD_CREDENTIALS chooses the file (the default one is then not read)', async () => {
    sb.write('.fluffycloud/credentials', `api_key = ${SECRET}\nendpoint = http://127.0.0.1:1/\n`);
    const chosen = sb.write('elsewhere/fc.ini', `api_key = ${SECRET}\nendpoint = http://127.0.0.1:8700/\n`);
    sb.env({ FLUFFYCLOUD_CREDENTIALS: chosen });
    const s = ok(await checkFluffyCloudCredentials());
    assert.equal(s.identity, 'http://127.0.0.1:8700');
    sb.env({ FLUFFYCLOUD_CREDENTIALS: `${chosen}.missing` });
    const bad = notOk(await checkFluffyCloudCredentials());
    assert.match(bad.reason, /fc\.ini\.missing not found/);
    assert.match(bad.hint, /FLUFFYCLOUD_CREDENTIALS/);
  });

  test('loadFluffyCloudCredentials hands the key to the API client, or a CloudError without it', async () => {
    await assert.rejects(loadFluffyCloudCredentials(), (e: unknown) => {
      assert.ok(e instanceof CloudError);
      assert.match((e as Error).message, /~\/\.fluffycloud\/credentials not found/);
      return true;
    });
    sb.write('.fluffycloud/credentials', `api_key = ${SECRET}\nendpoint = http://127.0.0.1:8080/\n`);
    assert.deepEqual(await loadFluffyCloudCredentials(), {
      apiKey: SECRET,
      endpoint: 'http://127.0.0.1:8080',
    });
  });
});
