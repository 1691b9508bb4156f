/**
 * The web app of `paperboy serve`, built from injected parts so tests can
 * start it on 127.0.0.1:0 with a scratch subscribers folder:
 *
 *   /                      start page
 *   /preview…              the email as it would be sent (admins; topic sets only when ADMIN_TOKEN is unset)
 *   /admin…                subscribers and topics (ADMIN_TOKEN login, CSRF on every form)
 *   /u/<token>             a subscriber's manage page
 *   /unsubscribe/<token>   confirmation (GET) and unsubscribe incl. RFC 8058 one-click (POST)
 *
 * GET never changes anything; only POST does.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { describeError, PaperboyError } from '../errors.js';
import { registerAdmin } from './admin.js';
import { Deps, type ServerOptions } from './deps.js';
import { html, layout, LIVE_JS, notice, STYLE } from './html.js';
import { LiveReload, registerPreview } from './preview.js';
import { registerSelfService, tokenVerifies } from './selfservice.js';
import { allowedHosts, clientAddress, RateLimiter, applySecurityHeaders, Sessions, type Session } from './security.js';

export type AppEnv = { Variables: { session?: Session; csrf?: string } };

export interface WebApp {
  app: Hono<AppEnv>;
  deps: Deps;
  reload: LiveReload;
  /** The port actually listened on (for the Host check when serving on port 0). */
  setPort(port: number): void;
  close(): void;
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);
const isUnder = (p: string, prefix: string) => p === prefix || p.startsWith(`${prefix}/`);

export function createApp(opts: ServerOptions): WebApp {
  const deps = new Deps(opts);
  const { config } = deps;
  let port = config.PORT;
  let hosts = allowedHosts(config.PUBLIC_URL, config.HOST, port);
  const publicHost = new URL(config.PUBLIC_URL).host.toLowerCase();
  const sessions = new Sessions(
    opts.secret,
    config.ADMIN_TOKEN,
    // Secure cookies when the request came through the https PUBLIC_URL; plain http on loopback otherwise.
    (c) => config.PUBLIC_URL.startsWith('https://') && (c.req.header('host') ?? '').toLowerCase() === publicHost,
  );
  const limiter = new RateLimiter(config.RATE_LIMIT_PER_MINUTE);
  const reload = new LiveReload(
    [
      { dir: deps.templatesDir, recursive: true },
      { dir: config.subscribersDir, recursive: false },
    ],
    (dir) => {
      if (dir === deps.templatesDir) deps.refreshTemplates();
    },
    deps.log,
  );

  const app = new Hono<AppEnv>();

  const refuse = (c: Context, status: 403 | 429, title: string, message: string) =>
    c.html(
      layout(
        { title },
        html`<div class="card">
          <h1>${title}</h1>
          <p>${message}</p>
        </div>`,
      ),
      status,
    );

  // Headers on every answer; the Host check before anything else.
  app.use('*', async (c, next) => {
    const host = (c.req.header('host') ?? '').toLowerCase();
    if (!hosts.has(host)) {
      const res = c.text(`Host "${host.slice(0, 100)}" is not served here; use ${config.PUBLIC_URL}`, 403);
      applySecurityHeaders(res);
      return res;
    }
    await next();
    applySecurityHeaders(c.res);
  });

  // Token guessing and login attempts: a bucket per client address. A genuine
  // self-service link is never limited: mail providers send one-click
  // unsubscribes for many users from a few shared addresses.
  app.use('*', async (c, next) => {
    const p = c.req.path;
    const selfService = p.startsWith('/u/') || p.startsWith('/unsubscribe/');
    if (selfService && (await tokenVerifies(c, deps, p.startsWith('/u/') ? 'manage' : 'unsubscribe'))) return next();
    if (selfService || (p === '/admin/login' && c.req.method === 'POST')) {
      const key = clientAddress(c, config.TRUST_PROXY);
      if (!limiter.take(key)) {
        c.header('Retry-After', String(limiter.retryAfter(key)));
        deps.log.warn('serve.rate_limited', { client: key, path: p.split('/').slice(0, 2).join('/') });
        return refuse(c, 429, 'Too many requests', 'Please wait a minute and try again.');
      }
    }
    return next();
  });

  app.use('*', bodyLimit({ maxSize: 256 * 1024, onError: (c) => c.text('Request body too large.', 413) }));

  // Every form is read here once (hono keeps the parsed body for the handlers): a body that is not
  // the form it claims to be (multipart without a boundary, say) is the client's fault, so 400, not a 500
  // from deep in a handler. One-click unsubscribe never reads its body, so whatever it sends works.
  app.use('*', async (c, next) => {
    if (SAFE_METHODS.has(c.req.method) || isUnder(c.req.path, '/unsubscribe')) return next();
    try {
      await c.req.parseBody({ all: true });
    } catch {
      return c.text('Malformed form data.', 400);
    }
    return next();
  });

  // Admin session and CSRF for /admin and /preview.
  app.use('*', async (c, next) => {
    const p = c.req.path;
    const admin = isUnder(p, '/admin');
    const preview = isUnder(p, '/preview');
    if (!admin && !preview) return next();
    if (!sessions.enabled) {
      if (preview) return next(); // topic sets only: see canSeeSubscribers
      return c.html(lockedPage(), 403);
    }
    if (p === '/admin/login') return next();
    const s = sessions.read(c);
    if (s?.role !== 'admin') {
      if (SAFE_METHODS.has(c.req.method)) return loginPage(c, sessions, { next: p + new URL(c.req.url).search, status: 401 });
      return refuse(c, 403, 'Not logged in', 'Log in as admin first.');
    }
    c.set('session', s);
    c.set('csrf', sessions.csrfToken(s));
    if (!SAFE_METHODS.has(c.req.method)) {
      const body = await c.req.parseBody({ all: true });
      if (!sessions.checkCsrf(s, body.csrf)) {
        return refuse(
          c,
          403,
          'Form expired',
          'This form has expired or did not come from this site. Go back, reload the page and try again.',
        );
      }
    }
    return next();
  });

  app.get('/assets/style.css', (c) => {
    c.header('Content-Type', 'text/css; charset=utf-8');
    c.header('Cache-Control', 'public, max-age=300');
    return c.body(STYLE);
  });
  app.get('/assets/live.js', (c) => {
    c.header('Content-Type', 'text/javascript; charset=utf-8');
    c.header('Cache-Control', 'public, max-age=300');
    return c.body(LIVE_JS);
  });
  app.get('/healthz', (c) => c.text('ok'));
  app.get('/favicon.ico', (c) => c.body(null, 204));

  app.get('/', (c) =>
    c.html(
      layout(
        { title: 'Home' },
        html`<div class="card">
          <h1>Paperboy</h1>
          <p>A daily research-paper digest.</p>
          <ul>
            <li><a href="/preview">Preview the email</a></li>
            <li><a href="/admin">Manage subscribers and topics</a></li>
          </ul>
          <p class="muted small">Subscribers: use the links at the bottom of your digest email to change topics or unsubscribe.</p>
        </div>`,
      ),
    ),
  );

  // --- Login ----------------------------------------------------------------------
  app.get('/admin/login', (c) => {
    if (sessions.read(c)?.role === 'admin') return c.redirect('/admin', 303);
    return loginPage(c, sessions, { next: c.req.query('next') });
  });

  app.post('/admin/login', async (c) => {
    const body = await c.req.parseBody({ all: true });
    const s = sessions.read(c);
    const next = typeof body.next === 'string' ? body.next : undefined;
    if (!sessions.checkCsrf(s, body.csrf)) {
      return loginPage(c, sessions, { next, status: 403, error: 'The login form expired (or cookies are blocked). Please try again.' });
    }
    if (!sessions.checkToken(typeof body.token === 'string' ? body.token : '')) {
      deps.log.warn('admin.login_failed', { client: clientAddress(c, config.TRUST_PROXY) });
      return loginPage(c, sessions, { next, status: 401, error: 'That is not the admin token.' });
    }
    sessions.start(c, 'admin');
    deps.log.info('admin.login', { client: clientAddress(c, config.TRUST_PROXY) });
    return c.redirect(safeNext(next), 303);
  });

  app.post('/admin/logout', (c) => {
    sessions.end(c);
    return c.redirect('/admin/login', 303);
  });

  registerAdmin(app, deps);
  registerPreview(app, deps, (c) => c.get('session')?.role === 'admin', reload);
  registerSelfService(app, deps);

  app.notFound((c) =>
    c.html(
      layout(
        { title: 'Not found' },
        html`<div class="card">
          <h1>Not found</h1>
          <p><a href="/">Start page</a></p>
        </div>`,
      ),
      404,
    ),
  );
  app.onError((e, c) => {
    deps.log.error('serve.error', { path: c.req.path, error: describeError(e), stack: e instanceof PaperboyError ? undefined : e.stack });
    const message = e instanceof PaperboyError ? e.message : 'Something went wrong; the details are in the server log.';
    return c.html(
      layout(
        { title: 'Error' },
        html`<div class="card">
          <h1>Something went wrong</h1>
          ${notice('error', message)}
        </div>`,
      ),
      500,
    );
  });

  return {
    app,
    deps,
    reload,
    setPort(p: number) {
      port = p;
      hosts = allowedHosts(config.PUBLIC_URL, config.HOST, port);
    },
    close: () => reload.close(),
  };
}

/** Only a path on this site (never //evil.example or a scheme). */
function safeNext(next: string | undefined): string {
  return next && /^\/(?!\/)[A-Za-z0-9\-._~/?=&%+]*$/.test(next) && !next.includes('\\') ? next : '/admin';
}

function lockedPage(): string {
  return layout(
    { title: 'Admin locked' },
    html`<div class="card">
      <h1>Admin is locked</h1>
      <p>
        The admin pages need the <code>ADMIN_TOKEN</code> setting, and it is not set on this server. Set it (at least 16 characters, e.g.
        <code>openssl rand -hex 24</code>) in the environment or <code>.env</code> and restart <code>paperboy serve</code>.
      </p>
      <p>Without it, the <a href="/preview">preview</a> shows topic sets only.</p>
    </div>`,
  );
}

function loginPage(c: Context, sessions: Sessions, o: { next?: string; status?: 200 | 401 | 403; error?: string }) {
  const s = sessions.ensure(c);
  const body = html`<div class="card narrow">
    <h1>Admin login</h1>
    ${o.error ? notice('error', o.error) : o.status === 401 ? notice('info', 'Log in to continue.') : ''}
    <form method="post" action="/admin/login">
      <input type="hidden" name="csrf" value="${sessions.csrfToken(s)}" />
      <input type="hidden" name="next" value="${safeNext(o.next)}" />
      <label for="token">Admin token</label>
      <input type="password" id="token" name="token" autocomplete="current-password" required />
      <p class="hint">The <code>ADMIN_TOKEN</code> setting of this server.</p>
      <div class="actions"><button id="login">Log in</button></div>
    </form>
  </div>`;
  return c.html(layout({ title: 'Log in' }, body), o.status ?? 200);
}

export interface RunningServer {
  /** http://127.0.0.1:PORT (what the server listens on; links use PUBLIC_URL). */
  url: string;
  port: number;
  web: WebApp;
  close(): Promise<void>;
}

/** Start listening (port 0 picks a free one); resolves once the socket is bound. */
export async function startServer(opts: ServerOptions & { port?: number; host?: string }): Promise<RunningServer> {
  const web = createApp(opts);
  const hostname = opts.host ?? opts.config.HOST;
  const server = serve({ fetch: web.app.fetch, port: opts.port ?? opts.config.PORT, hostname }) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', (e: NodeJS.ErrnoException) => {
      web.close();
      reject(
        e.code === 'EADDRINUSE' || e.code === 'EACCES'
          ? new PaperboyError('USAGE', `cannot listen on ${hostname}:${opts.port ?? opts.config.PORT} (${e.code}); choose another --port`)
          : e,
      );
    });
  });
  const port = (server.address() as AddressInfo).port;
  web.setPort(port);
  if (web.deps.liveReload) web.reload.start();
  const urlHost = hostname.includes(':') ? `[${hostname}]` : hostname;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    web,
    close: async () => {
      web.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
