/**
 * `paperboy status`: counts per state for a day and the deliveries that need
 * attention, with reasons, from the ledger of a real run with faults.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { smtpError, startSmtp, type TestSmtp } from '../helpers/smtp.js';
import { DATE, emailOf, LISTING, makeWorld, type World } from './world.js';

let world: World | undefined;
let smtp: TestSmtp | undefined;
afterEach(async () => {
  await smtp?.close();
  await world?.cleanup();
  world = smtp = undefined;
});

describe('paperboy status', () => {
  it('reports counts per state and the failed and ambiguous deliveries with reasons, as text and JSON', async () => {
    world = await makeWorld(5);
    smtp = await startSmtp({
      onRcpt: (a) => (a === emailOf(2) ? smtpError(550, 'User unknown') : a === emailOf(4) ? smtpError(451, 'Try later') : undefined),
      onData: (_raw, s) => (s.envelope.rcptTo[0]?.address === emailOf(3) ? 'drop' : undefined),
    });
    const env = world.env({ SMTP_URL: smtp.url, SEND_RETRIES: '1', SEND_RETRY_BASE_MS: '5' });
    const ran = await runCli(['run', '--listing', LISTING, '--date', DATE], { cwd: world.dir, env });
    expect(ran.code).toBe(1);

    const json = await runCli(['status', '--date', DATE, '--json'], { cwd: world.dir, env });
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report.counts).toEqual({
      planned: 0,
      sending: 0,
      sent: 2,
      'failed-transient': 1,
      'failed-permanent': 1,
      ambiguous: 1,
      skipped: 0,
      missed: 0,
    });
    expect(
      report.attention.map((a: { subscriber: string; state: string; attempts: number }) => [a.subscriber, a.state, a.attempts]),
    ).toEqual([
      ['s02', 'failed-permanent', 1],
      ['s03', 'ambiguous', 1],
      ['s04', 'failed-transient', 2],
    ]);
    expect(report.attention[0].reason).toMatch(/550 User unknown/);
    expect(report.attention[0].email).toBe(emailOf(2));
    expect(report.attention[2].reason).toMatch(/451 Try later/);

    const text = await runCli(['status', '--date', DATE], { cwd: world.dir, env });
    expect(text.stdout).toMatch(/sent +2/);
    expect(text.stdout).toMatch(/Needs attention:\n {2}s02 <s02@example.org> {2}failed-permanent/);
    expect(text.stdout).toMatch(/s03 <s03@example.org> {2}ambiguous/);

    const quiet = await runCli(['status', '--date', '2024-10-24'], { cwd: world.dir, env });
    expect(quiet.stdout).toMatch(/Nothing recorded for this date/);
    const bad = await runCli(['status', '--date', '2024-13-01'], { cwd: world.dir, env });
    expect(bad.code).toBe(2);
  });

  it('logs one JSON object per event with --log-format json', async () => {
    world = await makeWorld(2);
    smtp = await startSmtp();
    const ran = await runCli(['--log-format', 'json', 'run', '--listing', LISTING, '--date', DATE], {
      cwd: world.dir,
      env: world.env({ SMTP_URL: smtp.url }),
    });
    expect(ran.code).toBe(0);
    const lines = ran.stderr.trim().split('\n');
    const events = lines.map((l) => JSON.parse(l) as { event: string; level: string; time: string });
    expect(events.map((e) => e.event)).toEqual(expect.arrayContaining(['listing.fetched', 'subscriber.sent', 'run.done']));
    expect(events.every((e) => typeof e.time === 'string' && typeof e.level === 'string')).toBe(true);
  });
});
