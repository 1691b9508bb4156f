/**
 * Digest dates. A digest covers one day's listing, named by that day
 * (YYYY-MM-DD). By default that is the latest complete listing day: the
 * last weekday before today in DIGEST_TZ (Monday's digest covers Friday,
 * since weekends have no listing).
 */
import { PaperboyError } from './errors.js';

export const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

export function assertDate(s: string, what = '--date'): string {
  const d = new Date(`${s}T00:00:00Z`);
  if (!DATE_RE.test(s) || Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== s) {
    throw new PaperboyError('USAGE', `${what}: "${s}" is not a date; expected YYYY-MM-DD, e.g. 2024-10-25`);
  }
  return s;
}

const dayFormats = new Map<string, Intl.DateTimeFormat>();

/** The calendar date of `instant` in `timeZone`. */
export function localDate(instant: Date, timeZone: string): string {
  // en-CA formats as YYYY-MM-DD. Formatters are costly to build and the scheduler asks often: keep one per zone.
  let f = dayFormats.get(timeZone);
  if (!f) dayFormats.set(timeZone, (f = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })));
  return f.format(instant);
}

export function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

export const weekday = (date: string) => new Date(`${date}T00:00:00Z`).getUTCDay(); // 0 = Sunday

const DAY_NAMES = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/**
 * Why a day's listing may be empty. A weekend is normal; an empty weekday is not, and saying
 * "weekend or holiday?" about a Tuesday would hide a listing that is late or a source that broke.
 */
export function emptyListingNote(date: string): string {
  const day = weekday(date);
  const name = DAY_NAMES[day]!;
  return day === 0 || day === 6
    ? `${date} is a ${name}: the listing has no papers at weekends`
    : `no papers listed for ${name} ${date}: a holiday, or the listing is not out yet (try again later)`;
}

/** The last weekday strictly before the local date of `now`. */
export function latestListingDate(now: Date, timeZone: string): string {
  let d = addDays(localDate(now, timeZone), -1);
  while (weekday(d) === 0 || weekday(d) === 6) d = addDays(d, -1);
  return d;
}
