/**
 * The scheduler daemon: ticks driven by a fake clock in-process (catch-up,
 * missed, per-subscriber zones, listing not yet published), and the real
 * `paperboy schedule` process stopping cleanly on SIGTERM.
 */
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { onceExitCode } from '../../src/commands/schedule.js';
import { makeTransport } from '../../src/context.js';
import { Daemon } from '../../src/daemon.js';
import { PaperboyError } from '../../src/errors.js';
import { parseListing } from '../../src/listing.js';
import { RunLock } from '../../src/lock.js';
import { memoryLogger } from '../../src/log.js';
import type { Source } from '../../src/source.js';
import { BIN, cleanEnv, runCli } from '../helpers/cli.js';
import { holdAtServer, startSmtp, type TestSmtp } from '../helpers/smtp.js';
import { emailOf, fakeSleep, LISTING, makeWorld, recipients, type World } from './world.js';

let world: World | undefined;
let smtp: TestSmtp | undefined;
afterEach(async () => {
  await smtp?.close();
  await world?.cleanup();
  world = smtp = undefined;
});

/** A listing source that can be "not yet published" (empty, or failing) and counts its fetches. */
function fakeSource(mode: { now: 'published' | 'empty' | 'down' | 'garbage' }) {
  const fetched: string[] = [];
  const source: Source = {
    name: 'fake',
    async fetch(date) {
      fetched.push(date);
      if (mode.now === 'down') throw new PaperboyError('SOURCE', 'huggingface.co: 503 Service Unavailable');
      if (mode.now === 'empty') return { papers: [], warnings: [] };
      if (mode.now === 'garbage') return parseListing([{ article: {} }], 'api');
      return parseListing(JSON.parse(await readFile(LISTING, 'utf8')), LISTING);
    },
  };
  return { source, fetched };
}

function makeDaemon(w: World, s: TestSmtp, clock: { t: Date }, source: Source, env: Record<string, string> = {}) {
  const config = w.config({ SMTP_URL: s.url, DIGEST_TZ: 'Europe/Berlin', ...env });
  const log = memoryLogger();
  const daemon = new Daemon({
    config,
    log,
    clock: { now: () => clock.t },
    makeSource: () => source,
    makeTransport: () => makeTransport(config),
    sleep: fakeSleep(),
  });
  return { daemon, log };
}

const at = (iso: string) => new Date(iso);

describe('Daemon ticks (fake clock)', () => {
  it('sends at each subscriber’s time, once; catches up after a restart within the lateness; records older ones as missed', async () => {
    // s01: DIGEST_TZ (Berlin) at 07:00; s02: New York at 09:00.
    world = await makeWorld(2, (i) => (i === 2 ? 'timezone: America/New_York\nhour: 9\n' : ''));
    smtp = await startSmtp();
    const { source } = fakeSource({ now: 'published' });
    const clock = { t: at('2026-03-02T05:59:00Z') }; // Monday 06:59 in Berlin
    let { daemon, log } = makeDaemon(world, smtp, clock, source);

    let r = await daemon.tick();
    expect(r.due).toEqual([]);
    expect(r.nextDueAt).toEqual(at('2026-03-02T06:00:00Z'));
    // A first start (no state file) says how far back it looks, once per process.
    await rm(path.join(world.dataDir, 'schedule-state.json'));
    await daemon.tick();
    expect(log.events.filter((e) => e.event === 'schedule.first_start')).toEqual([
      expect.objectContaining({
        level: 'warn',
        note: expect.stringMatching(/due before 2026-03-01T23:59:00\.000Z are neither sent nor recorded as missed/),
      }),
    ]);

    clock.t = at('2026-03-02T06:00:30Z');
    r = await daemon.tick();
    expect(r.due.map((d) => [d.subscriber, d.date])).toEqual([['s01', '2026-02-27']]);
    expect(recipients(smtp.received)).toEqual([emailOf(1)]);
    clock.t = at('2026-03-02T06:01:30Z');
    expect((await daemon.tick()).due).toEqual([]);

    clock.t = at('2026-03-02T14:00:30Z'); // 09:00 in New York
    r = await daemon.tick();
    expect(r.due.map((d) => [d.subscriber, d.date])).toEqual([['s02', '2026-02-27']]);
    expect(recipients(smtp.received)).toEqual([emailOf(1), emailOf(2)]);

    // Restart on Tuesday at 11:00 UTC: s01's 07:00 Berlin digest (Monday's listing) is five hours late, still sent.
    clock.t = at('2026-03-03T11:00:00Z');
    ({ daemon } = makeDaemon(world, smtp, clock, source));
    r = await daemon.tick();
    expect(r.due.map((d) => [d.subscriber, d.date])).toEqual([['s01', '2026-03-02']]);
    expect(r.missed).toEqual([]);

    // Down from then until Thursday 15:00 UTC.
    clock.t = at('2026-03-05T15:00:00Z');
    ({ daemon } = makeDaemon(world, smtp, clock, source));
    r = await daemon.tick();
    expect(r.missed.map((d) => `${d.subscriber} ${d.date}`)).toEqual([
      's02 2026-03-02', // Tue 09:00 New York
      's01 2026-03-03', // Wed 07:00 Berlin
      's02 2026-03-03',
      's01 2026-03-04', // Thu 07:00 Berlin: 9 h late
    ]);
    expect(r.due.map((d) => `${d.subscriber} ${d.date}`)).toEqual(['s02 2026-03-04']); // Thu 09:00 New York: 1 h late
    const ledger = world.ledger();
    expect(ledger.state('2026-03-04', 's01')).toMatchObject({ state: 'missed', reason: expect.stringMatching(/MAX_LATENESS_MINUTES=360/) });
    expect(ledger.state('2026-03-04', 's02')?.state).toBe('sent');
    expect(recipients(smtp.received)).toEqual([emailOf(1), emailOf(2), emailOf(1), emailOf(2)]);

    // Nothing is sent twice or late on the next ticks.
    clock.t = at('2026-03-05T15:05:00Z');
    r = await daemon.tick();
    expect([r.due, r.missed]).toEqual([[], []]);
    expect(smtp.received).toHaveLength(4);
  });

  it('retries a listing that is not published yet, then sends once it is', async () => {
    world = await makeWorld(2);
    smtp = await startSmtp();
    const mode = { now: 'empty' as 'published' | 'empty' | 'down' };
    const { source, fetched } = fakeSource(mode);
    const clock = { t: at('2026-03-03T06:00:10Z') };
    const { daemon, log } = makeDaemon(world, smtp, clock, source, { RETRY_INTERVAL_MINUTES: '15' });

    let r = await daemon.tick();
    expect(r.deferred.map((d) => d.subscriber)).toEqual(['s01', 's02']);
    expect(log.events.some((e) => e.event === 'listing.not_ready')).toBe(true);
    clock.t = at('2026-03-03T06:10:00Z'); // within the retry interval: no new fetch
    r = await daemon.tick();
    expect(fetched).toHaveLength(1);
    mode.now = 'down';
    clock.t = at('2026-03-03T06:16:00Z');
    r = await daemon.tick();
    expect(fetched).toHaveLength(2);
    expect(r.deferred).toHaveLength(2);
    mode.now = 'published';
    clock.t = at('2026-03-03T06:32:00Z');
    r = await daemon.tick();
    expect(fetched).toEqual(['2026-03-02', '2026-03-02', '2026-03-02']);
    expect(recipients(smtp.received).sort()).toEqual([emailOf(1), emailOf(2)]);
    expect(world.ledger().state('2026-03-02', 's01')?.state).toBe('sent');
  });

  it('reports a listing it cannot read (a changed format) as an error at once, not as "not published yet"', async () => {
    world = await makeWorld(1);
    smtp = await startSmtp();
    const { source } = fakeSource({ now: 'garbage' });
    const clock = { t: at('2026-03-03T06:00:10Z') };
    const { daemon, log } = makeDaemon(world, smtp, clock, source);
    await daemon.tick();
    expect(log.events.filter((e) => e.event === 'listing.unusable')).toEqual([
      expect.objectContaining({
        level: 'error',
        date: '2026-03-02',
        reason: expect.stringMatching(/none of its 1 item\(s\) is a usable paper/),
        retryAt: expect.any(String),
      }),
    ]);
    expect(log.events.filter((e) => e.event === 'listing.not_ready')).toEqual([]);
    expect(smtp.received).toHaveLength(0);
    // Still unreadable at the deadline: the day is skipped as having no usable listing, not as unpublished.
    clock.t = at('2026-03-03T10:30:00Z');
    await daemon.tick();
    expect(world.ledger().state('2026-03-02', 's01')).toMatchObject({
      state: 'skipped',
      reason: expect.stringMatching(/^no usable listing by the deadline \(240 min after .*\): .*none of its 1 item/),
    });
  });

  it('reports a listing that could not be had as an error of the tick, so schedule --once exits 1', async () => {
    world = await makeWorld(1);
    smtp = await startSmtp();
    const clock = { t: at('2026-03-03T06:00:10Z') };
    const down = await makeDaemon(world, smtp, clock, fakeSource({ now: 'down' }).source).daemon.tick();
    expect(down.errors).toEqual([expect.stringMatching(/^2026-03-02: /)]);
    expect(onceExitCode(down)).toBe(1);
    // An empty listing is a day not published yet (or a holiday), not an error.
    const empty = await makeDaemon(world, smtp, clock, fakeSource({ now: 'empty' }).source).daemon.tick();
    expect(empty.errors).toEqual([]);
    expect(empty.deferred).toHaveLength(1);
    expect(onceExitCode(empty)).toBe(0);
  });

  it('records the day as skipped, with the reason, when the listing is still missing at the deadline', async () => {
    world = await makeWorld(1);
    smtp = await startSmtp();
    const { source } = fakeSource({ now: 'down' });
    const clock = { t: at('2026-03-03T06:00:10Z') };
    const { daemon } = makeDaemon(world, smtp, clock, source, { LISTING_DEADLINE_MINUTES: '60', RETRY_INTERVAL_MINUTES: '20' });
    await daemon.tick();
    expect(world.ledger().state('2026-03-02', 's01')).toBeUndefined();
    clock.t = at('2026-03-03T07:00:30Z');
    const r = await daemon.tick();
    expect(r.skipped.map((d) => d.subscriber)).toEqual(['s01']);
    expect(world.ledger().state('2026-03-02', 's01')).toMatchObject({
      state: 'skipped',
      reason: expect.stringMatching(/listing could not be fetched by the deadline \(60 min after 2026-03-03 07:00 Europe\/Berlin\): .*503/),
    });
    clock.t = at('2026-03-03T08:00:00Z');
    expect((await daemon.tick()).due).toEqual([]);
    expect(smtp.received).toHaveLength(0);
  });

  it('leaves a tick to the next minute when a run by hand holds the lock', async () => {
    world = await makeWorld(1);
    smtp = await startSmtp();
    const { source } = fakeSource({ now: 'published' });
    const clock = { t: at('2026-03-03T06:00:10Z') };
    const { daemon } = makeDaemon(world, smtp, clock, source);
    const manual = await new RunLock(world.dataDir).acquire({ command: 'paperboy run (by hand)' });
    const busy = await daemon.tick();
    expect(busy.busy).toBe(true);
    expect(smtp.received).toHaveLength(0);
    await manual.release();
    clock.t = at('2026-03-03T06:01:10Z');
    await daemon.tick();
    expect(recipients(smtp.received)).toEqual([emailOf(1)]);
  });
});

/** A cron that fired one minute ago, today only, in UTC: the daemon starts with exactly one catch-up due. */
function cronForAMinuteAgo(): string {
  const t = new Date(Date.now() - 60_000);
  return `${t.getUTCMinutes()} ${t.getUTCHours()} * * ${t.getUTCDay()}`;
}

describe('paperboy schedule (the real process)', () => {
  it('catches up on start, and on SIGTERM finishes the message in flight, leaves the rest planned, exits 0', async () => {
    world = await makeWorld(8);
    // The first message is held at the server until the daemon has seen SIGTERM: no timing involved.
    const hold = holdAtServer();
    smtp = await startSmtp({ onData: hold.onData });
    const env = { SMTP_URL: smtp.url, DIGEST_TZ: 'UTC', DIGEST_CRON: cronForAMinuteAgo(), LOG_FORMAT: 'json' };
    const daemon = spawn(process.execPath, [BIN, 'schedule', '--listing', LISTING], {
      cwd: world.dir,
      env: cleanEnv(env),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    daemon.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => daemon.on('exit', (code) => r(code)));
    const killer = setTimeout(() => daemon.kill('SIGKILL'), 25_000);
    await hold.arrived;
    daemon.kill('SIGTERM');
    for (let i = 0; i < 200 && !stderr.includes('shutdown.requested'); i++) await new Promise((r) => setTimeout(r, 50));
    hold.release();
    expect(await exited).toBe(0);
    clearTimeout(killer);

    const events = stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; level: string });
    expect(events.map((e) => e.event)).toEqual(
      expect.arrayContaining(['daemon.started', 'shutdown.requested', 'run.interrupted', 'daemon.stopped']),
    );
    const sentBefore = smtp.received.length;
    expect(sentBefore).toBe(1); // the message in flight finished; nothing new was started
    const ledger = world.ledger();
    const dates = [...new Set(world.ids.flatMap((s) => ledger.history(s).map((e) => e.date)))];
    expect(dates).toHaveLength(1); // one digest date: the one the catch-up slot covers
    const date = dates[0]!;
    const latest = ledger.latestFor(date);
    expect(latest.filter((e) => e.state === 'sending')).toEqual([]); // nothing left in flight
    expect(latest.filter((e) => e.state === 'sent')).toHaveLength(sentBefore);
    expect(latest.filter((e) => e.state === 'planned')).toHaveLength(8 - sentBefore);

    // The next start catches up on the rest: everyone has exactly one message.
    const again = await runCli(['schedule', '--once', '--listing', LISTING], { cwd: world.dir, env: world.env(env) });
    expect(again.code).toBe(0);
    const got = recipients(smtp.received);
    expect(got).toHaveLength(8);
    expect(new Set(got).size).toBe(8);
  });
});
