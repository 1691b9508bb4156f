/**
 * `npm run train:topics` — fit each topic's `learned` terms and threshold to labelled papers.
 *
 * Hand-written keywords say what a topic is about but miss the many ways
 * papers actually say it. Training keeps every hand-written keyword and
 * weight as it is, and for each topic fits a logistic model
 *
 *   logit = a · (hand-keyword score) + Σ v_w · evidence(w) + b
 *
 * where evidence(w) is the matcher's own per-term value for a candidate
 * word w (title + ai_keywords + BM25 of abstract mentions). It is written
 * back in catalog units — learned weight v_w / a, threshold −b / a — so the
 * matcher's rule "score ≥ threshold" is exactly the model's "p ≥ 0.5", and
 * the learned words show up in explanations like any other matched term.
 *
 *   npm run train:topics                        # fit on eval/papers.dev.jsonl, rewrite subscribers/topics.yaml
 *   npm run train:topics -- --dry-run           # print what would change, write nothing
 *   npm run train:topics -- --labels FILE --subscribers DIR
 *
 * Only the development set is used: the held-out set stays an honest check
 * (`npm run eval:topics`). Training is deterministic: same labels, same catalog.
 */
import path from 'node:path';
import { loadCatalog, saveTraining, type Catalog, type TopicTerm } from './catalog.js';
import { PACKAGE_ROOT } from './config.js';
import { EVAL_DIR, evaluate, loadLabelled, type Labelled } from './evaluate.js';
import { analyse, Matcher } from './matcher.js';
import { compileTerm, tokenize } from './text.js';

/** Words too common in any abstract to say anything about a topic. */
const STOPWORDS = new Set(
  (
    'the of and a an to in for on with we is are this that by as from our at be it its or which can these their than into has have ' +
    'not also show both such more while using use based model models method methods approach paper results large language llm llms ' +
    'new via across'
  ).split(' '),
);

export interface TrainOptions {
  /** L2 penalty on learned weights: the smaller, the more the model trusts rare words. */
  l2: number;
  /** Learned words kept per topic (largest |weight| first): a readable list, and little overfitting. */
  keep: number;
  /** A candidate word must occur in at least this many training papers. */
  minPapers: number;
  epochs: number;
}

export const DEFAULT_TRAINING: TrainOptions = { l2: 0.01, keep: 60, minPapers: 3, epochs: 60 };

export interface TopicFit {
  topic: string;
  positives: number;
  learned: TopicTerm[];
  threshold: number;
}

/** Fits every topic that has positive examples; pure (no I/O). */
export function train(items: Labelled[], catalog: Catalog, opts: TrainOptions = DEFAULT_TRAINING): TopicFit[] {
  const hand = Matcher.fromCatalog({ ...catalog, topics: catalog.topics.map(({ learned: _, ...t }) => t) });
  const candidates = candidateWords(items, opts.minPapers);
  const words = new Matcher([{ id: 'candidates', terms: candidates, threshold: 1 }]);
  const papers = items.map((p) => {
    const doc = analyse({ id: p.id, title: p.title, abstract: p.abstract, aiKeywords: p.ai_keywords ?? [] });
    return { labels: new Set(p.labels), hand: new Map(hand.scores(doc).map((m) => [m.topic, m.score])), words: words.evidence(doc)[0]! };
  });

  const fits: TopicFit[] = [];
  for (const topic of catalog.topics) {
    const y = papers.map((p) => (p.labels.has(topic.id) ? 1 : 0));
    const positives = y.reduce<number>((s, v) => s + v, 0);
    if (positives === 0) continue;
    // A word that is already a hand-written term of this topic would be counted once anyway (matcher dedupe).
    const handKeys = new Set(
      topic.keywords.flatMap((k) => compileTerm(typeof k === 'string' ? k : k.term)?.variants.map((v) => v.join(' ')) ?? []),
    );
    const usable = candidates.map((w) => !handKeys.has(compileTerm(w)!.variants[0]!.join(' ')));

    let a = 1;
    let b = -(topic.threshold ?? catalog.threshold);
    const v = new Float64Array(candidates.length);
    for (let epoch = 0; epoch < opts.epochs; epoch++) {
      const rate = 0.05 / (1 + epoch * 0.1);
      papers.forEach((p, i) => {
        const s = p.hand.get(topic.id) ?? 0;
        let z = a * s + b;
        for (const [w, x] of p.words) if (usable[w]) z += v[w]! * x;
        const g = 1 / (1 + Math.exp(-z)) - y[i]!;
        // The hand score spans ~0–20 where a word's evidence spans ~0–5: a smaller step keeps `a` stable.
        a = Math.max(0.2, a - rate * g * s * 0.2);
        b -= rate * g;
        for (const [w, x] of p.words) if (usable[w]) v[w] = v[w]! - rate * (g * x + opts.l2 * v[w]!);
      });
    }
    const learned = [...v.entries()]
      .map(([w, weight]) => ({ term: candidates[w]!, weight: Math.round((weight / a) * 100) / 100 }))
      .filter((t) => t.weight !== 0)
      .sort((x, y2) => Math.abs(y2.weight) - Math.abs(x.weight) || x.term.localeCompare(y2.term))
      .slice(0, opts.keep);
    fits.push({ topic: topic.id, positives, learned, threshold: Math.max(0.5, Math.round((-b / a) * 100) / 100) });
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
      if (STOPWORDS.has(t.raw) || t.raw.length < 3 || /^\d+$/.test(t.raw)) continue;
      keys.add(t.key);
      const s = spellings.get(t.key) ?? new Map<string, number>();
      s.set(t.raw, (s.get(t.raw) ?? 0) + 1);
      spellings.set(t.key, s);
    }
    for (const k of keys) papersWith.set(k, (papersWith.get(k) ?? 0) + 1);
  }
  return [...papersWith]
    .filter(([, n]) => n >= minPapers && n < items.length * 0.3)
    .map(([k]) => [...spellings.get(k)!].sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0]))[0]![0])
    .filter((w) => compileTerm(w) && !compileTerm(w)!.acronym)
    .sort();
}

export function applyFits(catalog: Catalog, fits: TopicFit[]): Catalog {
  const byId = new Map(fits.map((f) => [f.topic, f]));
  return {
    ...catalog,
    topics: catalog.topics.map((t) => {
      const f = byId.get(t.id);
      return f ? { ...t, learned: f.learned, threshold: f.threshold } : t;
    }),
  };
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

async function main(argv: string[]): Promise<number> {
  const arg = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
  const subscribersDir = path.resolve(arg('--subscribers') ?? path.join(PACKAGE_ROOT, 'subscribers'));
  const labelsFile = path.resolve(arg('--labels') ?? path.join(EVAL_DIR, 'papers.dev.jsonl'));
  const catalog = await loadCatalog(subscribersDir);
  const items = loadLabelled(labelsFile);
  console.log(`training on ${items.length} labelled papers from ${labelsFile}`);
  const fits = train(items, catalog);
  const trained = applyFits(catalog, fits);
  for (const f of fits) {
    const before = catalog.topics.find((t) => t.id === f.topic)!;
    console.log(
      `  ${f.topic.padEnd(26)} ${String(f.positives).padStart(4)} positives  ${String(f.learned.length).padStart(3)} learned terms  threshold ${before.threshold ?? catalog.threshold} → ${f.threshold}`,
    );
  }
  const heldoutFile = path.join(EVAL_DIR, 'papers.heldout.jsonl');
  if (labelsFile !== heldoutFile) {
    const heldout = loadLabelled(heldoutFile);
    for (const [name, c] of [
      ['before', catalog],
      ['after', trained],
    ] as const) {
      const e = evaluate(heldout, c);
      console.log(
        `held-out ${name}: precision ${pct(e.micro.precision)} recall ${pct(e.micro.recall)} placement ${pct(e.placement.accuracy)}`,
      );
    }
  }
  if (argv.includes('--dry-run')) {
    console.log('dry run: topics.yaml left unchanged');
    return 0;
  }
  await saveTraining(subscribersDir, fits);
  console.log(`wrote learned terms and thresholds of ${fits.length} topics to ${catalog.file}`);
  return 0;
}

if (process.argv[1] && import.meta.url === new URL(`file://${path.resolve(process.argv[1])}`).href) {
  process.exitCode = await main(process.argv.slice(2));
}
