/**
 * The pure schedule computation with a fake clock: which deliveries are due,
 * missed, and when next, across DST changes and time zones.
 */
import { describe, expect, it } from 'vitest';
import { localDate } from '../src/dates.js';
import { planDeliveries, zonedTime, type Delivery, type Recipient, type ScheduleSettings } from '../src/schedule.js';

const WEEKDAYS_7AM: ScheduleSettings = { cron: '0 7 * * 1-5', timeZone: 'UTC', maxLatenessMinutes: 360 };

/** Steps a fake clock from `from` to `to` like the daemon does, settling every due delivery at once. */
function simulate(from: string, to: string, recipients: Recipient[], settings: ScheduleSettings, stepMinutes = 5): Delivery[] {
  const sent: Delivery[] = [];
  const settled = new Set<string>();
  let since: Date | undefined;
  for (let t = Date.parse(from); t <= Date.parse(to); t += stepMinutes * 60_000) {
    const now = new Date(t);
    const plan = planDeliveries({ now, since, recipients, settings, isSettled: (d, s) => settled.has(`${d}/${s}`) });
    expect(plan.missed).toEqual([]);
    for (const d of plan.due) {
      settled.add(`${d.date}/${d.subscriber}`);
      sent.push({ ...d, sentAt: now } as Delivery & { sentAt: Date });
    }
    since = now;
  }
  return sent;
}

const wall = (d: Delivery) =>
  new Intl.DateTimeFormat('en-GB', { timeZone: d.timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(
    d.dueAt,
  );

describe('zonedTime: local wall time → instant', () => {
  it('resolves ordinary times with the offset in force', () => {
    expect(zonedTime('2026-01-15', 7, 0, 'Europe/Berlin')).toEqual({ at: new Date('2026-01-15T06:00:00Z'), exact: true });
    expect(zonedTime('2026-07-15', 7, 0, 'Europe/Berlin')).toEqual({ at: new Date('2026-07-15T05:00:00Z'), exact: true });
    expect(zonedTime('2026-07-15', 7, 0, 'America/New_York')).toEqual({ at: new Date('2026-07-15T11:00:00Z'), exact: true });
    expect(zonedTime('2026-07-15', 7, 0, 'Asia/Kolkata')).toEqual({ at: new Date('2026-07-15T01:30:00Z'), exact: true });
  });

  it('moves a time in the spring-forward gap forward by the gap', () => {
    // Berlin, 2026-03-29: 02:00 CET → 03:00 CEST; 02:30 does not exist.
    expect(zonedTime('2026-03-29', 2, 30, 'Europe/Berlin')).toEqual({ at: new Date('2026-03-29T01:30:00Z'), exact: false });
    // New York, 2026-03-08: 02:00 EST → 03:00 EDT.
    expect(zonedTime('2026-03-08', 2, 15, 'America/New_York')).toEqual({ at: new Date('2026-03-08T07:15:00Z'), exact: false });
  });

  it('takes the first of a time that happens twice (fall back)', () => {
    // Berlin, 2026-10-25: 02:30 happens at 00:30Z (CEST) and 01:30Z (CET).
    expect(zonedTime('2026-10-25', 2, 30, 'Europe/Berlin')).toEqual({ at: new Date('2026-10-25T00:30:00Z'), exact: true });
    // New York, 2026-11-01: 01:30 happens at 05:30Z (EDT) and 06:30Z (EST).
    expect(zonedTime('2026-11-01', 1, 30, 'America/New_York')).toEqual({ at: new Date('2026-11-01T05:30:00Z'), exact: true });
  });
});

describe('planDeliveries', () => {
  it('is due at 07:00 on weekdays and covers the previous weekday (Monday covers Friday)', () => {
    const ada = [{ id: 'ada' }];
    const at = (iso: string) => planDeliveries({ now: new Date(iso), recipients: ada, settings: WEEKDAYS_7AM });
    expect(at('2026-03-02T06:59:00Z').due).toEqual([]);
    expect(at('2026-03-02T06:59:00Z').nextDueAt).toEqual(new Date('2026-03-02T07:00:00Z'));
    const monday = at('2026-03-02T07:00:00Z').due;
    expect(monday.map((d) => [d.subscriber, d.date])).toEqual([['ada', '2026-02-27']]);
    expect(at('2026-03-03T07:05:00Z').due.map((d) => d.date)).toEqual(['2026-03-02']);
    // Weekend: nothing due, the next one is Monday 07:00.
    const saturday = at('2026-03-07T12:00:00Z');
    expect(saturday.due).toEqual([]);
    expect(saturday.nextDueAt).toEqual(new Date('2026-03-09T07:00:00Z'));
  });

  it('sends exactly one digest per weekday across the Berlin spring-forward and fall-back weekends, at 07:00 local', () => {
    const settings = { ...WEEKDAYS_7AM, timeZone: 'Europe/Berlin' };
    for (const [from, to] of [
      ['2026-03-25T00:00:00Z', '2026-04-02T00:00:00Z'],
      ['2026-10-21T00:00:00Z', '2026-10-29T00:00:00Z'],
    ] as const) {
      const sent = simulate(from, to, [{ id: 'ada' }], settings);
      const dates = sent.map((d) => d.date);
      expect(new Set(dates).size).toBe(dates.length);
      expect(sent.map(wall)).toEqual(['Wed 07:00', 'Thu 07:00', 'Fri 07:00', 'Mon 07:00', 'Tue 07:00', 'Wed 07:00']);
    }
    // The UTC time moves by the DST hour: 06:00Z before, 05:00Z after spring forward.
    const spring = simulate('2026-03-27T00:00:00Z', '2026-03-31T00:00:00Z', [{ id: 'ada' }], settings);
    expect(spring.map((d) => d.dueAt.toISOString())).toEqual(['2026-03-27T06:00:00.000Z', '2026-03-30T05:00:00.000Z']);
    expect(spring.map((d) => d.date)).toEqual(['2026-03-26', '2026-03-27']);
  });

  it('gives exactly one digest per day with a daily slot inside the DST gap or overlap (Berlin 02:30)', () => {
    const settings: ScheduleSettings = { cron: '30 2 * * *', timeZone: 'Europe/Berlin', maxLatenessMinutes: 60 };
    const spring = simulate('2026-03-26T00:00:00Z', '2026-04-01T00:00:00Z', [{ id: 'ada' }], settings);
    // Daily slots: Sat and Sun cover Friday → only Saturday's goes out; 02:30 on 29 March does not exist.
    expect(spring.map((d) => [d.local.slice(0, 10), d.date])).toEqual([
      ['2026-03-26', '2026-03-25'],
      ['2026-03-27', '2026-03-26'],
      ['2026-03-28', '2026-03-27'],
      ['2026-03-31', '2026-03-30'],
    ]);
    // Monday 30 March covers Friday 27 March too: already sent on Saturday, so not again.
    const monday = planDeliveries({ now: new Date('2026-03-30T01:00:00Z'), recipients: [{ id: 'ada' }], settings });
    expect(monday.due).toEqual([]);
    const sundayGap = planDeliveries({ now: new Date('2026-03-29T01:30:00Z'), recipients: [{ id: 'x' }], settings });
    expect(sundayGap.due).toEqual([]); // Sunday covers Friday, already due on Saturday
    const fallWeek = simulate('2026-10-22T00:00:00Z', '2026-10-28T00:00:00Z', [{ id: 'ada' }], { ...settings, cron: '30 2 * * *' });
    const fallDates = fallWeek.map((d) => d.date);
    expect(new Set(fallDates).size).toBe(fallDates.length);
    // Saturday 24 Oct covers Friday; Sunday 25 Oct (02:30 twice) and Monday cover Friday too: nothing twice.
    expect(fallDates).toEqual(['2026-10-21', '2026-10-22', '2026-10-23', '2026-10-26']);
  });

  it('sends once on the DST Sundays themselves: 02:30 that does not exist, and 02:30 that happens twice', () => {
    const sundays: ScheduleSettings = { cron: '30 2 * * 0', timeZone: 'Europe/Berlin', maxLatenessMinutes: 180 };
    const spring = simulate('2026-03-28T12:00:00Z', '2026-03-30T12:00:00Z', [{ id: 'ada' }], sundays, 1);
    expect(spring.map((d) => [d.date, d.dueAt.toISOString()])).toEqual([['2026-03-27', '2026-03-29T01:30:00.000Z']]); // 03:30 CEST
    const fall = simulate('2026-10-24T12:00:00Z', '2026-10-26T12:00:00Z', [{ id: 'ada' }], sundays, 1);
    expect(fall.map((d) => [d.date, d.dueAt.toISOString()])).toEqual([['2026-10-23', '2026-10-25T00:30:00.000Z']]); // the first 02:30
  });

  it('gives exactly one digest per weekday across the New York changes, for a subscriber with their own zone and hour', () => {
    const bob = [{ id: 'bob', timezone: 'America/New_York', hour: 9 }];
    const settings = { ...WEEKDAYS_7AM, timeZone: 'Europe/Berlin' };
    const spring = simulate('2026-03-05T00:00:00Z', '2026-03-12T00:00:00Z', bob, settings);
    expect(spring.map((d) => d.dueAt.toISOString())).toEqual([
      '2026-03-05T14:00:00.000Z', // Thu 09:00 EST
      '2026-03-06T14:00:00.000Z',
      '2026-03-09T13:00:00.000Z', // Mon 09:00 EDT
      '2026-03-10T13:00:00.000Z',
      '2026-03-11T13:00:00.000Z',
    ]);
    expect(spring.map((d) => d.date)).toEqual(['2026-03-04', '2026-03-05', '2026-03-06', '2026-03-09', '2026-03-10']);
    const fall = simulate('2026-10-29T00:00:00Z', '2026-11-04T00:00:00Z', bob, settings);
    expect(fall.map((d) => d.dueAt.toISOString())).toEqual([
      '2026-10-29T13:00:00.000Z',
      '2026-10-30T13:00:00.000Z',
      '2026-11-02T14:00:00.000Z',
      '2026-11-03T14:00:00.000Z',
    ]);
  });

  it('computes the digest date in each subscriber’s own zone', () => {
    const recipients: Recipient[] = [
      { id: 'berlin' }, // DIGEST_TZ at the cron's 07:00
      { id: 'tokyo', timezone: 'Asia/Tokyo' }, // 07:00 Tokyo Tuesday = Monday 22:00 UTC
      { id: 'la', timezone: 'America/Los_Angeles', hour: 6 },
      { id: 'early', hour: 5 },
    ];
    const settings = { ...WEEKDAYS_7AM, timeZone: 'Europe/Berlin', maxLatenessMinutes: 30 };
    const sent = simulate('2026-06-08T00:00:00Z', '2026-06-10T00:00:00Z', recipients, settings);
    const rows = sent.map((d) => `${d.subscriber} ${d.date} ${d.dueAt.toISOString().slice(0, 16)}`);
    expect(rows).toEqual([
      'early 2026-06-05 2026-06-08T03:00', // Monday 05:00 Berlin → Friday's listing
      'berlin 2026-06-05 2026-06-08T05:00',
      'la 2026-06-05 2026-06-08T13:00', // Monday 06:00 Los Angeles
      'tokyo 2026-06-08 2026-06-08T22:00', // Tuesday 07:00 Tokyo → Monday's listing
      'early 2026-06-08 2026-06-09T03:00',
      'berlin 2026-06-08 2026-06-09T05:00',
      'la 2026-06-08 2026-06-09T13:00',
      'tokyo 2026-06-09 2026-06-09T22:00',
    ]);
    // Tokyo's Monday-morning slot (Sunday 22:00 UTC) covers Friday: sent once, before the window above.
    const tokyoMonday = planDeliveries({ now: new Date('2026-06-07T22:10:00Z'), recipients: [recipients[1]!], settings });
    expect(tokyoMonday.due.map((d) => d.date)).toEqual(['2026-06-05']);
    expect(localDate(tokyoMonday.due[0]!.dueAt, 'Asia/Tokyo')).toBe('2026-06-08');
  });

  it('catches up within the lateness allowance and reports older ones as missed', () => {
    const ada = [{ id: 'ada' }];
    const settings = { ...WEEKDAYS_7AM, maxLatenessMinutes: 360 };
    // Restarted at 12:59, five hours and 59 minutes late: still due.
    const within = planDeliveries({
      now: new Date('2026-03-03T12:59:00Z'),
      since: new Date('2026-03-03T06:00:00Z'),
      recipients: ada,
      settings,
    });
    expect(within.due.map((d) => d.date)).toEqual(['2026-03-02']);
    expect(within.missed).toEqual([]);
    // At 13:01 it is too late: missed, not due.
    const beyond = planDeliveries({
      now: new Date('2026-03-03T13:01:00Z'),
      since: new Date('2026-03-03T06:00:00Z'),
      recipients: ada,
      settings,
    });
    expect(beyond.due).toEqual([]);
    expect(beyond.missed.map((d) => [d.subscriber, d.date])).toEqual([['ada', '2026-03-02']]);
    // Down since Friday evening, back on Wednesday 08:00: Monday's and Tuesday's were missed, Wednesday's is due.
    const longDown = planDeliveries({
      now: new Date('2026-03-04T08:00:00Z'),
      since: new Date('2026-02-27T18:00:00Z'),
      recipients: ada,
      settings,
    });
    expect(longDown.missed.map((d) => d.date)).toEqual(['2026-02-27', '2026-03-02']);
    expect(longDown.due.map((d) => d.date)).toEqual(['2026-03-03']);
    // A first start (no `since`) reports nothing it did not see as missed.
    const firstStart = planDeliveries({ now: new Date('2026-03-04T08:00:00Z'), recipients: ada, settings });
    expect(firstStart.missed).toEqual([]);
    expect(firstStart.due.map((d) => d.date)).toEqual(['2026-03-03']);
    // Settled deliveries are neither due nor missed.
    const settled = planDeliveries({
      now: new Date('2026-03-04T08:00:00Z'),
      since: new Date('2026-02-27T18:00:00Z'),
      recipients: ada,
      settings,
      isSettled: (date) => date !== '2026-03-02',
    });
    expect(settled.due).toEqual([]);
    expect(settled.missed.map((d) => d.date)).toEqual(['2026-03-02']);
  });

  it('rejects an expression node-cron does not accept', () => {
    expect(() => planDeliveries({ now: new Date(), recipients: [{ id: 'a' }], settings: { ...WEEKDAYS_7AM, cron: '61 7 * * *' } })).toThrow(
      /not a cron expression/,
    );
  });
});
