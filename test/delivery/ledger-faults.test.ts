/**
 * The ledger's disk failing (full, I/O error) around a real SMTP server on
 * 127.0.0.1: a message the server took is never sent again because its record
 * could not be written, a message that never went out is not counted as
 * possibly sent, and a half-written line never passes for a whole one.
 * The failures are made in node:fs itself, under the real Ledger.
 */
import fs from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Ledger } from '../../src/ledger.js';
import { run } from '../../src/pipeline.js';
import { SendError, smtpTransport, type Transport } from '../../src/transport.js';
import { startSmtp, type TestSmtp } from '../helpers/smtp.js';
import { DATE, makeWorld, pipelineDeps, recipients, type World } from './world.js';

const real = { writeSync: fs.writeSync, fsyncSync: fs.fsyncSync, ftruncateSync: fs.ftruncateSync };
const fsError = (code: string) => Object.assign(new Error(`${code}: simulated, write`), { code });

/** Make ledger appends whose text satisfies `when` fail as a full disk does: `keepBytes` of them, then ENOSPC. */
function failWrites(when: (text: string) => boolean, keepBytes = 0): void {
  const write = real.writeSync as (fd: number, buffer: Buffer, offset?: number, length?: number) => number;
  const fake = (fd: number, buffer: Buffer, offset = 0, length = buffer.length - offset): number => {
    const text = buffer.subarray(offset, offset + length).toString();
    if (!when(text)) return write(fd, buffer, offset, length);
    if (keepBytes > 0 && offset === 0) return write(fd, buffer, 0, Math.min(keepBytes, length));
    throw fsError('ENOSPC');
  };
  fs.writeSync = fake as unknown as typeof fs.writeSync;
  syncBuiltinESMExports();
}
/** Make the fsync after `skip` good ones fail (an I/O error after the bytes were written). */
function failFsyncAfter(skip: number): void {
  let seen = 0;
  fs.fsyncSync = ((fd: number) => {
    if (seen++ === skip) throw fsError('EIO');
    real.fsyncSync(fd);
  }) as typeof fs.fsyncSync;
  syncBuiltinESMExports();
}
/** Make cutting a failed append back fail too. */
function failTruncate(): void {
  fs.ftruncateSync = (() => {
    throw fsError('EIO');
  }) as typeof fs.ftruncateSync;
  syncBuiltinESMExports();
}
function healDisk(): void {
  Object.assign(fs, real);
  syncBuiltinESMExports();
}

let world: World | undefined;
let smtp: TestSmtp | undefined;
let transport: Transport | undefined;
afterEach(async () => {
  healDisk();
  await transport?.close();
  await smtp?.close();
  await world?.cleanup();
  world = smtp = transport = undefined;
});

const started = async (n: number) => {
  world = await makeWorld(n);
  smtp = await startSmtp();
  transport = smtpTransport({ url: smtp.url });
  return pipelineDeps(world, transport);
};

describe('the ledger’s disk failing', () => {
  it('after the server took a message: counted as sent, the run stops, and the next run does not send it again', async () => {
    const { deps, log } = await started(3);
    let failed = false;
    failWrites((text) => !failed && text.includes('"state":"sent"') && (failed = true));
    const summary = await run({ date: DATE }, deps);
    healDisk();

    expect(recipients(smtp!.received)).toEqual(['s01@example.org']);
    expect(summary.sent).toBe(1);
    expect(summary.failed).toBe(0);
    expect(summary.aborted).toMatch(/ledger\.jsonl: cannot record \(ENOSPC\), so the run stopped; 2 subscriber\(s\) not handled/);
    expect(log.events.filter((e) => e.event === 'delivery.retry')).toEqual([]);
    expect(log.events.filter((e) => e.event.startsWith('subscriber.')).map((e) => [e.event, e.subscriber])).toEqual([
      ['subscriber.sent', 's01'],
    ]);

    // The next run: s01's message may have gone out (its `sending` line is on disk), so it is not sent again.
    const next = await run({ date: DATE }, (await pipelineDeps(world!, transport!)).deps);
    expect(recipients(smtp!.received)).toEqual(['s01@example.org', 's02@example.org', 's03@example.org']);
    expect(next.ambiguous.map((a) => a.subscriber)).toEqual(['s01']);
  });

  it('before a message goes out (a full disk, or an fsync error after the bytes were written): nothing is sent, and the next run sends everyone', async () => {
    // The run's first append is everyone's `planned` line; its second, the first `sending` line, fails.
    for (const fail of [() => failWrites((text) => text.includes('"state":"sending"')), () => failFsyncAfter(1)]) {
      const { deps } = await started(3);
      fail();
      const summary = await run({ date: DATE }, deps);
      healDisk();
      expect(smtp!.received).toHaveLength(0);
      expect(summary.outcomes).toEqual([]);
      expect(summary.aborted).toMatch(/cannot record \((ENOSPC|EIO)\)/);
      // What the failed append wrote was taken back: no `sending` line says a message might have gone out.
      const lines = await readFile(path.join(world!.dir, 'data/ledger.jsonl'), 'utf8');
      expect(lines).toContain('"state":"planned"');
      expect(lines).not.toContain('"state":"sending"');
      const next = await run({ date: DATE }, (await pipelineDeps(world!, transport!)).deps);
      expect(next.ambiguous).toEqual([]);
      expect(recipients(smtp!.received).sort()).toEqual(['s01@example.org', 's02@example.org', 's03@example.org']);
      await transport!.close();
      await smtp!.close();
      await world!.cleanup();
    }
    world = smtp = transport = undefined;
  });

  it('while the run prepares: it stops with exit-3 semantics (a summary that says why), sending nothing', async () => {
    const { deps } = await started(2);
    failWrites((text) => text.includes('"state":"planned"'));
    const summary = await run({ date: DATE }, deps);
    healDisk();
    expect(smtp!.received).toHaveLength(0);
    expect(summary.aborted).toMatch(/cannot record \(ENOSPC\), so the run stopped; 2 subscriber\(s\) not handled/);
  });

  it('after the server refused a message: names it, since the next run will count it as possibly sent', async () => {
    world = await makeWorld(2);
    const refusing: Transport = {
      name: 'refusing',
      verify: async () => {},
      close: async () => {},
      send: async () => {
        throw new SendError('transient', '421 try again later');
      },
    };
    const { deps } = await pipelineDeps(world, refusing);
    failWrites((text) => text.includes('"state":"failed-transient"'));
    const summary = await run({ date: DATE }, deps);
    healDisk();
    expect(summary.outcomes).toEqual([
      expect.objectContaining({
        subscriber: 's01',
        state: 'failed',
        reason: 'not delivered (421 try again later), but the next run counts it as possibly sent and will not send it',
      }),
    ]);
    expect(summary.aborted).toMatch(/cannot record \(ENOSPC\), so the run stopped; 1 subscriber\(s\) not handled/);
  });

  it('a line cut short by a full disk is taken back; if even that fails, it is read as damaged and never glued to the next', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'paperboy-ledger-'));
    const file = path.join(dir, 'ledger.jsonl');
    const ledger = new Ledger(dir);
    ledger.record({ date: DATE, subscriber: 'ada', state: 'planned' });
    const one = await readFile(file, 'utf8');
    failWrites(() => true, 40);
    expect(() => ledger.record({ date: DATE, subscriber: 'ada', state: 'sending', messageId: '<m@x>', attempt: 1 })).toThrow(
      /ledger\.jsonl: cannot record \(ENOSPC\)/,
    );
    healDisk();
    expect(await readFile(file, 'utf8')).toBe(one);

    // The cut fails too: the partial line stays, and a later append that fails outright does not forget it.
    failWrites(() => true, 40);
    failTruncate();
    expect(() => ledger.record({ date: DATE, subscriber: 'bob', state: 'sending', messageId: '<m@y>', attempt: 1 })).toThrow(/ENOSPC/);
    failWrites(() => true);
    expect(() => ledger.record({ date: DATE, subscriber: 'bob', state: 'failed-transient', reason: 'x' })).toThrow(/ENOSPC/);
    healDisk();
    ledger.record({ date: DATE, subscriber: 'cy', state: 'sent' });
    const reread = new Ledger(dir);
    expect(reread.damaged).toEqual([2]);
    expect(reread.state(DATE, 'ada')?.state).toBe('planned');
    expect(reread.state(DATE, 'bob')).toBeUndefined();
    expect(reread.state(DATE, 'cy')?.state).toBe('sent');
  });
});
