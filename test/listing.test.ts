import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listingDateGap, parseListing } from '../src/listing.js';
import { safeHttpsUrl } from '../src/paper.js';
import { formatSummary } from '../src/commands/run.js';
import { run } from '../src/pipeline.js';
import { outboxTransport } from '../src/transport.js';
import { DATE, makeWorld, pipelineDeps } from './delivery/world.js';
import { FIXTURES } from './helpers/cli.js';

const load = (name: string) => JSON.parse(readFileSync(path.join(FIXTURES, name), 'utf8')) as unknown;

describe('parseListing on the recorded 2024 payload', () => {
  const { papers, warnings } = parseListing(load('hf-daily-papers-2024-10-25.json'), 'fixture-2024');

  it('keeps every item, with no warnings', () => {
    expect(papers).toHaveLength(8);
    expect(warnings).toEqual([]);
  });

  it('collapses hard wraps in titles and abstracts', () => {
    const p = papers.find((x) => x.id === '2410.17243')!;
    expect(p.title).toBe('Breaking the Memory Barrier: Near Infinite Batch Size Scaling for Contrastive Loss');
    expect(p.abstract).not.toMatch(/\n/);
    expect(p.abstract).toContain('larger batch sizes enhance performance by providing more negative samples to better distinguish');
  });

  it('reads upvotes from paper.upvotes and lists visible authors', () => {
    const p = papers.find((x) => x.id === '2410.17243')!;
    expect(p.upvotes).toBe(64);
    expect(p.authors[0]).toBe('Zesen Cheng');
    expect(p.authors).toHaveLength(9);
    expect(p.publishedAt).toBe('2024-10-22T17:59:30.000Z');
  });

  it('builds links from the validated id', () => {
    const p = papers[0]!;
    expect(p.links).toEqual({
      hf: `https://huggingface.co/papers/${p.id}`,
      arxiv: `https://arxiv.org/abs/${p.id}`,
      pdf: `https://arxiv.org/pdf/${p.id}`,
    });
  });

  it('links an old-style arXiv id to arXiv, since Hugging Face has no page for it', () => {
    const item = (id: string) => ({ paper: { id, title: `Paper ${id}`, summary: 'An abstract.', upvotes: 1 } });
    const { papers: old, warnings: w } = parseListing([item('hep-th/9901001v2'), item('arXiv:2410.17243v1')], 'old-ids');
    expect(w).toEqual([]);
    expect(old.map((x) => [x.id, x.links.hf, x.links.pdf])).toEqual([
      ['hep-th/9901001', 'https://arxiv.org/abs/hep-th/9901001', 'https://arxiv.org/pdf/hep-th/9901001'],
      ['2410.17243', 'https://huggingface.co/papers/2410.17243', 'https://arxiv.org/pdf/2410.17243'],
    ]);
  });

  it('has no ai fields in the 2024 shape', () => {
    expect(papers.every((p) => p.aiKeywords.length === 0 && p.aiSummary === undefined)).toBe(true);
  });
});

describe('parseListing on the 2026 shape', () => {
  const { papers } = parseListing(load('hf-daily-papers-item-2026.json'), 'fixture-2026');
  const p = papers[0]!;

  it('reads ai_summary, ai_keywords, repo, project page and organisation', () => {
    expect(p.id).toBe('2602.23229');
    expect(p.aiSummary).toMatch(/^Large Multimodal Models demonstrate/);
    expect(p.aiKeywords).toContain('in-context learning');
    expect(p.githubRepo).toBe('https://github.com/marco-garosi/CIRCLE');
    expect(p.githubStars).toBe(9);
    expect(p.projectPage).toBe('https://circle-lmm.github.io/');
    expect(p.organization).toBe('Multimedia and Human Understanding Group');
    expect(p.thumbnail).toBe('https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2602.23229.png');
    expect(p.upvotes).toBe(10);
  });
});

describe('parseListing on bad input', () => {
  const good = { paper: { id: '2410.00001', title: 'A good paper', summary: 'Fine.', upvotes: 3, authors: [{ name: 'A' }] } };

  it('drops a malformed item with a warning that names it, and keeps the rest', () => {
    const { papers, warnings } = parseListing(
      [
        good,
        { paper: { id: 'not-an-id', title: 'x' } },
        { nope: true },
        { paper: { id: '2410.00002', title: '   ' } },
        { paper: { ...good.paper, id: '2410.00003' } },
        { paper: { ...good.paper, id: '2410.00004' } },
      ],
      'day.json',
    );
    expect(papers.map((p) => p.id)).toEqual(['2410.00001', '2410.00003', '2410.00004']);
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toMatch(/day\.json: item 1 dropped: paper\.id "not-an-id" is not an arXiv id/);
    expect(warnings[1]).toMatch(/item 2 dropped: expected an object with a "paper" object/);
    expect(warnings[2]).toMatch(/item 3 dropped: 2410\.00002: paper\.title is missing/);
  });

  it('merges duplicate copies field by field: a bare copy with more upvotes keeps the other copy’s abstract and keywords', () => {
    const full = { paper: { ...good.paper, upvotes: 40, ai_keywords: ['LoRA'], githubRepo: 'https://github.com/a/b' } };
    const bare = { paper: { id: '2410.00001', title: 'A good paper', upvotes: 41 } };
    for (const items of [
      [full, bare],
      [bare, full],
    ]) {
      const [p] = parseListing(items, 'dup.json').papers;
      expect(p).toMatchObject({
        upvotes: 41,
        abstract: 'Fine.',
        aiKeywords: ['LoRA'],
        authors: ['A'],
        githubRepo: 'https://github.com/a/b',
      });
    }
  });

  it('collapses duplicate ids to one paper, keeping the higher upvotes', () => {
    const { papers, warnings } = parseListing([good, { paper: { ...good.paper, id: '2410.00001v2', upvotes: 9 } }], 'dup.json');
    expect(papers).toHaveLength(1);
    expect(papers[0]!.upvotes).toBe(9);
    expect(warnings[0]).toMatch(/duplicate/);
  });

  it('logs and summarises a merged duplicate apart from dropped items: no paper of it is lost', async () => {
    const world = await makeWorld(1);
    try {
      const listing = parseListing([good, { paper: { ...good.paper, id: '2410.00001v2' } }, { paper: { id: 'x' } }], 'mixed.json');
      expect(listing.merged).toEqual([expect.stringMatching(/item 1 \(2410\.00001\) is a duplicate/)]);
      const { deps, log } = await pipelineDeps(world, outboxTransport(path.join(world.dir, 'outbox')), {
        source: { name: 'mixed.json', fetch: async () => listing },
      });
      const summary = await run({ date: DATE, dryRun: true }, deps);
      expect(log.events.find((e) => e.event === 'listing.fetched')).toMatchObject({ papers: 1, dropped: 1, merged: 1 });
      expect(log.events.filter((e) => e.event === 'listing.item_dropped')).toHaveLength(1);
      expect(log.events.filter((e) => e.event === 'listing.item_merged')).toMatchObject([{ level: 'info' }]);
      expect(formatSummary(summary, undefined, true)).toContain('1 papers from mixed.json (1 dropped, 1 duplicate merged)');
    } finally {
      await world.cleanup();
    }
  });

  it('fails the whole run on a payload that is not a listing', () => {
    expect(() => parseListing({ error: 'Invalid date' }, 'api')).toThrow(/api: not a daily papers listing: expected a JSON array/);
    expect(() => parseListing('<html>', 'api')).toThrow(/not a daily papers listing/);
    expect(() => parseListing(null, 'api')).toThrow(/got null/);
  });

  it('fails on items none of which is a paper (a changed format), rather than pass it off as a weekend', () => {
    expect(() => parseListing([1, 2, 3], 'api')).toThrow(/api: none of its 3 item\(s\) is a usable paper.*first problem: item 0 dropped/);
    // The shape renamed: every item lacks the "paper" object the parser reads.
    expect(() => parseListing([{ article: { id: '2410.17243', title: 'x' } }], 'api')).toThrow(/none of its 1 item/);
    // One good paper among bad items is a listing with warnings.
    expect(parseListing([1, { paper: { id: '2410.17243', title: 'A paper' } }], 'api').papers).toHaveLength(1);
  });

  it('refuses a listing most of whose items are unusable (a half-changed format) instead of sending the few that survived', () => {
    const paper = (n: number) => ({ paper: { id: `2410.1724${n}`, title: `Paper ${n}` } });
    const renamed = (n: number) => ({ paper: { arxivId: `2410.1725${n}`, title: `Paper ${n}` } });
    expect(() => parseListing([paper(1), renamed(1), renamed(2), renamed(3)], 'api')).toThrow(
      /api: 3 of its 4 items are not usable papers.*nothing was sent.*First problem: item 1 dropped: paper\.id/,
    );
    // Half or fewer is a listing with a few bad items: those are dropped with their warnings, the rest go out.
    const mixed = parseListing([paper(1), paper(2), paper(3), renamed(1), renamed(2), renamed(3)], 'api');
    expect(mixed.papers).toHaveLength(3);
    expect(mixed.warnings).toHaveLength(3);
    // A small hand-made listing with two bad items of three still reads: a format change shows in more.
    expect(parseListing([paper(1), renamed(1), renamed(2)], 'api').papers).toHaveLength(1);
    // Duplicates are merged, not lost, so they never count towards the refusal.
    expect(parseListing([paper(1), paper(1), paper(1), paper(1), renamed(1)], 'api').papers).toHaveLength(1);
  });

  it('never cuts an emoji in half, and drops direction overrides that could flip the link after a title', () => {
    const title = `${'x'.repeat(999)}🚀 and more`; // the rocket straddles the 1000-unit cap
    const abstract = `A \u202eevil\u202c title \u2066isolated\u2069 and a lone half \ud83d here`;
    const [p] = parseListing([{ paper: { id: '2410.17243', title, summary: abstract } }], 'x').papers;
    expect(p!.title).toBe('x'.repeat(999));
    expect(p!.abstract).toBe('A evil title isolated and a lone half \ufffd here');
  });

  it('drops a title made only of invisible characters rather than send a blank link, and strips them from text', () => {
    const { papers, warnings } = parseListing(
      [
        { paper: { id: '2410.00004', title: '\u200b\u200b\ufeff' } },
        { paper: { id: '2410.00005', title: 'Zero\u200bwidth soft\u00adhyphen', summary: 'A\u2060B' } },
      ],
      'x',
    );
    expect(warnings).toEqual([expect.stringMatching(/item 0 dropped: 2410\.00004: paper\.title is missing or empty/)]);
    expect(papers[0]).toMatchObject({ title: 'Zerowidth softhyphen', abstract: 'AB' });
  });

  it("falls back to the item's own title and summary when the paper's are empty, not only when missing", () => {
    const [p] = parseListing(
      [{ paper: { id: '2410.00006', title: '', summary: ' ' }, title: 'Top-level title', summary: 'Top-level summary' }],
      'x',
    ).papers;
    expect(p).toMatchObject({ title: 'Top-level title', abstract: 'Top-level summary' });
  });

  it('reads authors given as plain names as well as {name} objects', () => {
    const [p] = parseListing(
      [{ paper: { id: '2410.00007', title: 'T', authors: ['Ada Lovelace', { name: 'Alan Turing' }, '  ', 7] } }],
      'x',
    ).papers;
    expect(p!.authors).toEqual(['Ada Lovelace', 'Alan Turing']);
  });

  it('treats an empty array as an empty day, not an error', () => {
    expect(parseListing([], 'weekend')).toEqual({ papers: [], warnings: [] });
  });

  it('drops unsafe URLs and hidden authors, and never trusts numbers blindly', () => {
    const { papers } = parseListing(
      [
        {
          paper: {
            id: '2410.00003',
            title: 'T',
            summary: 'S',
            upvotes: -5,
            githubRepo: 'javascript:alert(1)',
            projectPage: 'http://insecure.example.org',
            authors: [{ name: 'Shown' }, { name: 'Hidden', hidden: true }, { nope: 1 }],
          },
        },
      ],
      'x',
    );
    const p = papers[0]!;
    expect(p.githubRepo).toBeUndefined();
    expect(p.projectPage).toBeUndefined();
    expect(p.upvotes).toBe(0);
    expect(p.authors).toEqual(['Shown']);
  });
});

describe('listingDateGap', () => {
  it('measures from the day the items were listed: the 2024 item date, the 2026 submittedOnDailyAt', () => {
    const y2024 = parseListing(JSON.parse(readFileSync(path.join(FIXTURES, 'hf-daily-papers-2024-10-25.json'), 'utf8')), 'f');
    expect(y2024.listedOn).toBe('2024-10-25');
    expect(listingDateGap(y2024, '2024-10-25')).toEqual({ days: 0, from: '2024-10-25', slack: 3 });
    expect(listingDateGap(y2024, '2026-11-20')?.days).toBe(756);
    const y2026 = parseListing(JSON.parse(readFileSync(path.join(FIXTURES, 'hf-daily-papers-item-2026.json'), 'utf8')), 'f');
    // Its paper is from arXiv on 2026-02-26, but it was listed on 2026-03-06.
    expect(listingDateGap(y2026, '2026-03-06')).toEqual({ days: 0, from: '2026-03-06', slack: 3 });
  });

  it('falls back to the newest arXiv date, with more slack, and knows nothing without dates', () => {
    const item = (id: string, publishedAt?: string) => ({ paper: { id, title: 'T', summary: 'S', publishedAt } });
    const bare = parseListing(
      [item('2410.00001', '2024-10-21T17:00:00.000Z'), item('2410.00002'), item('2410.00003', '2024-10-24T09:30:00Z')],
      'f',
    );
    expect(bare.listedOn).toBeUndefined();
    expect(listingDateGap(bare, '2024-10-25')).toEqual({ days: 1, from: '2024-10-24', slack: 10 });
    expect(listingDateGap(bare, '2024-10-01')?.days).toBe(-23);
    expect(listingDateGap(parseListing([item('2410.00002')], 'f'), '2024-10-25')).toBeUndefined();
  });
});

describe('safeHttpsUrl', () => {
  it('keeps https links to named hosts and drops everything a project link should not be', () => {
    expect(safeHttpsUrl(' https://github.com/a/b ')).toBe('https://github.com/a/b');
    for (const bad of [
      'http://example.org',
      'javascript:alert(1)',
      'https://user:pw@example.org',
      'https://localhost/x',
      'https://127.0.0.1/x',
      'https://[::1]/x',
      'https://10.0.0.8/admin',
      7,
    ])
      expect(safeHttpsUrl(bad), String(bad)).toBeUndefined();
  });
});
