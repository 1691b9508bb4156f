/**
 * What happened on one digest day, from the ledger alone: the last state of
 * each subscriber, counted per state, plus the deliveries an operator has to
 * look at (failed, ambiguous, missed, or still `sending`) with their reasons.
 */
import type { DeliveryState, Ledger, LedgerEvent } from './ledger.js';

export const REPORT_STATES: DeliveryState[] = [
  'planned',
  'sending',
  'sent',
  'failed-transient',
  'failed-permanent',
  'ambiguous',
  'skipped',
  'missed',
];

/** States that need an operator's eye. */
const ATTENTION: ReadonlySet<DeliveryState> = new Set(['sending', 'failed-transient', 'failed-permanent', 'ambiguous', 'missed']);

export interface DayReport {
  date: string;
  subscribers: number;
  counts: Record<DeliveryState, number>;
  attention: Array<{ subscriber: string; state: DeliveryState; reason?: string; at: string; attempts: number; email?: string }>;
  skipped: Array<{ subscriber: string; reason?: string }>;
  /** Unreadable ledger lines (a torn write after a crash), by line number. */
  damagedLines: number[];
}

export function dayReport(ledger: Ledger, date: string): DayReport {
  const latest = ledger.latestFor(date).sort((a, b) => a.subscriber.localeCompare(b.subscriber));
  const events = ledger.eventsFor(date);
  const counts = Object.fromEntries(REPORT_STATES.map((s) => [s, 0])) as Record<DeliveryState, number>;
  for (const e of latest) counts[e.state]++;
  const attempts = (sub: string) => events.filter((e) => e.subscriber === sub && e.state === 'sending').length;
  const emailOf = (sub: string) => [...events].reverse().find((e: LedgerEvent) => e.subscriber === sub && e.email)?.email;
  return {
    date,
    subscribers: latest.length,
    counts,
    attention: latest
      .filter((e) => ATTENTION.has(e.state))
      .map((e) => ({
        subscriber: e.subscriber,
        state: e.state,
        reason:
          e.state === 'sending'
            ? 'no outcome recorded yet: a run is sending it, or stopped mid-send (the next run reports it ambiguous)'
            : e.reason,
        at: e.at,
        attempts: attempts(e.subscriber),
        email: emailOf(e.subscriber),
      })),
    skipped: latest.filter((e) => e.state === 'skipped').map((e) => ({ subscriber: e.subscriber, reason: e.reason })),
    damagedLines: [...ledger.damaged],
  };
}

export function formatDayReport(r: DayReport): string {
  const lines = [`Paperboy deliveries for ${r.date}: ${r.subscribers} subscriber(s) in the ledger`];
  for (const s of REPORT_STATES)
    if (r.counts[s] > 0 || ['sent', 'failed-permanent', 'ambiguous'].includes(s)) lines.push(`  ${s.padEnd(17)} ${r.counts[s]}`);
  if (r.attention.length) {
    lines.push('', 'Needs attention:');
    for (const a of r.attention)
      lines.push(
        `  ${a.subscriber}${a.email ? ` <${a.email}>` : ''}  ${a.state}  (${a.attempts} attempt(s), ${a.at})`,
        `    ${a.reason ?? ''}`,
      );
  }
  if (r.skipped.length) {
    lines.push('', 'Skipped:');
    for (const s of r.skipped) lines.push(`  ${s.subscriber}: ${s.reason ?? ''}`);
  }
  if (r.damagedLines.length)
    lines.push('', `Ledger lines ignored as unreadable (a torn write after a crash): ${r.damagedLines.join(', ')}`);
  if (r.subscribers === 0) lines.push('  Nothing recorded for this date.');
  return lines.join('\n') + '\n';
}
