/**
 * HTML for the dashboard: a tagged template that escapes every value put in it (only `Html` values,
 * made by this template, go in as they are), the page layout, and the small formatting helpers.
 */

/** Markup that is already safe (made by `html` or `raw`). */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function render(v: unknown): string {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return v.map(render).join('');
  return escapeHtml(String(v));
}

/** `html\`<td>${value}</td>\``: every value is escaped unless it is `Html` (arrays are joined). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return new Html(out);
}

/** Markup written in this module's callers' code (constants), never data. */
export function raw(s: string): Html {
  return new Html(s);
}

// ---- formatting ----

export function money(usd: number): string {
  if (usd === 0) return '$0.00';
  if (usd < 0.01) return `$${usd.toFixed(4)}`;
  return `$${usd.toFixed(2)}`;
}

export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** "3m ago", with the exact time in the tooltip. */
export function ago(at: number | null | undefined, now = Date.now()): Html {
  if (!at) return html`<span class="muted">—</span>`;
  const iso = new Date(at).toISOString();
  return html`<time datetime="${iso}" title="${iso.replace('T', ' ').slice(0, 19)} UTC">${duration(now - at)} ago</time>`;
}

const BADGE: Record<string, string> = {
  UP: 'ok',
  RUNNING: 'ok',
  SUCCEEDED: 'ok',
  READY: 'ok',
  live: 'ok',
  enabled: 'ok',
  INIT: 'warn',
  PENDING: 'warn',
  SETTING_UP: 'warn',
  STARTING: 'warn',
  RECOVERING: 'warn',
  CANCELLING: 'warn',
  CREATING: 'warn',
  DELETING: 'warn',
  STOPPED: 'idle',
  stopped: 'idle',
  CANCELLED: 'idle',
  terminated: 'idle',
  disabled: 'idle',
  FAILED: 'bad',
  FAILED_SETUP: 'bad',
  FAILED_PRECHECKS: 'bad',
  FAILED_NO_RESOURCE: 'bad',
  FAILED_CONTROLLER: 'bad',
  FAILED_DRIVER: 'bad',
};

export function badgeClass(status: string): string {
  return `badge ${BADGE[status] ?? 'idle'}`;
}

export function badge(status: string): Html {
  return html`<span class="${badgeClass(status)}">${status}</span>`;
}

// ---- the page ----

export interface PageUser {
  name: string;
  role: 'admin' | 'user';
  /** The form token of this session (for the logout form). */
  csrf: string;
}

export const NAV = [
  { key: 'clusters', href: '/dashboard', label: 'Clusters' },
  { key: 'managed', href: '/dashboard/managed', label: 'Managed jobs' },
  { key: 'storage', href: '/dashboard/storage', label: 'Storage' },
  { key: 'clouds', href: '/dashboard/clouds', label: 'Clouds' },
  { key: 'cost', href: '/dashboard/cost', label: 'Cost' },
] as const;

export type NavKey = (typeof NAV)[number]['key'] | null;

export function page(o: {
  title: string;
  user: PageUser | null;
  nav?: NavKey;
  body: Html;
  scripts?: string[];
}): string {
  const header = o.user
    ? html`<header class="top">
  <a class="brand" href="/dashboard">sky<b>hop</b></a>
  <nav>${NAV.map((n) => html`<a href="${n.href}"${o.nav === n.key ? raw(' class="active" aria-current="page"') : ''}>${n.label}</a>`)}</nav>
  <div class="who">
    <span class="user" data-testid="user">${o.user.name}</span>${o.user.role === 'admin' ? html` <span class="badge role">admin</span>` : ''}
    <form method="post" action="/dashboard/logout"><input type="hidden" name="csrf" value="${o.user.csrf}"><button class="link" type="submit">Log out</button></form>
  </div>
</header>`
    : html`<header class="top"><a class="brand" href="/dashboard">sky<b>hop</b></a></header>`;
  const doc = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} · skyhop</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard/static/style.css">
${(o.scripts ?? []).map((s) => html`<script src="/dashboard/static/${s}" defer></script>`)}
</head>
<body>
${header}
<main>
${o.body}
</main>
</body>
</html>
`;
  return doc.text;
}

export const STYLE = `
:root {
  --bg: #f6f7f9; --panel: #fff; --ink: #1c2330; --muted: #6b7585; --line: #e3e6eb;
  --accent: #2f6fed; --ok: #1f8a4c; --ok-bg: #e3f5ea; --warn: #9a6700; --warn-bg: #fff3d6;
  --bad: #b42318; --bad-bg: #fde8e6; --idle: #4b5563; --idle-bg: #eceef2;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
header.top { display: flex; align-items: center; gap: 28px; padding: 0 28px; height: 54px;
  background: #151b26; color: #d7dce4; }
.brand { color: #fff; font-size: 18px; letter-spacing: .2px; }
.brand b { color: #7aa7ff; font-weight: 700; }
header nav { display: flex; gap: 4px; flex: 1; }
header nav a { color: #c3cad6; padding: 6px 12px; border-radius: 6px; }
header nav a:hover { background: #232c3b; text-decoration: none; }
header nav a.active { background: #2a3446; color: #fff; }
.who { display: flex; align-items: center; gap: 10px; }
.who form { margin: 0; }
.user { color: #fff; font-weight: 600; }
button.link { background: none; border: 1px solid #3a4558; color: #c3cad6; border-radius: 6px; padding: 4px 10px;
  cursor: pointer; font: inherit; }
button.link:hover { background: #232c3b; }
main { max-width: 1280px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 28px 0 10px; }
.sub { color: var(--muted); margin: 0 0 18px; }
.muted { color: var(--muted); }
.cards { display: flex; gap: 14px; margin: 16px 0 20px; flex-wrap: wrap; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 12px 16px;
  min-width: 150px; }
.card .k { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .5px; }
.card .v { font-size: 22px; font-weight: 600; margin-top: 2px; }
table { width: 100%; border-collapse: collapse; background: var(--panel); border: 1px solid var(--line);
  border-radius: 10px; overflow: hidden; }
th, td { text-align: left; padding: 9px 12px; border-bottom: 1px solid var(--line); vertical-align: middle; }
th { background: #fafbfc; color: var(--muted); font-weight: 600; font-size: 12px; text-transform: uppercase;
  letter-spacing: .4px; }
tr:last-child td { border-bottom: none; }
tbody tr:hover { background: #fafcff; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.mono, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
.badge { display: inline-block; padding: 2px 8px; border-radius: 999px; font-size: 12px; font-weight: 600;
  letter-spacing: .3px; }
.badge.ok { background: var(--ok-bg); color: var(--ok); }
.badge.warn { background: var(--warn-bg); color: var(--warn); }
.badge.bad { background: var(--bad-bg); color: var(--bad); }
.badge.idle { background: var(--idle-bg); color: var(--idle); }
.badge.role { background: #2a3446; color: #9fc0ff; }
.empty { background: var(--panel); border: 1px dashed var(--line); border-radius: 10px; padding: 28px;
  text-align: center; color: var(--muted); }
.notice { border-radius: 8px; padding: 10px 14px; margin: 12px 0; border: 1px solid; }
.notice.info { background: #eef4ff; border-color: #cfdcff; }
.notice.error { background: var(--bad-bg); border-color: #f6c5bf; color: var(--bad); }
.notice.ok { background: var(--ok-bg); border-color: #bfe6cd; color: var(--ok); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 6px 18px; background: var(--panel);
  border: 1px solid var(--line); border-radius: 10px; padding: 14px 18px; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
form.inline { display: inline; margin: 0; }
.btn { display: inline-block; border: 1px solid var(--line); background: var(--panel); color: var(--ink);
  border-radius: 6px; padding: 4px 10px; font: inherit; cursor: pointer; }
.btn:hover { background: #f0f2f5; text-decoration: none; }
.btn.danger { color: var(--bad); border-color: #f0c4be; }
.btn.danger:hover { background: var(--bad-bg); }
.btn.primary { background: var(--accent); border-color: var(--accent); color: #fff; padding: 8px 16px; }
.actions { display: flex; gap: 8px; align-items: center; }
.crumbs { color: var(--muted); margin-bottom: 6px; }
pre.log { background: #0f141c; color: #d6dde8; border-radius: 10px; padding: 14px 16px; min-height: 320px;
  max-height: 65vh; overflow: auto; margin: 0; font: 13px/1.5 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  white-space: pre-wrap; word-break: break-all; }
.logbar { display: flex; justify-content: space-between; align-items: center; margin: 18px 0 8px; }
.live { color: var(--ok); font-weight: 600; }
.live::before { content: ""; display: inline-block; width: 8px; height: 8px; border-radius: 50%;
  background: var(--ok); margin-right: 6px; animation: pulse 1.2s infinite; }
@keyframes pulse { 50% { opacity: .3; } }
.login { max-width: 420px; margin: 72px auto; background: var(--panel); border: 1px solid var(--line);
  border-radius: 12px; padding: 28px; }
.login h1 { margin-bottom: 6px; }
.login label { display: block; font-weight: 600; margin: 18px 0 6px; }
.login input[type=password] { width: 100%; padding: 9px 10px; border: 1px solid #cfd5de; border-radius: 6px;
  font: 14px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.login button { margin-top: 16px; width: 100%; }
code { background: #eef0f4; border-radius: 4px; padding: 1px 5px; font-size: 13px; }
`;

/** The live log page's script: follows the job's SSE stream into the <pre>. */
export const LOG_SCRIPT = `
(function () {
  var pre = document.getElementById('log');
  var state = document.getElementById('job-status');
  var live = document.getElementById('live');
  var cancel = document.getElementById('cancel-form');
  if (!pre || !window.EventSource) return;
  var es = new EventSource(pre.getAttribute('data-src'));
  function atBottom() { return pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40; }
  function append(text) {
    var stick = atBottom();
    pre.appendChild(document.createTextNode(text));
    if (stick) pre.scrollTop = pre.scrollHeight;
  }
  function setStatus(s) {
    state.textContent = s;
    state.className = 'badge ' + (s === 'SUCCEEDED' ? 'ok' : s.indexOf('FAILED') === 0 ? 'bad' : 'idle');
  }
  es.addEventListener('reset', function () { pre.textContent = ''; });
  es.addEventListener('out', function (e) { append(JSON.parse(e.data)); });
  es.addEventListener('end', function (e) {
    var d = JSON.parse(e.data);
    setStatus(d.status);
    live.textContent = 'ended';
    live.className = 'muted';
    if (cancel) cancel.remove();
    es.close();
  });
  es.addEventListener('fail', function (e) {
    var d = JSON.parse(e.data);
    live.textContent = d.error;
    live.className = 'notice error';
    es.close();
  });
})();
`;
