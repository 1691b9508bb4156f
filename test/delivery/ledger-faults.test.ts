/**
 * The ledger's disk failing (full, I/O error) around a real SMTP server on
 * 127.0.0.1: a message the server took is never sent again because its record
 * could not be written, and a half-written line never passes for a whole one.
 * The failures are made in node:fs itself, under the real Ledger.
 */
import fs from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Ledger } from '../../src/ledger.js';
import { run } from '../../src/pipeline.js';
import { smtpTransport, type Transport } from '../../src/transport.js';
import { startSmtp, type TestSmtp } from '../helpers/smtp.js';
import { DATE, makeWorld, pipelineDeps, recipients, type World } from './world.js';

const realWriteSync = fs.writeSync;
/** Make the next ledger appends that satisfy `when` fail the way a full disk does: part of the bytes, then ENOSPC. */
function failWrites(when: (text: string) => boolean, keepBytes = 0): void {
  const write = realWriteSync as (fd: number, buffer: Buffer, offset?: number, length?: number) => number;
  const fake = (fd: number, buffer: Buffer, offset = 0, length = buffer.length - offset): number => {
    const text = buffer.subarray(offset, offset + length).toString();
    if (!when(text)) return write(fd, buffer, offset, length);
    if (keepBytes > 0 && offset === 0) return write(fd, buffer, 0, Math.min(keepBytes, length));
    throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  };
  fs.writeSync = fake as unknown as typeof fs.writeSync;
  syncBuiltinESMExports();
}
function healDisk(): void {
  fs.writeSync = realWriteSync;
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

describe('the ledger’s disk failing', () => {
  it('after the server took a message: counted as sent, the run stops, and the next run does not send it again', async () => {
    world = await makeWorld(3);
    smtp = await startSmtp();
    transport = smtpTransport({ url: smtp.url });
    const { deps, log } = await pipelineDeps(world, transport);
    let failed = false;
    failWrites((text) => !failed && text.includes('"state":"sent"') && (failed = true));
    const summary = await run({ date: DATE }, deps);
    healDisk();

    expect(recipients(smtp.received)).toEqual(['s01@example.org']);
    expect(summary.sent).toBe(1);
    expect(summary.failed).toBe(0);
    expect(summary.aborted).toMatch(/ledger\.jsonl: cannot record \(ENOSPC\), so the run stopped; 2 subscriber\(s\) not handled/);
    expect(log.events.filter((e) => e.event === 'delivery.retry')).toEqual([]);
    expect(log.events.filter((e) => e.event.startsWith('subscriber.')).map((e) => [e.event, e.subscriber])).toEqual([
      ['subscriber.sent', 's01'],
    ]);

    // The next run: s01's message may have gone out (its `sending` line is on disk), so it is not sent again.
    const next = await run({ date: DATE }, (await pipelineDeps(world, transport)).deps);
    expect(recipients(smtp.received)).toEqual(['s01@example.org', 's02@example.org', 's03@example.org']);
    expect(next.ambiguous.map((a) => a.subscriber)).toEqual(['s01']);
  });

  it('before a message goes out: nothing is sent unrecorded, and the run stops instead of failing everyone in turn', async () => {
    world = await makeWorld(3);
    smtp = await startSmtp();
    transport = smtpTransport({ url: smtp.url });
    const { deps } = await pipelineDeps(world, transport);
    failWrites((text) => text.includes('"state":"sending"'));
    const summary = await run({ date: DATE }, deps);
    healDisk();
    expect(smtp.received).toHaveLength(0);
    expect(summary.outcomes).toEqual([]);
    expect(summary.aborted).toMatch(/cannot record \(ENOSPC\).*3 subscriber\(s\) not handled/);
    // The disk has room again: everyone gets their digest, once.
    await run({ date: DATE }, (await pipelineDeps(world, transport)).deps);
    expect(recipients(smtp.received).sort()).toEqual(['s01@example.org', 's02@example.org', 's03@example.org']);
  });

  it('a line cut short by a full disk is reported, never read as a whole one, and the next record starts a fresh line', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'paperboy-ledger-'));
    const ledger = new Ledger(dir);
    ledger.record({ date: DATE, subscriber: 'ada', state: 'planned' });
    failWrites(() => true, 40);
    expect(() => ledger.record({ date: DATE, subscriber: 'ada', state: 'sending', messageId: '<m@x>', attempt: 1 })).toThrow(
      /ledger\.jsonl: cannot record \(ENOSPC\)/,
    );
    healDisk();
    ledger.record({ date: DATE, subscriber: 'bob', state: 'planned' });
    const reread = new Ledger(dir);
    expect(reread.damaged).toEqual([2]);
    expect(reread.state(DATE, 'ada')?.state).toBe('planned');
    expect(reread.state(DATE, 'bob')?.state).toBe('planned');
  });
});
