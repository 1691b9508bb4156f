/**
 * /preview: the email exactly as `paperboy run` would send it — subject,
 * headers (from the real MIME message nodemailer builds), the HTML in a
 * sandboxed frame at desktop or 375 px width, the plain-text part and the
 * size against Gmail's clipping limit — plus live reload when a template or
 * subscriber file changes.
 */
import { watch, type FSWatcher } from 'node:fs';
import type { Context, Hono } from 'hono';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import { assertDate } from '../dates.js';
import { composeDigest, topicsRecipient, type ComposedDigest, type DigestRecipient } from '../digest.js';
import { describeError, isPaperboyError } from '../errors.js';
import { Matcher } from '../matcher.js';
import { buildMessage, toMime } from '../message.js';
import { fileListing } from '../selection.js';
import { SUBSCRIBER_ID } from '../subscribers.js';
import { GMAIL_CLIP_BYTES } from '../render.js';
import type { Deps, ListingChoice } from './deps.js';
import { html, layout, notice, type SafeHtml } from './html.js';
import { EMAIL_CSP } from './security.js';
import type { AppEnv } from './app.js';

const NEAR_CLIP = 0.9;

export type Width = 'desktop' | 'mobile';

export interface PreviewRequest {
  subscriber?: string;
  topics: string[];
  listing?: string;
  date?: string;
  width: Width;
}

export interface PreviewResult {
  request: PreviewRequest;
  choice?: ListingChoice;
  date?: string;
  recipient?: DigestRecipient & { status?: string };
  digest?: ComposedDigest;
  /** The MIME message as it would go to the SMTP server. */
  raw?: string;
  headers?: Array<[string, string]>;
  error?: string;
}

export function readPreviewRequest(c: Context): PreviewRequest {
  const q = (k: string) => c.req.query(k)?.trim() || undefined;
  return {
    subscriber: q('subscriber'),
    topics: (c.req.queries('topics') ?? []).map((t) => t.trim()).filter(Boolean),
    listing: q('listing'),
    date: q('date'),
    width: c.req.query('width') === 'mobile' ? 'mobile' : 'desktop',
  };
}

export function previewQuery(r: PreviewRequest, over: Partial<PreviewRequest> = {}): string {
  const m = { ...r, ...over };
  const p = new URLSearchParams();
  if (m.subscriber) p.set('subscriber', m.subscriber);
  else for (const t of m.topics) p.append('topics', t);
  if (m.listing) p.set('listing', m.listing);
  if (m.date) p.set('date', m.date);
  p.set('width', m.width);
  return p.toString();
}

/** Compose the digest a request asks for. `subscribersAllowed` is false when nobody is logged in (no personal data then). */
export async function buildPreview(deps: Deps, req: PreviewRequest, subscribersAllowed: boolean): Promise<PreviewResult> {
  const out: PreviewResult = { request: req };
  try {
    const { catalog, store } = await deps.parts();
    const choice = await deps.listingChoice(req.listing);
    if (!choice) return { ...out, error: 'Choose a listing from the list.' };
    out.choice = choice;
    const date = req.date ? assertDate(req.date, 'date') : deps.defaultDate(choice);
    out.date = date;
    if (req.subscriber && subscribersAllowed) {
      if (!SUBSCRIBER_ID.test(req.subscriber)) return { ...out, error: 'That is not a subscriber id.' };
      const sub = await store.get(req.subscriber);
      out.recipient = sub;
    } else {
      const known = new Set(catalog.topics.map((t) => t.id));
      const unknown = req.topics.filter((t) => !known.has(t));
      // A bookmarked or hand-written URL naming a topic that was renamed or removed: say which.
      if (unknown.length)
        return {
          ...out,
          error: `No topic ${unknown.map((t) => `"${t.slice(0, 60)}"`).join(', ')} in the catalog; pick topics from the list.`,
        };
      const topics = req.topics;
      if (topics.length === 0)
        return { ...out, error: subscribersAllowed ? 'Pick a subscriber or at least one topic.' : 'Pick at least one topic.' };
      out.recipient = topicsRecipient(topics);
    }
    const listing = await deps.listing(choice, date);
    const filed = fileListing(listing.papers, Matcher.fromCatalog(catalog));
    // As it would be sent: without the papers this subscriber already got on earlier days.
    const alreadySent = out.recipient.id !== 'preview' ? deps.sentBefore(out.recipient.id, date) : new Set<string>();
    const digest = composeDigest(
      out.recipient,
      filed,
      date,
      { catalog, links: deps.links, renderer: await deps.renderer(), maxEmailBytes: deps.config.MAX_EMAIL_BYTES },
      alreadySent,
    );
    out.digest = digest;
    if (digest.email) {
      out.raw = await toMime(buildMessage(digest.email, out.recipient, date, digest.paperIds, deps.message));
      out.headers = parseHeaders(out.raw);
    }
    return out;
  } catch (e) {
    if (isPaperboyError(e) && e.code === 'NOT_FOUND' && req.subscriber) return { ...out, error: `No subscriber "${req.subscriber}".` };
    deps.log.warn('preview.failed', { error: describeError(e) });
    return { ...out, error: describeError(e) };
  }
}

/** The header block of a MIME message, unfolded. */
export function parseHeaders(raw: string): Array<[string, string]> {
  const end = raw.indexOf('\r\n\r\n');
  const block = (end >= 0 ? raw.slice(0, end) : raw).replace(/\r\n[ \t]+/g, ' ');
  return block
    .split('\r\n')
    .map((line) => {
      const at = line.indexOf(':');
      return [line.slice(0, at), line.slice(at + 1).trim()] as [string, string];
    })
    .filter(([k]) => k.length > 0);
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

export function sizeReport(htmlBytes: number, messageBytes: number, maxEmailBytes: number): { level: 'ok' | 'warn' | 'bad'; text: string } {
  const level = htmlBytes > GMAIL_CLIP_BYTES ? 'bad' : htmlBytes >= GMAIL_CLIP_BYTES * NEAR_CLIP ? 'warn' : 'ok';
  const text =
    level === 'bad'
      ? `Gmail will clip this message: its HTML is ${kb(htmlBytes)}, over the ${kb(GMAIL_CLIP_BYTES)} limit.`
      : level === 'warn'
        ? `Close to Gmail's clipping limit: the HTML is ${kb(htmlBytes)} of ${kb(GMAIL_CLIP_BYTES)}.`
        : `HTML ${kb(htmlBytes)} of Gmail's ${kb(GMAIL_CLIP_BYTES)} clipping limit (budget: MAX_EMAIL_BYTES=${maxEmailBytes} bytes).`;
  return { level, text: `${text} Whole message with the text part: ${kb(messageBytes)}.` };
}

// --- Routes --------------------------------------------------------------------

/** How to see subscribers' emails too: log in, or (without an ADMIN_TOKEN there is no login) set one. */
function loginHint(deps: Deps, csrf: string | undefined): SafeHtml | '' {
  if (csrf !== undefined) return '';
  if (!deps.config.ADMIN_TOKEN) return html`Set <code>ADMIN_TOKEN</code> on this server to log in and preview a subscriber's email.`;
  return html`<a href="/admin/login?next=/preview">Log in</a> as admin to preview a subscriber's email.`;
}

export function registerPreview(
  app: Hono<AppEnv>,
  deps: Deps,
  canSeeSubscribers: (c: Context<AppEnv>) => boolean,
  reload: LiveReload,
): void {
  app.get('/preview', async (c) => {
    const req = readPreviewRequest(c);
    const allowed = canSeeSubscribers(c);
    const { catalog, store } = await deps.parts();
    const subscribers = allowed ? (await store.list()).subscribers : [];
    const choices = await deps.listingChoices();
    const shown = req.subscriber || req.topics.length > 0;
    if (!shown && allowed && subscribers[0]) req.subscriber = subscribers[0].id;
    if (!shown && !req.subscriber) req.topics = catalog.topics.slice(0, 2).map((t) => t.id);
    const result = await buildPreview(deps, req, allowed);
    const csrf = c.get('csrf');
    const body = html`
      <h1>Preview</h1>
      ${allowed ? '' : notice('info', html`Only topic sets can be previewed here. ${loginHint(deps, csrf)}`)}
      <form class="card preview-form" method="get" action="/preview">
        ${
          allowed
            ? html`<div>
                <label for="subscriber">Subscriber</label>
                <select id="subscriber" name="subscriber">
                  <option value="">— the topics below —</option>
                  ${subscribers.map((s) => html`<option value="${s.id}" ${s.id === req.subscriber ? html`selected` : ''}>${s.id}${s.name ? ` (${s.name})` : ''}</option>`)}
                </select>
              </div>`
            : ''
        }
        <div class="grow">
          <label for="listing">Listing</label>
          <select id="listing" name="listing">
            ${choices.map((ch) => html`<option value="${ch.key}" ${ch.key === result.choice?.key ? html`selected` : ''}>${ch.label}</option>`)}
          </select>
        </div>
        <div>
          <label for="date">Digest date</label>
          <input type="date" id="date" name="date" value="${result.date ?? req.date ?? ''}" />
        </div>
        <input type="hidden" name="width" value="${req.width}" />
        <div class="actions"><button>Show</button></div>
        <details ${!req.subscriber ? html`open` : ''}>
          <summary>Topics${allowed ? ' (used when no subscriber is chosen)' : ''}</summary>
          <div class="topics">
            ${catalog.topics.map(
              (t) =>
                html`<label class="check"
                  ><input type="checkbox" name="topics" value="${t.id}" ${req.topics.includes(t.id) ? html`checked` : ''} /><span
                    >${t.name}</span
                  ></label
                >`,
            )}
          </div>
        </details>
      </form>
      ${renderResult(result, deps)}
    `;
    return c.html(
      layout({ title: 'Preview', admin: csrf !== undefined ? { csrf } : undefined, liveReload: deps.liveReload, wide: true }, body),
      result.error ? 422 : 200,
    );
  });

  /** The HTML part on its own, for the sandboxed frame. */
  app.get('/preview/email', async (c) => {
    const result = await buildPreview(deps, readPreviewRequest(c), canSeeSubscribers(c));
    c.header('Content-Security-Policy', EMAIL_CSP);
    const email = result.digest?.email;
    if (!email)
      return c.html(
        `<!doctype html><p style="font-family:sans-serif">${result.error ? 'Nothing to show: see the message above.' : 'Nothing to send.'}</p>`,
        result.error ? 422 : 200,
      );
    return c.html(email.html);
  });

  /** The whole message as an .eml file. */
  app.get('/preview/message.eml', async (c) => {
    const result = await buildPreview(deps, readPreviewRequest(c), canSeeSubscribers(c));
    if (!result.raw) return c.text(result.error ?? 'Nothing to send for this choice.', 422);
    c.header('Content-Disposition', `attachment; filename="paperboy-${result.date}-${result.recipient?.id ?? 'preview'}.eml"`);
    return c.body(result.raw, 200, { 'Content-Type': 'message/rfc822' });
  });

  /** Server-Sent Events: "reload" when a template or subscriber file changes. */
  app.get('/preview/events', (c) => {
    if (!reload.canAccept()) return c.text('Too many open previews.', 503);
    return streamSSE(c, async (stream) => {
      await reload.attach(stream);
    });
  });
}

function renderResult(r: PreviewResult, deps: Deps): SafeHtml {
  if (r.error) return notice('error', r.error);
  const d = r.digest;
  const email = d?.email;
  if (!d || !email || !r.raw) {
    return notice('info', html`Nothing to send to ${r.recipient?.id} for ${r.date}: ${d?.selection.emptyReason ?? 'no papers'}.`);
  }
  const size = sizeReport(email.htmlBytes, Buffer.byteLength(r.raw), deps.config.MAX_EMAIL_BYTES);
  const q = (over: Partial<PreviewRequest>) => `/preview?${previewQuery(r.request, { ...over, date: r.date, listing: r.choice?.key })}`;
  const frameQuery = previewQuery(r.request, { date: r.date, listing: r.choice?.key });
  const pct = Math.min(100, Math.round((email.htmlBytes / GMAIL_CLIP_BYTES) * 100));
  const status = (r.recipient as { status?: string }).status;
  return html`
    <div class="split two">
      <section class="card" aria-labelledby="msg-h">
        <h2 id="msg-h">Message</h2>
        <dl class="kv">
          <dt>Subject</dt>
          <dd><strong id="subject">${email.subject}</strong></dd>
          <dt>Preheader</dt>
          <dd>${email.preheader}</dd>
          <dt>To</dt>
          <dd>
            ${r.recipient?.name ? `${r.recipient.name} <${r.recipient.email}>` : r.recipient?.email}${status && status !== 'active' ? html` <span class="badge ${status}">${status}: not sent by run</span>` : ''}
          </dd>
          <dt>Papers</dt>
          <dd>${d.selection.total} (${email.fullShown} in full)</dd>
        </dl>
        ${email.overBudget ? notice('warn', 'Even with every paper as a title line, the HTML is above MAX_EMAIL_BYTES.') : ''}
        ${
          email.fullShown < Math.min(d.selection.total, r.recipient?.max_papers ?? Infinity)
            ? html`<p class="small muted">
                To stay under MAX_EMAIL_BYTES, ${Math.min(d.selection.total, r.recipient?.max_papers ?? 0) - email.fullShown} lower-ranked
                papers are shown as title lines.
              </p>`
            : ''
        }
      </section>
      <section class="card" aria-labelledby="size-h">
        <h2 id="size-h">Size</h2>
        <meter
          id="size-meter"
          min="0"
          max="${GMAIL_CLIP_BYTES}"
          low="${Math.round(GMAIL_CLIP_BYTES * NEAR_CLIP)}"
          high="${GMAIL_CLIP_BYTES}"
          optimum="0"
          value="${Math.min(email.htmlBytes, GMAIL_CLIP_BYTES)}"
          title="${pct}% of Gmail's clipping limit"
        >
          ${pct}%
        </meter>
        <p id="size" class="${size.level === 'ok' ? 'small' : ''}" data-level="${size.level}">
          ${size.level === 'ok' ? size.text : html`<strong>${size.text}</strong>`}
        </p>
        <p class="small"><a href="/preview/message.eml?${frameQuery}">Download the .eml</a></p>
      </section>
    </div>
    <div class="actions top">
      <span class="muted">Width</span>
      <span class="toggle">
        <a href="${q({ width: 'desktop' })}" aria-current="${String(r.request.width === 'desktop')}">Desktop</a>
        <a href="${q({ width: 'mobile' })}" aria-current="${String(r.request.width === 'mobile')}">Mobile 375 px</a>
      </span>
    </div>
    <div class="frame-wrap">
      <iframe
        class="email ${r.request.width}"
        title="The email as rendered"
        src="/preview/email?${frameQuery}"
        sandbox="allow-popups allow-popups-to-escape-sandbox"
      ></iframe>
    </div>
    <details class="card spaced" open>
      <summary><strong>Headers</strong></summary>
      <table class="headers">
        ${(r.headers ?? []).map(
          ([k, v]) =>
            html`<tr>
              <th scope="row">${k}</th>
              <td>${v}</td>
            </tr>`,
        )}
      </table>
    </details>
    <details class="card">
      <summary><strong>Plain-text part</strong></summary>
      <pre id="text-part">${email.text}</pre>
    </details>
  `;
}

// --- Live reload ---------------------------------------------------------------

const MAX_LISTENERS = 50;

/** Watches the templates and subscribers folders; tells every open preview to reload. */
export class LiveReload {
  private readonly streams = new Set<SSEStreamingApi>();
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly dirs: Array<{ dir: string; recursive: boolean }>,
    private readonly onChange: (dir: string) => void,
    private readonly log: Deps['log'],
  ) {}

  start(): void {
    for (const { dir, recursive } of this.dirs) {
      try {
        const w = watch(dir, { recursive, persistent: false }, (_event, name) => {
          if (name && /(^|[/\\])\.[^/\\]*\.tmp$/.test(String(name))) return; // our own atomic-write temp files
          this.onChange(dir);
          this.schedule();
        });
        w.on('error', (e) => this.log.warn('preview.watch_error', { dir, error: describeError(e) }));
        this.watchers.push(w);
      } catch (e) {
        this.log.warn('preview.watch_unavailable', { dir, error: describeError(e) });
      }
    }
  }

  private schedule(): void {
    clearTimeout(this.timer);
    // Editors write several events per save: one reload for all of them.
    this.timer = setTimeout(() => this.broadcast(), 150);
  }

  broadcast(): void {
    for (const s of this.streams) void s.writeSSE({ event: 'reload', data: String(Date.now()) }).catch(() => this.streams.delete(s));
  }

  canAccept(): boolean {
    return !this.closed && this.streams.size < MAX_LISTENERS;
  }

  /** Keep an SSE stream open until the client leaves or the server closes. */
  async attach(stream: SSEStreamingApi): Promise<void> {
    this.streams.add(stream);
    await stream.writeSSE({ event: 'ready', data: 'watching' });
    let closer: (() => void) | undefined;
    await new Promise<void>((resolve) => {
      stream.onAbort(() => resolve());
      const ping = setInterval(() => {
        if (this.closed) {
          clearInterval(ping);
          resolve();
          return;
        }
        void stream.writeSSE({ event: 'ping', data: '' }).catch(() => resolve());
      }, 25_000);
      stream.onAbort(() => clearInterval(ping));
      closer = () => {
        clearInterval(ping);
        resolve();
      };
      this.closers.add(closer);
    });
    // Forget this connection's closer, or every page view would leave one behind.
    if (closer) this.closers.delete(closer);
    this.streams.delete(stream);
  }

  private readonly closers = new Set<() => void>();

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const w of this.watchers) w.close();
    for (const close of this.closers) close();
    this.closers.clear();
  }
}
