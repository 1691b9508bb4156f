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

export class Ledger {
  readonly file: string;
  private events: LedgerEvent[] = [];
  private latest = new Map<string, LedgerEvent>();
  private sentPapers = new Map<string, Map<string, string>>(); // subscriber → paper → first date
  /** Lines that could not be parsed (a torn write), for the operator. */
  readonly damaged: number[] = [];

  constructor(
    dataDir: string,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.file = path.join(dataDir, 'ledger.jsonl');
    mkdirSync(dataDir, { recursive: true });
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
    // A torn last line has no newline; make sure the next append starts on a fresh line.
    if (text.length > 0 && !text.endsWith('\n')) this.write('\n');
  }

  private index(ev: LedgerEvent) {
    this.events.push(ev);
    this.latest.set(`${ev.date}\n${ev.subscriber}`, ev);
    if ((ev.state === 'sent' || ev.state === 'ambiguous' || ev.state === 'sending') && ev.papers) {
      const m = this.sentPapers.get(ev.subscriber) ?? new Map<string, string>();
      for (const p of ev.papers) if (!m.has(p) || ev.date < m.get(p)!) m.set(p, ev.date);
      this.sentPapers.set(ev.subscriber, m);
    }
  }

  private write(text: string) {
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
    const full: LedgerEvent = { v: LEDGER_VERSION, at: this.now().toISOString(), ...ev };
    this.write(JSON.stringify(full) + '\n');
    this.index(full);
    return full;
  }

  /** The last recorded event for (date, subscriber). */
  state(date: string, subscriber: string): LedgerEvent | undefined {
    return this.latest.get(`${date}\n${subscriber}`);
  }

  /** Papers sent (or possibly sent) to a subscriber for digests of other dates. */
  papersSentBefore(subscriber: string, date: string): Set<string> {
    const out = new Set<string>();
    for (const [paper, first] of this.sentPapers.get(subscriber) ?? []) if (first !== date) out.add(paper);
    return out;
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
