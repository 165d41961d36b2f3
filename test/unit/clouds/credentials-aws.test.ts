// AWS credential detection from every source the AWS CLI/SDK chain uses, with a temporary HOME and env.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { checkAwsCredentials } from '../../../src/clouds/aws/credentials.js';
import type { CredentialStatus } from '../../../src/core/cluster.js';
import { type Sandbox, sandbox } from './helpers.js';

const KEY_ID = 'AKIAEXAMPLEKEYID0001';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETVALUE';

let sb: Sandbox;
beforeEach(() => {
  sb = sandbox();
});
afterEach(() => sb.restore());

function ok(s: CredentialStatus): { source: string; identity?: string } {
  assert.equal(s.ok, true, s.ok ? '' : `expected ok, got: ${s.reason}`);
  const text = JSON.stringify(s);
  assert.ok(!text.includes(SECRET) && !text.includes(KEY_ID), 'no key material in the status');
  return s as { ok: true; source: string; identity?: string };
}

function notOk(s: CredentialStatus): { reason: string; hint: string } {
  assert.equal(s.ok, false, 'expected not ok');
  const text = JSON.stringify(s);
  assert.ok(!text.includes(SECRET) && !text.includes(KEY_ID), 'no key material in the status');
  return s as { ok: false; reason: string; hint: string };
}

const keys = (section: string) =>
  `[${section}]\naws_access_key_id = ${KEY_ID}\naws_secret_access_key = ${SECRET}\n`;

describe('aws credentials', () => {
  test('nothing configured: not ok, says what was looked for and how to fix', async () => {
    const s = notOk(await checkAwsCredentials());
    assert.match(s.reason, /no AWS credentials found/);
    assert.match(s.reason, /~\/\.aws\/credentials and ~\/\.aws\/config not found/);
    assert.match(s.hint, /aws configure/);
  });

  test('env access key + secret (+ session token)', async () => {
    sb.env({ AWS_ACCESS_KEY_ID: KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET });
    assert.equal(
      ok(await checkAwsCredentials()).source,
      'environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)',
    );
    sb.env({ AWS_SESSION_TOKEN: 'FwoGZXIvYXdzEXAMPLETOKEN' });
    const s = ok(await checkAwsCredentials());
    assert.equal(s.source, 'environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)');
    assert.ok(!JSON.stringify(s).includes('FwoGZXIvYXdzEXAMPLETOKEN'));
  });

  test('env access key without its secret: not ok, names the missing variable', async () => {
    sb.env({ AWS_ACCESS_KEY_ID: KEY_ID });
    const s = notOk(await checkAwsCredentials());
    assert.equal(s.reason, 'AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not');
    assert.match(s.hint, /AWS_SECRET_ACCESS_KEY/);
  });

  test('static keys of the default profile in ~/.aws/credentials', async () => {
    sb.write('.aws/credentials', `# comment\n${keys('default')}region = us-east-1\n`);
    const s = ok(await checkAwsCredentials());
    assert.equal(s.source, "profile 'default' in ~/.aws/credentials: static keys");
    assert.equal(s.identity, 'profile default');
  });

  test('AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE move the shared files', async () => {
    const cred = sb.write('elsewhere/creds', keys('default'));
    sb.env({ AWS_SHARED_CREDENTIALS_FILE: cred });
    assert.equal(
      ok(await checkAwsCredentials()).source,
      "profile 'default' in ~/elsewhere/creds: static keys",
    );
    sb.env({ AWS_SHARED_CREDENTIALS_FILE: undefined });
    const cfg = sb.write('elsewhere/cfg', '[profile ops]\ncredential_process = /usr/bin/get-creds --json\n');
    sb.env({ AWS_CONFIG_FILE: cfg, AWS_PROFILE: 'ops' });
    assert.equal(
      ok(await checkAwsCredentials()).source,
      "profile 'ops' in ~/elsewhere/cfg: credential_process",
    );
  });

  test('AWS_PROFILE selects a [profile NAME] section of ~/.aws/config; AWS_DEFAULT_PROFILE too', async () => {
    sb.write('.aws/config', `[default]\nregion = us-east-1\n\n${keys('profile dev')}`);
    sb.env({ AWS_PROFILE: 'dev' });
    const s = ok(await checkAwsCredentials());
    assert.equal(s.source, "profile 'dev' in ~/.aws/config: static keys");
    assert.equal(s.identity, 'profile dev');
    sb.env({ AWS_PROFILE: undefined, AWS_DEFAULT_PROFILE: 'dev' });
    assert.equal(ok(await checkAwsCredentials()).identity, 'profile dev');
  });

  test('a named profile that does not exist: not ok, says which (even with env keys)', async () => {
    sb.write('.aws/credentials', keys('default'));
    sb.env({ AWS_PROFILE: 'prod' });
    let s = notOk(await checkAwsCredentials());
    assert.match(
      s.reason,
      /^profile 'prod' \(from AWS_PROFILE\) is not defined in ~\/\.aws\/credentials or ~\/\.aws\/config$/,
    );
    assert.match(s.hint, /aws configure --profile prod/);
    sb.env({ AWS_ACCESS_KEY_ID: KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET });
    s = notOk(await checkAwsCredentials());
    assert.match(s.reason, /profile 'prod'/);
  });

  test('credential_process in the credentials file', async () => {
    sb.write('.aws/credentials', '[default]\ncredential_process = /opt/bin/creds\n');
    assert.equal(
      ok(await checkAwsCredentials()).source,
      "profile 'default' in ~/.aws/credentials: credential_process",
    );
  });

  test('SSO via sso_session, and the legacy sso_start_url form', async () => {
    sb.write(
      '.aws/config',
      [
        '[profile corp]',
        'sso_session = corp-sso',
        'sso_account_id = 111122223333',
        'sso_role_name = Admin',
        '',
        '[sso-session corp-sso]',
        'sso_start_url = https://corp.awsapps.com/start',
        'sso_region = us-east-1',
        'sso_registration_scopes = sso:account:access',
        '',
        '[profile legacy]',
        'sso_start_url = https://corp.awsapps.com/start',
        'sso_region = us-east-1',
        'sso_account_id = 111122223333',
        'sso_role_name = Admin',
        '',
        '[profile broken]',
        'sso_session = nowhere',
        'sso_account_id = 111122223333',
        'sso_role_name = Admin',
      ].join('\n'),
    );
    sb.env({ AWS_PROFILE: 'corp' });
    assert.match(
      ok(await checkAwsCredentials()).source,
      /^profile 'corp' in ~\/\.aws\/config: SSO session 'corp-sso'/,
    );
    sb.env({ AWS_PROFILE: 'legacy' });
    assert.match(ok(await checkAwsCredentials()).source, /SSO \(legacy sso_start_url\)/);
    sb.env({ AWS_PROFILE: 'broken' });
    const s = notOk(await checkAwsCredentials());
    assert.match(s.reason, /\[sso-session nowhere\]/);
    assert.match(s.hint, /aws configure sso/);
  });

  test('role_arn + source_profile: ok when the source has keys, not ok when it is missing', async () => {
    sb.write('.aws/credentials', keys('base'));
    sb.write(
      '.aws/config',
      '[profile admin]\nrole_arn = arn:aws:iam::123456789012:role/Admin\nsource_profile = base\n\n' +
        '[profile orphan]\nrole_arn = arn:aws:iam::123456789012:role/Admin\nsource_profile = gone\n\n' +
        '[profile chained]\nrole_arn = arn:aws:iam::123456789012:role/Other\nsource_profile = admin\n',
    );
    sb.env({ AWS_PROFILE: 'admin' });
    assert.equal(
      ok(await checkAwsCredentials()).source,
      "profile 'admin' in ~/.aws/config: assume role via source_profile 'base'",
    );
    sb.env({ AWS_PROFILE: 'chained' });
    assert.match(ok(await checkAwsCredentials()).source, /source_profile 'admin'/);
    sb.env({ AWS_PROFILE: 'orphan' });
    const s = notOk(await checkAwsCredentials());
    assert.match(s.reason, /source_profile 'gone', which is not defined/);
  });

  test('role_arn + credential_source', async () => {
    sb.write(
      '.aws/config',
      '[profile ci]\nrole_arn = arn:aws:iam::123456789012:role/CI\ncredential_source = Ec2InstanceMetadata\n' +
        '[profile bad]\nrole_arn = arn:aws:iam::123456789012:role/CI\ncredential_source = Magic\n',
    );
    sb.env({ AWS_PROFILE: 'ci' });
    assert.match(ok(await checkAwsCredentials()).source, /credential_source Ec2InstanceMetadata/);
    sb.env({ AWS_PROFILE: 'bad' });
    assert.match(notOk(await checkAwsCredentials()).reason, /credential_source 'Magic'/);
  });

  test('web identity from a profile and from the environment', async () => {
    const token = sb.write('tokens/web.jwt', 'eyJhbGciOi.fake.token');
    sb.write(
      '.aws/config',
      `[profile k8s]\nrole_arn = arn:aws:iam::123456789012:role/Pod\nweb_identity_token_file = ${token}\n` +
        '[profile k8s-missing]\nrole_arn = arn:aws:iam::123456789012:role/Pod\nweb_identity_token_file = ~/nope.jwt\n',
    );
    sb.env({ AWS_PROFILE: 'k8s' });
    assert.match(ok(await checkAwsCredentials()).source, /web identity token/);
    sb.env({ AWS_PROFILE: 'k8s-missing' });
    assert.match(notOk(await checkAwsCredentials()).reason, /~\/nope\.jwt does not exist/);

    sb.env({
      AWS_PROFILE: undefined,
      AWS_WEB_IDENTITY_TOKEN_FILE: token,
      AWS_ROLE_ARN: 'arn:aws:iam::1:role/R',
    });
    assert.equal(
      ok(await checkAwsCredentials()).source,
      'environment (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN): web identity',
    );
    sb.env({ AWS_WEB_IDENTITY_TOKEN_FILE: `${token}.gone` });
    assert.match(notOk(await checkAwsCredentials()).reason, /AWS_WEB_IDENTITY_TOKEN_FILE=.* does not exist/);
    sb.env({ AWS_WEB_IDENTITY_TOKEN_FILE: token, AWS_ROLE_ARN: undefined });
    assert.match(notOk(await checkAwsCredentials()).reason, /AWS_ROLE_ARN is not/);
  });

  test('container credentials from the environment', async () => {
    sb.env({ AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '/v2/credentials/abc' });
    assert.equal(
      ok(await checkAwsCredentials()).source,
      'container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI)',
    );
    sb.env({
      AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: undefined,
      AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://127.0.0.1:9/c',
    });
    assert.equal(
      ok(await checkAwsCredentials()).source,
      'container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI)',
    );
  });

  test('a profile with half a key pair, or with no credentials at all: not ok', async () => {
    sb.write('.aws/credentials', `[default]\naws_access_key_id = ${KEY_ID}\n`);
    assert.match(
      notOk(await checkAwsCredentials()).reason,
      /only one of aws_access_key_id and aws_secret_access_key/,
    );
    sb.write('.aws/credentials', '');
    sb.write('.aws/config', '[default]\nregion = eu-west-1\noutput = json\n');
    const s = notOk(await checkAwsCredentials());
    assert.match(s.reason, /profile 'default' in ~\/\.aws\/config has no credentials/);
  });

  test('nested settings (s3 = ...) do not confuse the reader', async () => {
    sb.write(
      '.aws/config',
      '[default]\nregion = us-west-2\ns3 =\n  max_concurrent_requests = 20\n  aws_access_key_id = nested-not-a-key\n',
    );
    assert.match(notOk(await checkAwsCredentials()).reason, /has no credentials/);
  });
});
