/**
 * Credentials for another machine: each cloud's `credentialSources` (files that exist, honouring
 * the variables that move them; variables by name) and `credentialBundle` gathering them, with a
 * temporary HOME and environment. No value ever appears in a message.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { AWS_CA_BUNDLE_REMOTE, AWS_CREDENTIAL_ENV } from '../../../src/clouds/aws/credentials.js';
import { createCloud as aws } from '../../../src/clouds/aws/index.js';
import { credentialBundle } from '../../../src/clouds/credentials.js';
import { createCloud as fluffycloud } from '../../../src/clouds/fluffycloud/index.js';
import { createCloud as local } from '../../../src/clouds/local/index.js';
import type { Cloud } from '../../../src/clouds/types.js';
import { CloudError } from '../../../src/util/errors.js';
import { type Sandbox, sandbox } from './helpers.js';

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETVALUE';
const CREDS = `[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = ${SECRET}\n`;
const OTHER_ENV = ['AWS_CA_BUNDLE', 'SKYHOP_LOCAL_CPUS', 'SKYHOP_LOCAL_MEMORY_GB'];

let sb: Sandbox;
beforeEach(() => {
  sb = sandbox();
  // Start from nothing: every variable the sources name, unset for this test.
  sb.env(Object.fromEntries([...AWS_CREDENTIAL_ENV, ...OTHER_ENV].map((k) => [k, undefined])));
});
afterEach(() => sb.restore());

const sources = async (c: Cloud) => {
  assert.ok(c.credentialSources, `${c.name} has credentialSources`);
  return c.credentialSources();
};

describe('credentialSources', () => {
  test('aws: nothing there, nothing listed; the variables by name', async () => {
    const s = await sources(aws());
    assert.deepEqual(s.files, []);
    assert.deepEqual(s.env, [...AWS_CREDENTIAL_ENV]);
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_REGION', 'AWS_ENDPOINT_URL_EC2', 'SKYHOP_AWS_VPC_ID']) {
      assert.ok(s.env.includes(name), name);
    }
    assert.ok(!s.env.includes('AWS_CA_BUNDLE'), 'a local path is never passed on as a value');
    assert.ok(!s.env.includes('AWS_SHARED_CREDENTIALS_FILE'));
  });

  test('aws: the default files, to the default places', async () => {
    const cred = sb.write('.aws/credentials', CREDS);
    const s = await sources(aws());
    assert.deepEqual(s.files, [{ local: cred, remote: '~/.aws/credentials' }]);
    const config = sb.write('.aws/config', '[default]\nregion = us-west-2\n');
    assert.deepEqual((await sources(aws())).files, [
      { local: cred, remote: '~/.aws/credentials' },
      { local: config, remote: '~/.aws/config' },
    ]);
  });

  test('aws: AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE move the local files, not the remote ones', async () => {
    sb.write('.aws/credentials', 'ignored');
    const cred = sb.write('elsewhere/creds', CREDS);
    const config = sb.write('elsewhere/conf', '[default]\n');
    sb.env({ AWS_SHARED_CREDENTIALS_FILE: cred, AWS_CONFIG_FILE: '~/elsewhere/conf' });
    assert.deepEqual((await sources(aws())).files, [
      { local: cred, remote: '~/.aws/credentials' },
      { local: config, remote: '~/.aws/config' },
    ]);
    sb.env({ AWS_SHARED_CREDENTIALS_FILE: join(sb.home, 'missing') });
    assert.deepEqual((await sources(aws())).files, [{ local: config, remote: '~/.aws/config' }]);
  });

  test('aws: AWS_CA_BUNDLE, when its file exists, goes to a fixed place with the variable pointed there', async () => {
    sb.env({ AWS_CA_BUNDLE: join(sb.home, 'no-such.pem') });
    assert.deepEqual((await sources(aws())).files, []);
    const ca = sb.write('certs/ca.pem', '-----BEGIN CERTIFICATE-----\n');
    sb.env({ AWS_CA_BUNDLE: ca });
    assert.deepEqual((await sources(aws())).files, [
      { local: ca, remote: AWS_CA_BUNDLE_REMOTE, pathEnv: 'AWS_CA_BUNDLE' },
    ]);
    assert.match(AWS_CA_BUNDLE_REMOTE, /^~\//);
  });

  test('fluffycloud: its credentials file, honouring FLUFFYCLOUD_CREDENTIALS', async () => {
    assert.deepEqual(await sources(fluffycloud()), { files: [], env: [] });
    const home = sb.write('.fluffycloud/credentials', 'api_key = k\nendpoint = http://127.0.0.1:1\n');
    assert.deepEqual((await sources(fluffycloud())).files, [
      { local: home, remote: '~/.fluffycloud/credentials' },
    ]);
    const other = sb.write('keys/fluffy', 'api_key = k\nendpoint = http://127.0.0.1:1\n');
    sb.env({ FLUFFYCLOUD_CREDENTIALS: other });
    assert.deepEqual((await sources(fluffycloud())).files, [
      { local: other, remote: '~/.fluffycloud/credentials' },
    ]);
  });

  test('local: the machine-size variables, no files', async () => {
    assert.deepEqual(await sources(local()), {
      files: [],
      env: ['SKYHOP_LOCAL_CPUS', 'SKYHOP_LOCAL_MEMORY_GB'],
    });
  });
});

describe('credentialBundle', () => {
  test('nothing configured: empty', async () => {
    assert.deepEqual(await credentialBundle([aws(), fluffycloud(), local()]), {
      files: [],
      env: {},
      pathEnv: {},
    });
  });

  test('file contents, variables set and non-empty only, and the CA bundle path variable', async () => {
    sb.write('elsewhere/creds', CREDS);
    const ca = sb.write('ca.pem', 'CERT');
    sb.write('.fluffycloud/credentials', 'api_key = k\n');
    sb.env({
      AWS_SHARED_CREDENTIALS_FILE: '~/elsewhere/creds',
      AWS_CA_BUNDLE: ca,
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
      AWS_SECRET_ACCESS_KEY: SECRET,
      AWS_REGION: 'us-west-2',
      AWS_SESSION_TOKEN: '',
      AWS_PROFILE: '   ',
      SKYHOP_LOCAL_CPUS: '4',
    });
    const b = await credentialBundle([local(), aws(), fluffycloud()]);
    assert.deepEqual(
      b.files.map((f) => [f.remote, f.content.toString('utf8')]),
      [
        ['~/.aws/credentials', CREDS],
        [AWS_CA_BUNDLE_REMOTE, 'CERT'],
        ['~/.fluffycloud/credentials', 'api_key = k\n'],
      ],
    );
    assert.ok(b.files.every((f) => Buffer.isBuffer(f.content)));
    assert.deepEqual(b.env, {
      SKYHOP_LOCAL_CPUS: '4',
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
      AWS_SECRET_ACCESS_KEY: SECRET,
      AWS_REGION: 'us-west-2',
    });
    assert.deepEqual(b.pathEnv, { AWS_CA_BUNDLE: AWS_CA_BUNDLE_REMOTE });
    assert.ok(!Object.hasOwn(b.env, 'AWS_CA_BUNDLE'), 'the local path is not passed on');
    assert.ok(!Object.hasOwn(b.env, 'AWS_SHARED_CREDENTIALS_FILE'));
  });

  test('clouds without credentialSources add nothing; a cloud twice adds its files once', async () => {
    sb.write('.aws/credentials', CREDS);
    const bare = { ...local(), credentialSources: undefined };
    const b = await credentialBundle([aws(), aws(), bare]);
    assert.equal(b.files.length, 1);
  });

  test('a file gone since it was listed is skipped', async () => {
    const gone: Cloud = {
      ...local(),
      credentialSources: async () => ({ files: [{ local: join(sb.home, 'gone'), remote: '~/.x' }], env: [] }),
    };
    assert.deepEqual((await credentialBundle([gone])).files, []);
  });

  test('a file that cannot be read: an error naming the file and the reason, never a content', async () => {
    const plain = sb.write('plain', SECRET);
    const broken: Cloud = {
      ...local(),
      // A path through a regular file: ENOTDIR, whoever runs the test (root reads a chmod 000 file).
      credentialSources: async () => ({ files: [{ local: join(plain, 'inside'), remote: '~/.x' }], env: [] }),
    };
    await assert.rejects(credentialBundle([broken]), (e: unknown) => {
      assert.ok(e instanceof CloudError);
      assert.equal(e.message, 'cannot read the credential file ~/plain/inside (ENOTDIR)');
      return true;
    });
  });

  test('two different files for one remote path: an error naming both paths, no contents', async () => {
    const a = sb.write('a', SECRET);
    const b = sb.write('b', SECRET);
    const two = (local: string): Cloud => ({
      ...fluffycloud(),
      credentialSources: async () => ({ files: [{ local, remote: '~/.same' }], env: [] }),
    });
    await assert.rejects(credentialBundle([two(a), two(b)]), (e: unknown) => {
      assert.ok(e instanceof CloudError);
      assert.ok(!e.message.includes(SECRET));
      assert.match(e.message, /two credential files go to ~\/\.same on the other machine: ~\/a and ~\/b/);
      return true;
    });
  });
});
