/**
 * Crash safety with the real CLI: `paperboy run` is killed with SIGKILL in the
 * middle of a run, then run again. Every subscriber gets exactly one message;
 * the one in flight at the kill is reported ambiguous and never resent.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, cleanEnv, runCli } from '../helpers/cli.js';
import { startSmtp, type TestSmtp } from '../helpers/smtp.js';
import { DATE, emailOf, LISTING, makeWorld, recipients, type World } from './world.js';

const N = 12;
let world: World | undefined;
let smtp: TestSmtp | undefined;
let child: ChildProcess | undefined;
afterEach(async () => {
  child?.kill('SIGKILL');
  await smtp?.close();
  await world?.cleanup();
  world = smtp = child = undefined;
});

function startRun(w: World, url: string): { child: ChildProcess; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  const c = spawn(process.execPath, [BIN, 'run', '--listing', LISTING, '--date', DATE], {
    cwd: w.dir,
    env: cleanEnv({ SMTP_URL: url }),
    stdio: 'ignore',
  });
  const timer = setTimeout(() => c.kill('SIGKILL'), 20_000);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    c.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    }),
  );
  return { child: c, exited };
}

async function statusOfDay(w: World) {
  const status = await runCli(['status', '--date', DATE, '--json'], { cwd: w.dir, env: w.env() });
  expect(status.code).toBe(0);
  const report = JSON.parse(status.stdout) as {
    counts: Record<string, number>;
    attention: Array<{ subscriber: string; state: string }>;
    damagedLines: number[];
  };
  return { ...report, ambiguous: report.attention.filter((a) => a.state === 'ambiguous').map((a) => a.subscriber) };
}

describe('crash: SIGKILL mid-run, then run again', () => {
  it('killed while a message awaits the server’s reply: N distinct messages in all, the one in flight reported ambiguous, none twice', async () => {
    world = await makeWorld(N);
    const k = 4;
    let dataSeen = 0;
    // The kill lands while message k+1 is handed over and the server has not answered yet.
    smtp = await startSmtp({
      dataDelayMs: 100,
      onData: () => {
        if (++dataSeen === k + 1) child?.kill('SIGKILL');
        return undefined;
      },
    });
    const first = startRun(world, smtp.url);
    child = first.child;
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(smtp.received.length).toBe(k + 1); // the server took message k+1; the client never heard so

    // A crash can also tear the last ledger line: the next run must read past it.
    appendFileSync(path.join(world.dataDir, 'ledger.jsonl'), '{"v":1,"at":"2024-10-25T07:00:00.000Z","date":"2024-10-');
    const second = await runCli(['run', '--listing', LISTING, '--date', DATE], { cwd: world.dir, env: world.env({ SMTP_URL: smtp.url }) });
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/ambiguous +1 \(may have been delivered; not resent/);

    const got = recipients(smtp.received);
    expect(got).toHaveLength(N);
    expect(new Set(got).size).toBe(N);
    expect(new Set(smtp.received.map((r) => r.parsed.messageId)).size).toBe(N);
    const status = await statusOfDay(world);
    expect(status.ambiguous).toEqual([`s${String(k + 1).padStart(2, '0')}`]);
    expect(status.counts).toMatchObject({ sent: N - 1, ambiguous: 1, sending: 0, planned: 0 });
    expect(status.damagedLines).toHaveLength(1);
    expect(got).toContain(emailOf(k + 1));

    // A third run has nothing left to do.
    const third = await runCli(['run', '--listing', LISTING, '--date', DATE], { cwd: world.dir, env: world.env({ SMTP_URL: smtp.url }) });
    expect(third.code).toBe(0);
    expect(smtp.received).toHaveLength(N);
  });

  it('killed at an arbitrary moment after k messages: nobody gets two, and whoever got none is reported ambiguous', async () => {
    world = await makeWorld(N);
    smtp = await startSmtp({ dataDelayMs: 60 });
    const first = startRun(world, smtp.url);
    child = first.child;
    await smtp.waitFor(3, 15_000);
    child.kill('SIGKILL');
    await first.exited;

    const second = await runCli(['run', '--listing', LISTING, '--date', DATE], { cwd: world.dir, env: world.env({ SMTP_URL: smtp.url }) });
    expect(second.code).toBe(0);
    const got = recipients(smtp.received);
    expect(new Set(got).size).toBe(got.length); // never twice
    const { ambiguous, counts } = await statusOfDay(world);
    expect(ambiguous.length).toBeLessThanOrEqual(1);
    expect(counts.sent! + counts.ambiguous!).toBe(N);
    const missing = world.ids.filter((_s, i) => !got.includes(emailOf(i + 1)));
    // Anyone without a message is exactly someone the ledger reports as possibly delivered.
    expect(missing.every((s) => ambiguous.includes(s))).toBe(true);
    expect(got.length + missing.length).toBe(N);
  });
});
