/**
 * `npm run train:topics` — fit each topic's learned terms and threshold to labelled papers.
 *
 * Hand-written keywords say what a topic is about but miss the many ways
 * papers actually say it. Training keeps every hand-written keyword and
 * weight as it is, and for each topic fits a logistic model
 *
 *   logit = a · (hand-keyword score) + Σ v_w · evidence(w) + b
 *
 * where evidence(w) is the matcher's own per-term value for a candidate
 * word w (title + ai_keywords or BM25 of abstract mentions). It is written
 * to subscribers/topics.learned.json (src/learned.ts) in catalog units —
 * learned weight v_w / a, threshold (logit(cutoff) − b) / a — so the
 * matcher's rule "score ≥ threshold" is the model's "p ≥ cutoff" (for a
 * topic with no term in the paper's ai_keywords: one with such a term must
 * reach KEYWORDS_BAR × the threshold, src/matcher.ts; and up to
 * weights rounded to 0.01 and a threshold floor of 0.5; after keeping the
 * `keep` strongest words the model is refitted on them, so no dropped word
 * is silently missing from it),
 * and the learned words show up in explanations after the hand-written ones.
 *
 *   npm run train:topics                        # fit on eval/papers.dev.jsonl, rewrite subscribers/topics.learned.json
 *   npm run train:topics -- --dry-run           # print what would change, write nothing
 *   npm run train:topics -- --labels FILE --subscribers DIR
 *   npm run train:topics -- --cv [--folds 3]    # cross-validate the options on the labels, write nothing
 *   npm run train:topics -- --cutoff 0.3 --keep 500 --l2 0.01   # other options (with --cv, to compare)
 *   npm run train:topics -- --cv --compare eval/annotations/oneliner-dev.jsonl   # also against another annotator's labels
 *   npm run train:topics -- --cv --keywords eval/annotations/keywords-synthetic.jsonl   # also with keywords for every paper
 *
 * Only the development set is used: the held-out set stays an honest check
 * (`npm run eval:topics`). Training starts from the hand catalog alone, so it
 * is deterministic: same labels, same topics.yaml, same file.
 */
import { createHash } from 'node:crypto';
import { eng as stopwordsEn } from 'stopword';
import path from 'node:path';
import { loadCatalog, type Catalog } from './catalog.js';
import { PaperboyError, runScript, scriptFlags } from './errors.js';
import { PACKAGE_ROOT } from './config.js';
import {
  EVAL_DIR,
  evaluate,
  loadKeywords,
  loadLabelled,
  loadLabelsOnly,
  micro,
  ratio,
  relabelled,
  withKeywords,
  type Labelled,
} from './evaluate.js';
import { LEARNED_VERSION, saveLearned, type Learned } from './learned.js';
import { analyse, Matcher } from './matcher.js';
import { compileTerm, tokenize, wordKey } from './text.js';

/** Words common to any ML abstract: they say nothing about a topic. */
const STOPWORDS = new Set(
  (
    'the of and a an to in for on with we is are this that by as from our at be it its or which can these their than into has have ' +
    'not also show both such more while using use based model models method methods approach paper results large language llm llms ' +
    'new via across'
  ).split(' '),
);
/**
 * English function words (the `stopword` package's list), by key, so that no other form of one
 * ("comes", "taking", "others") is learned either: a learned "who", "would" or "before" is a
 * coincidence of the training papers, and reads as nonsense in an explanation.
 */
const FUNCTION_KEYS = new Set(stopwordsEn.map(wordKey));

export interface TrainOptions {
  /** L2 penalty on learned weights: the smaller, the more the model trusts rare words. */
  l2: number;
  /** Learned words kept per topic (largest |weight| first): a readable list, and little overfitting. */
  keep: number;
  /** A candidate word must occur in at least this many training papers. */
  minPapers: number;
  epochs: number;
  /**
   * File when the model's probability reaches this. Below 0.5 because most topics are rare:
   * a model fitted to few positives is shy of saying yes, and missed papers cost as much as wrong ones.
   * F1 is flat from 0.13 to 0.18 in cross-validation, so the cut-off only sets the balance between
   * the two complaints (irrelevant papers, missed ones). 0.17 is where they meet against our own
   * labels; 0.13 is where they meet against labels made by annotators who never saw our labelling
   * guide (eval/annotations/ONELINER.md: every paper labelled once more from the issue's one-line
   * topic definitions; `--cv --compare FILE`), who give a paper a few more topics. Filing is judged
   * by readers like them, not by us.
   */
  cutoff: number;
  /** The `relative` floor for trained topics (src/learned.ts). */
  relative: number;
}

/** Chosen by 3-fold cross-validation inside the development set (eval/LABELLING.md), never on the held-out set. */
export const DEFAULT_TRAINING: TrainOptions = { l2: 0.01, keep: 1000, minPapers: 3, epochs: 60, cutoff: 0.13, relative: 0 };

export interface TopicFit {
  topic: string;
  positives: number;
  /** The topic's own threshold and relative floor the fit started from (see learned.ts `hand`). */
  hand?: { threshold: number; relative: number };
  /** word → weight, largest |weight| first. */
  terms: Record<string, number>;
  threshold: number;
}

/** Fits every topic that has positive examples; pure (no I/O). */
export function train(items: Labelled[], catalog: Catalog, opts: TrainOptions = DEFAULT_TRAINING): TopicFit[] {
  const hand = Matcher.fromCatalog({ ...catalog, learned: undefined });
  const candidates = candidateWords(items, opts.minPapers);
  const words = new Matcher([{ id: 'candidates', terms: candidates, threshold: 1 }]);
  const papers = items.map((p) => {
    const doc = analyse({ id: p.id, title: p.title, abstract: p.abstract, aiKeywords: p.ai_keywords ?? [] });
    const vetoed = new Set(hand.evidence(doc).flatMap((e, gi) => (e ? [] : [hand.groups[gi]!.id])));
    return {
      labels: new Set(p.labels),
      hand: new Map(hand.scores(doc).map((m) => [m.topic, m.score])),
      words: words.evidence(doc)[0]!,
      vetoed,
    };
  });

  const fits: TopicFit[] = [];
  for (const topic of catalog.topics) {
    // A paper an exclusion vetoes is never filed here, whatever its words: it has nothing to teach this topic.
    const seen = papers.filter((p) => !p.vetoed.has(topic.id));
    const y = seen.map((p) => (p.labels.has(topic.id) ? 1 : 0));
    const positives = y.reduce<number>((s, v) => s + v, 0);
    if (positives === 0) continue;
    // A word that is already a hand-written term of this topic would be counted once anyway (matcher dedupe).
    const handKeys = new Set(
      topic.keywords.flatMap((k) => compileTerm(typeof k === 'string' ? k : k.term)?.variants.map((v) => v.join(' ')) ?? []),
    );
    const usable = candidates.map((w) => !handKeys.has(compileTerm(w)!.variants[0]!.join(' ')));

    const model = { a: 1, b: -(topic.threshold ?? catalog.threshold), v: new Float64Array(candidates.length) };
    const fit = (use: boolean[]) => {
      for (let epoch = 0; epoch < opts.epochs; epoch++) {
        const rate = 0.05 / (1 + epoch * 0.1);
        seen.forEach((p, i) => {
          const s = p.hand.get(topic.id) ?? 0;
          let z = model.a * s + model.b;
          for (const [w, x] of p.words) if (use[w]) z += model.v[w]! * x;
          const g = 1 / (1 + Math.exp(-z)) - y[i]!;
          // The hand score spans ~0–20 where a word's evidence spans ~0–5: a smaller step keeps `a` stable.
          model.a = Math.max(0.2, model.a - rate * g * s * 0.2);
          model.b -= rate * g;
          for (const [w, x] of p.words) if (use[w]) model.v[w] = model.v[w]! - rate * (g * x + opts.l2 * model.v[w]!);
        });
      }
    };
    fit(usable);
    // Keep the `keep` strongest words, then refit with only those: the words dropped carried weight
    // (mostly small negatives), and the threshold must be the one of the model actually shipped.
    const byStrength = (x: number, y2: number) =>
      Math.abs(model.v[y2]!) - Math.abs(model.v[x]!) || (candidates[x]! < candidates[y2]! ? -1 : 1);
    const kept = new Set(
      [...model.v.keys()]
        .filter((w) => usable[w] && model.v[w] !== 0)
        .sort(byStrength)
        .slice(0, opts.keep),
    );
    if (kept.size < usable.filter(Boolean).length) {
      model.v.forEach((_, w) => kept.has(w) || (model.v[w] = 0));
      fit(usable.map((u, w) => u && kept.has(w)));
    }
    const { a, b, v } = model;
    const learned = [...kept]
      .map((w) => [candidates[w]!, Math.round((v[w]! / a) * 100) / 100] as const)
      .filter(([, weight]) => weight !== 0)
      .sort((x, y2) => Math.abs(y2[1]) - Math.abs(x[1]) || (x[0] < y2[0] ? -1 : 1));
    const threshold = (Math.log(opts.cutoff / (1 - opts.cutoff)) - b) / a;
    fits.push({
      topic: topic.id,
      positives,
      hand: { threshold: topic.threshold ?? catalog.threshold, relative: topic.relative ?? catalog.relative },
      terms: Object.fromEntries(learned),
      threshold: Math.max(0.5, Math.round(threshold * 100) / 100),
    });
  }
  return fits;
}

/** Words (as most often written) in at least `minPapers` papers but not in so many that they say nothing. */
function candidateWords(items: Labelled[], minPapers: number): string[] {
  const papersWith = new Map<string, number>();
  const spellings = new Map<string, Map<string, number>>();
  for (const p of items) {
    const keys = new Set<string>();
    for (const t of [...tokenize(p.title), ...tokenize(p.abstract)]) {
      if (STOPWORDS.has(t.raw) || FUNCTION_KEYS.has(t.key) || t.raw.length < 3 || /^\d+$/.test(t.raw)) continue;
      keys.add(t.key);
      const s = spellings.get(t.key) ?? new Map<string, number>();
      s.set(t.raw, (s.get(t.raw) ?? 0) + 1);
      spellings.set(t.key, s);
    }
    for (const k of keys) papersWith.set(k, (papersWith.get(k) ?? 0) + 1);
  }
  return [...papersWith]
    .filter(([, n]) => n >= minPapers && n < items.length * 0.3)
    .map(([k]) => [...spellings.get(k)!].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1))[0]![0])
    .filter((w) => compileTerm(w) && !compileTerm(w)!.acronym)
    .sort();
}

/** The learned file for these fits: what `saveLearned` writes and the matcher reads. */
export function learnedFrom(fits: TopicFit[], labels: string, papers: number, opts: TrainOptions = DEFAULT_TRAINING): Learned {
  return {
    version: LEARNED_VERSION,
    about: 'Written by `npm run train:topics` (src/train.ts); replaced whole by each run. Edit subscribers/topics.yaml instead.',
    trainedOn: { labels, papers, options: { ...opts } },
    relative: opts.relative,
    topics: Object.fromEntries(
      fits.map((f) => [f.topic, { threshold: f.threshold, positives: f.positives, ...(f.hand && { hand: f.hand }), terms: f.terms }]),
    ),
  };
}

/** The catalog as the matcher will see it once these fits are saved. */
export function applyFits(catalog: Catalog, fits: TopicFit[], opts: TrainOptions = DEFAULT_TRAINING): Catalog {
  return { ...catalog, learned: learnedFrom(fits, '', 0, opts) };
}

export interface Figures {
  precision: number;
  recall: number;
  f1: number;
  placement: number;
}

/**
 * k-fold cross-validation inside one labelled set: train on k−1 folds, score the
 * held-back one, pool the counts. Folds come from a hash of the paper id, so
 * the same labels always give the same folds. This is how the options were
 * chosen without looking at the held-out set.
 */
export function crossValidate(
  items: Labelled[],
  catalog: Catalog,
  opts: TrainOptions = DEFAULT_TRAINING,
  folds = 3,
  compare: ReadonlyArray<{ name: string; labels: ReadonlyMap<string, string[]> }> = [],
  keywords?: ReadonlyMap<string, string[]>,
) {
  const fold = (id: string) => parseInt(createHash('md5').update(id).digest('hex').slice(0, 6), 16) % folds;
  const hand = { ...catalog, learned: undefined };
  const pooled = { trained: [0, 0, 0, 0, 0], hand: [0, 0, 0, 0, 0] };
  // Per other label set: the same out-of-fold filings scored against its labels and against ours, on the papers it covers.
  const others = compare.map(() => ({ theirs: [0, 0, 0, 0, 0], ours: [0, 0, 0, 0, 0], keyworded: [0, 0, 0, 0, 0] }));
  // The same out-of-fold papers as a listing with keywords for every paper would give them (eval/annotations/KEYWORDS.md).
  const keyworded = [0, 0, 0, 0, 0];
  const add = (acc: number[], e: ReturnType<typeof evaluate>) =>
    [e.micro.tp, e.micro.fp, e.micro.fn, e.placement.correct, e.placement.filed].forEach((x, i) => (acc[i]! += x));
  for (let k = 0; k < folds; k++) {
    const test = items.filter((p) => fold(p.id) === k);
    const fits = train(
      items.filter((p) => fold(p.id) !== k),
      hand,
      opts,
    );
    const fitted = applyFits(hand, fits, opts);
    add(pooled.trained, evaluate(test, fitted));
    add(pooled.hand, evaluate(test, hand));
    const testK = keywords && withKeywords(test, keywords);
    if (testK) add(keyworded, evaluate(testK, fitted));
    compare.forEach(({ labels }, i) => {
      const covered = test.filter((p) => labels.has(p.id));
      if (testK) add(others[i]!.keyworded, evaluate(relabelled(testK, labels), fitted));
      add(others[i]!.ours, evaluate(covered, fitted));
      add(others[i]!.theirs, evaluate(relabelled(test, labels), fitted));
    });
  }
  const figures = ([tp, fp, fn, correct, filed]: number[]): Figures => ({
    ...micro(tp!, fp!, fn!),
    placement: ratio(correct!, filed!),
  });
  return {
    trained: figures(pooled.trained),
    hand: figures(pooled.hand),
    keyworded: keywords ? figures(keyworded) : undefined,
    compared: compare.map(({ name, labels }, i) => ({
      name,
      papers: items.filter((p) => labels.has(p.id)).length,
      theirs: figures(others[i]!.theirs),
      ours: figures(others[i]!.ours),
      keyworded: keywords ? figures(others[i]!.keyworded) : undefined,
    })),
  };
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const line = (f: Figures) => `precision ${pct(f.precision)} recall ${pct(f.recall)} F1 ${pct(f.f1)} placement ${pct(f.placement)}`;

/** Options from the command line (`--cutoff 0.3`), on top of the defaults; a bad value is refused by name. */
function optionsFrom(arg: (name: string) => string | undefined): TrainOptions {
  const opts = { ...DEFAULT_TRAINING };
  const limits: Record<keyof TrainOptions, [number, number, boolean]> = {
    l2: [0, 10, false],
    keep: [1, 100_000, true],
    minPapers: [1, 1000, true],
    epochs: [1, 1000, true],
    cutoff: [0.01, 0.99, false],
    relative: [0, 1, false],
  };
  for (const [name, [min, max, integer]] of Object.entries(limits) as Array<[keyof TrainOptions, [number, number, boolean]]>) {
    const flag = `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`; // minPapers → --min-papers
    const raw = arg(flag);
    if (raw === undefined) continue;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
      throw new PaperboyError('USAGE', `${flag}: expected ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}, got "${raw}"`);
    }
    opts[name] = value;
  }
  return opts;
}

async function main(argv: string[]): Promise<number> {
  const text = { type: 'string' } as const;
  const flag = { type: 'boolean' } as const;
  const flags: Record<string, string | boolean | string[] | undefined> = scriptFlags(argv, {
    subscribers: text,
    labels: text,
    cv: flag,
    folds: text,
    'dry-run': flag,
    cutoff: text,
    keep: text,
    l2: text,
    relative: text,
    epochs: text,
    'min-papers': text,
    compare: { type: 'string', multiple: true },
    keywords: text,
  });
  const arg = (name: string) => {
    const v = flags[name.replace(/^--/, '')];
    return typeof v === 'string' ? v : undefined;
  };
  const subscribersDir = path.resolve(arg('--subscribers') ?? path.join(PACKAGE_ROOT, 'subscribers'));
  const labelsFile = path.resolve(arg('--labels') ?? path.join(EVAL_DIR, 'papers.dev.jsonl'));
  const opts = optionsFrom(arg);
  // Without --cv there is nothing to compare: training would silently ignore the file (and rewrite the learned one).
  if (flags.compare && !flags.cv) throw new PaperboyError('USAGE', '--compare: only with --cv (it scores cross-validated filings)');
  if (flags.keywords !== undefined && !flags.cv) throw new PaperboyError('USAGE', '--keywords: only with --cv (it scores cross-validated filings)');
  const catalog = await loadCatalog(subscribersDir);
  const items = loadLabelled(labelsFile);
  if (flags.cv) {
    const folds = Number(arg('--folds') ?? 3);
    if (!Number.isInteger(folds) || folds < 2 || folds > 20)
      throw new PaperboyError('USAGE', `--folds: expected 2 to 20, got "${arg('--folds')}"`);
    console.log(`${folds}-fold cross-validation on ${items.length} labelled papers from ${labelsFile}; options ${JSON.stringify(opts)}`);
    const compare = ((flags.compare as string[] | undefined) ?? []).map((f) => ({ name: f, labels: loadLabelsOnly(path.resolve(f), `--compare ${f}`) }));
    const keywordsFile = arg('--keywords');
    const keywords = keywordsFile !== undefined ? loadKeywords(path.resolve(keywordsFile), `--keywords ${keywordsFile}`) : undefined;
    const given = keywords ? items.filter((p) => !p.ai_keywords?.length && keywords.has(p.id)).length : 0;
    const cv = crossValidate(items, catalog, opts, folds, compare, keywords);
    console.log(`  hand keywords only: ${line(cv.hand)}`);
    console.log(`  with learned terms: ${line(cv.trained)}`);
    if (cv.keyworded)
      console.log(
        `    with ai_keywords from ${keywordsFile} for the ${given} of ${items.length} papers that had none: ${line(cv.keyworded)}`,
      );
    for (const c of cv.compared) {
      console.log(`  the same filings on the ${c.papers} papers of ${c.name}:`);
      console.log(`    against its labels: ${line(c.theirs)}`);
      console.log(`    against ours:       ${line(c.ours)}`);
      if (c.keyworded) console.log(`    against its labels, with those ai_keywords: ${line(c.keyworded)}`);
    }
    console.log('nothing written');
    return 0;
  }
  console.log(`training on ${items.length} labelled papers from ${labelsFile}; options ${JSON.stringify(opts)}`);
  const fits = train(items, catalog, opts);
  const trained = applyFits(catalog, fits, opts);
  for (const f of fits) {
    const before = catalog.topics.find((t) => t.id === f.topic)!;
    console.log(
      `  ${f.topic.padEnd(26)} ${String(f.positives).padStart(4)} positives  ${String(Object.keys(f.terms).length).padStart(4)} learned terms  threshold ${before.threshold ?? catalog.threshold} (hand) → ${f.threshold}`,
    );
  }
  const heldoutFile = path.join(EVAL_DIR, 'papers.heldout.jsonl');
  if (labelsFile !== heldoutFile) {
    const heldout = loadLabelled(heldoutFile);
    const runs: Array<[string, Catalog]> = [
      ['hand keywords only', { ...catalog, learned: undefined }],
      ...(catalog.learned ? ([['current learned file', catalog]] as Array<[string, Catalog]>) : []),
      ['this training', trained],
    ];
    for (const [name, c] of runs) {
      const e = evaluate(heldout, c);
      console.log(
        `held-out, ${name}: precision ${pct(e.micro.precision)} recall ${pct(e.micro.recall)} placement ${pct(e.placement.accuracy)}`,
      );
    }
  }
  if (flags['dry-run']) {
    console.log('dry run: nothing written');
    return 0;
  }
  // A path inside the package is written relative to it, so the file does not depend on where the clone lives.
  const rel = path.relative(PACKAGE_ROOT, labelsFile);
  const file = await saveLearned(subscribersDir, learnedFrom(fits, rel.startsWith('..') ? labelsFile : rel, items.length, opts));
  console.log(`wrote learned terms and thresholds of ${fits.length} topics to ${file}`);
  return 0;
}

await runScript(import.meta.url, 'train:topics', main);
