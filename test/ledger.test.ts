import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compactOrCarryOn } from '../src/context.js';
import { Ledger } from '../src/ledger.js';
import { memoryLogger } from '../src/log.js';

describe('the ledger', () => {
  it('skips a torn last line, never writes when only read, and starts the next record on a fresh line', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'paperboy-ledger-'));
    const file = path.join(dir, 'ledger.jsonl');
    const good = JSON.stringify({ v: 1, at: 'x', date: '2024-10-25', subscriber: 'ada', state: 'sent', papers: ['2410.00001'] });
    await writeFile(file, `${good}\n{"v":1,"date":"2024-10-25","subscr`);
    const reader = new Ledger(dir);
    expect(reader.damaged).toEqual([2]);
    expect(reader.state('2024-10-25', 'ada')?.state).toBe('sent');
    expect(await readFile(file, 'utf8')).toBe(`${good}\n{"v":1,"date":"2024-10-25","subscr`);

    new Ledger(dir).record({ date: '2024-10-28', subscriber: 'ada', state: 'sent', papers: ['2410.00002'] });
    const again = new Ledger(dir);
    expect(again.state('2024-10-28', 'ada')?.state).toBe('sent');
    expect(again.papersSentBefore('ada', '2024-10-29')).toEqual(new Set(['2410.00001', '2410.00002']));
  });

  it('creates its folder on the first record, not when read', async () => {
    const dir = path.join(await mkdtemp(path.join(tmpdir(), 'paperboy-ledger-')), 'data');
    const l = new Ledger(dir);
    expect(l.latestFor('2024-10-25')).toEqual([]);
    l.record({ date: '2024-10-25', subscriber: 'ada', state: 'skipped', reason: 'x' });
    expect(await readFile(path.join(dir, 'ledger.jsonl'), 'utf8')).toMatch(/"state":"skipped"/);
  });
});

describe('ledger compaction', () => {
  /** `n` consecutive digest dates from `first`, each planned → sending → sent for `subscriber`. */
  function history(first: string, n: number, subscriber: string) {
    const lines: string[] = [];
    for (let i = 0; i < n; i++) {
      const d = new Date(`${first}T00:00:00Z`);
      d.setUTCDate(d.getUTCDate() + i);
      const date = d.toISOString().slice(0, 10);
      const papers = [`p${i}`];
      for (const state of ['planned', 'sending', 'sent'])
        lines.push(JSON.stringify({ v: 1, at: `${date}T07:00:00Z`, date, subscriber, state, papers, email: `${subscriber}@example.org` }));
    }
    return lines;
  }

  it('keeps recent digests whole, old digests as their last state only, and every "was it sent?" answer the same', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'paperboy-ledger-'));
    const file = path.join(dir, 'ledger.jsonl');
    // 2026-01-01 … 2026-03-31 (90 days), then one that failed for good, one interrupted mid-send, one unreadable line.
    const lines = [
      ...history('2026-01-01', 90, 'ada'),
      ...history('2026-01-01', 3, 'cy'),
      JSON.stringify({ v: 1, at: 'x', date: '2026-02-10', subscriber: 'bob', state: 'failed-permanent', reason: '550' }),
      JSON.stringify({ v: 1, at: 'x', date: '2026-02-11', subscriber: 'bob', state: 'sending', papers: ['q1'] }),
      '{"v":1,"date":"2026-02-12","subscr',
    ];
    await writeFile(file, lines.join('\n') + '\n');
    // What every reader answers before compaction, from its own reading of the file.
    const reference = new Ledger(dir);
    const answers = (l: Ledger) => ({
      states: lines.slice(0, -1).map((x) => {
        const e = JSON.parse(x) as { date: string; subscriber: string };
        return l.state(e.date, e.subscriber)?.state;
      }),
      history: ['ada', 'bob', 'cy'].map((id) => l.history(id).map((e) => [e.date, e.state])),
      lastSent: [...l.lastSent()],
      interrupted: l.interrupted().map((e) => [e.date, e.subscriber]),
    });

    const ledger = new Ledger(dir);
    const today = '2026-05-15'; // 90 days of detail → cut-off 2026-02-14: Jan 1 … Feb 13 (44 days) are old
    const done = await ledger.compact({ today, detailDays: 90, minLines: 1 });
    // One line per old (date, state), whoever it concerns; the recent 46 days as they were.
    expect(done).toEqual({ before: 282, after: 44 + 2 + 46 * 3, unreadable: 1 });
    expect((await readFile(file, 'utf8')).split('\n')[0]).toBe(
      JSON.stringify({ v: 2, at: '2026-01-01T07:00:00Z', date: '2026-01-01', state: 'sent', subscribers: ['ada', 'cy'] }),
    );

    const reread = new Ledger(dir);
    expect(reread.damaged).toEqual([]);
    expect(answers(reread)).toEqual(answers(reference));
    expect(answers(ledger)).toEqual(answers(reference));
    expect(answers(reference).interrupted).toEqual([['2026-02-11', 'bob']]);
    // Old digests lose their paper lists (and addresses); recent ones keep theirs, and all their events.
    expect(reread.papersSentBefore('ada', '2026-05-15')).toEqual(new Set([...Array(46).keys()].map((i) => `p${44 + i}`)));
    expect(reread.eventsFor('2026-01-05')).toEqual([
      { v: 2, at: '2026-01-05T07:00:00Z', date: '2026-01-05', subscriber: 'ada', state: 'sent' },
    ]);
    expect(reread.eventsFor('2026-03-01').map((e) => e.state)).toEqual(['planned', 'sending', 'sent']);

    // The same object appends after its compacted file, and a second compaction has nothing to save.
    ledger.record({ date: '2026-05-15', subscriber: 'ada', state: 'sent', papers: ['p999'] });
    expect(new Ledger(dir).state('2026-05-15', 'ada')?.papers).toEqual(['p999']);
    const text = await readFile(file, 'utf8');
    expect(await ledger.compact({ today, detailDays: 90, minLines: 1 })).toBeUndefined();
    expect(await readFile(file, 'utf8')).toBe(text);
  });

  it('never loses an event appended after it read the file: it refuses, and leaves the file as it is', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'paperboy-ledger-'));
    const file = path.join(dir, 'ledger.jsonl');
    await writeFile(file, history('2025-01-01', 10, 'ada').join('\n') + '\n');
    const slow = new Ledger(dir);
    // Another process (a run that lost the lock) records a send meanwhile.
    new Ledger(dir).record({ date: '2025-06-01', subscriber: 'ada', state: 'sending', messageId: '<m>' });
    const text = await readFile(file, 'utf8');
    await expect(slow.compact({ today: '2026-11-21', minLines: 1 })).rejects.toThrow(/changed while it was being compacted/);
    expect(await readFile(file, 'utf8')).toBe(text);

    // At the start of a run it is housekeeping: logged, and the run goes on with the file as it now is.
    await writeFile(file, [...history('2019-01-01', 2000, 'ada'), ...history('2019-01-01', 2000, 'bob')].join('\n') + '\n');
    const stale = new Ledger(dir);
    new Ledger(dir).record({ date: '2026-11-20', subscriber: 'ada', state: 'sending', messageId: '<m>' });
    const log = memoryLogger();
    const carried = await compactOrCarryOn(stale, '2026-11-21', log, () => new Ledger(dir));
    expect(log.events.map((e) => e.event)).toEqual(['ledger.compact_failed']);
    expect(carried.interrupted().map((e) => e.messageId)).toEqual(['<m>']);
    // The next run compacts, and still sees the interrupted send.
    const next = await compactOrCarryOn(new Ledger(dir), '2026-11-21', log, () => {
      throw new Error('compaction was expected to succeed');
    });
    expect(log.events.map((e) => e.event)).toEqual(['ledger.compact_failed', 'ledger.compacted']);
    expect(new Ledger(dir).interrupted().map((e) => e.messageId)).toEqual(['<m>']);
    expect(next.state('2020-01-01', 'bob')?.state).toBe('sent');
  });

  it('leaves a ledger alone while compaction would save fewer lines than it is worth', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'paperboy-ledger-'));
    const file = path.join(dir, 'ledger.jsonl');
    const text = history('2025-01-01', 10, 'ada').join('\n') + '\n';
    await writeFile(file, text);
    expect(await new Ledger(dir).compact({ today: '2026-11-21' })).toBeUndefined();
    expect(await readFile(file, 'utf8')).toBe(text);
  });
});
