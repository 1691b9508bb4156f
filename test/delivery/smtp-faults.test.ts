/**
 * SMTP faults against a real SMTP server on 127.0.0.1 (test/helpers/smtp.ts):
 * what gets delivered, what the ledger says, what is retried and what never is.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { run } from '../../src/pipeline.js';
import { smtpTransport, type Transport } from '../../src/transport.js';
import { runCli } from '../helpers/cli.js';
import { smtpError, startSmtp, type TestSmtp } from '../helpers/smtp.js';
import { DATE, emailOf, LISTING, makeWorld, pipelineDeps, recipients, type World } from './world.js';

let world: World | undefined;
let smtp: TestSmtp | undefined;
let transport: Transport | undefined;
afterEach(async () => {
  await transport?.close();
  await smtp?.close();
  await world?.cleanup();
  world = smtp = transport = undefined;
});

const states = (w: World, subscriber: string, date = DATE) =>
  w
    .ledger()
    .eventsFor(date)
    .filter((e) => e.subscriber === subscriber)
    .map((e) => e.state);

describe('SMTP faults', () => {
  it('421 on the first attempt, then accepted: delivered exactly once after one backoff', async () => {
    world = await makeWorld(3);
    let dataCalls = 0;
    smtp = await startSmtp({ onData: () => (++dataCalls === 1 ? smtpError(421, 'Try again later') : undefined) });
    transport = smtpTransport({ url: smtp.url });
    const { deps, sleep } = await pipelineDeps(world, transport);
    const summary = await run({ date: DATE }, deps);
    expect(summary.sent).toBe(3);
    expect(summary.failed).toBe(0);
    expect(recipients(smtp.received).sort()).toEqual([emailOf(1), emailOf(2), emailOf(3)]);
    expect(states(world, 's01')).toEqual(['planned', 'sending', 'failed-transient', 'sending', 'sent']);
    expect(states(world, 's02')).toEqual(['planned', 'sending', 'sent']);
    expect(sleep.waits).toEqual([100]); // base × 2^0 with jitter pinned at its maximum
  });

  it('SMTP_RATE_LIMIT holds: 9 messages at 4 per second are spread over at least two seconds', async () => {
    world = await makeWorld(9);
    smtp = await startSmtp();
    transport = smtpTransport({ url: smtp.url, rateLimit: 4 });
    const { deps } = await pipelineDeps(world, transport);
    const started = Date.now();
    const summary = await run({ date: DATE }, deps);
    // A lower bound only: a slow machine spreads them more, never less (the pool's own limit let ~2x through).
    expect(Date.now() - started).toBeGreaterThanOrEqual(8 * 250 - 20);
    expect(summary.sent).toBe(9);
    expect(new Set(recipients(smtp.received)).size).toBe(9);
  });

  it('550 for one recipient: that one failed-permanent without retry, the others delivered', async () => {
    world = await makeWorld(3);
    smtp = await startSmtp({ onRcpt: (a) => (a === emailOf(2) ? smtpError(550, 'No such user') : undefined) });
    transport = smtpTransport({ url: smtp.url });
    const { deps, sleep } = await pipelineDeps(world, transport);
    const summary = await run({ date: DATE }, deps);
    expect(recipients(smtp.received).sort()).toEqual([emailOf(1), emailOf(3)]);
    expect(states(world, 's02')).toEqual(['planned', 'sending', 'failed-permanent']);
    expect(world.ledger().state(DATE, 's02')?.reason).toMatch(/550 No such user/);
    expect(summary.outcomes.find((o) => o.subscriber === 's02')).toMatchObject({ state: 'failed' });
    expect(summary.sent).toBe(2);
    expect(sleep.waits).toEqual([]);
  });

  it('connection dropped after DATA: ambiguous, and not resent by the next run', async () => {
    world = await makeWorld(3);
    const dataFor: string[] = [];
    smtp = await startSmtp({
      onData: (_raw, session) => {
        const to = session.envelope.rcptTo.map((r) => r.address).join();
        dataFor.push(to);
        return to === emailOf(2) ? 'drop' : undefined;
      },
    });
    transport = smtpTransport({ url: smtp.url });
    const first = await run({ date: DATE }, (await pipelineDeps(world, transport)).deps);
    expect(states(world, 's02')).toEqual(['planned', 'sending', 'ambiguous']);
    expect(first.ambiguous.map((a) => a.subscriber)).toEqual(['s02']);
    expect(recipients(smtp.received).sort()).toEqual([emailOf(1), emailOf(3)]);
    await transport.close();

    transport = smtpTransport({ url: smtp.url });
    const second = await run({ date: DATE }, (await pipelineDeps(world, transport)).deps);
    expect(second.sent).toBe(0);
    expect(second.outcomes.find((o) => o.subscriber === 's02')).toMatchObject({
      state: 'skipped',
      reason: `already ambiguous for ${DATE}`,
    });
    expect(second.ambiguous.map((a) => a.subscriber)).toEqual(['s02']);
    expect(dataFor.filter((to) => to === emailOf(2))).toHaveLength(1);
    expect(dataFor).toHaveLength(3);
  });

  it('a connection lost before the data phase is retried, not ambiguous', async () => {
    world = await makeWorld(1);
    let rcpts = 0;
    // The first time, cut the socket while the client waits for the RCPT reply: nothing of the message was sent.
    smtp = await startSmtp({ onRcpt: () => (++rcpts === 1 ? 'drop' : undefined) });
    transport = smtpTransport({ url: smtp.url });
    const { deps, sleep } = await pipelineDeps(world, transport);
    await run({ date: DATE }, deps);
    expect(states(world, 's01')).toEqual(['planned', 'sending', 'failed-transient', 'sending', 'sent']);
    expect(world.ledger().eventsFor(DATE)[2]?.reason).toMatch(/closed/i);
    expect(sleep.waits).toHaveLength(1);
    expect(recipients(smtp.received)).toEqual([emailOf(1)]);
  });

  it('retries are bounded in count and in total waiting time, with exponential backoff', async () => {
    world = await makeWorld(1);
    smtp = await startSmtp({ onData: () => smtpError(451, 'Greylisted') });
    transport = smtpTransport({ url: smtp.url });
    const byCount = await pipelineDeps(world, transport, {
      delivery: { retries: 3, retryBaseMs: 100, retryMaxTotalMs: 60_000, errorBudget: 0, bounceDays: 3 },
    });
    const s1 = await run({ date: DATE }, byCount.deps);
    expect(byCount.sleep.waits).toEqual([100, 200, 400]);
    expect(states(world, 's01').filter((s) => s === 'sending')).toHaveLength(4);
    expect(world.ledger().state(DATE, 's01')?.state).toBe('failed-transient');
    expect(s1.outcomes[0]).toMatchObject({ state: 'failed', reason: expect.stringMatching(/after 4 attempt/) });

    // Same again with a 250 ms budget: 100 fits, 100 + 200 does not → two attempts only.
    const byTime = await pipelineDeps(world, transport, {
      delivery: { retries: 10, retryBaseMs: 100, retryMaxTotalMs: 250, errorBudget: 0, bounceDays: 3 },
    });
    const s2 = await run({ date: DATE }, byTime.deps);
    expect(byTime.sleep.waits).toEqual([100]);
    expect(s2.outcomes[0]).toMatchObject({ state: 'failed', reason: expect.stringMatching(/after 2 attempt/) });
    expect(smtp.received).toHaveLength(0);
  });

  it('a stop during the last message, which then fails, still reports the run interrupted (exit 3), not merely failed', async () => {
    world = await makeWorld(2);
    const stop = new AbortController();
    // s02 is last: its first attempt is refused while the stop arrives, so its retries are abandoned.
    smtp = await startSmtp({
      onData: (_raw, session) => {
        if (!session.envelope.rcptTo.some((r) => r.address === emailOf(2))) return undefined;
        stop.abort('SIGTERM');
        return smtpError(451, 'Greylisted');
      },
    });
    transport = smtpTransport({ url: smtp.url });
    const { deps } = await pipelineDeps(world, transport);
    const summary = await run({ date: DATE, signal: stop.signal }, deps);
    expect(summary.sent).toBe(1);
    expect(summary.outcomes[1]).toMatchObject({ subscriber: 's02', state: 'failed', abandoned: true, reason: expect.stringMatching(/not retried on shutdown/) });
    expect(summary.aborted).toMatch(/^interrupted \(SIGTERM\); the last message failed and was not retried \(s02\)/);
    expect(world.ledger().state(DATE, 's02')?.state).toBe('failed-transient');
  });

  it('a stop during a last message that fails for good reports that failure, not an interruption', async () => {
    world = await makeWorld(1);
    const stop = new AbortController();
    smtp = await startSmtp({
      onData: () => {
        stop.abort('SIGTERM');
        return smtpError(550, 'No such user');
      },
    });
    transport = smtpTransport({ url: smtp.url });
    const { deps } = await pipelineDeps(world, transport);
    const summary = await run({ date: DATE, signal: stop.signal }, deps);
    expect(summary.outcomes[0]).toMatchObject({ state: 'failed', reason: expect.stringMatching(/^failed-permanent/) });
    expect(summary.outcomes[0]!.abandoned).toBeUndefined();
    expect(summary.aborted).toBeUndefined();
  });

  it('a stop that comes as the last message is accepted cuts nothing short', async () => {
    world = await makeWorld(1);
    const stop = new AbortController();
    smtp = await startSmtp({ onData: () => void stop.abort('SIGTERM') });
    transport = smtpTransport({ url: smtp.url });
    const { deps } = await pipelineDeps(world, transport);
    const summary = await run({ date: DATE, signal: stop.signal }, deps);
    expect(summary.sent).toBe(1);
    expect(summary.aborted).toBeUndefined();
  });

  it('jitter spreads the wait between zero and the exponential ceiling', async () => {
    world = await makeWorld(1);
    smtp = await startSmtp({ onData: () => smtpError(451, 'Greylisted') });
    transport = smtpTransport({ url: smtp.url });
    const { deps, sleep } = await pipelineDeps(world, transport, { random: () => 0.5 });
    await run({ date: DATE }, deps);
    expect(sleep.waits).toEqual([50, 100, 200]);
  });

  it('server down (closed port): the run aborts before anything is planned or sent; the CLI exits 3 with one clear error', async () => {
    world = await makeWorld(2);
    const probe = await startSmtp();
    const url = probe.url;
    await probe.close();
    transport = smtpTransport({ url, connectionTimeoutMs: 2000 });
    const summary = await run({ date: DATE }, (await pipelineDeps(world, transport)).deps);
    expect(summary.aborted).toMatch(/cannot reach the SMTP server.*ECONNREFUSED/);
    expect(summary.sent).toBe(0);
    expect(world.ledger().eventsFor(DATE)).toEqual([]);

    const cli = await runCli(['run', '--listing', LISTING, '--date', DATE], { cwd: world.dir, env: world.env({ SMTP_URL: url }) });
    expect(cli.code).toBe(3);
    expect(cli.stdout).toMatch(/ABORTED: the SMTP server cannot be used .*cannot reach the SMTP server.*nothing was sent/);
    expect(
      world
        .ledger()
        .eventsFor(DATE)
        .filter((e) => e.state === 'sent'),
    ).toEqual([]);
  });

  it('authentication failure: stops at once with a clear error, nothing sent', async () => {
    world = await makeWorld(2);
    smtp = await startSmtp({
      options: {
        authOptional: false,
        allowInsecureAuth: true,
        onAuth: (_auth, _session, cb) => cb(Object.assign(new Error('Invalid credentials'), { responseCode: 535 })),
      },
    });
    transport = smtpTransport({ url: `smtp://paperboy:wrong@127.0.0.1:${smtp.port}` });
    const summary = await run({ date: DATE }, (await pipelineDeps(world, transport)).deps);
    expect(summary.aborted).toMatch(/authentication failed.*Invalid credentials/);
    expect(smtp.received).toHaveLength(0);
    expect(world.ledger().eventsFor(DATE)).toEqual([]);
  });

  it('a refused connection in the middle of a run stops it; nothing after is attempted and nothing is marked sent wrongly', async () => {
    world = await makeWorld(4);
    smtp = await startSmtp({
      onRcpt: (a) => {
        if (a !== emailOf(2)) return undefined;
        // The server goes away for good while s02's envelope is being sent.
        void smtp!.close();
        return 'drop';
      },
    });
    transport = smtpTransport({ url: smtp.url, maxConnections: 1 });
    const { deps } = await pipelineDeps(world, transport, {
      delivery: { retries: 1, retryBaseMs: 1, retryMaxTotalMs: 1000, errorBudget: 0, bounceDays: 3 },
    });
    const summary = await run({ date: DATE }, deps);
    expect(summary.aborted).toMatch(/cannot be used/);
    expect(recipients(smtp.received)).toEqual([emailOf(1)]);
    const ledger = world.ledger();
    expect(ledger.state(DATE, 's01')?.state).toBe('sent');
    expect(ledger.state(DATE, 's02')?.state).toBe('failed-transient');
    expect(ledger.state(DATE, 's02')?.reason).toMatch(/ECONNREFUSED/);
    expect(ledger.state(DATE, 's03')?.state).toBe('planned');
    expect(ledger.state(DATE, 's04')?.state).toBe('planned');
  });

  it('circuit breaker: too many failures pause the run, the rest stay unsent for the next run, exit 3', async () => {
    world = await makeWorld(6);
    const tried = new Set<string>();
    smtp = await startSmtp({
      onRcpt: (a) => {
        tried.add(a);
        return smtpError(451, 'Temporary local problem');
      },
    });
    const cli = await runCli(['run', '--listing', LISTING, '--date', DATE], {
      cwd: world.dir,
      env: world.env({ SMTP_URL: smtp.url, ERROR_BUDGET: '3', SEND_RETRIES: '0' }),
    });
    expect(cli.code).toBe(3);
    expect(cli.stdout).toMatch(
      /circuit breaker: 3 failed deliveries in this run \(ERROR_BUDGET=3\).*Paused: 3 subscriber\(s\) not attempted/,
    );
    expect([...tried].sort()).toEqual([emailOf(1), emailOf(2), emailOf(3)]);
    const ledger = world.ledger();
    expect(['s04', 's05', 's06'].map((s) => ledger.state(DATE, s)?.state)).toEqual(['planned', 'planned', 'planned']);
    expect(ledger.eventsFor(DATE).some((e) => e.state === 'sent')).toBe(false);
  });

  it('permanent failures on consecutive digest days set status: bouncing, keeping the file’s comments; then no more sends', async () => {
    world = await makeWorld(2);
    const rcptFor2: string[] = [];
    smtp = await startSmtp({
      onRcpt: (a) => {
        if (a !== emailOf(2)) return undefined;
        rcptFor2.push(a);
        return smtpError(550, 'Mailbox unavailable');
      },
    });
    const days = ['2024-10-22', '2024-10-23', '2024-10-24'];
    for (const [i, date] of days.entries()) {
      transport = smtpTransport({ url: smtp.url });
      const summary = await run({ date }, (await pipelineDeps(world, transport)).deps);
      await transport.close();
      expect(summary.outcomes.find((o) => o.subscriber === 's02')?.reason).toMatch(/failed-permanent/);
      expect(await world.subscriberText('s02')).toMatch(i < 2 ? /status: active/ : /status: bouncing/);
    }
    const text = await world.subscriberText('s02');
    expect(text).toMatch(/^# generated for a delivery test/);
    transport = smtpTransport({ url: smtp.url });
    const after = await run({ date: '2024-10-25' }, (await pipelineDeps(world, transport)).deps);
    expect(after.outcomes.find((o) => o.subscriber === 's02')).toEqual({
      subscriber: 's02',
      state: 'skipped',
      reason: 'status is bouncing',
    });
    expect(rcptFor2).toHaveLength(3); // one attempt per day, none once bouncing
    expect(recipients(smtp.received).filter((r) => r === emailOf(2))).toEqual([]);
    expect(recipients(smtp.received).filter((r) => r === emailOf(1)).length).toBeGreaterThanOrEqual(3);
  });

  it('a day that went through breaks the bounce streak', async () => {
    world = await makeWorld(1);
    let reject = true;
    smtp = await startSmtp({ onRcpt: () => (reject ? smtpError(550, 'Mailbox unavailable') : undefined) });
    for (const date of ['2024-10-21', '2024-10-22', '2024-10-23', '2024-10-24']) {
      reject = date !== '2024-10-22';
      transport = smtpTransport({ url: smtp.url });
      await run({ date }, (await pipelineDeps(world, transport)).deps);
      await transport.close();
    }
    // Failed, sent, failed, failed: only two consecutive permanent failures.
    expect(await world.subscriberText('s01')).toMatch(/status: active/);
  });

  it('unsubscribes win: a subscriber who unsubscribes while the run is sending is not sent to', async () => {
    world = await makeWorld(3);
    smtp = await startSmtp({
      onData: (_raw, session) => {
        if (session.envelope.rcptTo[0]?.address === emailOf(1))
          writeFileSync(path.join(world!.subscribers, 's02.yaml'), `email: ${emailOf(2)}\nstatus: unsubscribed\ntop_of_day: 3\n`);
        return undefined;
      },
    });
    transport = smtpTransport({ url: smtp.url });
    const summary = await run({ date: DATE }, (await pipelineDeps(world, transport)).deps);
    expect(recipients(smtp.received)).toEqual([emailOf(1), emailOf(3)]);
    expect(summary.outcomes.find((o) => o.subscriber === 's02')).toEqual({
      subscriber: 's02',
      state: 'skipped',
      reason: 'status changed to unsubscribed',
    });
  });
});
