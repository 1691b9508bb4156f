/**
 * Training fits each topic's learned terms and threshold to labelled papers,
 * and writes them into topics.yaml without touching what admins wrote.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadCatalog, parseCatalog, saveTopic, saveTraining, type Catalog } from '../src/catalog.js';
import type { Labelled } from '../src/evaluate.js';
import { analyse, Matcher } from '../src/matcher.js';
import { applyFits, train } from '../src/train.js';
import { scratchDir } from './helpers/cli.js';

const catalog: Catalog = parseCatalog(
  {
    threshold: 3.5,
    topics: [
      { id: 'speech', name: 'Speech', keywords: ['speech'] },
      { id: 'vision', name: 'Vision', keywords: ['image'] },
    ],
  },
  'test',
);

// Speech papers often say "acoustic"/"spoken" and never "speech"; vision papers say "pixel".
const paper = (i: number, text: string, labels: string[]): Labelled => ({
  id: `2501.${String(10000 + i)}`,
  title: `Paper ${i}`,
  abstract: text,
  labels,
});
const items: Labelled[] = [];
for (let i = 0; i < 12; i++) {
  items.push(paper(i, `An acoustic model for spoken dialogue with listeners, study ${i}.`, ['speech']));
  items.push(paper(100 + i, `A pixel decoder for image grids and layouts, study ${i}.`, ['vision']));
  // Words in nearly every paper say nothing and are not candidates, so the corpus needs a majority of others.
  items.push(paper(200 + i, `A database index with joins and tables, study ${i}.`, []));
  items.push(paper(300 + i, `Compilers schedule loops over registers, study ${i}.`, []));
}

describe('training learned terms', () => {
  it('learns positive weights for words that mark a topic the hand keywords miss', () => {
    const fits = train(items, catalog);
    const speech = fits.find((f) => f.topic === 'speech')!;
    const weight = (w: string) => speech.learned.find((t) => typeof t !== 'string' && t.term === w);
    expect(speech.positives).toBe(12);
    expect(weight('acoustic')).toMatchObject({ weight: expect.any(Number) });
    expect((weight('acoustic') as { weight: number }).weight).toBeGreaterThan(0);
    // A word of the other topic argues against this one.
    const pixel = speech.learned.find((t) => typeof t !== 'string' && t.term === 'pixel') as { weight: number } | undefined;
    expect(pixel?.weight ?? 0).toBeLessThanOrEqual(0);
  });

  it('files an unseen paper through learned terms, and explains it with them', () => {
    const trained = applyFits(catalog, train(items, catalog));
    const m = Matcher.fromCatalog(trained);
    const doc = analyse({
      id: '2502.00001',
      title: 'Acoustic cues in spoken dialogue',
      abstract: 'We study acoustic cues.',
      aiKeywords: [],
    });
    const hit = m.match(doc).find((x) => x.topic === 'speech');
    expect(hit?.matched).toContain('acoustic');
    expect(Matcher.fromCatalog(catalog).match(doc)).toEqual([]);
  });

  it('is deterministic and never writes a hand keyword as a learned term', () => {
    const a = train(items, catalog);
    expect(train(items, catalog)).toEqual(a);
    const terms = (topic: string) => a.find((f) => f.topic === topic)!.learned.map((t) => (typeof t === 'string' ? t : t.term));
    expect(terms('speech')).not.toContain('speech');
    expect(terms('vision')).not.toContain('image');
    for (const f of a) expect(f.threshold).toBeGreaterThan(0);
  });

  it('skips a topic with no positive examples', () => {
    const fits = train(
      items.filter((p) => !p.labels.includes('vision')),
      catalog,
    );
    expect(fits.map((f) => f.topic)).toEqual(['speech']);
  });
});

describe('saving a training run', () => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => cleanup?.());

  it('writes learned terms and thresholds, keeps comments and hand keywords, and admin edits keep them', async () => {
    const s = await scratchDir();
    cleanup = s.cleanup;
    const file = path.join(s.subscribers, 'topics.yaml');
    await writeFile(
      file,
      [
        '# catalog comment',
        'threshold: 3.5',
        'topics:',
        '  - id: speech',
        '    name: Speech',
        '    keywords:',
        '      - speech # said by hand',
        '  - id: vision',
        '    name: Vision',
        '    keywords: [image]',
        '',
      ].join('\n'),
    );
    await saveTraining(s.subscribers, [{ topic: 'speech', learned: [{ term: 'acoustic', weight: 1.25 }], threshold: 2.75 }]);
    const text = await readFile(file, 'utf8');
    expect(text).toContain('# catalog comment');
    expect(text).toContain('speech # said by hand');
    const loaded = await loadCatalog(s.subscribers);
    expect(loaded.topics[0]).toMatchObject({ keywords: ['speech'], learned: [{ term: 'acoustic', weight: 1.25 }], threshold: 2.75 });
    expect(loaded.topics[1]!.learned).toBeUndefined();

    // The admin form knows nothing of learned terms: saving a topic must not drop them.
    await saveTopic(s.subscribers, { id: 'speech', name: 'Speech & audio', keywords: ['speech', 'audio'] });
    const after = await loadCatalog(s.subscribers);
    expect(after.topics[0]).toMatchObject({ name: 'Speech & audio', learned: [{ term: 'acoustic', weight: 1.25 }] });
  });

  it('refuses a fit for a topic the catalog does not have, leaving the file alone', async () => {
    const s = await scratchDir();
    cleanup = s.cleanup;
    const file = path.join(s.subscribers, 'topics.yaml');
    const before = await readFile(file, 'utf8');
    await expect(saveTraining(s.subscribers, [{ topic: 'nope', learned: [], threshold: 1 }])).rejects.toThrow(/no topic "nope"/);
    expect(await readFile(file, 'utf8')).toBe(before);
  });
});
