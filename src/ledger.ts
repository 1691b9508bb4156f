/**
 * The ledger: an appended JSON-lines record of what happened to each
 * (digest date, subscriber). Each event is written and fsynced before the run
 * moves on, so after a crash the file says exactly how far it got. A torn last
 * line (crash mid-write) is skipped on reading.
 *
 * States per (date, subscriber):
 *   planned → sending → sent | failed-transient | failed-permanent | ambiguous
 *   skipped (nothing to send, paused…), missed (too late to send)
 *
 * A run compacts digests older than DETAIL_DAYS to one line per (date, state)
 * listing the subscribers, so reading the ledger stays cheap after years.
 */
import { closeSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { addDays } from './dates.js';
import { PaperboyError } from './errors.js';
import { writeFileAtomic } from './yamlfile.js';

export const LEDGER_VERSION = 1;
/** The `v` of a compacted line (older Paperboy versions do not read them: no downgrade after a compaction). */
export const SUMMARY_VERSION = 2;

/**
 * Compaction (see `Ledger.compact`): digests of the last DETAIL_DAYS keep every
 * event; older ones keep only their last state, which is all that the
 * no-second-send rule, crash recovery and the bounce rule (BOUNCE_DAYS) read.
 * The paper lists go too: a paper is on one day's Daily Papers list, so a
 * digest a month later will not meet it again.
 */
export const DETAIL_DAYS = 30;
/** Rewrite the file only when it saves at least this many lines: a few kB are not worth a rewrite. */
export const COMPACT_MIN_LINES = 5000;

export type DeliveryState = 'planned' | 'sending' | 'sent' | 'failed-transient' | 'failed-permanent' | 'ambiguous' | 'skipped' | 'missed';

export interface LedgerEvent {
  v: number;
  /** When this was recorded (ISO). */
  at: string;
  date: string;
  subscriber: string;
  state: DeliveryState;
  reason?: string;
  messageId?: string;
  /** Papers the message contains (for the "never the same paper twice" rule). */
  papers?: string[];
  email?: string;
  attempt?: number;
}

/** The compacted form of old digests: the subscribers whose last state for `date` was `state`. */
interface Summary {
  v: number;
  at: string;
  date: string;
  state: DeliveryState;
  subscribers: string[];
}

/** States after which a digest must not be sent again for that date. */
export const FINAL_STATES: ReadonlySet<DeliveryState> = new Set(['sent', 'failed-permanent', 'ambiguous', 'missed']);

const DELIVERED_OR_MAYBE: ReadonlySet<DeliveryState> = new Set(['sent', 'ambiguous', 'sending']);

export class Ledger {
  readonly file: string;
  private events: LedgerEvent[] = [];
  private latest = new Map<string, LedgerEvent>();
  /** Papers of the last message prepared for (date, subscriber). */
  private papers = new Map<string, string[]>();
  private datesBySubscriber = new Map<string, Set<string>>();
  /** Subscribers a message for a date was addressed to, by date and lower-case address. */
  private byAddress = new Map<string, Set<string>>();
  /** Lines that could not be parsed (a torn write), for the operator. */
  readonly damaged: number[] = [];
  /**
   * Called before every append; throws to refuse it. A run sets it to its lock's check
   * (HeldLock.verify): a run that lost its lock while frozen must not write `planned` or
   * `skipped` over what the run that took over recorded since, or the next run would send again.
   */
  guard?: () => void;

  constructor(
    dataDir: string,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.file = path.join(dataDir, 'ledger.jsonl');
    this.load();
  }

  private load() {
    let text = '';
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    this.bytes = Buffer.byteLength(text);
    const lines = text.split('\n');
    lines.forEach((line, i) => {
      if (!line.trim()) return;
      this.lineCount++;
      try {
        const ev = JSON.parse(line) as LedgerEvent & Partial<Summary>;
        if (typeof ev.date !== 'string' || typeof ev.state !== 'string') this.damaged.push(i + 1);
        else if (typeof ev.subscriber === 'string') this.index(ev);
        else if (Array.isArray(ev.subscribers) && ev.subscribers.every((x) => typeof x === 'string')) this.indexSummary(ev as Summary);
        else this.damaged.push(i + 1);
      } catch {
        this.damaged.push(i + 1);
      }
    });
    // A torn last line has no newline: the next append starts a fresh line. Done at the first
    // append, not here, so readers (`status`, the admin page) never write.
    this.torn = text.length > 0 && !text.endsWith('\n');
  }

  private torn = false;
  /** Lines in the file (a compacted line stands for many events). */
  private lineCount = 0;
  /** Size of the file as this object knows it: what it read plus what it appended. */
  private bytes = 0;

  /**
   * Keeps the ledger from growing without bound (two lines per message, for
   * ever). Digest dates more than `detailDays` before `today` keep only the
   * last state of each subscriber, written as one line per (date, state):
   * `{"date", "state", "subscribers": [...]}`. Every "was this sent?" answer
   * is unchanged, so no digest can go out twice; what goes is the detail
   * (earlier events, paper lists, addresses, message ids, reasons) and any
   * unreadable line. The file is replaced atomically (temp file, fsync,
   * rename), and only when that saves at least `minLines` lines. Call it only
   * while holding the run lock; and should anything have appended all the
   * same (a holder that lost the lock), the file is left as it is and this
   * throws CONFLICT, so no event is ever lost to a compaction.
   */
  async compact(opts: {
    today: string;
    detailDays?: number;
    minLines?: number;
  }): Promise<{ before: number; after: number; unreadable: number } | undefined> {
    const cutoff = addDays(opts.today, -(opts.detailDays ?? DETAIL_DAYS));
    const summaries = new Map<string, Summary>();
    const recent: LedgerEvent[] = [];
    for (const ev of this.events) {
      if (ev.date >= cutoff) recent.push(ev);
      else if (this.latest.get(`${ev.date}\n${ev.subscriber}`) === ev) {
        const key = `${ev.date}\n${ev.state}`;
        const s = summaries.get(key) ?? { v: SUMMARY_VERSION, at: ev.at, date: ev.date, state: ev.state, subscribers: [] };
        s.subscribers.push(ev.subscriber);
        if (ev.at > s.at) s.at = ev.at;
        summaries.set(key, s);
      }
    }
    const before = this.lineCount;
    const lines = [...summaries.values()].sort((a, b) => a.date.localeCompare(b.date)).map((x) => JSON.stringify(x));
    lines.push(...recent.map((e) => JSON.stringify(e)));
    if (before - lines.length < (opts.minLines ?? COMPACT_MIN_LINES)) return undefined;
    const text = lines.map((l) => l + '\n').join('');
    if (sizeOf(this.file) !== this.bytes)
      throw new PaperboyError(
        'CONFLICT',
        `${this.file} changed while it was being compacted (another process appended to it); left as it is`,
      );
    await writeFileAtomic(this.file, text);
    const unreadable = this.damaged.length;
    this.bytes = Buffer.byteLength(text);
    this.events = [];
    this.latest.clear();
    this.papers.clear();
    this.datesBySubscriber.clear();
    this.damaged.length = 0;
    this.torn = false;
    this.lineCount = lines.length;
    for (const x of summaries.values()) this.indexSummary(x);
    for (const ev of recent) this.index(ev);
    return { before, after: lines.length, unreadable };
  }

  /** A compacted line stands for one event per subscriber: their last state for that date. */
  private indexSummary(s: Summary) {
    for (const subscriber of s.subscribers) this.index({ v: s.v, at: s.at, date: s.date, subscriber, state: s.state });
  }

  private index(ev: LedgerEvent) {
    this.events.push(ev);
    const key = `${ev.date}\n${ev.subscriber}`;
    this.latest.set(key, ev);
    if (ev.papers) this.papers.set(key, ev.papers);
    if (ev.email) {
      const at = `${ev.date}\n${ev.email.toLowerCase()}`;
      this.byAddress.set(at, (this.byAddress.get(at) ?? new Set()).add(ev.subscriber));
    }
    const dates = this.datesBySubscriber.get(ev.subscriber) ?? new Set<string>();
    dates.add(ev.date);
    this.datesBySubscriber.set(ev.subscriber, dates);
  }

  private write(text: string) {
    this.guard?.();
    // A torn last line has no newline: this append starts a fresh line.
    const buf = Buffer.from(this.torn ? '\n' + text : text);
    let fd: number | undefined;
    let before = 0;
    let written = 0;
    try {
      mkdirSync(path.dirname(this.file), { recursive: true });
      fd = openSync(this.file, 'a', 0o644);
      before = fstatSync(fd).size;
      // One write may take only part of the buffer (a disk filling up): the rest, or the error, follows.
      while (written < buf.length) written += writeSync(fd, buf, written, buf.length - written);
      fsyncSync(fd);
    } catch (e) {
      // Take back what this append put on disk, so the file says exactly what was recorded: a `sending`
      // line left behind by a failed append would make the next run count a message that never went out
      // as possibly sent. If even that fails, a partial line is read as damaged and the next append starts
      // a fresh line.
      if (written > 0 && !undo(fd!, before)) {
        this.torn = written < buf.length || this.torn;
        this.bytes += written;
      }
      const err = e as NodeJS.ErrnoException;
      throw new PaperboyError('LEDGER', `${this.file}: cannot record (${err.code ?? err.message}), so the run stopped`, { cause: e });
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    this.torn = false;
    this.bytes += buf.length;
  }

  /** Append one event durably (written and fsynced) before returning. */
  record(ev: Omit<LedgerEvent, 'v' | 'at'>): LedgerEvent {
    return this.recordMany([ev])[0]!;
  }

  /** Append several events with one write and one fsync (e.g. every `planned` of a run). */
  recordMany(evs: Array<Omit<LedgerEvent, 'v' | 'at'>>): LedgerEvent[] {
    if (evs.length === 0) return [];
    const at = this.now().toISOString();
    const full = evs.map((ev): LedgerEvent => ({ v: LEDGER_VERSION, at, ...ev }));
    this.write(full.map((e) => JSON.stringify(e) + '\n').join(''));
    this.lineCount += full.length;
    for (const e of full) this.index(e);
    return full;
  }

  /** The last recorded event for (date, subscriber). */
  state(date: string, subscriber: string): LedgerEvent | undefined {
    return this.latest.get(`${date}\n${subscriber}`);
  }

  /**
   * Papers sent (or possibly sent) to a subscriber for digests of other dates:
   * those whose last state is sent, ambiguous or sending. A message that failed
   * (permanently or not) did not deliver its papers, so they may go out again.
   */
  papersSentBefore(subscriber: string, date: string): Set<string> {
    const out = new Set<string>();
    for (const d of this.datesBySubscriber.get(subscriber) ?? []) {
      if (d === date) continue;
      const key = `${d}\n${subscriber}`;
      if (!DELIVERED_OR_MAYBE.has(this.latest.get(key)!.state)) continue;
      for (const p of this.papers.get(key) ?? []) out.add(p);
    }
    return out;
  }

  /**
   * Another subscriber whose digest for `date` went (or may have gone) to `email`: two files
   * with one address, or an address moved from one file to another during the day. The
   * ledger is kept per subscriber id, so without this the address would get the day twice.
   */
  deliveredToAddress(date: string, email: string, except: string): string | undefined {
    for (const id of this.byAddress.get(`${date}\n${email.toLowerCase()}`) ?? []) {
      if (id !== except && DELIVERED_OR_MAYBE.has(this.latest.get(`${date}\n${id}`)!.state)) return id;
    }
    return undefined;
  }

  /** The last state of each digest date of a subscriber, newest date first. */
  history(subscriber: string): LedgerEvent[] {
    return [...(this.datesBySubscriber.get(subscriber) ?? [])]
      .sort()
      .reverse()
      .map((d) => this.latest.get(`${d}\n${subscriber}`)!);
  }

  /**
   * Whether mail to the subscriber bounces: the last `days` digest days it was tried on all ended in a
   * permanent failure (what turns a subscriber's status to `bouncing`).
   */
  bouncing(subscriber: string, days: number): boolean {
    const tried = this.history(subscriber).filter((e) => e.state !== 'skipped' && e.state !== 'planned' && e.state !== 'missed');
    const recent = tried.slice(0, days);
    return recent.length >= days && recent.every((e) => e.state === 'failed-permanent');
  }

  /** Deliveries whose last state is `sending`: the process stopped mid-send (crash, kill -9). */
  interrupted(): LedgerEvent[] {
    return [...this.latest.values()].filter((e) => e.state === 'sending');
  }

  /** Every event for a date, oldest first. */
  eventsFor(date: string): LedgerEvent[] {
    return this.events.filter((e) => e.date === date);
  }

  /** Latest event per subscriber for a date. */
  latestFor(date: string): LedgerEvent[] {
    return [...this.latest.values()].filter((e) => e.date === date);
  }

  /** Last digest date each subscriber was sent one, for admin listings. */
  lastSent(): Map<string, string> {
    const out = new Map<string, string>();
    for (const e of this.events) if (e.state === 'sent' && (out.get(e.subscriber) ?? '') < e.date) out.set(e.subscriber, e.date);
    return out;
  }
}

/** Cut the file back to `size` (what a failed append added); false if that fails too. */
function undo(fd: number, size: number): boolean {
  try {
    ftruncateSync(fd, size);
    fsyncSync(fd);
    return true;
  } catch {
    return false;
  }
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
}
