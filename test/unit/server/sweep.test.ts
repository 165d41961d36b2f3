/** The server's housekeeping removes what dead workers left: old argv files (secrets) and old uploads. */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createContext } from '../../../src/server/context.js';
import { sweepLeftovers } from '../../../src/server/requests.js';
import { tempHome } from '../state/helpers.js';

test('old argv files and uploads go; fresh ones stay', async () => {
  const t = tempHome();
  const ctx = await createContext({ home: t.home, dbUrl: null });
  try {
    const workers = join(t.home, 'api', 'workers');
    const uploads = join(t.home, 'api', 'uploads', 'alice');
    mkdirSync(workers, { recursive: true });
    mkdirSync(join(uploads, 'old1'), { recursive: true });
    mkdirSync(join(uploads, 'new1'), { recursive: true });
    writeFileSync(join(workers, 'dead.argv'), '["exec","--secret","T=x"]');
    writeFileSync(join(workers, 'live.argv'), '[]');
    writeFileSync(join(workers, 'dead.log'), '');
    const hourAgo = new Date(Date.now() - 3_600_000);
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
    utimesSync(join(workers, 'dead.argv'), hourAgo, hourAgo);
    utimesSync(join(workers, 'dead.log'), hourAgo, hourAgo);
    utimesSync(join(uploads, 'old1'), twoDaysAgo, twoDaysAgo);
    assert.equal(sweepLeftovers(ctx), 2);
    assert.ok(!existsSync(join(workers, 'dead.argv')));
    assert.ok(existsSync(join(workers, 'live.argv')));
    assert.ok(existsSync(join(workers, 'dead.log')), 'diagnostics are not swept');
    assert.ok(!existsSync(join(uploads, 'old1')));
    assert.ok(existsSync(join(uploads, 'new1')));
  } finally {
    ctx.close();
    t.cleanup();
  }
});
