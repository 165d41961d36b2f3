/**
 * `skyhop check --verbose` for AWS: STS GetCallerIdentity through the real AWS SDK against moto. The
 * rejection case is INJECTED (moto accepts any keys): the test proxy answers GetCallerIdentity with
 * STS's InvalidClientTokenId error.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createCloud } from '../../../src/clouds/aws/index.js';
import { type MotoEnv, type MotoHandle, motoEnv, motoMissing } from '../../helpers/moto.js';

const missing = motoMissing();
if (missing) console.log(`# aws verbose credential tests skipped: ${missing}`);
const SECRET = 'wJalrXUtnFEMI-K7MDENG-not-a-real-secret';

describe('aws checkCredentials({ verbose: true }) on moto', { skip: missing ?? false }, () => {
  let env: MotoEnv;
  let moto: MotoHandle;
  before(async () => {
    env = await motoEnv('skyhop-aws-sts-', { credentials: false });
    moto = env.moto;
  });
  after(() => env?.close());

  test('no credentials: not ok, and STS is not called', async () => {
    const n = moto.actions.length;
    const s = await createCloud().checkCredentials({ verbose: true });
    assert.equal(s.ok, false);
    assert.equal(moto.actions.length, n);
  });

  test('keys in the environment: GetCallerIdentity names the account and ARN', async () => {
    process.env.AWS_ACCESS_KEY_ID = 'AKIAEXAMPLE';
    process.env.AWS_SECRET_ACCESS_KEY = SECRET;
    const quiet = await createCloud().checkCredentials();
    assert.ok(quiet.ok);
    assert.ok(!moto.actions.includes('GetCallerIdentity'), 'without verbose: no network');
    const s = await createCloud().checkCredentials({ verbose: true });
    assert.ok(s.ok, JSON.stringify(s));
    assert.match(s.identity ?? '', /^account \d{12} as arn:aws:/);
    assert.ok(moto.actions.includes('GetCallerIdentity'));
  });

  test('keys AWS rejects (injected InvalidClientTokenId): not ok, says why, never shows the secret', async () => {
    process.env.AWS_ACCESS_KEY_ID = 'AKIAEXAMPLE';
    process.env.AWS_SECRET_ACCESS_KEY = SECRET;
    moto.failNext('GetCallerIdentity', 'InvalidClientTokenId', {
      status: 403,
      message: 'The security token included in the request is invalid.',
    });
    const s = await createCloud().checkCredentials({ verbose: true });
    assert.equal(s.ok, false);
    if (s.ok) return;
    assert.match(s.reason, /InvalidClientTokenId/);
    assert.match(s.reason, /environment/);
    assert.ok(!JSON.stringify(s).includes(SECRET));
  });
});
