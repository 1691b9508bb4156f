/**
 * When each subscriber's digest is due: a pure function of the time, the
 * schedule settings and the ledger's view of what is already settled. No
 * timers, no I/O, so it can be tested with any instant, across DST changes.
 *
 * The rules, in one place:
 * - A subscriber's effective time zone is their `timezone`, else DIGEST_TZ.
 * - DIGEST_CRON (default `0 7 * * 1-5`) is read as local wall-clock time in
 *   that zone; a subscriber's `hour` replaces the cron's hours.
 * - Only the first slot of a local day counts (later slots that day would
 *   cover the same listing), so there is at most one delivery per local day.
 * - A slot's digest date is the latest complete listing day at that moment in
 *   the effective zone: the last weekday strictly before the slot's local date
 *   (`latestListingDate`, src/dates.ts). Several slots can cover the same date
 *   (a daily cron covers Friday on Saturday, Sunday and Monday): the first one
 *   is its due time, so each (subscriber, digest date) has exactly one.
 * - Wall-clock times that do not exist (spring forward) move forward by the
 *   gap (02:30 → 03:30); times that happen twice (fall back) use the first.
 * - A delivery is due from its due time until MAX_LATENESS later; after that
 *   it is missed, never sent late.
 */
import cron from 'node-cron';
import { addDays, latestListingDate, localDate } from './dates.js';

export interface ScheduleSettings {
  /** Cron expression, 5 fields (or 6 with seconds, which are ignored). */
  cron: string;
  /** DIGEST_TZ: the zone of subscribers without their own. */
  timeZone: string;
  maxLatenessMinutes: number;
}

export interface Recipient {
  id: string;
  timezone?: string;
  hour?: number;
}

export interface Delivery {
  subscriber: string;
  /** Digest date (the listing it covers), YYYY-MM-DD. */
  date: string;
  dueAt: Date;
  timeZone: string;
  /** The due time as local wall-clock text, for logs: "2026-03-30 07:00 Europe/Berlin". */
  local: string;
}

export interface PlanInput {
  now: Date;
  /**
   * Everything due before this instant is already accounted for (sent, skipped
   * or recorded missed). Default and lower bound: now − MAX_LATENESS, so a
   * first start never reports a past it did not see; bounded to 14 days back.
   */
  since?: Date;
  recipients: Recipient[];
  settings: ScheduleSettings;
  /** True when the ledger already has an outcome for (date, subscriber). */
  isSettled?: (date: string, subscriber: string) => boolean;
}

export interface Plan {
  /** Due now and within the lateness allowance: send these. */
  due: Delivery[];
  /** Due in the window but later than the allowance: record as missed. */
  missed: Delivery[];
  /** The next due time after `now` (any subscriber), for logs and sleep. */
  nextDueAt?: Date;
}

export const MAX_LOOKBACK_DAYS = 14;
const MINUTE = 60_000;

export function planDeliveries(input: PlanInput): Plan {
  const { now, settings } = input;
  const isSettled = input.isSettled ?? (() => false);
  const lateness = settings.maxLatenessMinutes * MINUTE;
  const floor = now.getTime() - MAX_LOOKBACK_DAYS * 24 * 60 * MINUTE;
  const windowStart = Math.max(floor, Math.min(input.since?.getTime() ?? Infinity, now.getTime() - lateness));
  const rules = compileCron(settings.cron);
  const plan: Plan = { due: [], missed: [] };
  // Subscribers sharing a zone and hour share their slots: compute them once.
  const groups = new Map<string, Recipient[]>();
  for (const r of input.recipients) {
    const tz = r.timezone ?? settings.timeZone;
    const key = `${tz}\n${r.hour ?? ''}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  for (const [key, members] of groups) {
    const [tz, hourText] = key.split('\n') as [string, string];
    const hours = hourText === '' ? rules.hours : [Number(hourText)];
    for (const d of dueTimes(rules, hours, tz, new Date(windowStart), now)) {
      const at = d.dueAt.getTime();
      if (at > now.getTime()) {
        if (!plan.nextDueAt || at < plan.nextDueAt.getTime()) plan.nextDueAt = d.dueAt;
        continue;
      }
      if (at < windowStart) continue;
      for (const r of members) {
        if (isSettled(d.date, r.id)) continue;
        const delivery: Delivery = { subscriber: r.id, date: d.date, dueAt: d.dueAt, timeZone: tz, local: `${d.local} ${tz}` };
        (now.getTime() - at <= lateness ? plan.due : plan.missed).push(delivery);
      }
    }
  }
  const order = (a: Delivery, b: Delivery) => a.dueAt.getTime() - b.dueAt.getTime() || a.subscriber.localeCompare(b.subscriber);
  plan.due.sort(order);
  plan.missed.sort(order);
  return plan;
}

/**
 * The due time of every digest date whose first slot lies in [from, until],
 * then the first one after `until` (the next wake-up), in time order.
 */
export function dueTimes(
  rules: CronRules,
  hours: number[],
  timeZone: string,
  from: Date,
  until: Date,
): Array<{ date: string; dueAt: Date; local: string }> {
  // Start a week early: the first slot of a digest date may precede `from` (then it is not in the window).
  const first = addDays(localDate(from, timeZone), -7);
  const last = addDays(localDate(until, timeZone), 400);
  const seen = new Set<string>();
  const out: Array<{ date: string; dueAt: Date; local: string }> = [];
  for (let day = first; day <= last; day = addDays(day, 1)) {
    const slot = slotOfDay(rules, day, hours, timeZone);
    if (!slot || seen.has(slot.date)) continue;
    seen.add(slot.date);
    if (slot.at >= from) out.push(slot);
    if (slot.at > until) break;
  }
  return out;
}

const slotCache = new Map<string, { date: string; dueAt: Date; at: Date; local: string } | null>();

/** A day's first slot and the digest date it covers; remembered, as the daemon asks about the same days every minute. */
function slotOfDay(rules: CronRules, day: string, hours: number[], timeZone: string) {
  const cacheKey = `${rules.expression}|${hours.join(',')}|${timeZone}|${day}`;
  let hit = slotCache.get(cacheKey);
  if (hit === undefined) {
    const slot = rules.matchesDay(day) ? firstSlot(day, hours, rules.minutes, timeZone) : undefined;
    hit = slot ? { date: latestListingDate(slot.at, timeZone), dueAt: slot.at, at: slot.at, local: slot.local } : null;
    if (slotCache.size > 50_000) slotCache.clear();
    slotCache.set(cacheKey, hit);
  }
  return hit ?? undefined;
}

/** The earliest existing slot on a local day (a slot in a DST gap moves forward; if that passes a later slot, the later one wins). */
function firstSlot(day: string, hours: number[], minutes: number[], timeZone: string): { at: Date; local: string } | undefined {
  let best: { at: Date; local: string } | undefined;
  for (const h of [...hours].sort((a, b) => a - b)) {
    for (const m of [...minutes].sort((a, b) => a - b)) {
      const { at, exact } = zonedTime(day, h, m, timeZone);
      // Resolved into the next day (a gap at midnight): not a slot of this day.
      if (localDate(at, timeZone) !== day) continue;
      if (!best || at < best.at) best = { at, local: `${day} ${pad(h)}:${pad(m)}` };
      if (exact) return best;
    }
  }
  return best;
}

export interface CronRules {
  expression: string;
  hours: number[];
  minutes: number[];
  /** Does the cron's day-of-month / month / day-of-week part match this calendar date? */
  matchesDay(date: string): boolean;
}

const compiled = new Map<string, CronRules>();

/** Parse with node-cron itself, so the schedule means exactly what `cron.validate` accepted. */
export function compileCron(expression: string): CronRules {
  const cached = compiled.get(expression);
  if (cached) return cached;
  if (!cron.validate(expression)) throw new Error(`"${expression}" is not a cron expression`);
  const fields = expression.trim().split(/\s+/);
  const parsed = cron.parse(expression);
  // Day matching: the same expression with the time fixed at 00:00:00, asked of a UTC midnight.
  // createTask only builds the matcher; the task is never started.
  const dayPart = fields.slice(-3).join(' ');
  const dayTask = cron.createTask(`0 0 0 ${dayPart}`, () => undefined, { timezone: 'UTC', name: `paperboy-days ${expression}` });
  const rules: CronRules = {
    expression,
    hours: parsed.hour,
    minutes: parsed.minute,
    matchesDay: (date) => dayTask.match(new Date(`${date}T00:00:00Z`)),
  };
  compiled.set(expression, rules);
  return rules;
}

const pad = (n: number) => String(n).padStart(2, '0');

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The zone's offset from UTC at an instant, in ms (positive east of Greenwich). */
export function zoneOffsetMs(instant: number, timeZone: string): number {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(instant))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const asUtc = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
  return asUtc - Math.floor(instant / 1000) * 1000;
}

/**
 * Local wall-clock time → instant. `exact` is false when that time does not
 * exist (a spring-forward gap): the instant is then shifted forward by the gap.
 * A time that exists twice (fall back) gives the first, earlier instant.
 */
export function zonedTime(date: string, hour: number, minute: number, timeZone: string): { at: Date; exact: boolean } {
  const [y, mo, d] = date.split('-').map(Number) as [number, number, number];
  const wall = Date.UTC(y, mo - 1, d, hour, minute);
  // The offsets in force around that wall time (no zone changes twice within a day).
  const before = zoneOffsetMs(wall - 14 * 3600_000, timeZone);
  const after = zoneOffsetMs(wall + 14 * 3600_000, timeZone);
  const matches = [...new Set([before, after])]
    .map((off) => wall - off)
    .filter((t) => t + zoneOffsetMs(t, timeZone) === wall)
    .sort((a, b) => a - b);
  if (matches.length > 0) return { at: new Date(matches[0]!), exact: true };
  // In the gap: read the wall time with the offset before the change, which lands after it.
  return { at: new Date(wall - before), exact: false };
}
