/**
 * One digest run, as a recipe:
 *   listing → papers → selection → rendered email → send → ledger
 * Each stage is one module (source, listing, matcher/selection, render,
 * message/transport, ledger); this file only calls them in order and logs a
 * count after each. One bad subscriber never stops the others.
 *
 * Delivery (src/delivery.ts for the policy): every state change is fsynced to
 * the ledger before the next step, planned → sending → sent | failed-transient
 * (retried with backoff) | failed-permanent | ambiguous. A `sending` left by a
 * crashed run is reported as ambiguous, never resent. The run stops early when
 * the SMTP server cannot be used at all, when the circuit breaker trips, or
 * when `signal` aborts (shutdown): the message in flight finishes first.
 */
import type { Catalog } from './catalog.js';
import type { Clock } from './clock.js';
import { emptyListingNote } from './dates.js';
import { composeDigest, type ComposeDeps } from './digest.js';
import { backoffDelay, CircuitBreaker, DEFAULT_POLICY, realSleep, type DeliveryPolicy, type Sleep } from './delivery.js';
import { describeError, isPaperboyError, PaperboyError } from './errors.js';
import { FINAL_STATES, type Ledger, type LedgerEvent } from './ledger.js';
import { listingDateGap, logListingWarnings } from './listing.js';
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
  /** Retries, circuit breaker, bounce suppression (defaults: DEFAULT_POLICY). */
  delivery?: DeliveryPolicy;
  /** Injected so tests never wait real seconds between retries. */
  sleep?: Sleep;
  random?: () => number;
}

export interface RunOptions {
  date: string;
  dryRun?: boolean;
  /** Only this subscriber id. */
  only?: string;
  /** Only these subscriber ids (the scheduler's due list); others are not counted. */
  subscribers?: ReadonlySet<string>;
  /**
   * Aborting stops the run after the message in flight (SIGTERM, lost lock); the reason is reported.
   * A lock lost while frozen is caught sooner, by the ledger's guard (LOCKED before any write).
   */
  signal?: AbortSignal;
}

export interface Outcome {
  subscriber: string;
  state: 'sent' | 'would-send' | 'skipped' | 'failed';
  reason?: string;
  papers?: number;
  bytes?: number;
  /** The message may have arrived (connection lost after its data): it is not resent. */
  ambiguous?: boolean;
  /** A transient failure not retried because the run was asked to stop: the next run sends it. */
  abandoned?: boolean;
}

export interface RunSummary {
  date: string;
  source: string;
  papers: number;
  /** One line per listing item dropped or merged. */
  listingWarnings: string[];
  /** How many of `listingWarnings` are duplicates merged into another copy (no paper lost). */
  listingMerged: number;
  subscribers: number;
  invalid: Problem[];
  outcomes: Outcome[];
  /** A dry run sends and records nothing: `sent` then counts the messages that would have gone out. */
  dryRun: boolean;
  sent: number;
  skipped: number;
  failed: number;
  /** Set when the run stopped early: transport unusable, circuit breaker, or interrupted. */
  aborted?: string;
  /** Deliveries that may or may not have arrived (connection lost after the data, or a crashed run): not resent. */
  ambiguous: Array<{ date: string; subscriber: string; reason?: string }>;
}

export async function run(opts: RunOptions, deps: RunDeps): Promise<RunSummary> {
  const { log } = deps;
  const summary: RunSummary = {
    date: opts.date,
    source: deps.source.name,
    papers: 0,
    listingWarnings: [],
    listingMerged: 0,
    subscribers: 0,
    invalid: [],
    dryRun: !!opts.dryRun,
    outcomes: [],
    sent: 0,
    skipped: 0,
    failed: 0,
    ambiguous: [],
  };

  // 1. Listing → papers. A payload that is not a listing throws here, before anything is sent.
  const listing = await deps.source.fetch(opts.date);
  summary.papers = listing.papers.length;
  summary.listingWarnings = listing.warnings;
  // A duplicate is merged into its other copy, not lost: counted apart so "dropped" means papers nobody will get.
  const { dropped, merged } = logListingWarnings(listing, log);
  summary.listingMerged = merged;
  log.info('listing.fetched', {
    date: opts.date,
    source: deps.source.name,
    papers: listing.papers.length,
    dropped,
    ...(merged ? { merged } : {}),
  });
  const gap = listingDateGap(listing, opts.date);
  if (gap && Math.abs(gap.days) > gap.slack)
    log.warn('listing.date_far', {
      date: opts.date,
      listing: gap.from,
      note: `the digest date is ${Math.abs(gap.days)} days ${gap.days > 0 ? 'after' : 'before'} the listing: the wrong listing file, or a missing --date?`,
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
  if (opts.subscribers) subscribers = subscribers.filter((s) => opts.subscribers!.has(s.id));
  summary.subscribers = subscribers.length;
  log.info('subscribers.loaded', { valid: subscribers.length, invalid: loaded.problems.length });

  if (listing.papers.length === 0) {
    log.info('run.empty_listing', { date: opts.date, note: `${emptyListingNote(opts.date)}; nothing sent` });
    for (const s of subscribers) summary.outcomes.push({ subscriber: s.id, state: 'skipped', reason: 'the listing is empty' });
    summary.skipped = subscribers.length;
    return summary;
  }

  // 4. Per subscriber: select → render → send → ledger.
  if (!opts.dryRun && subscribers.some((s) => s.status === 'active')) {
    try {
      await deps.transport.verify();
    } catch (e) {
      summary.aborted = `${cannotUse(deps.transport.name)}: ${describeError(e)}; nothing was sent`;
      log.error('run.aborted', { reason: summary.aborted });
      return summary;
    }
  }
  if (!opts.dryRun) {
    try {
      // A `sending` with no outcome means a run died mid-send: it may have arrived. Report, never resend.
      for (const ev of deps.ledger.interrupted()) {
        const reason =
          'the run sending it stopped before the outcome was known (crash or kill); it may have been delivered, so it is not resent';
        deps.ledger.record({ date: ev.date, subscriber: ev.subscriber, state: 'ambiguous', messageId: ev.messageId, reason });
        log.warn('delivery.ambiguous', { date: ev.date, subscriber: ev.subscriber, reason });
      }
      for (const ev of deps.ledger.latestFor(opts.date))
        if (ev.state === 'ambiguous') summary.ambiguous.push({ date: ev.date, subscriber: ev.subscriber, reason: ev.reason });
      // Durably note who this run is about to handle, in one write.
      deps.ledger.recordMany(
        subscribers
          .filter((s) => s.status === 'active' && !isSettled(deps.ledger, opts.date, s.id))
          .map((s) => ({ date: opts.date, subscriber: s.id, state: 'planned' as const })),
      );
    } catch (e) {
      if (isPaperboyError(e) && e.code === 'LEDGER') {
        summary.aborted = ledgerStop(describeError(e), subscribers.length);
        log.error('run.aborted', { reason: summary.aborted });
        return summary;
      }
      if (!isPaperboyError(e) || e.code !== 'LOCKED') throw e;
      summary.aborted = lockLost(e, subscribers.length);
      log.error('run.interrupted', { reason: summary.aborted });
      return summary;
    }
  }
  const breaker = new CircuitBreaker((deps.delivery ?? DEFAULT_POLICY).errorBudget);
  let done = 0;
  let ledgerLost: string | undefined;
  for (const sub of subscribers) {
    if (opts.signal?.aborted) break;
    let outcome: Outcome;
    try {
      outcome = await handleSubscriber(sub, filed, opts, deps);
    } catch (e) {
      if (e instanceof SendError && e.kind === 'fatal') {
        // The transport cannot work at all: stop now rather than fail everyone the same way.
        summary.aborted = `${cannotUse(deps.transport.name)}: ${e.message}; stopped, nothing more was sent`;
        log.error('run.aborted', { reason: summary.aborted, subscriber: sub.id });
        break;
      }
      if (isPaperboyError(e) && e.code === 'LOCKED') {
        // Another run holds the lock now and handles these subscribers: going on would send twice.
        summary.aborted = lockLost(e, subscribers.length - done);
        log.error('run.interrupted', { reason: summary.aborted, subscriber: sub.id });
        break;
      }
      // Without a ledger nothing can be sent safely (twice, or unrecorded): stop. A message the server took
      // counts as sent; its `sending` line keeps the next run from sending it again.
      if (isPaperboyError(e) && e.code === 'LEDGER') {
        summary.aborted = ledgerStop(describeError(e), subscribers.length - done);
        log.error('run.aborted', { reason: summary.aborted, subscriber: sub.id });
        break;
      }
      if (e instanceof Unrecorded) ledgerLost = describeError(e.cause);
      outcome = e instanceof Unrecorded ? e.outcome : { subscriber: sub.id, state: 'failed', reason: describeError(e) };
    }
    summary.outcomes.push(outcome);
    if (outcome.state === 'sent' || outcome.state === 'would-send') summary.sent++;
    else if (outcome.state === 'skipped') summary.skipped++;
    else summary.failed++;
    if (outcome.ambiguous) summary.ambiguous.push({ date: opts.date, subscriber: sub.id, reason: outcome.reason });
    const level = outcome.state === 'failed' ? 'error' : 'info';
    // For a sent message the text is where it went (the server's reply, or the .eml file), not a reason.
    const text = outcome.state === 'sent' ? { delivered: outcome.reason } : { reason: outcome.reason };
    log[level](`subscriber.${outcome.state}`, { subscriber: sub.id, ...text, papers: outcome.papers, bytes: outcome.bytes });
    done++;
    deps.progress?.(done, subscribers.length);
    if (ledgerLost) {
      summary.aborted = ledgerStop(ledgerLost, subscribers.length - done);
      log.error('run.aborted', { reason: summary.aborted, subscriber: sub.id });
      break;
    }
    if (outcome.state === 'failed') {
      breaker.recordFailure(`${sub.id}: ${outcome.reason}`);
      const tripped = breaker.tripped();
      if (tripped) {
        const left = subscribers.length - done;
        summary.aborted = `${tripped}. Paused: ${left} subscriber(s) not attempted, they go out on the next run`;
        log.error('run.paused', { reason: summary.aborted, notAttempted: left });
        break;
      }
    }
  }
  // Also when the stop came during the last message: its retries were abandoned, and the exit code must say so.
  // (A stop that came as the last message went out cut nothing short: the run is complete.)
  const left = subscribers.length - done;
  if (opts.signal?.aborted && !summary.aborted && (left > 0 || summary.outcomes.at(-1)?.abandoned)) {
    summary.aborted =
      `interrupted (${String(opts.signal.reason ?? 'stop requested')}); ` +
      (left > 0
        ? `${left} subscriber(s) not handled, they go out on the next run`
        : `the last message failed and was not retried (${summary.outcomes.at(-1)!.subscriber}): it goes out on the next run`);
    log.warn('run.interrupted', { reason: summary.aborted });
  }
  log.info('run.done', {
    date: opts.date,
    // A dry run sends nothing: its count is of messages it would have sent.
    ...(opts.dryRun ? { wouldSend: summary.sent } : { sent: summary.sent }),
    skipped: summary.skipped,
    failed: summary.failed,
    ambiguous: summary.ambiguous.length,
    invalid: summary.invalid.length,
    dryRun: !!opts.dryRun,
    aborted: summary.aborted,
  });
  return summary;
}

/** The outbox is a folder, not a server: say which one failed. */
const cannotUse = (transport: string) =>
  transport.startsWith('outbox ') ? `the ${transport} cannot be written` : `the SMTP server cannot be used (${transport})`;

const lockLost = (e: Error, left: number) =>
  `interrupted (${e.message}); ${left} subscriber(s) not handled here: the run that holds the lock, or the next one, sends them`;

/** The ledger already has an outcome for this date that forbids another send. */
function isSettled(ledger: Ledger, date: string, subscriber: string): boolean {
  const state = ledger.state(date, subscriber)?.state;
  return state !== undefined && (FINAL_STATES.has(state) || state === 'sending');
}

/** Why not to send: the date's digest already went (or may have) to this address under another subscriber id. */
function sentToAddress(ledger: Ledger, date: string, sub: Pick<Subscriber, 'id' | 'email'>): string | undefined {
  const twin = ledger.deliveredToAddress(date, sub.email, sub.id);
  return twin && `the ${date} digest already went to ${sub.email} as subscriber "${twin}"`;
}

async function handleSubscriber(sub: Subscriber, filed: ReturnType<typeof fileListing>, opts: RunOptions, deps: RunDeps): Promise<Outcome> {
  const { ledger } = deps;
  if (sub.status !== 'active') return { subscriber: sub.id, state: 'skipped', reason: `status is ${sub.status}` };
  const previous = ledger.state(opts.date, sub.id);
  if (previous && isSettled(ledger, opts.date, sub.id)) {
    return {
      subscriber: sub.id,
      state: 'skipped',
      reason: `already ${previous.state === 'sending' ? 'attempted (possibly delivered)' : previous.state} for ${opts.date}`,
    };
  }
  const twin = sentToAddress(ledger, opts.date, sub);
  if (twin) {
    if (!opts.dryRun) ledger.record({ date: opts.date, subscriber: sub.id, state: 'skipped', reason: twin });
    return { subscriber: sub.id, state: 'skipped', reason: twin };
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

  const policy = deps.delivery ?? DEFAULT_POLICY;
  const sleep = deps.sleep ?? realSleep;
  let waited = 0;
  for (let attempt = 1; ; attempt++) {
    // Unsubscribes win: read the file again right before every attempt.
    const fresh = await deps.store.get(sub.id).catch(() => undefined);
    if (!fresh || fresh.status !== 'active') {
      const reason = fresh ? `status changed to ${fresh.status}` : 'subscriber file removed';
      ledger.record({ date: opts.date, subscriber: sub.id, state: 'skipped', reason });
      return { subscriber: sub.id, state: 'skipped', reason };
    }
    const moved = fresh.email === sub.email ? undefined : sentToAddress(ledger, opts.date, fresh);
    if (moved) {
      ledger.record({ date: opts.date, subscriber: sub.id, state: 'skipped', reason: moved });
      return { subscriber: sub.id, state: 'skipped', reason: moved };
    }
    // The links in the body are signed for the address; if it changed since selection, compose again.
    const current =
      fresh.email === sub.email ? digest : composeDigest(fresh, filed, opts.date, deps, ledger.papersSentBefore(sub.id, opts.date));
    const message = buildMessage(
      current.email ?? digest.email,
      fresh,
      opts.date,
      current.email ? current.paperIds : digest.paperIds,
      deps.message,
    );
    const messageId = message.meta.messageId;
    ledger.record({
      date: opts.date,
      subscriber: sub.id,
      state: 'sending',
      messageId,
      papers: message.meta.paperIds,
      email: fresh.email,
      attempt,
    });
    let answer: { detail: string } | SendError;
    try {
      answer = await deps.transport.send(message);
    } catch (e) {
      answer = e instanceof SendError ? e : new SendError('transient', describeError(e));
    }
    if (!(answer instanceof SendError)) {
      // Outside the send's try: a ledger that cannot be written after the server took the message must not
      // read as a send failure, or the retry would send it again. Its `sending` line is on disk, so the
      // next run counts it as possibly sent.
      const sent: Outcome = { ...base, state: 'sent', reason: answer.detail };
      try {
        ledger.record({
          date: opts.date,
          subscriber: sub.id,
          state: 'sent',
          messageId,
          papers: message.meta.paperIds,
          reason: answer.detail,
          attempt,
        });
      } catch (e) {
        throw new Unrecorded(sent, e);
      }
      return sent;
    }
    const failure = answer;
    const reason = failure.message;
    // The message did not go out, but its `sending` line is on disk: unrecorded, the next run would take it as
    // possibly sent. Said so, and the run stops (see the subscriber loop).
    const note = (ev: Omit<LedgerEvent, 'v' | 'at'>) => {
      try {
        ledger.record(ev);
      } catch (e) {
        const why = `not delivered (${reason}), but the next run counts it as possibly sent and will not send it`;
        throw new Unrecorded({ ...base, state: 'failed', reason: why }, e);
      }
    };
    if (failure.kind === 'fatal') {
      // Nothing left the building (refused, auth, TLS): the next run sends it.
      note({ date: opts.date, subscriber: sub.id, state: 'failed-transient', messageId, reason, attempt });
      throw failure;
    }
    if (failure.kind === 'permanent') {
      note({ date: opts.date, subscriber: sub.id, state: 'failed-permanent', messageId, reason, attempt });
      await suppressIfBouncing(sub.id, policy, deps);
      return { ...base, state: 'failed', reason: `failed-permanent: ${reason}` };
    }
    if (failure.kind === 'ambiguous') {
      note({ date: opts.date, subscriber: sub.id, state: 'ambiguous', messageId, reason, attempt });
      return { ...base, state: 'failed', reason: `ambiguous (not resent): ${reason}`, ambiguous: true };
    }
    const delay = backoffDelay(attempt, policy.retryBaseMs, deps.random);
    const retryAllowed = attempt <= policy.retries && waited + delay <= policy.retryMaxTotalMs;
    const retry = retryAllowed && !opts.signal?.aborted;
    note({
      date: opts.date,
      subscriber: sub.id,
      state: 'failed-transient',
      messageId,
      reason: retry ? `${reason} (retry in ${delay} ms)` : reason,
      attempt,
    });
    if (!retry) {
      const stopped = retryAllowed; // not retried only because the run is stopping
      const why = stopped ? `failed-transient, not retried on shutdown` : `failed-transient after ${attempt} attempt(s)`;
      return { ...base, state: 'failed', reason: `${why}: ${reason}`, ...(stopped && { abandoned: true }) };
    }
    deps.log.warn('delivery.retry', { subscriber: sub.id, attempt, waitMs: delay, reason });
    await sleep(delay, opts.signal);
    waited += delay;
    if (opts.signal?.aborted)
      return { ...base, state: 'failed', reason: `failed-transient, retry abandoned on shutdown: ${reason}`, abandoned: true };
  }
}

const ledgerStop = (why: string, left: number) => `${why}; ${left} subscriber(s) not handled, they go out on the next run`;

/** A delivery's outcome the ledger could not record (the server took the message, or refused it): the run stops. */
class Unrecorded extends Error {
  constructor(
    readonly outcome: Outcome,
    override readonly cause: unknown,
  ) {
    super(describeError(cause));
  }
}

/** Permanent failures on `bounceDays` consecutive digest days → `status: bouncing` until an admin re-enables. */
async function suppressIfBouncing(id: string, policy: DeliveryPolicy, deps: RunDeps): Promise<void> {
  if (!deps.ledger.bouncing(id, policy.bounceDays)) return;
  try {
    await deps.store.update(id, { status: 'bouncing' });
    deps.log.warn('subscriber.bouncing', {
      subscriber: id,
      days: deps.ledger
        .history(id)
        .filter((e) => e.state === 'failed-permanent')
        .slice(0, policy.bounceDays)
        .map((e) => e.date),
      note: 'suppressed until an admin sets status: active again',
    });
  } catch (e) {
    deps.log.error('subscriber.bouncing_failed', { subscriber: id, reason: describeError(e) });
  }
}
