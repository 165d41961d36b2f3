/**
 * The dashboard in a real browser: a server context on a temp SKYHOP_HOME, the dashboard on a
 * loopback port, a real cluster on the local cloud launched by the real CLI as user alice, and
 * Debian's Chromium driven by playwright-core. Logs in, sees the cluster, follows a job's log live,
 * cancels it; another user sees nothing of it; bad tokens and bad input get clear 4xx answers.
 * Screenshots go to docs/images/dashboard-*.png with UPDATE_SCREENSHOTS=1 (else to a temp folder, so a
 * test run leaves the checkout clean).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { buildApp } from '../../src/server/app.js';
import { createContext, issueToken, type ServerContext } from '../../src/server/context.js';
import { registerDashboard } from '../../src/server/dashboard/index.js';
import { pidsUnder, ROOT, Sandbox, waitFor } from './harness.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const SKIP =
  !HAVE_CHROMIUM && process.env.CI !== 'true'
    ? `Debian's chromium is not installed (${CHROMIUM}); \`apt-get install chromium\` (scripts/install-deps.sh) runs this test`
    : false;
const IMAGES =
  process.env.UPDATE_SCREENSHOTS === '1'
    ? join(ROOT, 'docs', 'images')
    : join(tmpdir(), `skyhop-dashboard-shots-${process.pid}`);
const CLUSTER = 'dash';

/** Processes following a job's log on the cluster's head node (the agent's `logs --follow`). */
function followPids(dir: string): number[] {
  return pidsUnder(dir).filter((p) => {
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      return argv.includes('logs') && argv.includes('--follow');
    } catch {
      return false;
    }
  });
}

describe('dashboard in headless Chromium', { skip: SKIP }, () => {
  const sb = new Sandbox({ SKYHOP_LOCAL_CPUS: '2' });
  const alice = { SKYHOP_API_USER: 'alice', SKYHOP_API_ROLE: 'user' };
  const savedHome = process.env.SKYHOP_HOME;
  let ctx: ServerContext;
  let app: FastifyInstance;
  let base: string;
  let browser: Browser;
  let tokens: { alice: string; bob: string; admin: string };
  let jobId: number;

  before(async () => {
    if (!HAVE_CHROMIUM) throw new Error(`${CHROMIUM} is missing: scripts/install-deps.sh installs chromium`);
    mkdirSync(sb.home, { recursive: true });
    mkdirSync(IMAGES, { recursive: true });
    process.env.SKYHOP_HOME = sb.skyhopHome;
    ctx = await createContext({ home: sb.skyhopHome, dbUrl: null });
    tokens = {
      alice: issueToken(ctx.api, 'alice', 'user').token,
      bob: issueToken(ctx.api, 'bob', 'user').token,
      admin: issueToken(ctx.api, 'root', 'admin').token,
    };
    app = await buildApp(ctx, { plugins: [registerDashboard] });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

    const up = await sb.run(['launch', '-y', '-c', CLUSTER, 'echo ready'], {
      env: alice,
      timeoutMs: 180_000,
    });
    assert.equal(up.code, 0, up.stderr);
    const ex = await sb.run(
      ['exec', '-d', CLUSTER, 'for i in $(seq 1 120); do echo tick $i; sleep 1; done'],
      { env: alice },
    );
    assert.equal(ex.code, 0, ex.stderr);
    const q = await sb.run(['queue', CLUSTER, '--json'], { env: alice });
    assert.equal(q.code, 0, q.stderr);
    jobId = Math.max(...(JSON.parse(q.stdout)[CLUSTER] as Array<{ id: number }>).map((j) => j.id));

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await app?.close().catch(() => {});
    ctx?.close();
    if (savedHome === undefined) delete process.env.SKYHOP_HOME;
    else process.env.SKYHOP_HOME = savedHome;
    await sb.cleanup();
    if (process.env.UPDATE_SCREENSHOTS !== '1') rmSync(IMAGES, { recursive: true, force: true });
  });

  async function loggedIn(token: string): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(`${base}/dashboard/login`);
    await page.fill('#token', token);
    await Promise.all([page.waitForURL(`${base}/dashboard`), page.click('button[type=submit]')]);
    return { context, page };
  }

  /** The cookie header of a logged-in browser context, for plain HTTP requests. */
  async function cookieOf(context: BrowserContext): Promise<string> {
    const c = (await context.cookies()).find((x) => x.name === 'skyhop_token');
    assert.ok(c, 'the login set the skyhop_token cookie');
    assert.equal(c.httpOnly, true);
    assert.equal(c.sameSite, 'Strict');
    return `skyhop_token=${c.value}`;
  }

  test('no token: every page sends the browser to the login', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${base}/dashboard`);
    assert.equal(new URL(page.url()).pathname, '/dashboard/login');
    await page.goto(`${base}/dashboard/clusters/${CLUSTER}`);
    assert.equal(new URL(page.url()).pathname, '/dashboard/login');
    assert.equal(new URL(page.url()).searchParams.get('next'), `/dashboard/clusters/${CLUSTER}`);
    const sse = await fetch(`${base}/dashboard/clusters/${CLUSTER}/jobs/${jobId}/log`);
    assert.equal(sse.status, 401);
    await context.close();
  });

  test('a bad token stays on the login page with a clear message', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${base}/dashboard/login`);
    await page.fill('#token', 'sky_not-a-real-token');
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST'),
      page.click('button[type=submit]'),
    ]);
    assert.equal(res.status(), 401);
    assert.equal(new URL(page.url()).pathname, '/dashboard/login');
    assert.match((await page.textContent('[role=alert]')) ?? '', /token is not valid/);
    assert.deepEqual(await context.cookies(), []);
    await context.close();
  });

  test('alice logs in, sees her running cluster, follows the job log live and cancels the job', async () => {
    const { context, page } = await loggedIn(tokens.alice);
    assert.equal(await page.textContent('[data-testid=user]'), 'alice');
    const row = page.locator(`tr[data-cluster="${CLUSTER}"]`);
    assert.match((await row.textContent()) ?? '', /UP/);
    assert.match((await row.textContent()) ?? '', /1x local/);
    await page.screenshot({ path: join(IMAGES, 'dashboard-clusters.png') });

    // The cluster's jobs, from its agent.
    await row.locator('a').first().click();
    await page.waitForURL(`${base}/dashboard/clusters/${CLUSTER}`);
    const jobRow = page.locator(`tr[data-job="${jobId}"]`);
    await waitFor('the job to run', async () => {
      if (/RUNNING/.test((await jobRow.textContent()) ?? '')) return true;
      await page.reload();
      return false;
    });

    assert.match((await jobRow.textContent()) ?? '', /alice/, 'the job is submitted by the API user');
    await page.screenshot({ path: join(IMAGES, 'dashboard-cluster.png') });

    // Its log, live: a tick later than the first one seen arrives while we watch.
    await jobRow.getByText('Follow log').click();
    await page.waitForURL(`${base}/dashboard/clusters/${CLUSTER}/jobs/${jobId}`);
    const ticks = async () =>
      [...((await page.textContent('#log')) ?? '').matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));
    const first = Math.max(
      ...(await waitFor('a tick line', async () => ((await ticks()).length ? ticks() : false))),
    );
    await waitFor('a later tick', async () => Math.max(...(await ticks())) > first + 1);
    assert.equal(await page.textContent('#live'), 'live');
    assert.ok(followPids(sb.dir).length > 0, 'the server follows the log on the head node');
    await page.screenshot({ path: join(IMAGES, 'dashboard-log.png') });

    // Leaving the page ends the follow on the head node.
    await page.goto(`${base}/dashboard/clusters/${CLUSTER}`);
    await waitFor('the log follow to end', () => followPids(sb.dir).length === 0, 20_000);

    // Cancel from the log page: the job ends CANCELLED, and the stream says so.
    await page.goto(`${base}/dashboard/clusters/${CLUSTER}/jobs/${jobId}`);
    await waitFor('the log to stream', async () => (await ticks()).length > 0);
    await Promise.all([
      page.waitForURL(`${base}/dashboard/clusters/${CLUSTER}/jobs/${jobId}`),
      page.click(`[data-testid=cancel-${jobId}]`),
    ]);
    await waitFor(
      'CANCELLED',
      async () => (await page.textContent('[data-testid=job-status]')) === 'CANCELLED',
    );
    await waitFor('the stream to end', async () => (await page.textContent('#live')) === 'ended');
    await page.goto(`${base}/dashboard/clusters/${CLUSTER}`);
    assert.match((await page.locator(`tr[data-job="${jobId}"]`).textContent()) ?? '', /CANCELLED/);
    const audit = ctx.api.listAudit(20).find((a) => a.action === 'dashboard cancel');
    assert.ok(audit, 'the cancel is in the audit log');
    assert.equal(audit.user, 'alice');
    assert.equal(audit.target, `${CLUSTER}/${jobId}`);
    assert.equal(audit.outcome, 'cancelled');
    await waitFor('no follow left', () => followPids(sb.dir).length === 0, 20_000);
    await context.close();
  });

  test("bob sees none of alice's clusters and gets 404 on their addresses", async () => {
    const { context, page } = await loggedIn(tokens.bob);
    assert.equal(await page.locator(`tr[data-cluster="${CLUSTER}"]`).count(), 0);
    assert.match((await page.textContent('main')) ?? '', /No clusters yet/);
    const res = await page.goto(`${base}/dashboard/clusters/${CLUSTER}`);
    assert.equal(res?.status(), 404);
    assert.match((await page.textContent('main')) ?? '', /no cluster 'dash' among your clusters/);
    const cookie = await cookieOf(context);
    const log = await fetch(`${base}/dashboard/clusters/${CLUSTER}/jobs/${jobId}/log`, {
      headers: { cookie },
    });
    assert.equal(log.status, 404);
    // A cancel with bob's own valid form token is still refused: the cluster is not his.
    const csrf = await page.getAttribute('input[name=csrf]', 'value');
    const cancel = await fetch(`${base}/dashboard/clusters/${CLUSTER}/jobs/${jobId}/cancel`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: `csrf=${encodeURIComponent(csrf ?? '')}`,
      redirect: 'manual',
    });
    assert.equal(cancel.status, 404);
    await page.goto(`${base}/dashboard/cost`);
    assert.doesNotMatch((await page.textContent('main')) ?? '', /\bdash\b/);
    await context.close();
  });

  test('bad input: odd names, traversal, forged forms get a 4xx with a clear message', async () => {
    const { context } = await loggedIn(tokens.alice);
    const cookie = await cookieOf(context);
    const get = (path: string) => fetch(`${base}${path}`, { headers: { cookie }, redirect: 'manual' });
    for (const [path, status, msg] of [
      ['/dashboard/clusters/..%2F..%2Fetc%2Fpasswd', 400, /invalid cluster name/],
      ['/dashboard/clusters/%3Cscript%3E', 400, /invalid cluster name &quot;&lt;script&gt;&quot;/],
      ['/dashboard/clusters/-rf', 400, /must start with a letter/],
      [`/dashboard/clusters/${CLUSTER}/jobs/abc`, 400, /invalid job id/],
      [`/dashboard/clusters/${CLUSTER}/jobs/..%2F1`, 400, /invalid job id/],
      [`/dashboard/clusters/${CLUSTER}/jobs/99999`, 404, /has no job 99999/],
      ['/dashboard/clusters/nope', 404, /no cluster &#39;nope&#39;/],
      ['/dashboard/no-such-page', 404, /no dashboard page/],
    ] as const) {
      const r = await get(path);
      const text = await r.text();
      assert.equal(r.status, status, `${path}: ${text.slice(0, 300)}`);
      assert.match(text, msg, path);
      assert.doesNotMatch(text, /<script>|at .*\.ts:\d+/, path);
    }
    const post = (body: string, headers: Record<string, string> = {}) =>
      fetch(`${base}/dashboard/clusters/${CLUSTER}/jobs/${jobId}/cancel`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body,
        redirect: 'manual',
      });
    const noToken = await post('back=job');
    assert.equal(noToken.status, 403);
    assert.match(await noToken.text(), /form has expired or was not sent by the dashboard/);
    const page = await context.newPage();
    await page.goto(`${base}/dashboard`);
    const csrf = (await page.getAttribute('input[name=csrf]', 'value')) ?? '';
    const foreign = await post(`csrf=${encodeURIComponent(csrf)}`, { origin: 'http://evil.example' });
    assert.equal(foreign.status, 403);
    assert.match(await foreign.text(), /sent from another site/);
    const huge = await post(`csrf=${'x'.repeat(100_000)}`);
    assert.equal(huge.status, 413);
    // The dashboard's cookie is not an API credential.
    const api = await fetch(`${base}/api/v1/whoami`, { headers: { cookie } });
    assert.equal(api.status, 401);
    await context.close();
  });

  test('the other pages: managed jobs (no controller), storage, clouds, cost per user', async () => {
    const { context, page } = await loggedIn(tokens.alice);
    await page.goto(`${base}/dashboard/managed`);
    assert.match((await page.textContent('main')) ?? '', /There is no jobs controller/);
    await page.goto(`${base}/dashboard/storage`);
    assert.match((await page.textContent('main')) ?? '', /No buckets/);
    await page.goto(`${base}/dashboard/clouds`);
    assert.match((await page.locator('[data-testid=clouds]').textContent()) ?? '', /Local/i);
    await page.goto(`${base}/dashboard/cost`);
    const users = (await page.locator('[data-testid=cost-users]').textContent()) ?? '';
    assert.match(users, /alice/);
    assert.doesNotMatch(users, /bob|root/);
    await context.close();

    const admin = await loggedIn(tokens.admin);
    assert.equal(
      await admin.page.locator(`tr[data-cluster="${CLUSTER}"]`).count(),
      1,
      'an admin sees every cluster',
    );
    await admin.page.goto(`${base}/dashboard/cost`);
    assert.match(
      (await admin.page.locator('[data-testid=cost-rows]').textContent()) ?? '',
      /dash[\s\S]*alice/,
    );
    await admin.page.screenshot({ path: join(IMAGES, 'dashboard-cost.png') });
    // Logging out ends the session in this browser.
    await admin.page.click('text=Log out');
    await admin.page.waitForURL(/\/dashboard\/login\?out=1/);
    await admin.page.goto(`${base}/dashboard`);
    assert.equal(new URL(admin.page.url()).pathname, '/dashboard/login');
    await admin.context.close();
  });

  test('alice tears her cluster down', async () => {
    const d = await sb.run(['down', '-y', CLUSTER], { env: alice, timeoutMs: 120_000 });
    assert.equal(d.code, 0, d.stderr);
    const r = await fetch(`${base}/dashboard`, { headers: { cookie: `skyhop_token=${tokens.alice}` } });
    assert.equal(r.status, 200);
    assert.doesNotMatch(await r.text(), /data-cluster="dash"/);
  });
});
