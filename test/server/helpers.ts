/**
 * Start the real web app on 127.0.0.1:0 over a scratch copy of subscribers/,
 * and talk to it over real HTTP: fetch for ordinary requests, node:http for
 * the ones fetch will not send (a foreign Host header, an un-normalised path).
 */
import { cp, mkdir } from 'node:fs/promises';
import { request } from 'node:http';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config.js';
import { memoryLogger } from '../../src/log.js';
import { startServer, type RunningServer } from '../../src/server/app.js';
import { linkBuilder, type LinkBuilder } from '../../src/tokens.js';
import { ROOT, scratchDir } from '../helpers/cli.js';

export const SECRET = 'test-secret-0123456789abcdef0123456789abcdef';
export const ADMIN_TOKEN = 'admin-token-for-tests-0123456789';
export const PUBLIC_URL = 'http://paperboy.test';

export interface TestServer {
  dir: string;
  subscribers: string;
  templates: string;
  config: Config;
  server: RunningServer;
  base: string;
  links: LinkBuilder;
  log: ReturnType<typeof memoryLogger>;
  /** The path of a link built from PUBLIC_URL, on this server. */
  local(url: string): string;
  close(): Promise<void>;
}

export async function startTestServer(opts: { env?: Record<string, string>; liveReload?: boolean } = {}): Promise<TestServer> {
  const scratch = await scratchDir();
  // The templates too, so a test can edit them without touching the package's own.
  const templates = path.join(scratch.dir, 'templates');
  await cp(path.join(ROOT, 'templates'), templates, { recursive: true });
  await mkdir(path.join(scratch.dir, 'data'), { recursive: true });
  const env: Record<string, string> = {
    TOKEN_SECRET: SECRET,
    ADMIN_TOKEN,
    PUBLIC_URL,
    SUBSCRIBERS_DIR: scratch.subscribers,
    DATA_DIR: path.join(scratch.dir, 'data'),
    ...opts.env,
  };
  for (const [k, v] of Object.entries(env)) if (v === '') delete env[k];
  const config = loadConfig(env, scratch.dir);
  const log = memoryLogger();
  const server = await startServer({
    config,
    secret: SECRET,
    log,
    port: 0,
    host: '127.0.0.1',
    templatesDir: templates,
    liveReload: opts.liveReload ?? false,
  });
  const base = server.url;
  return {
    dir: scratch.dir,
    subscribers: scratch.subscribers,
    templates,
    config,
    server,
    base,
    links: linkBuilder(config.PUBLIC_URL, SECRET),
    log,
    local: (url) => base + new URL(url).pathname,
    close: async () => {
      await server.close();
      await scratch.cleanup();
    },
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request exactly as given (Host header and path not rewritten). */
export function rawRequest(
  port: number,
  opts: { method?: string; path: string; headers?: Record<string, string>; body?: string },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    // An empty host means: send no Host header at all.
    const headers = { ...opts.headers };
    const setHost = headers.host !== '';
    if (!setHost) delete headers.host;
    const req = request(
      { host: '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path, headers, setHost, timeout: 10_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    if (opts.body) req.write(opts.body);
    req.end();
  });
}

export const csrfOf = (html: string): string => {
  const m = /name="csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error('no CSRF field in page');
  return m[1]!;
};

export const versionOf = (html: string): string => {
  const m = /name="version" value="([^"]+)"/.exec(html);
  if (!m) throw new Error('no version field in page');
  return m[1]!;
};

const cookieOf = (res: Response): string | undefined => res.headers.getSetCookie().map((c) => c.split(';')[0]!)[0];

/** An admin session: the cookie and a helper for requests that carry it. */
export interface AdminClient {
  cookie: string;
  get(p: string): Promise<Response>;
  /** POST a form; the CSRF token of this session is added unless `csrf: null`. */
  post(p: string, fields: Record<string, string | string[]>, opts?: { csrf?: string | null }): Promise<Response>;
  csrf: string;
}

export async function login(t: TestServer, token = ADMIN_TOKEN): Promise<AdminClient> {
  const page = await fetch(`${t.base}/admin/login`);
  const anon = cookieOf(page);
  if (!anon) throw new Error('login page set no cookie');
  const res = await fetch(`${t.base}/admin/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: anon, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf: csrfOf(await page.text()), token, next: '/admin' }),
  });
  if (res.status !== 303) throw new Error(`login answered ${res.status}`);
  const cookie = cookieOf(res)!;
  const home = await fetch(`${t.base}/admin`, { headers: { cookie } });
  const csrf = csrfOf(await home.text());
  const client: AdminClient = {
    cookie,
    csrf,
    get: (p) => fetch(t.base + p, { headers: { cookie }, redirect: 'manual' }),
    post: (p, fields, opts = {}) => {
      const body = new URLSearchParams();
      for (const [k, v] of Object.entries(fields)) for (const x of Array.isArray(v) ? v : [v]) body.append(k, x);
      const token = opts.csrf === undefined ? csrf : opts.csrf;
      if (token !== null) body.set('csrf', token);
      return fetch(t.base + p, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
    },
  };
  return client;
}

/** Markup with whitespace runs squeezed out (so assertions do not depend on how templates are formatted). */
export const squash = (html: string) => html.replace(/\s+/g, ' ').replace(/ ?> ?/g, '>').replace(/ ?< ?/g, '<');
