import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Ledger } from '../src/ledger.js';

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
    const before = new Ledger(dir);
    const today = '2026-05-15'; // cut-off 2026-02-14: Jan 1 … Feb 13 (44 days) are old
    const done = await before.compact({ today, detailDays: 90, minLines: 1 });
    // One line per old (date, state), whoever it concerns; the recent 46 days as they were.
    expect(done).toEqual({ before: 282, after: 44 + 2 + 46 * 3 });
    expect((await readFile(file, 'utf8')).split('\n')[0]).toBe(
      JSON.stringify({ v: 1, at: '2026-01-01T07:00:00Z', date: '2026-01-01', state: 'sent', subscribers: ['ada', 'cy'] }),
    );

    const after = new Ledger(dir);
    expect(after.damaged).toEqual([]);
    for (const l of lines.slice(0, -1).map((x) => JSON.parse(x) as { date: string; subscriber: string }))
      expect(after.state(l.date, l.subscriber)?.state, `${l.date} ${l.subscriber}`).toBe(before.state(l.date, l.subscriber)?.state);
    expect(after.interrupted().map((e) => e.date)).toEqual(['2026-02-11']);
    // Old digests lose their paper lists (and addresses); recent ones keep theirs, and all their events.
    expect(after.papersSentBefore('ada', '2026-05-15')).toEqual(new Set([...Array(46).keys()].map((i) => `p${44 + i}`)));
    expect(after.eventsFor('2026-01-05')).toEqual([
      { v: 1, at: '2026-01-05T07:00:00Z', date: '2026-01-05', subscriber: 'ada', state: 'sent' },
    ]);
    expect(after.eventsFor('2026-03-01').map((e) => e.state)).toEqual(['planned', 'sending', 'sent']);
    expect(after.history('ada')).toHaveLength(90);
    expect(after.history('cy').map((e) => e.state)).toEqual(['sent', 'sent', 'sent']);

    // The same object answers from the compacted state too, and appends after it on a fresh line.
    before.record({ date: '2026-05-15', subscriber: 'ada', state: 'sent', papers: ['p999'] });
    expect(new Ledger(dir).state('2026-05-15', 'ada')?.papers).toEqual(['p999']);
    // Nothing left to save: a second compaction does not rewrite the file.
    const text = await readFile(file, 'utf8');
    expect(await new Ledger(dir).compact({ today, detailDays: 90, minLines: 1 })).toBeUndefined();
    expect(await readFile(file, 'utf8')).toBe(text);
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
