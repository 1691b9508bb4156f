/**
 * Wiring: settings + command-line flags → the parts a command needs (catalog,
 * store, renderer, source, transport, ledger, links). Commands and the web
 * server build their parts here, so each part is set up one way only.
 */
import path from 'node:path';
import { describeError, PaperboyError } from './errors.js';
import { loadCatalogOrBundled, type Catalog, type LoadedCatalog } from './catalog.js';
import { TEMPLATES_DIR, type Config } from './config.js';
import { localDate } from './dates.js';
import type { DeliveryPolicy } from './delivery.js';
import { DETAIL_DAYS, Ledger } from './ledger.js';
import type { HeldLock } from './lock.js';
import type { Logger } from './log.js';
import type { MessageSettings } from './message.js';
import { Renderer } from './render.js';
import type { Source } from './source.js';
import { fileSource } from './sources/file.js';
import { hfSource } from './sources/hf.js';
import { SubscriberStore } from './subscribers.js';
import { linkBuilder, loadSecret, type LinkBuilder } from './tokens.js';
import { outboxTransport, smtpTransport, type Transport } from './transport.js';

export interface Parts {
  config: Config;
  catalog: Catalog;
  store: SubscriberStore;
  links: LinkBuilder;
  message: MessageSettings;
}

export async function loadParts(config: Config, log?: Logger): Promise<Parts> {
  const catalog = await loadCatalogOrBundled(config.subscribersDir);
  if (log) warnIfBundled(catalog, config.subscribersDir, log);
  const secret = await loadSecret(config.TOKEN_SECRET, config.dataDir);
  const links = linkBuilder(config.PUBLIC_URL, secret);
  return {
    config,
    catalog,
    store: new SubscriberStore(config.subscribersDir, catalog),
    links,
    message: { from: config.MAIL_FROM, unsubscribeMailto: config.UNSUBSCRIBE_MAILTO, links },
  };
}

/** Say so when the subscribers folder has no topics.yaml and the bundled default catalog stands in. */
export function warnIfBundled(catalog: LoadedCatalog, subscribersDir: string, log: Logger): void {
  if (!catalog.bundled) return;
  log.warn('catalog.bundled', {
    folder: subscribersDir,
    note: `no topics.yaml there: the default catalog that ships with Paperboy is used; copy ${catalog.file} there to edit topics`,
  });
}

const renderers = new Map<string, Promise<Renderer>>();
/**
 * Templates compile once per process. Other folders compile on every call
 * unless `cache` is set (the web preview caches them and refreshes on change).
 * A failed compile is not cached, so fixing the template is enough.
 */
export function getRenderer(dir = TEMPLATES_DIR, opts: { cache?: boolean } = {}): Promise<Renderer> {
  if (!(opts.cache ?? dir === TEMPLATES_DIR)) return Renderer.create(dir);
  let p = renderers.get(dir);
  if (!p) {
    p = Renderer.create(dir);
    renderers.set(dir, p);
    p.catch(() => {
      if (renderers.get(dir) === p) renderers.delete(dir);
    });
  }
  return p;
}

/** Forget the compiled templates of `dir`: the next getRenderer compiles them afresh (live preview). */
export function refreshRenderer(dir = TEMPLATES_DIR): void {
  renderers.delete(dir);
}

export function makeSource(config: Config, listingFile: string | undefined, log: Logger): Source {
  if (listingFile) return fileSource(path.resolve(listingFile));
  return hfSource(config.HF_API_URL, {
    timeoutMs: config.SOURCE_TIMEOUT_MS,
    maxBytes: config.SOURCE_MAX_BYTES,
    retries: config.SOURCE_RETRIES,
    onRetry: (r) => log.warn('source.retry', { url: r.url, attempt: r.attempt, waitMs: Math.round(r.waitMs), reason: r.reason }),
  });
}

export function makeTransport(config: Config): Transport {
  if (!config.SMTP_URL) return outboxTransport(config.outboxDir);
  if (!config.PUBLIC_URL.startsWith('https://') && !config.ALLOW_HTTP_LINKS) {
    throw new PaperboyError(
      'CONFIG',
      `PUBLIC_URL: ${config.PUBLIC_URL} is not https, and SMTP_URL sends real mail whose unsubscribe links would point there; set PUBLIC_URL to the https address of \`paperboy serve\` (e.g. https://digest.example.org), or ALLOW_HTTP_LINKS=true for a test server`,
    );
  }
  return smtpTransport({
    url: config.SMTP_URL,
    rateLimit: config.SMTP_RATE_LIMIT,
    connectionTimeoutMs: config.SMTP_CONNECT_TIMEOUT_SECONDS * 1000,
    greetingTimeoutMs: config.SMTP_CONNECT_TIMEOUT_SECONDS * 1000,
    socketTimeoutMs: config.SMTP_SOCKET_TIMEOUT_SECONDS * 1000,
  });
}

export function deliveryPolicy(config: Config): DeliveryPolicy {
  return {
    retries: config.SEND_RETRIES,
    retryBaseMs: config.SEND_RETRY_BASE_MS,
    retryMaxTotalMs: config.SEND_RETRY_MAX_SECONDS * 1000,
    errorBudget: config.ERROR_BUDGET,
    bounceDays: config.BOUNCE_DAYS,
  };
}

/** The ledger as a reader sees it (status, admin pages, preview): reading never writes. */
export const makeLedger = (config: Config) => new Ledger(config.dataDir);

/**
 * The ledger for a run that sends: opened under the run lock (nothing else
 * appends meanwhile), and first compacted when old digests have piled up
 * (Ledger.compact), so a year of daily runs does not make every run slower.
 * Compaction is housekeeping: if it fails (a full disk, say), the run goes on
 * with the ledger read afresh, and the next run tries again. Every append
 * first checks that the lock is still this run's (Ledger.guard).
 */
export async function openLedgerForRun(config: Config, log: Logger, now: Date, lock: HeldLock): Promise<Ledger> {
  const ledger = await compactOrCarryOn(makeLedger(config), localDate(now, config.DIGEST_TZ), log, () => makeLedger(config));
  ledger.guard = lock.verify;
  return ledger;
}

/** `ledger`, compacted if worth it; on any failure, logged, and `reopen()` (the file as it now is) instead. */
export async function compactOrCarryOn(ledger: Ledger, today: string, log: Logger, reopen: () => Ledger): Promise<Ledger> {
  try {
    const done = await ledger.compact({ today });
    if (done)
      log.info('ledger.compacted', {
        file: ledger.file,
        lines: done.before,
        kept: done.after,
        unreadable: done.unreadable,
        detailDays: DETAIL_DAYS,
      });
    return ledger;
  } catch (e) {
    log.warn('ledger.compact_failed', { file: ledger.file, reason: describeError(e), note: 'left as it was; the next run tries again' });
    return reopen();
  }
}
