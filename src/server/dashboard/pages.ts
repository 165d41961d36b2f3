/** The dashboard's pages, as functions of what the routes read (no reads here). */
import type { JobRecord } from '../../agent/types.js';
import type { CloudCheck } from '../../sdk/check.js';
import type { ManagedJob } from '../../sdk/managed.js';
import type { ClusterRecord, CostRow, StorageUse } from '../../state/index.js';
import type { StorageRecord } from '../../storage/index.js';
import { ago, badge, badgeClass, duration, type Html, html, money, type PageUser, page } from './html.js';

const TERMINAL_JOB = new Set(['SUCCEEDED', 'FAILED', 'FAILED_SETUP', 'CANCELLED']);

export function isTerminalJob(status: string): boolean {
  return TERMINAL_JOB.has(status);
}

function empty(text: Html | string): Html {
  return html`<div class="empty">${text}</div>`;
}

function notice(kind: 'info' | 'error' | 'ok', text: Html | string): Html {
  return html`<div class="notice ${kind}" role="${kind === 'error' ? 'alert' : 'status'}">${text}</div>`;
}

function card(k: string, v: Html | string): Html {
  return html`<div class="card"><div class="k">${k}</div><div class="v">${v}</div></div>`;
}

const clusterHref = (name: string) => `/dashboard/clusters/${encodeURIComponent(name)}`;
const jobHref = (name: string, id: number) => `${clusterHref(name)}/jobs/${id}`;

function autostopText(a: ClusterRecord['autostop']): Html {
  if (!a) return html`<span class="muted">off</span>`;
  return html`${a.idleMinutes} min idle → ${a.down ? 'down' : 'stop'}`;
}

function place(rec: { region: string; zone: string | null }): string {
  return rec.zone ? `${rec.region} (${rec.zone})` : rec.region;
}

// ---- login and errors ----

export function loginPage(o: { error?: string; info?: string; next?: string }): string {
  return page({
    title: 'Log in',
    user: null,
    body: html`<div class="login">
  <h1>Log in</h1>
  <p class="sub">Paste the token <code>skyhop api users add NAME</code> printed for you.</p>
  ${o.error ? notice('error', o.error) : ''}${o.info ? notice('info', o.info) : ''}
  <form method="post" action="/dashboard/login" autocomplete="off">
    <label for="token">API token</label>
    <input id="token" name="token" type="password" required maxlength="200" autofocus placeholder="sky_…">
    ${o.next ? html`<input type="hidden" name="next" value="${o.next}">` : ''}
    <button class="btn primary" type="submit">Log in</button>
  </form>
</div>`,
  });
}

export function errorPage(user: PageUser | null, status: number, message: string): string {
  const title = status === 404 ? 'Not found' : status >= 500 ? 'Server error' : 'Bad request';
  return page({
    title,
    user,
    body: html`<h1>${title}</h1>${notice('error', message)}<p><a href="/dashboard">Back to the clusters</a></p>`,
  });
}

// ---- clusters ----

export interface ClusterRow {
  rec: ClusterRecord;
  resources: string;
  owner: string | null;
  /** USD of the current life so far. */
  cost: number;
}

export function clustersPage(user: PageUser, rows: ClusterRow[], now: number): string {
  const admin = user.role === 'admin';
  const up = rows.filter((r) => r.rec.status === 'UP');
  const hourly = up.reduce((s, r) => s + r.rec.hourlyPrice * r.rec.resources.numNodes, 0);
  const spent = rows.reduce((s, r) => s + r.cost, 0);
  const table = rows.length
    ? html`<table data-testid="clusters">
<thead><tr><th>Name</th>${admin ? html`<th>Owner</th>` : ''}<th>Status</th><th>Resources</th><th>Region</th><th>Launched</th><th>Autostop</th><th class="num">Cost so far</th></tr></thead>
<tbody>${rows.map(
        (r) => html`<tr data-cluster="${r.rec.name}">
<td><a href="${clusterHref(r.rec.name)}"><b>${r.rec.name}</b></a></td>${admin ? html`<td>${r.owner ?? html`<span class="muted">—</span>`}</td>` : ''}
<td>${badge(r.rec.status)}</td><td>${r.resources}</td><td>${r.rec.cloud} · ${place(r.rec)}</td>
<td>${ago(r.rec.launchedAt, now)}</td><td>${autostopText(r.rec.autostop)}</td><td class="num">${money(r.cost)}</td></tr>`,
      )}</tbody></table>`
    : empty(html`No clusters yet. Launch one with <code>skyhop launch -c NAME task.yaml</code>.`);
  return page({
    title: 'Clusters',
    user,
    nav: 'clusters',
    body: html`<h1>Clusters</h1>
<p class="sub">${admin ? 'Every user’s clusters' : 'Your clusters'}, as the server’s records have them (<code>skyhop status --refresh</code> asks the clouds).</p>
<div class="cards">${card('Clusters', String(rows.length))}${card('Up', String(up.length))}${card('Running cost', `${money(hourly)}/h`)}${card('Spent (these lives)', money(spent))}</div>
${table}`,
  });
}

// ---- one cluster and its jobs ----

function cancelForm(user: PageUser, cluster: string, id: number, back: 'cluster' | 'job'): Html {
  return html`<form class="inline" method="post" action="${jobHref(cluster, id)}/cancel" id="${back === 'job' ? 'cancel-form' : ''}">
<input type="hidden" name="csrf" value="${user.csrf}"><input type="hidden" name="back" value="${back}">
<button class="btn danger" type="submit" data-testid="cancel-${id}">Cancel</button></form>`;
}

function jobDuration(j: JobRecord, now: number): string {
  if (!j.startedAt) return '—';
  return duration((j.endedAt ?? now) - j.startedAt);
}

export function clusterPage(
  user: PageUser,
  o: {
    rec: ClusterRecord;
    resources: string;
    owner: string | null;
    cost: number;
    jobs: JobRecord[] | null;
    jobsError: string | null;
    flash: string | null;
  },
  now: number,
): string {
  const { rec } = o;
  const jobs = o.jobs
    ? o.jobs.length
      ? html`<table data-testid="jobs">
<thead><tr><th class="num">ID</th><th>Name</th><th>Status</th><th>Submitted</th><th>Duration</th><th>User</th><th>Nodes</th><th></th></tr></thead>
<tbody>${[...o.jobs]
          .sort((a, b) => b.id - a.id)
          .map(
            (j) => html`<tr data-job="${j.id}">
<td class="num mono">${j.id}</td><td>${j.name}</td><td>${badge(j.status)}${j.reason ? html` <span class="muted">${j.reason}</span>` : ''}</td>
<td>${ago(j.submittedAt, now)}</td><td>${jobDuration(j, now)}</td><td>${j.user}</td><td class="num">${j.numNodes}</td>
<td><div class="actions"><a class="btn" href="${jobHref(rec.name, j.id)}">${isTerminalJob(j.status) ? 'Log' : 'Follow log'}</a>${isTerminalJob(j.status) ? '' : cancelForm(user, rec.name, j.id, 'cluster')}</div></td></tr>`,
          )}</tbody></table>`
      : empty(html`No jobs yet. Run one with <code>skyhop exec ${rec.name} 'echo hi'</code>.`)
    : o.jobsError
      ? notice('error', o.jobsError)
      : empty(`The cluster is ${rec.status}: its jobs are listed while it is UP.`);
  return page({
    title: rec.name,
    user,
    nav: 'clusters',
    body: html`<div class="crumbs"><a href="/dashboard">Clusters</a> / ${rec.name}</div>
<h1>${rec.name} ${badge(rec.status)}</h1>
${o.flash ? notice('ok', o.flash) : ''}
<dl class="facts">
<dt>Resources</dt><dd>${o.resources}</dd>
<dt>Cloud</dt><dd>${rec.cloud} · ${place(rec)}</dd>
${o.owner !== null && user.role === 'admin' ? html`<dt>Owner</dt><dd>${o.owner}</dd>` : ''}
<dt>Head IP</dt><dd class="mono">${rec.headIp ?? '—'}</dd>
<dt>Launched</dt><dd>${ago(rec.launchedAt, now)}</dd>
<dt>Autostop</dt><dd>${autostopText(rec.autostop)}</dd>
<dt>Price</dt><dd>${money(rec.hourlyPrice * rec.resources.numNodes)}/h</dd>
<dt>Cost so far</dt><dd>${money(o.cost)}</dd>
${rec.lastUse ? html`<dt>Last use</dt><dd class="mono">${rec.lastUse}</dd>` : ''}
</dl>
<h2>Jobs</h2>
${jobs}`,
  });
}

export function jobPage(user: PageUser, o: { rec: ClusterRecord; job: JobRecord }, now: number): string {
  const { rec, job } = o;
  const ended = isTerminalJob(job.status);
  return page({
    title: `${rec.name} job ${job.id}`,
    user,
    nav: 'clusters',
    scripts: ['log.js'],
    body: html`<div class="crumbs"><a href="/dashboard">Clusters</a> / <a href="${clusterHref(rec.name)}">${rec.name}</a> / job ${job.id}</div>
<h1>Job ${job.id}: ${job.name} <span id="job-status" class="${badgeClass(job.status)}" data-testid="job-status">${job.status}</span></h1>
<p class="sub">Submitted ${ago(job.submittedAt, now)} by ${job.user} · ${job.numNodes} node(s)</p>
<div class="logbar"><span id="live" class="${ended ? 'muted' : 'live'}">${ended ? 'ended' : 'live'}</span>
<div class="actions">${ended ? '' : cancelForm(user, rec.name, job.id, 'job')}</div></div>
<pre class="log" id="log" data-testid="log" data-src="${jobHref(rec.name, job.id)}/log"></pre>`,
  });
}

// ---- managed jobs ----

export function managedPage(
  user: PageUser,
  o: { jobs: ManagedJob[] | null; note: string | null; error: string | null },
  now: number,
): string {
  const body = o.jobs
    ? o.jobs.length
      ? html`<table data-testid="managed">
<thead><tr><th class="num">ID</th><th>Name</th><th>User</th><th>Status</th><th>Submitted</th><th>Total</th><th>Job time</th><th class="num">Recoveries</th><th>Cluster</th><th class="num">Cost</th></tr></thead>
<tbody>${o.jobs.map((j) => {
          const t = j.tasks[j.currentTask] ?? j.tasks[j.tasks.length - 1];
          return html`<tr><td class="num mono">${j.id}</td><td>${j.name}</td><td>${j.user}</td>
<td>${badge(j.status)}${j.reason ? html` <span class="muted">${j.reason}</span>` : ''}</td>
<td>${ago(j.submittedAt, now)}</td><td>${duration(j.totalDurationMs)}</td><td>${duration(j.jobDurationMs)}</td>
<td class="num">${j.recoveryCount}</td><td>${t?.cluster ?? html`<span class="muted">—</span>`}${t?.infra ? html` <span class="muted">${t.infra}</span>` : ''}</td>
<td class="num">${money(j.cost)}</td></tr>`;
        })}</tbody></table>`
      : empty(html`No managed jobs. Launch one with <code>skyhop jobs launch task.yaml</code>.`)
    : o.error
      ? notice('error', o.error)
      : empty(o.note ?? '');
  return page({
    title: 'Managed jobs',
    user,
    nav: 'managed',
    body: html`<h1>Managed jobs</h1>
<p class="sub">Jobs the jobs controller runs on clusters of their own and recovers when they are preempted.</p>
${o.jobs && o.note ? notice('info', o.note) : ''}
${body}`,
  });
}

// ---- storage ----

export function storagePage(
  user: PageUser,
  o: { buckets: Array<{ rec: StorageRecord; uses: StorageUse[]; owner: string | null }> },
  now: number,
): string {
  const admin = user.role === 'admin';
  const body = o.buckets.length
    ? html`<table data-testid="storage">
<thead><tr><th>Name</th>${admin ? html`<th>Owner</th>` : ''}<th>Store</th><th>Region</th><th>Status</th><th>Created</th><th>Kind</th><th>Used by</th></tr></thead>
<tbody>${o.buckets.map(
        (
          b,
        ) => html`<tr><td><b>${b.rec.name}</b>${b.rec.source ? html`<div class="muted mono">${b.rec.source}</div>` : ''}</td>
${admin ? html`<td>${b.owner ?? html`<span class="muted">—</span>`}</td>` : ''}
<td>${b.rec.store}</td><td>${b.rec.region}</td><td>${badge(b.rec.status)}${b.rec.interrupted ? html` <span class="muted">interrupted</span>` : ''}</td>
<td>${ago(b.rec.createdAt, now)}</td>
<td>${b.rec.createdBySkyhop ? (b.rec.persistent ? 'created, persistent' : 'created, removed with its clusters') : 'used, not created'}</td>
<td>${b.uses.length ? b.uses.map((u) => html`<div><a href="${clusterHref(u.cluster)}">${u.cluster}</a> <span class="mono">${u.path}</span> <span class="muted">${u.mode}</span></div>`) : html`<span class="muted">—</span>`}</td></tr>`,
      )}</tbody></table>`
    : empty(html`No buckets. A task’s <code>file_mounts</code> with a <code>name:</code> makes one.`);
  return page({
    title: 'Storage',
    user,
    nav: 'storage',
    body: html`<h1>Storage</h1><p class="sub">Buckets skyhop created or uses, and the clusters that use them.</p>${body}`,
  });
}

// ---- clouds ----

export function cloudsPage(user: PageUser, clouds: CloudCheck[]): string {
  const admin = user.role === 'admin';
  const on = clouds.filter((c) => c.enabled);
  return page({
    title: 'Clouds',
    user,
    nav: 'clouds',
    body: html`<h1>Clouds</h1>
<p class="sub">The clouds this server has credentials for (<code>skyhop check</code>). Credentials stay on the server.</p>
<div class="cards">${card('Enabled', `${on.length} of ${clouds.length}`)}</div>
<table data-testid="clouds"><thead><tr><th>Cloud</th><th>Status</th><th>Launch</th><th>Details</th></tr></thead>
<tbody>${clouds.map(
      (c) => html`<tr><td><b>${c.displayName}</b> <span class="muted mono">${c.name}</span></td>
<td>${badge(c.enabled ? 'enabled' : 'disabled')}</td><td>${c.launchable ? 'clusters' : html`<span class="muted">planning only</span>`}</td>
<td>${
        c.enabled
          ? html`${c.source ? html`credentials: ${c.source}` : ''}${admin && c.identity ? html` <span class="muted">(${c.identity})</span>` : ''}`
          : html`<span class="muted">${c.reason ?? ''}</span>${c.hint ? html`<div class="muted">${c.hint}</div>` : ''}`
      }</td></tr>`,
    )}</tbody></table>`,
  });
}

// ---- cost ----

export interface CostGroup {
  owner: string | null;
  rows: CostRow[];
  total: number;
  hourly: number;
}

export function costPage(user: PageUser, groups: CostGroup[], now: number): string {
  const admin = user.role === 'admin';
  const total = groups.reduce((s, g) => s + g.total, 0);
  const who = (o: string | null) => o ?? 'no owner (made without the server)';
  const perUser = html`<table data-testid="cost-users"><thead><tr><th>User</th><th class="num">Cluster lives</th><th class="num">Running now</th><th class="num">Total</th></tr></thead>
<tbody>${groups.map(
    (g) =>
      html`<tr><td><b>${who(g.owner)}</b></td><td class="num">${g.rows.length}</td><td class="num">${money(g.hourly)}/h</td><td class="num"><b>${money(g.total)}</b></td></tr>`,
  )}</tbody></table>`;
  const rows = groups.flatMap((g) => g.rows.map((r) => ({ ...r, owner: g.owner })));
  rows.sort((a, b) => b.launchedAt - a.launchedAt);
  const detail = html`<table data-testid="cost-rows"><thead><tr><th>Cluster</th>${admin ? html`<th>User</th>` : ''}<th>Cloud</th><th>Resources</th><th>Status</th><th>Launched</th><th>Billed time</th><th class="num">Cost</th></tr></thead>
<tbody>${rows.map(
    (
      r,
    ) => html`<tr><td>${r.cluster}</td>${admin ? html`<td>${who(r.owner)}</td>` : ''}<td>${r.cloud ?? '—'}${r.region ? html` · ${r.region}` : ''}</td>
<td>${r.resources ?? '—'}</td><td>${badge(r.status)}</td><td>${ago(r.launchedAt, now)}</td><td>${duration(r.durationMs)}</td><td class="num">${money(r.cost)}</td></tr>`,
  )}</tbody></table>`;
  return page({
    title: 'Cost',
    user,
    nav: 'cost',
    body: html`<h1>Cost</h1>
<p class="sub">${admin ? 'Every user’s spending' : 'Your spending'}: each cluster life from launch to down, at its price.</p>
<div class="cards">${card(admin ? 'All users' : 'Your total', money(total))}</div>
${rows.length ? html`${perUser}<h2>Cluster lives</h2>${detail}` : empty('No spending yet.')}`,
  });
}
