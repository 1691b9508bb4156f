/**
 * Settings from the environment (and `.env` in the working directory), checked
 * once at start-up. Every setting is documented here and in `.env.example`;
 * keep the two in step (a test checks that every key here appears there).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import dotenv from 'dotenv';
import cron from 'node-cron';
import addressparser from 'nodemailer/lib/addressparser/index.js';
import { PaperboyError } from './errors.js';
import { plainMessage } from './yamlfile.js';

/** Root of the installed package: templates and samples are found from here, not from the cwd. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const TEMPLATES_DIR = path.join(PACKAGE_ROOT, 'templates');

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const optionalString = z
  .string()
  .trim()
  .transform((s) => (s === '' ? undefined : s))
  .optional();
/** The example secrets in .env.example are public: a copied file must not leave them in force. */
const notPlaceholder = (s: string | undefined) => s === undefined || !/^change[-_ ]?me/i.test(s);
const PLACEHOLDER = (make: string) => `is still the placeholder from .env.example; set a secret of your own (try: ${make})`;

const httpUrl = z
  .string()
  .trim()
  .transform((s) => s.replace(/\/+$/, ''))
  // The web app serves from the root: a path prefix would make every link wrong.
  .refine((s) => /^https?:\/\/[^\s/?#]+$/.test(s), 'must be an http(s) origin without a path, such as https://digest.example.org');

export const envSchema = z.object({
  /** SMTP server, e.g. smtps://user:pass@smtp.example.org:465. Unset: emails go to OUTBOX_DIR as .eml files. */
  SMTP_URL: optionalString.refine(
    (s) => s === undefined || /^smtps?:\/\//.test(s),
    'must start with smtp:// or smtps://, e.g. smtp://user:pass@127.0.0.1:2525',
  ),
  /** Sender of the digest, e.g. "Paperboy <digest@example.org>". */
  MAIL_FROM: z
    .string()
    .trim()
    .default('Paperboy <paperboy@localhost>')
    // One mailbox, read by the parser nodemailer itself uses: anything else reaches the SMTP server as an
    // empty envelope sender and the email has no From.
    .refine(isOneMailbox, 'must be one email address, e.g. "Paperboy <digest@example.org>" or digest@example.org'),
  /**
   * Public base URL of `paperboy serve`, used for unsubscribe and manage links. Use https in production.
   * Unset: http://127.0.0.1:PORT, i.e. the web app on this machine (`serve --port N` makes it port N inside the web app only;
   * emails sent by run/schedule use PORT).
   */
  PUBLIC_URL: httpUrl.default('http://127.0.0.1:8787'),
  /**
   * "true" lets `run`/`schedule` send over SMTP with a non-https PUBLIC_URL. Only for a test
   * server: real mail with http or loopback unsubscribe links breaks one-click unsubscribe.
   */
  ALLOW_HTTP_LINKS: z
    .enum(['true', 'false', '1', '0', ''])
    .default('false')
    .transform((s) => s === 'true' || s === '1'),
  /** Optional mailbox that accepts unsubscribe requests, added to List-Unsubscribe as a mailto: link. */
  UNSUBSCRIBE_MAILTO: optionalString.refine(
    (s) => s === undefined || /^[^\s@<>,;]+@[^\s@<>,;]+$/.test(s),
    'must be a bare address such as unsubscribe@example.org',
  ),
  /** Secret for signing unsubscribe/manage links (HMAC-SHA256). Unset: one is generated into DATA_DIR/token-secret. */
  TOKEN_SECRET: optionalString
    .refine((s) => s === undefined || s.length >= 32, 'must be at least 32 characters (try: openssl rand -hex 32)')
    .refine(notPlaceholder, PLACEHOLDER('openssl rand -hex 32')),
  /** Where the ledger, lock and generated secret live. */
  DATA_DIR: z.string().trim().min(1).default('data'),
  /** Folder of subscriber YAML files and topics.yaml (without one, the bundled default catalog is used, read only). */
  SUBSCRIBERS_DIR: z.string().trim().min(1).default('subscribers'),
  /** Where .eml files go when SMTP_URL is unset. */
  OUTBOX_DIR: z.string().trim().min(1).default('outbox'),
  /** Hugging Face daily papers endpoint (override for a mirror). Must be https. */
  HF_API_URL: z
    .string()
    .trim()
    .refine((s) => s.startsWith('https://'), 'must be an https URL')
    .default('https://huggingface.co/api/daily_papers'),
  /** Per-request timeout for fetching the listing, in milliseconds. */
  SOURCE_TIMEOUT_MS: int(1000, 300_000).default(20_000),
  /** Largest listing accepted, in bytes: all pages of one day's listing together. */
  SOURCE_MAX_BYTES: int(10_000, 200_000_000).default(20_000_000),
  /** Retries on 429/5xx/network errors when fetching the listing (a Retry-After over 60 s ends the attempt instead). */
  SOURCE_RETRIES: int(0, 10).default(3),
  /** Largest HTML part of one email, in bytes; Gmail clips at 102 KB, so stay well under. */
  MAX_EMAIL_BYTES: int(20_000, 100_000).default(85_000),
  // --- Schedule and delivery
  /** When digests go out (`paperboy schedule`), as local time in DIGEST_TZ or a subscriber's own zone. Weekdays only by default: weekends have no listing. */
  DIGEST_CRON: z
    .string()
    .trim()
    .default('0 7 * * 1-5')
    .refine((s) => cron.validate(s), 'must be a cron expression such as "0 7 * * 1-5" (minute hour day-of-month month day-of-week)'),
  /** How late a digest may still go out after its time (after a restart or a missed tick); later ones are recorded as missed, not sent late. */
  MAX_LATENESS_MINUTES: int(0, 7 * 24 * 60).default(360),
  /** How long after its time a digest waits for an unpublished (empty or unreachable) listing before the day is recorded as skipped. */
  LISTING_DEADLINE_MINUTES: int(0, 7 * 24 * 60).default(240),
  /** How often the scheduler tries again a digest that could not go out yet (listing not published, SMTP still failing). */
  RETRY_INTERVAL_MINUTES: int(1, 24 * 60).default(15),
  /** Messages per second at most, to stay under a provider's limit (0 = no limit). */
  SMTP_RATE_LIMIT: int(0, 1000).default(0),
  /** Seconds to connect and to get the server's greeting: a dead server must fail fast, not hang the run. */
  SMTP_CONNECT_TIMEOUT_SECONDS: int(1, 300).default(15),
  /** Seconds of silence on an open SMTP connection before giving up on it. */
  SMTP_SOCKET_TIMEOUT_SECONDS: int(5, 3600).default(60),
  /** Retries of one message after a 4xx reply or a connection error before its data was sent. */
  SEND_RETRIES: int(0, 10).default(3),
  /** First backoff step in ms; it doubles per retry, with random jitter so retries do not arrive in step. */
  SEND_RETRY_BASE_MS: int(1, 600_000).default(2000),
  /** Most seconds one message may spend waiting between retries, whatever SEND_RETRIES says. */
  SEND_RETRY_MAX_SECONDS: int(0, 3600).default(120),
  /** Failed deliveries in one run before it pauses (circuit breaker), so a broken server does not fail the whole list; 0 = never pause. */
  ERROR_BUDGET: int(0, 1_000_000).default(20),
  /** Consecutive digest days with a permanent (5xx) failure before a subscriber is set to status: bouncing. */
  BOUNCE_DAYS: int(1, 60).default(3),
  /**
   * Seconds without a heartbeat after which a crashed or frozen process's run lock is taken over (a dead process
   * on this host is detected at once; a frozen one checks the lock before every ledger write once it wakes, and stops).
   */
  LOCK_STALE_SECONDS: int(5, 3600).default(60),
  /** Time zone of the digest date and the default schedule, e.g. Europe/Berlin. */
  DIGEST_TZ: z.string().trim().default('UTC').refine(isTimeZone, 'must be an IANA time zone such as Europe/Berlin or UTC'),
  /** Log output: "text" (readable lines) or "json" (one object per line). */
  LOG_FORMAT: z.enum(['text', 'json']).default('text'),
  /** Minimum log level: debug, info, warn or error. */
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  // --- Web app (paperboy serve)
  /** Unlocks /admin and the per-subscriber preview; unset keeps them locked (nobody can log in). At least 16 characters. */
  ADMIN_TOKEN: optionalString
    .refine((s) => s === undefined || s.length >= 16, 'must be at least 16 characters (try: openssl rand -hex 24)')
    .refine(notPlaceholder, PLACEHOLDER('openssl rand -hex 24')),
  /** Port `paperboy serve` listens on (`--port` wins); 8787 matches the default PUBLIC_URL. */
  PORT: int(0, 65535).default(8787),
  /** Address to bind. 127.0.0.1 keeps the app off the network; put a TLS reverse proxy in front for PUBLIC_URL. */
  HOST: z.string().trim().min(1).default('127.0.0.1'),
  /** Optional folder of saved listing JSON files the preview and topic editor may open (besides the bundled samples). */
  LISTINGS_DIR: optionalString,
  /** Requests per minute per client address on the self-service links and the admin login, so tokens cannot be guessed. */
  RATE_LIMIT_PER_MINUTE: int(1, 10_000).default(30),
  /** "true" behind a reverse proxy: take the client address from the last X-Forwarded-For hop instead of the socket. */
  TRUST_PROXY: z
    .enum(['true', 'false', '1', '0', ''])
    .default('false')
    .transform((s) => s === 'true' || s === '1'),
});

export type Env = z.infer<typeof envSchema>;

/** The web app on this machine: what an unset PUBLIC_URL means (for PORT here, for `serve --port` there). */
export const localUrl = (port: number) => `http://127.0.0.1:${port}`;

function isOneMailbox(s: string): boolean {
  const parsed = addressparser(s, { flatten: true });
  return parsed.length === 1 && /^[^\s@]+@[^\s@]+$/.test(parsed[0]!.address);
}

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export interface Config extends Env {
  /** Absolute paths, resolved against the working directory. */
  dataDir: string;
  subscribersDir: string;
  outboxDir: string;
  /** False when PUBLIC_URL fell back to its default: `serve --port` may then point it at the port it serves. */
  publicUrlSet: boolean;
}

/** Load `.env` (without overriding the real environment) and validate. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd(), overrides: Partial<Env> = {}): Config {
  if (env === process.env) dotenv.config({ path: path.join(cwd, '.env'), quiet: true });
  const given = { ...pickKnown(env), ...stripUndefined(overrides) };
  const parsed = envSchema.safeParse(given);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${plainMessage(i)}`);
    throw new PaperboyError(
      'CONFIG',
      `Invalid configuration (environment or .env):\n${lines.join('\n')}\nSee .env.example for every setting with an example.`,
    );
  }
  const c = parsed.data;
  const publicUrlSet = given.PUBLIC_URL !== undefined && given.PUBLIC_URL !== '';
  return {
    ...c,
    // Unset, links point at this machine's web app, on the port it is configured to serve.
    PUBLIC_URL: publicUrlSet || c.PORT === 0 ? c.PUBLIC_URL : localUrl(c.PORT),
    dataDir: path.resolve(cwd, c.DATA_DIR),
    subscribersDir: path.resolve(cwd, c.SUBSCRIBERS_DIR),
    outboxDir: path.resolve(cwd, c.OUTBOX_DIR),
    publicUrlSet,
  };
}

function pickKnown(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(envSchema.shape)) {
    const v = env[key];
    // "KEY=" (as .env files write an unset setting) means unset, not an empty value: coerced, "" would be the number 0.
    if (v !== undefined && v.trim() !== '') out[key] = v;
  }
  return out;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
