/**
 * `skyhop check --verbose` for AWS: STS GetCallerIdentity through the real AWS SDK against moto. The
 * rejection case is INJECTED (moto accepts any keys): the test proxy answers GetCallerIdentity with
 * STS's InvalidClientTokenId error.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createCloud } from '../../../src/clouds/aws/index.js';
import { type MotoHandle, motoMissing, startMoto } from '../../helpers/moto.js';

const missing = motoMissing();
if (missing) console.log(`# aws verbose credential tests skipped: ${missing}`);
const SECRET = 'wJalrXUtnFEMI-K7MDENG-not-a-real-secret';

describe('aws checkCredentials({ verbose: true }) on moto', { skip: missing ?? false }, () => {
  let moto: MotoHandle;
  let dir = '';
  const saved: Record<string, string | undefined> = {};
  const ENV = [
    'HOME',
    'SKYHOP_HOME',
    'SKYHOP_AWS_ENDPOINT_URL',
    'AWS_ACCESS_KEY_ID',
    'AWS_SECRET_ACCESS_KEY',
    'AWS_PROFILE',
    'AWS_DEFAULT_PROFILE',
    'AWS_SHARED_CREDENTIALS_FILE',
    'AWS_CONFIG_FILE',
  ];
  before(async () => {
    for (const k of ENV) saved[k] = process.env[k];
    for (const k of ENV) delete process.env[k];
    dir = mkdtempSync(join(tmpdir(), 'skyhop-aws-sts-'));
    mkdirSync(join(dir, 'home'));
    process.env.HOME = join(dir, 'home');
    process.env.SKYHOP_HOME = join(dir, 'skyhop');
    moto = await startMoto();
    process.env.SKYHOP_AWS_ENDPOINT_URL = moto.endpoint;
  });
  after(async () => {
    await moto?.stop();
    for (const k of ENV) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    rmSync(dir, { recursive: true, force: true });
  });

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
