/**
 * Subscriber self-service through the signed links in every email, no login:
 * - /unsubscribe/<token>: GET shows a confirmation button and changes nothing
 *   (link scanners follow GETs); POST unsubscribes, including RFC 8058
 *   one-click (`List-Unsubscribe=One-Click`, urlencoded or multipart, no
 *   cookies): 200, no redirect, written to disk before the answer.
 * - /u/<token>: change topics, pause or resume, unsubscribe.
 * A token that does not verify (forged, truncated, unknown id, old address)
 * always gets the same page, whatever the reason, so ids cannot be probed.
 */
import type { Context, Hono } from 'hono';
import { describeError, isPaperboyError } from '../errors.js';
import { contentVersion, parseYamlText, readTextIfExists } from '../yamlfile.js';
import { addressInText, SubscriberStore, validateSubscriber, type Subscriber } from '../subscribers.js';
import { tokenSubject, verifyToken, type TokenPurpose } from '../tokens.js';
import type { LoadedCatalog } from '../catalog.js';
import type { Deps } from './deps.js';
import { keepOrder } from './forms.js';
import { html, layout, notice, type SafeHtml } from './html.js';
import type { AppEnv } from './app.js';

const MAX_TOKEN = 200;

interface Identified {
  id: string;
  email: string;
  version: string;
  /** Undefined when the file has a problem (then only the status can change). */
  sub?: Subscriber;
  store: SubscriberStore;
  catalog: LoadedCatalog;
}

/** A catalog with no topics: every subscriber then reads as "has a problem", which still allows unsubscribing. */
const NO_CATALOG: LoadedCatalog = { version: 1, threshold: 1, relative: 0, topics: [], version_hash: '', file: '' };

/**
 * The subscriber a token was signed for, or undefined for any token that does
 * not verify. Throws only for trouble on the server's side (an unreadable
 * folder), which the routes answer with 503.
 */
async function identify(deps: Deps, purpose: TokenPurpose, token: string): Promise<Identified | undefined> {
  if (token.length > MAX_TOKEN) return undefined;
  const id = tokenSubject(token, purpose);
  if (!id) return undefined;
  // A broken topics.yaml must not stop anyone from unsubscribing.
  const { store, catalog } = await deps.parts().catch((e: unknown) => {
    deps.log.error('selfservice.catalog_unusable', { error: describeError(e) });
    return { catalog: NO_CATALOG, store: new SubscriberStore(deps.config.subscribersDir, NO_CATALOG) };
  });
  try {
    const sub = await store.get(id);
    return verifyToken(deps.secret, purpose, token, sub.email)
      ? { id, email: sub.email, version: sub.version, sub, store, catalog }
      : undefined;
  } catch (e) {
    if (isPaperboyError(e) && e.code === 'NOT_FOUND') return undefined;
    if (!isPaperboyError(e) || e.code !== 'SUBSCRIBER') throw e;
  }
  // The file exists but has a problem: the token can still be checked against the address in it,
  // read from the text when the YAML itself does not parse (an admin's duplicate key must not stop an unsubscribe).
  const fresh = await readState(store.fileFor(id));
  if (!fresh?.email || !verifyToken(deps.secret, purpose, token, fresh.email)) return undefined;
  return { id, email: fresh.email, version: fresh.version, store, catalog };
}

/** A subscriber file's status, address and version as they are on disk now, whether or not its YAML parses. */
async function readState(file: string): Promise<{ status: unknown; email?: string; version: string } | undefined> {
  const text = await readTextIfExists(file);
  if (text === undefined) return undefined;
  const version = contentVersion(text);
  try {
    const data = parseYamlText(text, file, 'SUBSCRIBER').data as { email?: unknown; status?: unknown } | null;
    return { status: data?.status, email: typeof data?.email === 'string' ? data.email.trim() : undefined, version };
  } catch (e) {
    if (!isPaperboyError(e) || e.code !== 'SUBSCRIBER') throw e;
    return { status: undefined, email: addressInText(text), version };
  }
}

/**
 * `identify` once per request: the rate limiter asks first, the route handler
 * then gets the same answer without reading the file again.
 */
const perRequest = new WeakMap<Request, Promise<Identified | undefined>>();
function identifyFor(c: Context, deps: Deps, purpose: TokenPurpose): Promise<Identified | undefined> {
  let found = perRequest.get(c.req.raw);
  if (!found) perRequest.set(c.req.raw, (found = identify(deps, purpose, c.req.param('token') ?? tokenFromPath(c.req.path))));
  return found;
}
const tokenFromPath = (p: string) => p.split('/')[2] ?? '';

/** Whether this request carries a genuine self-service token; false (never a throw) for anything else. */
export async function tokenVerifies(c: Context, deps: Deps, purpose: TokenPurpose): Promise<boolean> {
  return identifyFor(c, deps, purpose).then(
    (who) => who !== undefined,
    () => false,
  );
}

async function withSubscriber(
  c: Context,
  deps: Deps,
  purpose: TokenPurpose,
  then: (who: Identified) => Promise<Response> | Response,
): Promise<Response> {
  let who: Identified | undefined;
  try {
    who = await identifyFor(c, deps, purpose);
  } catch (e) {
    return failedPage(c, deps, e);
  }
  return who ? then(who) : invalidLinkPage(c);
}

/** One write at a time per subscriber within this process; a change made elsewhere meanwhile is retried. */
const queues = new Map<string, Promise<unknown>>();
function serialised<T>(id: string, job: () => Promise<T>): Promise<T> {
  const prev = queues.get(id) ?? Promise.resolve();
  const next = prev.catch(() => {}).then(job);
  queues.set(id, next);
  void next.finally(() => {
    if (queues.get(id) === next) queues.delete(id);
  });
  return next;
}

async function unsubscribe(deps: Deps, who: Identified): Promise<void> {
  await serialised(who.id, async () => {
    for (let attempt = 0; ; attempt++) {
      try {
        const fresh = await readState(who.store.fileFor(who.id));
        // A file removed meanwhile gets no more mail either.
        if (!fresh || fresh.status === 'unsubscribed') return;
        await who.store.setStatus(who.id, 'unsubscribed', fresh.version);
        return;
      } catch (e) {
        if (attempt < 3 && isPaperboyError(e) && e.code === 'CONFLICT') continue;
        throw e;
      }
    }
  });
  deps.log.info('selfservice.unsubscribed', { subscriber: who.id });
}

const maskEmail = (email: string) => {
  const [user = '', domain = ''] = email.split('@');
  return `${user.slice(0, 2)}${'•'.repeat(Math.max(1, Math.min(6, user.length - 2)))}@${domain}`;
};

function page(c: Context, title: string, body: SafeHtml, status: 200 | 400 | 404 | 409 | 503 = 200) {
  return c.html(layout({ title }, html`<div class="card narrow">${body}</div>`), status);
}

export function invalidLinkPage(c: Context) {
  return page(
    c,
    'Link not valid',
    html`<h1>This link is not valid</h1>
      <p>
        It may be incomplete (some mail programs break long links across lines) or out of date (links stop working when the address they
        were sent to changes).
      </p>
      <p>Open the link from the latest digest email again, copying the whole of it.</p>`,
    404,
  );
}

function failedPage(c: Context, deps: Deps, e: unknown) {
  deps.log.error('selfservice.write_failed', { error: describeError(e) });
  return page(
    c,
    'Please try again',
    html`<h1>Your change could not be saved</h1>
      <p>Nothing was changed. Please try again in a minute.</p>`,
    503,
  );
}

export function registerSelfService(app: Hono<AppEnv>, deps: Deps): void {
  // Shown for every token, valid or not: a GET changes nothing and reveals nothing.
  app.get('/unsubscribe/:token', (c) =>
    page(
      c,
      'Unsubscribe',
      html`<h1>Unsubscribe from the Paperboy digest?</h1>
        <p>You will get no more daily digests at this address.</p>
        <form method="post" action="/unsubscribe/${encodeURIComponent(c.req.param('token'))}">
          <input type="hidden" name="List-Unsubscribe" value="One-Click" />
          <div class="actions"><button class="danger" id="confirm">Unsubscribe</button></div>
        </form>
        <p class="muted small">Changed your mind? Just close this page.</p>`,
    ),
  );

  app.post('/unsubscribe/:token', (c) =>
    withSubscriber(c, deps, 'unsubscribe', async (who) => {
      try {
        await unsubscribe(deps, who);
      } catch (e) {
        return failedPage(c, deps, e);
      }
      const manage = new URL(deps.links.manageUrl(who.id, who.email)).pathname;
      return page(
        c,
        'Unsubscribed',
        html`<h1 id="done">You are unsubscribed</h1>
          <p>No more digests will be sent to ${maskEmail(who.email)}.</p>
          <p class="muted small">Unsubscribed by mistake? <a href="${manage}">Manage your subscription</a> to subscribe again.</p>`,
      );
    }),
  );

  app.get('/u/:token', (c) =>
    withSubscriber(c, deps, 'manage', (who) => {
      const done = c.req.query('done');
      const messages: Record<string, string> = {
        saved: 'Your topics are saved.',
        paused: 'Your digest is paused. Resume it here whenever you like.',
        active: 'Your digest is on.',
        unsubscribed: 'You are unsubscribed. No more digests will be sent.',
      };
      return managePage(c, who, done && messages[done] ? notice('ok', messages[done]) : '');
    }),
  );

  app.post('/u/:token', (c) =>
    withSubscriber(c, deps, 'manage', async (who) => {
      const token = c.req.param('token');
      const body = await c.req.parseBody({ all: true });
      const action = typeof body.action === 'string' ? body.action : '';
      const version = typeof body.version === 'string' ? body.version : '';
      const back = (done: string) => c.redirect(`/u/${encodeURIComponent(token)}?done=${done}`, 303);
      // Leaving always works, even from a page opened before some other change.
      if (action !== 'unsubscribe' && version !== who.version) {
        return managePage(
          c,
          who,
          notice(
            'error',
            'Your subscription changed since this page was opened (perhaps in another tab). Nothing was saved; here is how it stands now.',
          ),
          409,
        );
      }
      try {
        if (action === 'unsubscribe') {
          await unsubscribe(deps, who);
          return back('unsubscribed');
        }
        if (!who.sub) return managePage(c, who, notice('error', NEEDS_ATTENTION), 409);
        if (action === 'pause' || action === 'resume') {
          // Whatever the way there (unsubscribe, then pause, then resume), a bouncing address is not turned
          // back on here: only the list owner does that, or a digest that goes through.
          if (who.sub.status === 'bouncing' || (action === 'resume' && who.sub.status !== 'active' && deps.bouncing(who.id)))
            return managePage(c, who, notice('error', 'Mail to this address bounced; ask the list owner to turn it back on.'), 409);
          // Pausing is for an active digest: the page offers it only then, and from unsubscribed it would be a way back in.
          if (action === 'pause' && who.sub.status === 'unsubscribed')
            return managePage(c, who, notice('error', 'You are unsubscribed: there is nothing to pause.'), 409);
          const status = action === 'pause' ? 'paused' : 'active';
          await serialised(who.id, () => who.store.update(who.id, { status }, version));
          deps.log.info('selfservice.status', { subscriber: who.id, status });
          return back(status);
        }
        if (action === 'topics') {
          const raw = body.topics;
          const topics = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).filter((t): t is string => typeof t === 'string');
          const known = new Set(who.catalog.topics.map((t) => t.id));
          const unknown = topics.filter((t) => !known.has(t));
          if (unknown.length) {
            // A page opened before a topic was removed or renamed: say so rather than drop the choice unseen.
            const which = unknown.map((t) => `"${t}"`).join(', ');
            return managePage(c, who, notice('error', `No topic ${which} any more: it was removed or renamed. Choose again below.`), 400);
          }
          const chosen = keepOrder(
            topics.filter((t) => known.has(t)),
            who.sub.topics,
          );
          const { id: _i, file: _f, version: _v, ...data } = who.sub;
          try {
            validateSubscriber({ ...data, topics: chosen }, who.sub.file, who.catalog);
          } catch {
            return managePage(c, who, notice('error', 'Choose at least one topic, or unsubscribe below.'), 400, chosen);
          }
          await serialised(who.id, () => who.store.update(who.id, { topics: chosen }, version));
          deps.log.info('selfservice.topics', { subscriber: who.id, topics: chosen.length });
          return back('saved');
        }
        return managePage(c, who, notice('error', 'Choose one of the buttons below.'), 400);
      } catch (e) {
        if (isPaperboyError(e) && e.code === 'CONFLICT') {
          const fresh = await identify(deps, 'manage', token).catch(() => undefined);
          if (!fresh) return failedPage(c, deps, e);
          return managePage(
            c,
            fresh,
            notice('error', 'Your subscription changed meanwhile. Nothing was saved; here is how it stands now.'),
            409,
          );
        }
        return failedPage(c, deps, e);
      }
    }),
  );
}

/** Said on the manage page of a file that does not validate (or parse): the admin must fix it, leaving still works. */
const NEEDS_ATTENTION = 'Your subscription needs attention from the list owner before it can be changed here. You can still unsubscribe.';

function managePage(c: Context, who: Identified, message: SafeHtml | string, status: 200 | 400 | 409 = 200, chosen?: string[]) {
  const sub = who.sub;
  const token = c.req.param('token') ?? '';
  const action = `/u/${encodeURIComponent(token)}`;
  const followed = new Set(chosen ?? sub?.topics ?? []);
  const state = sub?.status ?? 'unknown';
  const hidden = html`<input type="hidden" name="version" value="${who.version}" />`;
  const body = html`
    <h1>Your Paperboy digest</h1>
    <p class="muted">For ${maskEmail(who.email)} · <span class="badge ${state}" id="status">${state}</span></p>
    ${message || (sub ? '' : notice('warn', NEEDS_ATTENTION))}
    ${
      sub
        ? html`<form method="post" action="${action}">
            ${hidden}
            <input type="hidden" name="action" value="topics" />
            <h2>Topics</h2>
            <div class="topics">
              ${who.catalog.topics.map(
                (t) =>
                  html`<label class="check"
                    ><input type="checkbox" name="topics" value="${t.id}" ${followed.has(t.id) ? html`checked` : ''} />
                    <span>${t.name}${t.description ? html`<br /><span class="muted small">${t.description}</span>` : ''}</span></label
                  >`,
              )}
            </div>
            <div class="actions"><button>Save topics</button></div>
          </form>`
        : ''
    }
    <h2>Deliveries</h2>
    <div class="actions">
      ${
        sub && state === 'active'
          ? html`<form method="post" action="${action}" class="inline">
              ${hidden}<input type="hidden" name="action" value="pause" /><button class="secondary">Pause the digest</button>
            </form>`
          : ''
      }
      ${
        sub && (state === 'paused' || state === 'unsubscribed')
          ? html`<form method="post" action="${action}" class="inline">
              ${hidden}<input type="hidden" name="action" value="resume" /><button>
                ${state === 'paused' ? 'Resume the digest' : 'Subscribe again'}
              </button>
            </form>`
          : ''
      }
      ${
        state !== 'unsubscribed'
          ? html`<form method="post" action="${action}" class="inline">
              ${hidden}<input type="hidden" name="action" value="unsubscribe" /><button class="danger">Unsubscribe</button>
            </form>`
          : ''
      }
    </div>
  `;
  return c.html(layout({ title: 'Your digest' }, html`<div class="card">${body}</div>`), status);
}
