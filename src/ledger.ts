/**
 * The ledger: an append-only JSON-lines record of what happened to each
 * (digest date, subscriber). Each event is written and fsynced before the run
 * moves on, so after a crash the file says exactly how far it got. A torn last
 * line (crash mid-write) is skipped on reading.
 *
 * States per (date, subscriber):
 *   planned → sending → sent | failed-transient | failed-permanent | ambiguous
 *   skipped (nothing to send, paused…), missed (too late to send)
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';

export const LEDGER_VERSION = 1;

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
  /** Lines that could not be parsed (a torn write), for the operator. */
  readonly damaged: number[] = [];

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
    const lines = text.split('\n');
    lines.forEach((line, i) => {
      if (!line.trim()) return;
      try {
        const ev = JSON.parse(line) as LedgerEvent;
        if (typeof ev.date === 'string' && typeof ev.subscriber === 'string' && typeof ev.state === 'string') this.index(ev);
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

  private index(ev: LedgerEvent) {
    this.events.push(ev);
    const key = `${ev.date}\n${ev.subscriber}`;
    this.latest.set(key, ev);
    if (ev.papers) this.papers.set(key, ev.papers);
    const dates = this.datesBySubscriber.get(ev.subscriber) ?? new Set<string>();
    dates.add(ev.date);
    this.datesBySubscriber.set(ev.subscriber, dates);
  }

  private write(text: string) {
    if (this.torn) {
      text = '\n' + text;
      this.torn = false;
    }
    mkdirSync(path.dirname(this.file), { recursive: true });
    const fd = openSync(this.file, 'a', 0o644);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
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

  /** The last state of each digest date of a subscriber, newest date first. */
  history(subscriber: string): LedgerEvent[] {
    return [...(this.datesBySubscriber.get(subscriber) ?? [])]
      .sort()
      .reverse()
      .map((d) => this.latest.get(`${d}\n${subscriber}`)!);
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
