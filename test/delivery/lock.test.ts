/**
 * The run lock: one run at a time within a process and across processes; a
 * crashed holder's lock is taken over (at once when its pid is gone, else
 * once its heartbeat is stale).
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RunLock, type HeldLock } from '../../src/lock.js';
import { BIN, cleanEnv, runCli } from '../helpers/cli.js';
import { holdAtServer, startSmtp, type TestSmtp } from '../helpers/smtp.js';
import { run } from '../../src/pipeline.js';
import { smtpTransport } from '../../src/transport.js';
import { DATE, LISTING, makeWorld, pipelineDeps, recipients, type World } from './world.js';

let dir: string | undefined;
let held: HeldLock[] = [];
let world: World | undefined;
let smtp: TestSmtp | undefined;
afterEach(async () => {
  for (const h of held) await h.release();
  held = [];
  await smtp?.close();
  await world?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = world = smtp = undefined;
});

const scratch = async () => (dir = await mkdtemp(path.join(tmpdir(), 'paperboy-lock-')));

/** A pid that certainly belongs to no process any more. */
async function deadPid(): Promise<number> {
  const c = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => c.on('exit', r));
  return c.pid!;
}

/** Lay down a lock as another process would have left it. */
async function plantLock(dataDir: string, pid: number, ageMs: number) {
  const lock = new RunLock(dataDir);
  await mkdir(lock.dir, { recursive: true });
  const then = new Date(Date.now() - ageMs);
  await utimes(lock.dir, then, then);
  const owner = { pid, host: hostname(), command: 'paperboy run (planted)', since: then.toISOString(), ino: (await stat(lock.dir)).ino };
  await writeFile(lock.ownerFile, JSON.stringify(owner));
  return lock;
}

describe('RunLock', () => {
  it('admits one holder at a time in a process, and the next once released', async () => {
    const d = await scratch();
    const first = await new RunLock(d).acquire({ command: 'first' });
    held.push(first);
    await expect(new RunLock(d).acquire({ command: 'second' })).rejects.toMatchObject({ code: 'LOCKED' });
    await first.release();
    const again = await new RunLock(d).acquire({ command: 'again' });
    held.push(again);
    expect((await new RunLock(d).readOwner())?.command).toBe('again');
  });

  it('refuses a fresh lock held by a live process, naming it', async () => {
    const d = await scratch();
    await plantLock(d, process.ppid, 0);
    await expect(new RunLock(d).acquire({ command: 'me', staleMs: 60_000 })).rejects.toThrow(
      new RegExp(`another run holds the lock: pid ${process.ppid} on .*\\(paperboy run \\(planted\\)\\)`),
    );
  });

  it('takes over at once from a holder whose process is gone (kill -9, then restart)', async () => {
    const d = await scratch();
    const pid = await deadPid();
    await plantLock(d, pid, 0);
    const lock = await new RunLock(d).acquire({ command: 'successor', staleMs: 60_000 });
    held.push(lock);
    expect((await new RunLock(d).readOwner())?.pid).toBe(process.pid);
  });

  it('takes over a stale lock whose holder stopped its heartbeat, even if its pid looks alive', async () => {
    const d = await scratch();
    await plantLock(d, process.ppid, 10 * 60_000);
    const lock = await new RunLock(d).acquire({ command: 'successor', staleMs: 5_000 });
    held.push(lock);
    expect((await new RunLock(d).readOwner())?.command).toBe('successor');
  });

  it('a healthy holder passes its own check across heartbeats (which touch the lock directory)', async () => {
    const d = await scratch();
    const lock = await new RunLock(d).acquire({ command: 'steady', staleMs: 2000 }); // heartbeat every second
    held.push(lock);
    const touched = (await stat(new RunLock(d).dir)).mtimeMs;
    await new Promise((r) => setTimeout(r, 2500));
    expect((await stat(new RunLock(d).dir)).mtimeMs).toBeGreaterThan(touched);
    expect(() => lock.verify()).not.toThrow();
    expect(lock.signal.aborted).toBe(false);
  });

  it('tells a holder whose lock was taken over, before it can send again', async () => {
    const d = await scratch();
    const lock = await new RunLock(d).acquire({ command: 'sleeper' });
    held.push(lock);
    expect(() => lock.verify()).not.toThrow();
    // What a successor does to a stale lock: remove it and make its own, with its own record.
    await rm(new RunLock(d).dir, { recursive: true });
    const successor = await plantLock(d, process.ppid, 0);
    expect(() => lock.verify()).toThrow(
      expect.objectContaining({ code: 'LOCKED', message: expect.stringMatching(/taken over by pid \d+/) }),
    );
    expect(lock.signal.aborted).toBe(true);
    // Releasing a lock found lost leaves the successor's in place.
    await lock.release();
    expect((await stat(successor.dir)).isDirectory()).toBe(true);
    expect((await successor.readOwner())?.pid).toBe(process.ppid);
  });

  it('waits for the holder when asked to', async () => {
    const d = await scratch();
    const first = await new RunLock(d).acquire({ command: 'first' });
    setTimeout(() => void first.release(), 300);
    const second = await new RunLock(d).acquire({ command: 'second', waitMs: 10_000, pollMs: 50 });
    held.push(second);
    expect((await new RunLock(d).readOwner())?.command).toBe('second');
  });
});

describe('a run that lost its lock while frozen', () => {
  it('writes nothing over what its successor recorded, so the next run sends nobody a second digest', async () => {
    world = await makeWorld(3);
    smtp = await startSmtp();
    const transport = smtpTransport({ url: smtp.url });
    try {
      // The sleeper read the ledger (empty) and then froze, before planning anyone.
      const { deps: sleeper } = await pipelineDeps(world, transport);
      const lock = await new RunLock(world.dataDir).acquire({ command: 'sleeper' });
      held.push(lock);
      sleeper.ledger.guard = lock.verify;
      // Meanwhile its lock went stale and a successor took over and sent everyone's digest.
      await rm(new RunLock(world.dataDir).dir, { recursive: true });
      await plantLock(world.dataDir, process.ppid, 0);
      const { deps: successor } = await pipelineDeps(world, transport);
      expect((await run({ date: DATE }, successor)).sent).toBe(3);
      const after = await readFile(path.join(world.dataDir, 'ledger.jsonl'), 'utf8');
      // The sleeper wakes: its stale view says everyone is still to do.
      const woke = await run({ date: DATE }, sleeper);
      expect(woke.sent).toBe(0);
      expect(woke.aborted).toMatch(/lost the run lock: taken over by pid \d+/);
      expect(await readFile(path.join(world.dataDir, 'ledger.jsonl'), 'utf8')).toBe(after);
      const { deps: next } = await pipelineDeps(world, transport);
      expect((await run({ date: DATE }, next)).sent).toBe(0);
      expect(recipients(smtp.received)).toHaveLength(3);
    } finally {
      await transport.close();
    }
  });
});

describe('paperboy run while another run holds the lock', () => {
  it('exits 4 with a clear message; the holder finishes and delivers everyone once', async () => {
    world = await makeWorld(6);
    // Hold the first run inside its first message until the second run has been turned away.
    const hold = holdAtServer();
    smtp = await startSmtp({ onData: hold.onData });
    const holder = spawn(process.execPath, [BIN, 'run', '--listing', LISTING, '--date', DATE], {
      cwd: world.dir,
      env: cleanEnv({ SMTP_URL: smtp.url }),
      stdio: 'ignore',
    });
    const holderExit = new Promise<number | null>((r) => holder.on('exit', (code) => r(code)));
    const killer = setTimeout(() => holder.kill('SIGKILL'), 25_000);
    await hold.arrived;
    const second = await runCli(['run', '--listing', LISTING, '--date', DATE], { cwd: world.dir, env: world.env({ SMTP_URL: smtp.url }) });
    hold.release();
    expect(second.code).toBe(4);
    expect(second.stderr).toMatch(new RegExp(`another run holds the lock: pid ${holder.pid} .*paperboy run --date ${DATE}`));
    expect(await holderExit).toBe(0);
    clearTimeout(killer);
    expect(recipients(smtp.received)).toHaveLength(6);
    expect(new Set(recipients(smtp.received)).size).toBe(6);

    // With --wait, a later run waits its turn and finds nothing left to send.
    const third = await runCli(['run', '--listing', LISTING, '--date', DATE, '--wait', '10'], {
      cwd: world.dir,
      env: world.env({ SMTP_URL: smtp.url }),
    });
    expect(third.code).toBe(0);
    expect(recipients(smtp.received)).toHaveLength(6);
  });

  it('a run frozen past its lock (SIGSTOP, a suspended VM) sends nothing more once it wakes', async () => {
    world = await makeWorld(6);
    const hold = holdAtServer({ onlyFirst: true });
    smtp = await startSmtp({ onData: hold.onData });
    const env = world.env({ SMTP_URL: smtp.url, LOCK_STALE_SECONDS: '5' });
    const sleeper = spawn(process.execPath, [BIN, 'run', '--listing', LISTING, '--date', DATE], { cwd: world.dir, env, stdio: 'ignore' });
    const sleeperExit = new Promise<number | null>((r) => sleeper.on('exit', (code) => r(code)));
    const killer = setTimeout(() => sleeper.kill('SIGKILL'), 40_000);
    try {
      await hold.arrived;
      sleeper.kill('SIGSTOP');
      hold.release(); // the first message is accepted while its sender sleeps
      await new Promise((r) => setTimeout(r, 6500)); // its heartbeat goes stale
      const successor = await runCli(['run', '--listing', LISTING, '--date', DATE], { cwd: world.dir, env });
      expect(successor.code).toBe(0);
      sleeper.kill('SIGCONT');
      expect(await sleeperExit).toBe(3);
    } finally {
      clearTimeout(killer);
      sleeper.kill('SIGCONT');
    }
    // The successor left the first (in flight, maybe delivered) alone and sent the rest; the sleeper sent nothing more.
    expect(recipients(smtp.received)).toHaveLength(6);
    expect(new Set(recipients(smtp.received)).size).toBe(6);
  }, 60_000);
});
