/**
 * The scheduler daemon behind `paperboy schedule`. A node-cron task ticks
 * every minute (timezone DIGEST_TZ, no overlap); each tick asks the pure
 * schedule (src/schedule.ts) which (subscriber, digest date) deliveries are
 * due or missed, and runs the ordinary pipeline for the due ones, under the
 * same run lock as `paperboy run`. Ticking every minute rather than at the
 * cron times keeps per-subscriber zones and hours, DST changes and catch-up
 * after a restart in one place: the schedule computation.
 *
 * - Catch-up: whatever fell due since the last tick (DATA_DIR/schedule-state.json
 *   remembers up to when everything is accounted for) goes out if it is at most
 *   MAX_LATENESS_MINUTES late, and is recorded `missed` otherwise.
 * - A listing that is not published yet (empty, or the source fails), or one
 *   that cannot be read (an error at once), is tried again every
 *   RETRY_INTERVAL_MINUTES until LISTING_DEADLINE_MINUTES after the due time;
 *   then the day is recorded `skipped` with the reason.
 * - A delivery still failing after the in-run retries is tried again after
 *   RETRY_INTERVAL_MINUTES, until it is too late (then `missed`).
 * - stop(): no new work; the run in progress stops after its message in
 *   flight; the lock is released and the ledger is already on disk.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import cron, { type ScheduledTask } from 'node-cron';
import { systemClock, type Clock } from './clock.js';
import type { Config } from './config.js';
import { deliveryPolicy, getRenderer, loadParts, openLedgerForRun } from './context.js';
import type { Sleep } from './delivery.js';
import { describeError, isPaperboyError } from './errors.js';
import type { DeliveryState, Ledger } from './ledger.js';
import { RunLock, type HeldLock } from './lock.js';
import type { Logger } from './log.js';
import { run, type RunSummary } from './pipeline.js';
import { planDeliveries, type Delivery, type ScheduleSettings } from './schedule.js';
import type { Source } from './source.js';
import type { Transport } from './transport.js';
import { writeFileAtomic } from './yamlfile.js';

export interface DaemonOptions {
  config: Config;
  log: Logger;
  clock?: Clock;
  makeSource: () => Source;
  makeTransport: () => Transport;
  sleep?: Sleep;
  random?: () => number;
}

/** What one tick did, for logs and tests. */
export interface TickReport {
  at: Date;
  /** The lock was held by another run: nothing done, tried again next tick. */
  busy?: boolean;
  due: Delivery[];
  missed: Delivery[];
  /** Deliveries left for a later tick (listing not ready, still failing, stopped). */
  deferred: Delivery[];
  /** Recorded skipped because the listing never came before the deadline. */
  skipped: Delivery[];
  runs: RunSummary[];
  /** Why a run could not be made (listing unreachable or unreadable, other errors): `schedule --once` exits 1. */
  errors: string[];
  nextDueAt?: Date;
}

/** Last states after which the scheduler leaves a (date, subscriber) alone. */
const SETTLED: ReadonlySet<DeliveryState> = new Set(['sent', 'failed-permanent', 'ambiguous', 'missed', 'skipped', 'sending']);
const MINUTE = 60_000;
const key = (date: string, subscriber: string) => `${date}\n${subscriber}`;

export class Daemon {
  private readonly clock: Clock;
  private readonly lock: RunLock;
  private readonly stateFile: string;
  /** The "no state file" warning is given once per process, not every minute until the first save. */
  private firstStartNoted = false;
  private ticks = 0;
  private readonly settled = new Set<string>();
  private readonly notBefore = new Map<string, number>();
  private readonly stopping = new AbortController();
  private task?: ScheduledTask;
  private current?: Promise<TickReport | undefined>;

  constructor(private readonly opts: DaemonOptions) {
    this.clock = opts.clock ?? systemClock;
    this.lock = new RunLock(opts.config.dataDir);
    this.stateFile = path.join(opts.config.dataDir, 'schedule-state.json');
  }

  get settings(): ScheduleSettings {
    const c = this.opts.config;
    return { cron: c.DIGEST_CRON, timeZone: c.DIGEST_TZ, maxLatenessMinutes: c.MAX_LATENESS_MINUTES };
  }

  /** Start ticking every minute, with a first tick now (catch-up after a restart). */
  async start(): Promise<void> {
    const { config, log } = this.opts;
    this.task = cron.schedule('* * * * *', () => this.safeTick(), {
      timezone: config.DIGEST_TZ,
      name: 'paperboy-schedule',
      noOverlap: true,
    });
    log.info('daemon.started', {
      cron: config.DIGEST_CRON,
      timeZone: config.DIGEST_TZ,
      maxLatenessMinutes: config.MAX_LATENESS_MINUTES,
      listingDeadlineMinutes: config.LISTING_DEADLINE_MINUTES,
      pid: process.pid,
    });
    await this.safeTick();
  }

  /** Take no new work, let the message in flight finish, release everything. */
  async stop(reason: string): Promise<void> {
    this.stopping.abort(reason);
    await this.task?.stop();
    await this.task?.destroy();
    await this.current;
    this.opts.log.info('daemon.stopped', { reason });
  }

  /** One tick at a time, whatever node-cron does; errors are logged, never thrown into the timer. */
  safeTick(): Promise<TickReport | undefined> {
    if (this.current || this.stopping.signal.aborted) return this.current ?? Promise.resolve(undefined);
    this.current = this.tick()
      .catch((e: unknown) => {
        this.opts.log.error('tick.failed', { reason: describeError(e) });
        return undefined;
      })
      .finally(() => {
        this.current = undefined;
      });
    return this.current;
  }

  async tick(): Promise<TickReport> {
    const { config, log } = this.opts;
    const now = this.clock.now();
    const report: TickReport = { at: now, due: [], missed: [], deferred: [], skipped: [], runs: [], errors: [] };
    // The bundled catalog standing in is said once, not every minute.
    const parts = await loadParts(config, this.ticks++ === 0 ? log : undefined);
    const { subscribers } = await parts.store.list();
    const recipients = subscribers.filter((s) => s.status === 'active').map((s) => ({ id: s.id, timezone: s.timezone, hour: s.hour }));
    const since = await this.accountedUntil();
    if (!since && !this.firstStartNoted) {
      this.firstStartNoted = true;
      // Deliberate (a first start does not claim a past it never saw), but an operator who lost the state file should know.
      log.warn('schedule.first_start', {
        state: this.stateFile,
        note: `no record of earlier ticks: digests that fell due before ${new Date(now.getTime() - config.MAX_LATENESS_MINUTES * 60_000).toISOString()} are neither sent nor recorded as missed`,
      });
    }
    const plan = planDeliveries({
      now,
      since,
      recipients,
      settings: this.settings,
      isSettled: (date, subscriber) => this.settled.has(key(date, subscriber)),
    });
    report.nextDueAt = plan.nextDueAt;
    report.missed = plan.missed;
    for (const d of plan.due) {
      if ((this.notBefore.get(key(d.date, d.subscriber)) ?? 0) > now.getTime()) report.deferred.push(d);
      else report.due.push(d);
    }
    if (report.due.length === 0 && report.missed.length === 0) {
      await this.saveAccountedUntil(now, report.deferred);
      return report;
    }

    let lock;
    try {
      lock = await this.lock.acquire({ command: 'paperboy schedule', staleMs: config.LOCK_STALE_SECONDS * 1000 });
    } catch (e) {
      if (!isPaperboyError(e) || e.code !== 'LOCKED') throw e;
      log.info('tick.busy', { reason: e.message, note: 'trying again next minute' });
      return { ...report, busy: true };
    }
    try {
      // Read the ledger under the lock: a run by hand may have sent some of these meanwhile.
      const ledger = await openLedgerForRun(config, log, now, lock);
      this.recordMissed(ledger, report.missed, now);
      const pending = report.due.filter((d) => !this.settle(ledger, d));
      const byDate = new Map<string, Delivery[]>();
      for (const d of pending) byDate.set(d.date, [...(byDate.get(d.date) ?? []), d]);
      for (const [date, group] of [...byDate].sort(([a], [b]) => a.localeCompare(b))) {
        if (this.stopping.signal.aborted) {
          report.deferred.push(...group);
          continue;
        }
        const stop = await this.runDate(date, group, ledger, lock, report);
        if (stop) {
          // The server cannot be used or the breaker tripped: the other dates wait for the next attempt.
          const rest = [...byDate].filter(([d]) => d > date).flatMap(([, g]) => g);
          this.defer(rest, now);
          report.deferred.push(...rest);
          break;
        }
      }
    } finally {
      await lock.release();
    }
    await this.saveAccountedUntil(now, report.deferred);
    if (plan.nextDueAt) log.debug('schedule.next', { at: plan.nextDueAt.toISOString() });
    return report;
  }

  /** Runs the pipeline for one digest date; true if the run stopped in a way that should stop this tick. */
  private async runDate(date: string, group: Delivery[], ledger: Ledger, lock: HeldLock, report: TickReport): Promise<boolean> {
    const { config, log } = this.opts;
    const now = this.clock.now();
    log.info('schedule.due', { date, subscribers: group.length, first: group[0]!.local });
    const parts = await loadParts(config);
    const transport = this.opts.makeTransport();
    let summary: RunSummary | undefined;
    let failure: unknown;
    try {
      summary = await run(
        {
          date,
          subscribers: new Set(group.map((d) => d.subscriber)),
          signal: AbortSignal.any([this.stopping.signal, lock.signal]),
        },
        {
          ...parts,
          source: this.opts.makeSource(),
          transport,
          ledger,
          renderer: await getRenderer(),
          maxEmailBytes: config.MAX_EMAIL_BYTES,
          log,
          clock: this.clock,
          delivery: deliveryPolicy(config),
          sleep: this.opts.sleep,
          random: this.opts.random,
        },
      );
      report.runs.push(summary);
    } catch (e) {
      failure = e;
    } finally {
      await transport.close();
    }

    const notPublished =
      failure && isPaperboyError(failure) && (failure.code === 'SOURCE' || failure.code === 'LISTING')
        ? describeError(failure)
        : summary && summary.papers === 0
          ? `the listing for ${date} is empty`
          : undefined;
    if (failure) report.errors.push(`${date}: ${describeError(failure)}`);
    // Fetched, but not a listing we can read (the API's format changed?): unlike a listing not out yet,
    // waiting will seldom fix it, and someone has to look; it is still tried again (a proxy's error page
    // passes too) and named as what it is, not as "not published".
    const unusable = failure && isPaperboyError(failure) && failure.code === 'LISTING';
    const retryAt = new Date(now.getTime() + config.RETRY_INTERVAL_MINUTES * MINUTE).toISOString();
    if (notPublished) {
      const deadlineMs = config.LISTING_DEADLINE_MINUTES * MINUTE;
      const late = group.filter((d) => now.getTime() >= d.dueAt.getTime() + deadlineMs);
      const waiting = group.filter((d) => now.getTime() < d.dueAt.getTime() + deadlineMs);
      if (unusable) log.error('listing.unusable', { date, reason: notPublished, ...(waiting.length && { retryAt }) });
      const what = unusable ? 'no usable listing' : failure ? 'listing could not be fetched' : 'listing not published';
      for (const d of late) {
        const reason = `${what} by the deadline (${config.LISTING_DEADLINE_MINUTES} min after ${d.local}): ${notPublished}`;
        ledger.record({ date, subscriber: d.subscriber, state: 'skipped', reason });
        this.settled.add(key(date, d.subscriber));
      }
      if (late.length) log.warn('schedule.skipped', { date, subscribers: late.length, reason: notPublished });
      this.defer(waiting, now);
      report.skipped.push(...late);
      report.deferred.push(...waiting);
      if (waiting.length && !unusable) log.info('listing.not_ready', { date, reason: notPublished, retryAt });
      return false;
    }
    if (failure) {
      log.error('schedule.run_failed', { date, reason: describeError(failure) });
      this.defer(group, now);
      report.deferred.push(...group);
      return false;
    }
    const unsettled = group.filter((d) => !this.settle(ledger, d));
    this.defer(unsettled, now);
    report.deferred.push(...unsettled);
    return summary?.aborted !== undefined;
  }

  /** Is this delivery done with, per the ledger? Remembers it if so. */
  private settle(ledger: Ledger, d: Delivery): boolean {
    const state = ledger.state(d.date, d.subscriber)?.state;
    if (state === undefined || !SETTLED.has(state)) return false;
    this.settled.add(key(d.date, d.subscriber));
    return true;
  }

  private recordMissed(ledger: Ledger, missed: Delivery[], now: Date) {
    const lateness = this.opts.config.MAX_LATENESS_MINUTES;
    for (const d of missed) {
      if (this.settle(ledger, d)) continue;
      const last = ledger.state(d.date, d.subscriber);
      const reason =
        `not sent within MAX_LATENESS_MINUTES=${lateness} of its time ${d.local} (now ${now.toISOString()})` +
        (last ? `; last state ${last.state}${last.reason ? `: ${last.reason}` : ''}` : '; the scheduler was not running');
      ledger.record({ date: d.date, subscriber: d.subscriber, state: 'missed', reason });
      this.settled.add(key(d.date, d.subscriber));
      this.opts.log.warn('delivery.missed', { date: d.date, subscriber: d.subscriber, due: d.local });
    }
  }

  private defer(deliveries: Delivery[], now: Date) {
    const at = now.getTime() + this.opts.config.RETRY_INTERVAL_MINUTES * MINUTE;
    for (const d of deliveries) this.notBefore.set(key(d.date, d.subscriber), at);
  }

  private async accountedUntil(): Promise<Date | undefined> {
    try {
      const state = JSON.parse(await readFile(this.stateFile, 'utf8')) as { accountedUntil?: string };
      const at = state.accountedUntil ? new Date(state.accountedUntil) : undefined;
      return at && !Number.isNaN(at.getTime()) ? at : undefined;
    } catch {
      return undefined;
    }
  }

  /** Everything due before this instant is settled or recorded: the next start looks back no further. */
  private async saveAccountedUntil(now: Date, stillPending: Delivery[]) {
    const floor = Math.min(now.getTime(), ...stillPending.map((d) => d.dueAt.getTime()));
    await mkdir(this.opts.config.dataDir, { recursive: true });
    await writeFileAtomic(this.stateFile, JSON.stringify({ accountedUntil: new Date(floor).toISOString() }) + '\n');
    // Forget what can no longer come back into the window (it looks back 14 days at most).
    const horizon = new Date(now.getTime() - 16 * 24 * 60 * MINUTE).toISOString().slice(0, 10);
    for (const k of this.settled) if (k.slice(0, 10) < horizon) this.settled.delete(k);
    for (const k of this.notBefore.keys()) if (k.slice(0, 10) < horizon) this.notBefore.delete(k);
  }
}
