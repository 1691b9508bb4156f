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
