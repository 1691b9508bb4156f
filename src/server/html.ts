/**
 * HTML for the web app: one escape function and a tagged template that
 * applies it to every interpolated value, so listing and subscriber data can
 * only ever become text. Fragments built with `html` (or `raw` for trusted
 * constants) are inserted as they are.
 */

export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** The single escape function: text → HTML text or attribute value (always quote attributes). */
export const escapeHtml = (s: string): string => s.replace(/[&<>"'`]/g, (ch) => ESCAPES[ch]!);

export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | HtmlValue[];

function render(v: HtmlValue): string {
  if (v === null || v === undefined || v === false || v === true) return '';
  if (v instanceof SafeHtml) return v.value;
  if (Array.isArray(v)) return v.map(render).join('');
  return escapeHtml(String(v));
}

export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0]!;
  values.forEach((v, i) => (out += render(v) + strings[i + 1]!));
  return new SafeHtml(out);
}

export interface LayoutOptions {
  title: string;
  /** Shows the admin navigation and the log-out button. */
  admin?: { csrf: string };
  /** Loads the live-reload script (the preview). */
  liveReload?: boolean;
  wide?: boolean;
}

export function layout(opts: LayoutOptions, body: SafeHtml): string {
  const nav = opts.admin
    ? html`<nav class="top">
        <a class="brand" href="/admin">Paperboy</a>
        <a href="/admin">Subscribers</a>
        <a href="/admin/topics">Topics</a>
        <a href="/preview">Preview</a>
        <form method="post" action="/admin/logout" class="inline">
          <input type="hidden" name="csrf" value="${opts.admin.csrf}" />
          <button class="link">Log out</button>
        </form>
      </nav>`
    : html`<nav class="top"><span class="brand">Paperboy</span></nav>`;
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="no-referrer" />
        <title>${opts.title} · Paperboy</title>
        <link rel="stylesheet" href="/assets/style.css" />
        ${opts.liveReload ? html`<script src="/assets/live.js" defer></script>` : ''}
      </head>
      <body>
        ${nav}
        <main class="${opts.wide ? 'wide' : ''}">${body}</main>
      </body>
    </html>`.value;
}

/** A message box: `kind` is one of ok, error, warn, info. */
export const notice = (kind: 'ok' | 'error' | 'warn' | 'info', content: HtmlValue) =>
  html`<div class="notice ${kind}" role="${kind === 'error' ? 'alert' : 'status'}">${content}</div>`;

/** The error for one field, shown right under it. */
export const fieldError = (errors: FieldErrors, name: string) =>
  errors[name] ? html`<p class="field-error" id="${name}-error">${errors[name]}</p>` : '';

export type FieldErrors = Record<string, string>;

export const STYLE = `
:root { --fg:#1d2330; --muted:#5b6475; --line:#d9dee7; --bg:#f5f7fa; --card:#fff; --accent:#2454c5; --bad:#b42318; --warn:#9a6700; --ok:#1a7f37; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin:0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:var(--bg); }
a { color: var(--accent); }
nav.top { display:flex; flex-wrap:wrap; gap:.25rem 1rem; align-items:center; padding:.6rem 1rem; background:#1d2330; color:#fff; }
nav.top a, nav.top button.link { color:#fff; text-decoration:none; }
nav.top a:hover, nav.top button.link:hover { text-decoration:underline; }
nav.top .brand { font-weight:700; margin-right:auto; color:#fff; }
main { max-width: 960px; margin: 0 auto; padding: 1rem; }
main.wide { max-width: 1240px; }
h1 { font-size: 1.5rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.15rem; margin: 1.5rem 0 .5rem; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:1rem; margin-bottom:1rem; min-width:0; }
.muted { color: var(--muted); }
.small { font-size: .875rem; }
label { display:block; font-weight:600; margin: .75rem 0 .25rem; }
label.check { display:flex; gap:.5rem; align-items:flex-start; font-weight:400; margin:.25rem 0; }
label.check input { margin-top:.3rem; }
input[type=text], input[type=email], input[type=number], input[type=password], input[type=date], select, textarea {
  min-height:2.5rem; width:100%; max-width:100%; padding:.45rem .55rem; font:inherit; border:1px solid #aeb6c4; border-radius:6px; background:#fff; }
textarea { min-height: 6rem; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size:.9rem; }
input[aria-invalid=true], textarea[aria-invalid=true], select[aria-invalid=true] { border-color: var(--bad); }
.field-error { color: var(--bad); margin:.25rem 0 0; font-size:.9rem; }
.hint { color: var(--muted); font-size:.85rem; margin:.2rem 0 0; }
button, .button { display:inline-block; font:inherit; padding:.45rem .9rem; border-radius:6px; border:1px solid var(--accent); background:var(--accent); color:#fff; cursor:pointer; text-decoration:none; }
button.secondary, .button.secondary { background:#fff; color:var(--accent); }
button.danger { background:var(--bad); border-color:var(--bad); }
a.danger-link { color:var(--bad); margin-left:auto; }
button.link { background:none; border:none; padding:0; color:var(--accent); text-decoration:underline; }
form.inline { display:inline; margin:0; }
.actions { display:flex; flex-wrap:wrap; gap:.5rem; margin-top:1rem; align-items:center; }
.grid { display:grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 260px), 1fr)); gap: 0 1rem; }
.topics { display:grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 280px), 1fr)); gap: .25rem 1rem; }
.notice { padding:.75rem 1rem; border-radius:6px; margin: 0 0 1rem; border:1px solid; }
.notice.ok { background:#e9f7ee; border-color:#9fd5b0; }
.notice.error { background:#fdecea; border-color:#f1aeb5; }
.notice.warn { background:#fff6dd; border-color:#f0d48a; }
.notice.info { background:#eaf1fd; border-color:#b4c8f0; }
table.list { width:100%; border-collapse:collapse; background:var(--card); }
table.list th, table.list td { text-align:left; padding:.5rem; border-bottom:1px solid var(--line); vertical-align:top; }
table.list th { font-size:.85rem; color:var(--muted); font-weight:600; }
.badge { display:inline-block; padding:0 .45rem; border-radius:999px; font-size:.8rem; border:1px solid var(--line); background:#f0f2f5; white-space:nowrap; }
.badge.active { background:#e9f7ee; border-color:#9fd5b0; }
.badge.paused { background:#fff6dd; border-color:#f0d48a; }
.badge.unsubscribed, .badge.bouncing { background:#fdecea; border-color:#f1aeb5; }
.tags { display:flex; flex-wrap:wrap; gap:.25rem; }
.row-actions { display:flex; flex-wrap:wrap; gap:.5rem; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size:.85rem; }
pre { background:#fff; border:1px solid var(--line); border-radius:6px; padding:.75rem; white-space:pre-wrap; overflow-wrap:anywhere; margin:0; }
.headers { width:100%; border-collapse:collapse; font-size:.85rem; }
.headers th { width:1%; text-align:left; white-space:nowrap; padding:.25rem .75rem .25rem 0; vertical-align:top; color:var(--muted); }
.headers td { overflow-wrap:anywhere; word-break:break-word; padding:.25rem 0; }
.preview-form { display:flex; flex-wrap:wrap; gap: 0 1rem; align-items:flex-end; }
.preview-form > div { flex: 1 1 180px; min-width:0; }
.preview-form > div.grow { flex: 2 1 280px; }
.preview-form > div.actions { flex: 0 0 auto; }
.preview-form details { flex: 1 1 100%; margin-top:.75rem; }
.toggle { display:inline-flex; border:1px solid var(--accent); border-radius:6px; overflow:hidden; }
.toggle a { padding:.3rem .8rem; text-decoration:none; }
.toggle a[aria-current=true] { background:var(--accent); color:#fff; }
meter { width:100%; height:1rem; margin:.35rem 0; }
.actions.top { margin: 0 0 1rem; }
fieldset.plain { border:none; padding:0; margin:1rem 0 0; min-width:0; }
fieldset.plain legend { padding:0; }
.card > :first-child, .card > section > :first-child { margin-top:0; }
.spaced { margin-top:1rem; }
.narrow { max-width:480px; margin:2rem auto; }
.frame-wrap { display:flex; justify-content:center; background:#e6e9ef; border-radius:8px; padding:1rem .5rem; }
iframe.email { display:block; border:1px solid var(--line); background:#fff; height: 80vh; min-height: 480px; width:100%; }
iframe.email.mobile { max-width:375px; }
iframe.email.desktop { max-width:1200px; }
.kv { display:grid; grid-template-columns: max-content 1fr; gap:.2rem 1rem; margin:0; }
.kv dt { color:var(--muted); }
.kv dd { margin:0; overflow-wrap:anywhere; min-width:0; }
.split { display:grid; grid-template-columns: minmax(0, 1fr); gap:1rem; }
@media (min-width: 900px) { .split.two { grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); } }
@media (max-width: 520px) {
  nav.top .brand { flex-basis:100%; }
}
@media (max-width: 700px) {
  .headers th, .headers td { display:block; width:auto; padding:0; }
  .headers td { padding-bottom:.4rem; }
  table.list.stack thead { display:none; }
  table.list.stack, table.list.stack tbody, table.list.stack tr, table.list.stack td { display:block; width:100%; }
  table.list.stack tr { border-bottom:1px solid var(--line); padding:.5rem 0; }
  table.list.stack td { border:none; padding:.15rem .5rem; }
  table.list.stack td[data-label]::before { content: attr(data-label) ": "; color:var(--muted); font-size:.85rem; }
}
`;

/** Live reload: the preview reopens itself when a template or subscriber file changes. */
export const LIVE_JS = `(() => {
  const es = new EventSource('/preview/events');
  es.addEventListener('reload', () => window.location.reload());
})();
`;
