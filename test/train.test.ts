/**
 * Training fits each topic's learned terms and threshold to labelled papers,
 * and writes them to topics.learned.json, never touching what admins wrote.
 */
import { spawnSync } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadCatalog, parseCatalog, saveTopic, type Catalog } from '../src/catalog.js';
import type { Labelled } from '../src/evaluate.js';
import { analyse, Matcher } from '../src/matcher.js';
import { learnedFor, learnedPath, parseLearned, saveLearned, type Learned } from '../src/learned.js';
import { applyFits, crossValidate, DEFAULT_TRAINING, learnedFrom, train } from '../src/train.js';
import { ROOT, scratchDir } from './helpers/cli.js';

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
    expect(speech.positives).toBe(12);
    expect(speech.terms.acoustic).toBeGreaterThan(0);
    // A word of the other topic argues against this one.
    expect(speech.terms.pixel ?? 0).toBeLessThanOrEqual(0);
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

  it('explains a filing by its hand-written terms before any learned word', () => {
    const trained = applyFits(catalog, train(items, catalog));
    const doc = analyse({ id: '2502.00002', title: 'Acoustic speech', abstract: 'Spoken acoustic speech cues.', aiKeywords: [] });
    const hit = Matcher.fromCatalog(trained)
      .match(doc)
      .find((x) => x.topic === 'speech')!;
    expect(hit.matched[0]).toBe('speech');
    expect(hit.matched).toContain('acoustic');
    // Enough hand-written terms explain a filing on their own: no learned word is named beside them.
    const three = parseCatalog(
      { threshold: 3.5, topics: [{ id: 'speech', name: 'Speech', keywords: ['speech', 'audio', 'voice'] }] },
      'test',
    );
    const doc3 = analyse({
      id: '2502.00005',
      title: 'Acoustic speech, audio and voice',
      abstract: 'Spoken acoustic cues.',
      aiKeywords: [],
    });
    const hit3 = Matcher.fromCatalog(applyFits(three, train(items, three))).match(doc3)[0]!;
    expect(hit3.matched).toEqual(['audio', 'speech', 'voice']);
  });

  it('learns nothing from a paper an exclusion vetoes for the topic', () => {
    const vetoing = parseCatalog(
      { threshold: 3.5, topics: [{ id: 'speech', name: 'Speech', keywords: ['speech'], exclude: ['spoken'] }] },
      'test',
    );
    // Every speech paper says "spoken", which vetoes the topic: nothing is left to learn "acoustic" from.
    expect(train(items, vetoing).find((f) => f.topic === 'speech')).toBeUndefined();
    expect(train(items, catalog).find((f) => f.topic === 'speech')!.terms.acoustic).toBeGreaterThan(0);
  });

  it('is deterministic and never writes a hand keyword as a learned term', () => {
    const a = train(items, catalog);
    expect(train(items, catalog)).toEqual(a);
    const terms = (topic: string) => Object.keys(a.find((f) => f.topic === topic)!.terms);
    expect(terms('speech')).not.toContain('speech');
    expect(terms('vision')).not.toContain('image');
    for (const f of a) expect(f.threshold).toBeGreaterThan(0);
  });

  it('cross-validates: learned terms beat the hand keywords on folds they were not fitted to, the same way every time', () => {
    const cv = crossValidate(items, catalog);
    expect(cv.trained.f1).toBeGreaterThan(cv.hand.f1);
    expect(cv.hand.recall).toBe(0); // no paper says "speech" or "image": the hand keywords alone file nothing
    expect(crossValidate(items, catalog)).toEqual(cv);
  });

  it('scores the same out-of-fold filings against another annotator’s labels for the papers they cover', () => {
    // An annotator who also calls every "acoustic" paper vision: the filings do not change, their precision does.
    const covered = items.filter((_, i) => i % 2 === 0);
    const theirs = new Map(covered.map((p) => [p.id, p.labels.includes('speech') ? ['speech', 'vision'] : p.labels]));
    const cv = crossValidate(items, catalog, DEFAULT_TRAINING, 3, [{ name: 'other', labels: theirs }]);
    const [c] = cv.compared;
    expect(c).toMatchObject({ name: 'other', papers: covered.length });
    expect(c!.ours.recall).toBeGreaterThan(0);
    expect(c!.theirs.recall).toBeLessThan(c!.ours.recall);
    expect(c!.theirs.precision).toBe(c!.ours.precision);
    // Without other labels the figures are those of a plain run.
    expect(crossValidate(items, catalog).trained).toEqual(cv.trained);
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

  const handYaml = [
    '# catalog comment',
    'threshold: 3.5',
    'topics:',
    '  - id: speech',
    '    name: Speech',
    '    threshold: 4',
    '    keywords:',
    '      - speech # said by hand',
    '  - id: vision',
    '    name: Vision',
    '    keywords: [image]',
    '',
  ].join('\n');

  it('writes learned terms beside topics.yaml, which it leaves byte for byte; admin edits keep them', async () => {
    const s = await scratchDir();
    cleanup = s.cleanup;
    const file = path.join(s.subscribers, 'topics.yaml');
    await writeFile(file, handYaml);
    const fits = [{ topic: 'speech', positives: 12, terms: { acoustic: 1.25, pixel: -0.5 }, threshold: 2.75 }];
    await saveLearned(s.subscribers, learnedFrom(fits, 'eval/papers.dev.jsonl', 48));
    expect(await readFile(file, 'utf8')).toBe(handYaml);

    const loaded = await loadCatalog(s.subscribers);
    expect(loaded.topics[0]).toMatchObject({ keywords: ['speech'], threshold: 4 });
    expect(loaded.learned?.topics.speech).toEqual({ threshold: 2.75, positives: 12, terms: { acoustic: 1.25, pixel: -0.5 } });
    expect(loaded.learned?.trainedOn).toMatchObject({ labels: 'eval/papers.dev.jsonl', papers: 48 });
    // The learned threshold replaces the hand one for a trained topic; an untrained topic keeps its own.
    // "speech" in a title scores 3: above the learned threshold (2.75), below the hand one (4).
    const p = analyse({ id: '2502.00003', title: 'Speech units', abstract: 'Units.', aiKeywords: [] });
    expect(
      Matcher.fromCatalog(loaded)
        .match(p)
        .map((x) => x.topic),
    ).toEqual(['speech']);
    expect(Matcher.fromCatalog({ ...loaded, learned: undefined }).match(p)).toEqual([]);
    // A negative learned word argues against the topic.
    const q = analyse({ id: '2502.00004', title: 'Speech pixel units', abstract: 'Units.', aiKeywords: [] });
    expect(Matcher.fromCatalog(loaded).match(q)).toEqual([]);

    // The admin form knows nothing of learned terms: saving a topic must not drop them.
    await saveTopic(s.subscribers, { id: 'speech', name: 'Speech & audio', keywords: ['speech', 'audio'] });
    const after = await loadCatalog(s.subscribers);
    expect(after.topics[0]).toMatchObject({ name: 'Speech & audio' });
    expect(after.learned?.topics.speech?.terms).toEqual({ acoustic: 1.25, pixel: -0.5 });
    expect(await readFile(file, 'utf8')).toContain('speech # said by hand');
  });

  it('replaces the hand threshold and relative floor of a trained topic with the learned ones', () => {
    const strict = parseCatalog({ ...catalog, relative: 0.9 }, 'test');
    const learned = learnedFrom([{ topic: 'speech', positives: 1, terms: {}, threshold: 2.75 }], 'x.jsonl', 1);
    // Vision scores ~5 here and speech 3: under the hand floor (0.9 × 5) speech is dropped, under the learned one (0) kept.
    const doc = analyse({ id: '2502.00006', title: 'Image speech', abstract: 'Image image image units.', aiKeywords: [] });
    expect(
      Matcher.fromCatalog(strict)
        .match(doc)
        .map((x) => x.topic),
    ).toEqual(['vision']);
    expect(
      Matcher.fromCatalog({ ...strict, learned })
        .match(doc)
        .map((x) => x.topic),
    ).toEqual(['vision', 'speech']);
  });

  it('moves a trained topic’s threshold in proportion to an admin’s later edit of its own, and lets its own edited floor replace the learned one', () => {
    const hand = { threshold: 4, relative: 0.9 };
    const learned = learnedFrom([{ topic: 'speech', positives: 1, terms: {}, threshold: 2.75, hand }], 'x.jsonl', 1);
    // "speech" in the title scores 3 here, next to vision's ~5; in the abstract alone, about 2.4.
    const titled = analyse({ id: '2502.00008', title: 'Image speech', abstract: 'Image image image units.', aiKeywords: [] });
    const mentioned = analyse({ id: '2502.00009', title: 'Units', abstract: 'Speech units.', aiKeywords: [] });
    const filed = (c: typeof catalog, doc = titled) =>
      Matcher.fromCatalog(c)
        .match(doc)
        .map((x) => x.topic);
    const edit = (over: object, top: object = {}) => ({
      ...parseCatalog(
        { ...catalog, relative: 0.9, ...top, topics: catalog.topics.map((t) => (t.id === 'speech' ? { ...t, threshold: 4, ...over } : t)) },
        'test',
      ),
      learned,
    });
    // Untouched since the fit: the learned threshold (2.75) and floor (0) decide.
    expect(filed(edit({}))).toEqual(['vision', 'speech']);
    expect(filed(edit({}), mentioned)).toEqual([]);
    // Raised from 4 to 4.5 (+12.5%): 2.75 → 3.09, above the title's 3; to 50: nothing of this kind files.
    expect(filed(edit({ threshold: 4.5 }))).toEqual(['vision']);
    expect(filed(edit({ threshold: 50 }))).toEqual(['vision']);
    // Lowered from 4 to 3 (−25%): 2.75 → 2.06, so the abstract mention (~2.4) files now; never down to 0.
    expect(filed(edit({ threshold: 3 }), mentioned)).toEqual(['speech']);
    expect(Matcher.fromCatalog(edit({ threshold: 0.01 })).groups.find((g) => g.id === 'speech')!.threshold).toBeGreaterThan(0);
    // Its own floor set (0.8, unlike the 0.9 it inherited at fitting time): vision ~5 × 0.8 is above 3, so dropped.
    expect(filed(edit({ relative: 0.8 }))).toEqual(['vision']);
    // The catalog-wide floor changed: a trained topic without its own keeps the fitted one (0).
    expect(filed(edit({}, { relative: 0.7 }))).toEqual(['vision', 'speech']);
  });

  it('reads a version-1 learned file, whose threshold and floor replace the hand ones whatever the edits', () => {
    const v1 = parseLearned(
      '{"version": 1, "trainedOn": {"labels": "x", "papers": 1, "options": {}}, "topics": {"speech": {"threshold": 2.75, "positives": 1, "terms": {}}}}',
      'v1.json',
    );
    const c = {
      ...parseCatalog({ ...catalog, topics: catalog.topics.map((t) => (t.id === 'speech' ? { ...t, threshold: 50 } : t)) }, 'test'),
      learned: v1,
    };
    expect(Matcher.fromCatalog(c).groups.find((g) => g.id === 'speech')!.threshold).toBe(2.75);
  });

  it('never reads an inherited property as a trained topic (a topic may be called "constructor")', () => {
    const odd = parseCatalog({ threshold: 3.5, topics: [{ id: 'constructor', name: 'C', keywords: ['speech'] }] }, 'test');
    const learned = learnedFrom([{ topic: 'speech', positives: 1, terms: { acoustic: 1 }, threshold: 1 }], 'x.jsonl', 1);
    expect(learnedFor(learned, 'constructor')).toBeUndefined();
    expect(learnedFor(learned, 'toString')).toBeUndefined();
    const doc = analyse({ id: '2502.00007', title: 'Speech', abstract: 'Speech units.', aiKeywords: [] });
    expect(
      Matcher.fromCatalog({ ...odd, learned })
        .match(doc)
        .map((x) => x.topic),
    ).toEqual(['constructor']);
  });

  it('files by the hand catalog alone when there is no learned file, and ignores learned topics it no longer has', async () => {
    const s = await scratchDir();
    cleanup = s.cleanup;
    await writeFile(path.join(s.subscribers, 'topics.yaml'), handYaml);
    await rm(learnedPath(s.subscribers), { force: true });
    expect((await loadCatalog(s.subscribers)).learned).toBeUndefined();

    await saveLearned(s.subscribers, learnedFrom([{ topic: 'gone', positives: 3, terms: { acoustic: 9 }, threshold: 1 }], 'x.jsonl', 3));
    const m = Matcher.fromCatalog(await loadCatalog(s.subscribers));
    expect(m.match(analyse({ id: '2502.00004', title: 'Acoustic', abstract: 'Acoustic.', aiKeywords: [] }))).toEqual([]);
  });

  it('refuses a damaged learned file with its name, the field and how to recover', async () => {
    const s = await scratchDir();
    cleanup = s.cleanup;
    const file = learnedPath(s.subscribers);
    await writeFile(
      file,
      '{"version": 1, "trainedOn": {"labels": "x", "papers": 1, "options": {}}, "topics": {"speech": {"threshold": -1, "positives": 1, "terms": {}}}}',
    );
    const err = await loadCatalog(s.subscribers).then(
      () => new Error('loaded'),
      (e: unknown) => e as Error,
    );
    expect(err.message).toContain(file);
    expect(err.message).toContain('topics.speech.threshold');
    expect(err.message).toMatch(/train:topics|delete the file/);
    await writeFile(file, '{"version": 1, ');
    await expect(loadCatalog(s.subscribers)).rejects.toThrow(/not valid JSON/);
  });
});

describe('npm run train:topics', () => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => cleanup?.());
  const run = (args: string[]) =>
    spawnSync(process.execPath, [path.join(ROOT, 'dist/train.js'), ...args], { encoding: 'utf8', timeout: 60_000 });

  it('writes the learned file with its options; --dry-run and --cv write nothing; bad options and labels are refused by name', async () => {
    const s = await scratchDir();
    cleanup = s.cleanup;
    const labels = path.join(s.dir, 'labels.jsonl');
    await writeFile(labels, items.map((p) => JSON.stringify(p)).join('\n'));
    await writeFile(
      path.join(s.subscribers, 'topics.yaml'),
      'threshold: 3.5\ntopics:\n  - { id: speech, name: Speech, keywords: [speech] }\n',
    );
    await rm(learnedPath(s.subscribers), { force: true });
    const base = ['--labels', labels, '--subscribers', s.subscribers];

    for (const extra of [['--dry-run'], ['--cv', '--folds', '2']]) {
      const r = run([...base, ...extra]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/nothing written/);
      await expect(readFile(learnedPath(s.subscribers), 'utf8')).rejects.toThrow(/ENOENT/);
    }
    expect(run([...base, '--cv']).stdout).toMatch(/with learned terms: precision [\d.]+% recall [\d.]+%/);
    const other = path.join(s.dir, 'other.jsonl');
    await writeFile(
      other,
      items
        .slice(0, 10)
        .map((p) => JSON.stringify({ id: p.id, labels: [] }))
        .join('\n'),
    );
    const compared = run([...base, '--cv', '--compare', other]);
    expect(compared.status, compared.stderr).toBe(0);
    expect(compared.stdout).toMatch(/on the 10 papers of .*other\.jsonl:\n {4}against its labels: precision [\d.]+% recall [\d.]+%/);
    await writeFile(other, '{"id": "2501.1", "labels": "speech"}\n');
    const badOther = run([...base, '--cv', '--compare', other]);
    expect(badOther.status).toBe(2);
    const notCv = run([...base, '--compare', other]);
    expect(notCv.status).toBe(2);
    expect(notCv.stderr).toContain('--compare: only with --cv');
    expect(badOther.stderr).toMatch(/other\.jsonl, line 1: expected \{"id": "2410\.17243", "labels": \["topic-id"/);
    // Stand-in keywords for the papers that have none: the same out-of-fold filings, scored as such a listing gives them.
    const keywords = path.join(s.dir, 'keywords.jsonl');
    await writeFile(keywords, items.map((p) => JSON.stringify({ id: p.id, ai_keywords: ['speech'] })).join('\n'));
    const keyworded = run([...base, '--cv', '--keywords', keywords]);
    expect(keyworded.status, keyworded.stderr).toBe(0);
    expect(keyworded.stdout).toMatch(
      new RegExp(`with ai_keywords from .*keywords\\.jsonl for the ${items.length} of ${items.length} papers that had none: precision [\\d.]+% recall`),
    );
    expect(run([...base, '--keywords', keywords]).stderr).toContain('--keywords: only with --cv');
    await writeFile(keywords, '{"id": "2501.1", "ai_keywords": []}\n');
    const badKeywords = run([...base, '--cv', '--keywords', keywords]);
    expect(badKeywords.status).toBe(2);
    expect(badKeywords.stderr).toMatch(/keywords\.jsonl, line 1: expected \{"id": "2410\.17243", "ai_keywords": \["a term"/);

    const ok = run([...base, '--keep', '5', '--min-papers', '2']);
    expect(ok.status, ok.stderr).toBe(0);
    const text = await readFile(learnedPath(s.subscribers), 'utf8');
    // Deterministic across processes too: a second run writes the same bytes.
    expect(run([...base, '--keep', '5', '--min-papers', '2']).status).toBe(0);
    expect(await readFile(learnedPath(s.subscribers), 'utf8')).toBe(text);
    const written = JSON.parse(text) as Learned;
    expect(written.trainedOn).toMatchObject({
      labels,
      papers: items.length,
      options: { keep: 5, minPapers: 2, cutoff: DEFAULT_TRAINING.cutoff },
    });
    expect(Object.keys(written.topics.speech!.terms).length).toBeLessThanOrEqual(5);
    expect(written.topics.speech!.terms.acoustic).toBeGreaterThan(0);

    const bad = run([...base, '--cutoff', '2']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--cutoff: expected a number from 0.01 to 0.99, got "2"');
    // A misspelt flag would otherwise train with the default and look like a result for the setting meant.
    const typo = run([...base, '--cutof', '0.3']);
    expect(typo.status).toBe(2);
    expect(typo.stderr).toMatch(/Unknown option '--cutof' \(known flags: .*--cutoff/);
    await writeFile(labels, `${JSON.stringify(items[0])}\n{"id": "2501.1", "title": "x", "labels": "peft"}\n`);
    const badLabels = run(base);
    expect(badLabels.status).toBe(2);
    expect(badLabels.stderr).toContain(`${labels}:2: abstract`);
    expect(badLabels.stderr).toContain(`${labels}:2: labels`);
  });
});
