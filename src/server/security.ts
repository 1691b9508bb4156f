/**
 * The web app's guards:
 * - Host check: only the host of PUBLIC_URL (and 127.0.0.1 / localhost with
 *   the listening port when bound to loopback) is served, which defeats DNS
 *   rebinding against a local admin.
 * - Admin sessions: a cookie holding an HMAC-signed session (never the raw
 *   ADMIN_TOKEN), HttpOnly and SameSite=Strict; the key is derived from
 *   ADMIN_TOKEN, so changing the token logs everyone out.
 * - CSRF: every form carries HMAC(session id); checked on every admin POST.
 * - A per-address token bucket for the self-service links and the login.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import { getConnInfo } from '@hono/node-server/conninfo';

export const SESSION_COOKIE = 'pb_session';
const SESSION_HOURS = 12;

const hmac = (key: string | Buffer, text: string) => createHmac('sha256', key).update(text).digest('base64url');

/** Constant-time equality of two strings (hashing first, so different lengths leak nothing either). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHmac('sha256', 'paperboy/compare').update(a).digest();
  const hb = createHmac('sha256', 'paperboy/compare').update(b).digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

// --- Host check ----------------------------------------------------------------

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);
export const isLoopback = (host: string) => LOOPBACK.has(host.toLowerCase());

/** Hosts (host[:port], lower-case) the app answers to. */
export function allowedHosts(publicUrl: string, bindHost: string, port: number): Set<string> {
  const out = new Set<string>([new URL(publicUrl).host.toLowerCase()]);
  if (isLoopback(bindHost)) for (const h of ['127.0.0.1', 'localhost', '[::1]']) out.add(`${h}:${port}`);
  return out;
}

// --- Sessions and CSRF ---------------------------------------------------------

export type Role = 'anon' | 'admin';
export interface Session {
  role: Role;
  id: string;
}

export class Sessions {
  private readonly key: Buffer;

  constructor(
    secret: string,
    readonly adminToken: string | undefined,
    private readonly secureCookie: (c: Context) => boolean,
    private readonly now: () => number = Date.now,
  ) {
    // Derived from both: the link secret keeps it unguessable, the admin token makes rotating it a log-out.
    this.key = createHmac('sha256', secret)
      .update(`paperboy/admin-session\n${adminToken ?? ''}`)
      .digest();
  }

  get enabled(): boolean {
    return this.adminToken !== undefined;
  }

  /** Constant-time check of a submitted admin token. */
  checkToken(given: string): boolean {
    return this.adminToken !== undefined && safeEqual(given, this.adminToken);
  }

  private seal(role: Role, id: string, expires: number): string {
    const body = `v1.${role}.${id}.${expires}`;
    return `${body}.${hmac(this.key, body)}`;
  }

  /** The session in the request's cookie, if its signature and expiry hold. */
  read(c: Context): Session | undefined {
    const value = getCookie(c, SESSION_COOKIE);
    if (!value || value.length > 200) return undefined;
    const parts = value.split('.');
    if (parts.length !== 5 || parts[0] !== 'v1') return undefined;
    const [, role, id, expires, mac] = parts as [string, string, string, string, string];
    if ((role !== 'anon' && role !== 'admin') || !/^[A-Za-z0-9_-]{16,64}$/.test(id)) return undefined;
    if (!safeEqual(mac, hmac(this.key, `v1.${role}.${id}.${expires}`))) return undefined;
    if (!(Number(expires) > this.now())) return undefined;
    if (role === 'admin' && !this.enabled) return undefined;
    return { role, id };
  }

  /** Start a session (a fresh id each time: logging in never reuses the anonymous id). */
  start(c: Context, role: Role): Session {
    const id = randomBytes(18).toString('base64url');
    const expires = this.now() + SESSION_HOURS * 3600_000;
    setCookie(c, SESSION_COOKIE, this.seal(role, id, expires), {
      httpOnly: true,
      sameSite: 'Strict',
      secure: this.secureCookie(c),
      path: '/',
      maxAge: SESSION_HOURS * 3600,
    });
    return { role, id };
  }

  /** The current session, or a new anonymous one (for the CSRF token of the login form). */
  ensure(c: Context): Session {
    return this.read(c) ?? this.start(c, 'anon');
  }

  end(c: Context): void {
    deleteCookie(c, SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'Strict', secure: this.secureCookie(c) });
  }

  csrfToken(s: Session): string {
    return hmac(this.key, `csrf\n${s.role}\n${s.id}`);
  }

  checkCsrf(s: Session | undefined, given: unknown): boolean {
    return !!s && typeof given === 'string' && safeEqual(given, this.csrfToken(s));
  }
}

// --- Rate limit ----------------------------------------------------------------

/** A token bucket per key: `perMinute` requests a minute, bursts up to the same number. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    readonly perMinute: number,
    private readonly now: () => number = Date.now,
    private readonly maxKeys = 10_000,
  ) {}

  /** True when the request may go ahead; false when it should get 429. */
  take(key: string): boolean {
    const t = this.now();
    const b = this.buckets.get(key) ?? { tokens: this.perMinute, at: t };
    b.tokens = Math.min(this.perMinute, b.tokens + ((t - b.at) / 60_000) * this.perMinute);
    b.at = t;
    const ok = b.tokens >= 1;
    if (ok) b.tokens -= 1;
    this.buckets.delete(key); // re-insert: the map stays in least-recently-used order
    this.buckets.set(key, b);
    if (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    return ok;
  }

  /** Seconds until the next request from `key` would go through. */
  retryAfter(key: string): number {
    const b = this.buckets.get(key);
    return b ? Math.max(1, Math.ceil(((1 - b.tokens) * 60) / this.perMinute)) : 1;
  }
}

/** The client address: the socket's, or behind a trusted proxy the last X-Forwarded-For hop (the one the proxy added). */
export function clientAddress(c: Context, trustProxy: boolean): string {
  if (trustProxy) {
    const hops = (c.req.header('x-forwarded-for') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const last = hops[hops.length - 1];
    if (last) return last;
  }
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

// --- Response headers ----------------------------------------------------------

/** For the app's own pages: nothing from elsewhere, no inline script, no framing by others, no referrer (links carry tokens). */
export const PAGE_CSP = [
  "default-src 'none'",
  "style-src 'self'",
  "script-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'self'",
  "base-uri 'none'",
].join('; ');

/** For the rendered email: its inline styles and remote images, no script, in a sandbox. */
export const EMAIL_CSP = [
  "default-src 'none'",
  "style-src 'unsafe-inline'",
  'img-src https: data:',
  "frame-ancestors 'self'",
  'sandbox allow-popups allow-popups-to-escape-sandbox',
].join('; ');

export function applySecurityHeaders(res: Response): void {
  const h = res.headers;
  h.set('X-Content-Type-Options', 'nosniff');
  h.set('Referrer-Policy', 'no-referrer');
  if (!h.has('Cache-Control')) h.set('Cache-Control', 'no-store');
  if (!h.has('Content-Security-Policy')) h.set('Content-Security-Policy', PAGE_CSP);
  if (!h.has('X-Frame-Options')) h.set('X-Frame-Options', 'SAMEORIGIN');
}
