/**
 * One digest run, as a recipe:
 *   listing → papers → selection → rendered email → send → ledger
 * Each stage is one module (source, listing, matcher/selection, render,
 * message/transport, ledger); this file only calls them in order and logs a
 * count after each. One bad subscriber never stops the others.
 */
import type { Catalog } from './catalog.js';
import type { Clock } from './clock.js';
import { composeDigest, type ComposeDeps } from './digest.js';
import { describeError, PaperboyError } from './errors.js';
import type { Ledger } from './ledger.js';
import type { Logger } from './log.js';
import { Matcher } from './matcher.js';
import { buildMessage, type MessageSettings } from './message.js';
import { fileListing } from './selection.js';
import type { Source } from './source.js';
import type { Problem, Subscriber, SubscriberStore } from './subscribers.js';
import { SendError, type Transport } from './transport.js';

export interface RunDeps extends ComposeDeps {
  source: Source;
  transport: Transport;
  ledger: Ledger;
  store: SubscriberStore;
  catalog: Catalog;
  message: MessageSettings;
  log: Logger;
  clock: Clock;
  /** Called after each subscriber is handled, for a progress line on a terminal. */
  progress?: (done: number, total: number) => void;
}

export interface RunOptions {
  date: string;
  dryRun?: boolean;
  /** Only this subscriber id. */
  only?: string;
}

export interface Outcome {
  subscriber: string;
  state: 'sent' | 'would-send' | 'skipped' | 'failed';
  reason?: string;
  papers?: number;
  bytes?: number;
}

export interface RunSummary {
  date: string;
  source: string;
  papers: number;
  listingWarnings: string[];
  subscribers: number;
  invalid: Problem[];
  outcomes: Outcome[];
  sent: number;
  skipped: number;
  failed: number;
  /** Set when the run stopped early (transport unusable). */
  aborted?: string;
}

export async function run(opts: RunOptions, deps: RunDeps): Promise<RunSummary> {
  const { log } = deps;
  const summary: RunSummary = {
    date: opts.date,
    source: deps.source.name,
    papers: 0,
    listingWarnings: [],
    subscribers: 0,
    invalid: [],
    outcomes: [],
    sent: 0,
    skipped: 0,
    failed: 0,
  };

  // 1. Listing → papers. A payload that is not a listing throws here, before anything is sent.
  const listing = await deps.source.fetch(opts.date);
  summary.papers = listing.papers.length;
  summary.listingWarnings = listing.warnings;
  for (const w of listing.warnings) log.warn('listing.item_dropped', { detail: w });
  log.info('listing.fetched', {
    date: opts.date,
    source: deps.source.name,
    papers: listing.papers.length,
    dropped: listing.warnings.length,
  });

  // 2. Papers → topics, once for everyone.
  const filed = fileListing(listing.papers, Matcher.fromCatalog(deps.catalog));
  log.info('papers.filed', { papers: filed.length, withTopic: filed.filter((f) => f.topics.length > 0).length });

  // 3. Subscribers: bad files are reported and skipped; everyone else goes on.
  const loaded = await deps.store.list();
  summary.invalid = loaded.problems;
  for (const p of loaded.problems) log.error('subscriber.invalid', { file: p.file, problem: p.message });
  let subscribers = loaded.subscribers;
  if (opts.only) {
    subscribers = subscribers.filter((s) => s.id === opts.only);
    if (subscribers.length === 0 && !loaded.problems.some((p) => p.id === opts.only)) {
      throw new PaperboyError('NOT_FOUND', `no subscriber "${opts.only}" in ${deps.store.dir}`);
    }
  }
  summary.subscribers = subscribers.length;
  log.info('subscribers.loaded', { valid: subscribers.length, invalid: loaded.problems.length });

  if (listing.papers.length === 0) {
    log.info('run.empty_listing', { date: opts.date, note: 'no papers for this date (weekend or holiday?); nothing sent' });
    for (const s of subscribers) summary.outcomes.push({ subscriber: s.id, state: 'skipped', reason: 'the listing is empty' });
    summary.skipped = subscribers.length;
    return summary;
  }

  // 4. Per subscriber: select → render → send → ledger.
  if (!opts.dryRun && subscribers.some((s) => s.status === 'active')) {
    try {
      await deps.transport.verify();
    } catch (e) {
      summary.aborted = `transport ${deps.transport.name} unusable: ${describeError(e)}`;
      log.error('run.aborted', { reason: summary.aborted });
      return summary;
    }
  }
  let done = 0;
  for (const sub of subscribers) {
    let outcome: Outcome;
    try {
      outcome = await handleSubscriber(sub, filed, opts, deps);
    } catch (e) {
      if (e instanceof SendError && e.kind === 'fatal') {
        // The transport cannot work at all: stop now rather than fail everyone the same way.
        summary.aborted = `transport ${deps.transport.name} unusable: ${e.message}`;
        log.error('run.aborted', { reason: summary.aborted, subscriber: sub.id });
        break;
      }
      outcome = { subscriber: sub.id, state: 'failed', reason: describeError(e) };
    }
    summary.outcomes.push(outcome);
    if (outcome.state === 'sent' || outcome.state === 'would-send') summary.sent++;
    else if (outcome.state === 'skipped') summary.skipped++;
    else summary.failed++;
    const level = outcome.state === 'failed' ? 'error' : 'info';
    log[level](`subscriber.${outcome.state}`, { subscriber: sub.id, reason: outcome.reason, papers: outcome.papers, bytes: outcome.bytes });
    deps.progress?.(++done, subscribers.length);
  }
  log.info('run.done', {
    date: opts.date,
    sent: summary.sent,
    skipped: summary.skipped,
    failed: summary.failed,
    invalid: summary.invalid.length,
    dryRun: !!opts.dryRun,
  });
  return summary;
}

async function handleSubscriber(sub: Subscriber, filed: ReturnType<typeof fileListing>, opts: RunOptions, deps: RunDeps): Promise<Outcome> {
  const { ledger } = deps;
  if (sub.status !== 'active') return { subscriber: sub.id, state: 'skipped', reason: `status is ${sub.status}` };
  const previous = ledger.state(opts.date, sub.id);
  if (
    previous &&
    (previous.state === 'sent' || previous.state === 'sending' || previous.state === 'ambiguous' || previous.state === 'failed-permanent')
  ) {
    return {
      subscriber: sub.id,
      state: 'skipped',
      reason: `already ${previous.state === 'sending' ? 'attempted (possibly delivered)' : previous.state} for ${opts.date}`,
    };
  }
  const digest = composeDigest(sub, filed, opts.date, deps, ledger.papersSentBefore(sub.id, opts.date));
  if (!digest.email) {
    const reason = digest.selection.emptyReason ?? 'nothing to send';
    if (!opts.dryRun) ledger.record({ date: opts.date, subscriber: sub.id, state: 'skipped', reason });
    return { subscriber: sub.id, state: 'skipped', reason };
  }
  if (digest.email.overBudget) deps.log.warn('email.over_budget', { subscriber: sub.id, bytes: digest.email.htmlBytes });
  const base = { subscriber: sub.id, papers: digest.paperIds.length, bytes: digest.email.htmlBytes };
  if (opts.dryRun) return { ...base, state: 'would-send' };

  // Unsubscribes win: read the file again right before sending.
  const fresh = await deps.store.get(sub.id).catch(() => undefined);
  if (!fresh || fresh.status !== 'active') {
    return { subscriber: sub.id, state: 'skipped', reason: fresh ? `status changed to ${fresh.status}` : 'subscriber file removed' };
  }
  const message = buildMessage(digest.email, fresh, opts.date, digest.paperIds, deps.message);
  ledger.record({
    date: opts.date,
    subscriber: sub.id,
    state: 'sending',
    messageId: message.meta.messageId,
    papers: digest.paperIds,
    email: fresh.email,
  });
  try {
    const result = await deps.transport.send(message);
    ledger.record({
      date: opts.date,
      subscriber: sub.id,
      state: 'sent',
      messageId: message.meta.messageId,
      papers: digest.paperIds,
      reason: result.detail,
    });
    return { ...base, state: 'sent', reason: result.detail };
  } catch (e) {
    const kind = e instanceof SendError ? e.kind : 'transient';
    const state = kind === 'permanent' ? 'failed-permanent' : kind === 'ambiguous' ? 'ambiguous' : 'failed-transient';
    ledger.record({ date: opts.date, subscriber: sub.id, state, messageId: message.meta.messageId, reason: describeError(e) });
    if (kind === 'fatal') throw e;
    return { ...base, state: 'failed', reason: `${state}: ${describeError(e)}` };
  }
}
