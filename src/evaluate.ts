/**
 * `npm run eval:topics` — how well the catalog files real papers.
 *
 * For each catalog topic, imagine a subscriber who follows only that topic:
 * a (paper, topic) filing is correct when the paper's labels include the
 * topic. Prints per-topic precision and recall and the micro average, for
 * the development set (tune on it) and the held-out set (never tune on it),
 * plus placement: for a subscriber following every topic, how often the
 * topic a paper lands under is one it belongs to.
 *
 *   npm run eval:topics                 # both sets
 *   npm run eval:topics -- --check      # exit 1 if held-out micro P/R drop below eval/baseline.json
 *   npm run eval:topics -- --errors dev # list the wrong filings of a set, to tune the catalog
 *   npm run eval:topics -- --hand-only  # the hand-written keywords alone, without subscribers/topics.learned.json
 *
 * The held-out part is also scored against labels made from the issue's one-line topic definitions
 * (eval/annotations/ONELINER.md), and as a listing with ai_keywords for every paper would give it
 * (eval/annotations/KEYWORDS.md).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadCatalog, type Catalog } from './catalog.js';
import { PACKAGE_ROOT } from './config.js';
import { learnedPath } from './learned.js';
import { analyse, Matcher } from './matcher.js';
import { PaperboyError, runScript, scriptFlags } from './errors.js';
import { formatIssues } from './yamlfile.js';
import { z } from 'zod';

/** One labelled paper: a line of eval/papers.*.jsonl (or of your own file for `train:topics --labels`). */
const labelledSchema = z.object({
  id: z.string().min(1),
  title: z.string().min(1),
  abstract: z.string(),
  ai_keywords: z.array(z.string()).optional(),
  /** The listing's ai_summary, where the source payload had one (kept for study; filing does not read it). */
  ai_summary: z.string().optional(),
  labels: z.array(z.string()),
});

export type Labelled = z.infer<typeof labelledSchema>;

export interface TopicScore {
  tp: number;
  fp: number;
  fn: number;
  precision: number;
  recall: number;
}

export interface Evaluation {
  papers: number;
  perTopic: Record<string, TopicScore>;
  micro: { precision: number; recall: number; f1: number; tp: number; fp: number; fn: number };
  /** Following every topic: papers whose home topic is one of their labels. */
  placement: { filed: number; correct: number; accuracy: number };
  errors: Array<{ id: string; title: string; topic: string; kind: 'fp' | 'fn'; matched: string[]; score: number }>;
}

export const EVAL_DIR = path.join(PACKAGE_ROOT, 'eval');

export function loadLabelled(file: string): Labelled[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new PaperboyError(
      'NOT_FOUND',
      `${file}: cannot read labelled papers (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  const example = '{"id": "2410.12345", "title": "…", "abstract": "…", "labels": ["peft"]}';
  const items: Labelled[] = [];
  text.split('\n').forEach((l, i) => {
    if (!l.trim()) return;
    let data: unknown;
    try {
      data = JSON.parse(l);
    } catch (e) {
      throw new PaperboyError(
        'USAGE',
        `${file}:${i + 1}: not a JSON object (${(e as Error).message}); each line is one paper, e.g. ${example}`,
      );
    }
    const parsed = labelledSchema.safeParse(data);
    if (!parsed.success) {
      throw new PaperboyError(
        'USAGE',
        `${formatIssues(`${file}:${i + 1}`, parsed.error.issues).join('\n')}\neach line is one paper, e.g. ${example}`,
      );
    }
    items.push(parsed.data);
  });
  if (items.length === 0) throw new PaperboyError('USAGE', `${file}: no labelled papers; each line is one paper, e.g. ${example}`);
  return items;
}

/**
 * A file of `{"id", <field>: [strings]}` lines about some of the labelled papers, as id → that list; a line
 * that does not parse is refused with its number and `expected`, an example of a good one.
 */
function loadIdLists(file: string, what: string, field: string, list: z.ZodType<string[]>, expected: string): Map<string, string[]> {
  const schema = z.object({ id: z.string().min(1), [field]: list });
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new PaperboyError('USAGE', `${what}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const out = new Map<string, string[]>();
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let parsed;
    try {
      parsed = schema.safeParse(JSON.parse(line));
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success) throw new PaperboyError('USAGE', `${file}, line ${i + 1}: expected ${expected}`);
    out.set(parsed.data.id as string, parsed.data[field] as string[]);
  });
  return out;
}

/** A file of `{"id", "labels"}` lines (another annotator's labels for some of the papers), as id → labels. */
export const loadLabelsOnly = (file: string, what = file): Map<string, string[]> =>
  loadIdLists(file, what, 'labels', z.array(z.string()), '{"id": "2410.17243", "labels": ["topic-id", …]}');

/**
 * A file of `{"id", "ai_keywords"}` lines (eval/annotations/keywords-synthetic.jsonl: stand-in keywords, as a
 * 2026 listing has them for every paper), as id → keywords.
 */
export const loadKeywords = (file: string, what = file): Map<string, string[]> =>
  loadIdLists(
    file,
    what,
    'ai_keywords',
    z.array(z.string().min(1)).min(1),
    '{"id": "2410.17243", "ai_keywords": ["a term", …]} with at least one keyword',
  );

/** The papers `labels` covers, with its labels instead of theirs. */
export const relabelled = (items: Labelled[], labels: ReadonlyMap<string, string[]>): Labelled[] =>
  items.filter((p) => labels.has(p.id)).map((p) => ({ ...p, labels: labels.get(p.id)! }));

/** The papers as a listing with keywords for every paper would give them: their own where they have some, `keywords` otherwise. */
export const withKeywords = (items: Labelled[], keywords: ReadonlyMap<string, string[]>): Labelled[] =>
  items.map((p) => (p.ai_keywords?.length || !keywords.has(p.id) ? p : { ...p, ai_keywords: keywords.get(p.id)! }));

export const ratio = (a: number, b: number) => (b === 0 ? 1 : a / b);

export function evaluate(items: Labelled[], catalog: Catalog): Evaluation {
  const matcher = Matcher.fromCatalog(catalog);
  const perTopic: Record<string, TopicScore> = Object.fromEntries(
    catalog.topics.map((t) => [t.id, { tp: 0, fp: 0, fn: 0, precision: 0, recall: 0 }]),
  );
  const errors: Evaluation['errors'] = [];
  let filed = 0;
  let correct = 0;
  for (const item of items) {
    const doc = analyse({ id: item.id, title: item.title, abstract: item.abstract, aiKeywords: item.ai_keywords ?? [] });
    const all = matcher.scores(doc);
    const matches = matcher.match(doc);
    const got = new Set(matches.map((m) => m.topic));
    const want = new Set(item.labels);
    for (const t of catalog.topics) {
      const s = perTopic[t.id]!;
      const m = all.find((x) => x.topic === t.id);
      if (got.has(t.id) && want.has(t.id)) s.tp++;
      else if (got.has(t.id)) {
        s.fp++;
        errors.push({ id: item.id, title: item.title, topic: t.id, kind: 'fp', matched: m?.matched ?? [], score: m?.score ?? 0 });
      } else if (want.has(t.id)) {
        s.fn++;
        errors.push({ id: item.id, title: item.title, topic: t.id, kind: 'fn', matched: m?.matched ?? [], score: m?.score ?? 0 });
      }
    }
    if (matches[0]) {
      filed++;
      if (want.has(matches[0].topic)) correct++;
    }
  }
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (const s of Object.values(perTopic)) {
    s.precision = ratio(s.tp, s.tp + s.fp);
    s.recall = ratio(s.tp, s.tp + s.fn);
    tp += s.tp;
    fp += s.fp;
    fn += s.fn;
  }
  return {
    papers: items.length,
    perTopic,
    micro: { ...micro(tp, fp, fn), tp, fp, fn },
    placement: { filed, correct, accuracy: ratio(correct, filed) },
    errors,
  };
}

/** Micro precision, recall and F1 from pooled counts (nothing to find or nothing filed counts as 1). */
export function micro(tp: number, fp: number, fn: number): { precision: number; recall: number; f1: number } {
  const precision = ratio(tp, tp + fp);
  const recall = ratio(tp, tp + fn);
  return { precision, recall, f1: (2 * precision * recall) / (precision + recall || 1) };
}

export interface Baseline {
  heldout: { precision: number; recall: number; placement: number };
}

export const loadBaseline = (): Baseline => JSON.parse(readFileSync(path.join(EVAL_DIR, 'baseline.json'), 'utf8')) as Baseline;

const pct = (x: number) => `${(x * 100).toFixed(1)}%`.padStart(7);

function report(name: string, e: Evaluation): void {
  console.log(`\n${name}: ${e.papers} papers`);
  console.log(`  ${'topic'.padEnd(26)} ${'prec'.padStart(7)} ${'recall'.padStart(7)}   tp  fp  fn`);
  for (const [topic, s] of Object.entries(e.perTopic)) {
    console.log(
      `  ${topic.padEnd(26)} ${pct(s.precision)} ${pct(s.recall)} ${String(s.tp).padStart(4)}${String(s.fp).padStart(4)}${String(s.fn).padStart(4)}`,
    );
  }
  console.log(`  ${'micro average'.padEnd(26)} ${pct(e.micro.precision)} ${pct(e.micro.recall)}   (F1 ${pct(e.micro.f1).trim()})`);
  console.log(
    `  placement (all topics followed): ${e.placement.correct}/${e.placement.filed} papers under a topic they belong to (${pct(e.placement.accuracy).trim()})`,
  );
}

async function main(argv: string[]): Promise<number> {
  const flags = scriptFlags(argv, { 'hand-only': { type: 'boolean' }, errors: { type: 'string' }, check: { type: 'boolean' } });
  if (flags.errors !== undefined && flags.errors !== 'dev' && flags.errors !== 'heldout')
    throw new PaperboyError('USAGE', `--errors: expected dev or heldout, got "${flags.errors}"`);
  const loaded = await loadCatalog(path.join(PACKAGE_ROOT, 'subscribers'));
  const catalog: Catalog = flags['hand-only'] ? { ...loaded, learned: undefined } : loaded;
  console.log(
    catalog.learned
      ? `catalog: ${loaded.file} + learned terms (${learnedPath(path.dirname(loaded.file))}, trained on ${catalog.learned.trainedOn.papers} papers)`
      : `catalog: ${loaded.file}, hand-written keywords only`,
  );
  const devItems = loadLabelled(path.join(EVAL_DIR, 'papers.dev.jsonl'));
  const heldoutItems = loadLabelled(path.join(EVAL_DIR, 'papers.heldout.jsonl'));
  const dev = evaluate(devItems, catalog);
  const heldout = evaluate(heldoutItems, catalog);
  const errorsOf = flags.errors;
  if (errorsOf) {
    const e = errorsOf === 'heldout' ? heldout : dev;
    for (const x of e.errors.sort((a, b) => a.topic.localeCompare(b.topic) || a.kind.localeCompare(b.kind))) {
      console.log(
        `${x.kind} ${x.topic.padEnd(24)} ${x.score.toFixed(2).padStart(6)} ${x.id} ${x.title.slice(0, 90)}  [${x.matched.join(', ')}]`,
      );
    }
    return 0;
  }
  report('development set (tuned on)', dev);
  report('held-out set (never tuned on)', heldout);
  // Listings since 2025 carry ai_keywords, older ones do not: both must file well, so show them apart.
  const keyworded = heldoutItems.filter((i) => i.ai_keywords?.length);
  if (keyworded.length) {
    const k = evaluate(keyworded, catalog);
    console.log(
      `  of which with ai_keywords (${k.papers}): precision ${pct(k.micro.precision).trim()} recall ${pct(k.micro.recall).trim()} placement ${pct(k.placement.accuracy).trim()}`,
    );
  }
  // The same filings against labels made from the issue's one-line topic definitions alone, as an
  // outside judge would label (eval/annotations/ONELINER.md): how the filing fares with readers who never saw our guide.
  const outside = path.join(EVAL_DIR, 'annotations', 'oneliner-heldout.jsonl');
  const theirs = existsSync(outside) ? loadLabelsOnly(outside) : undefined;
  const summary = (e: Evaluation) =>
    `precision ${pct(e.micro.precision).trim()} recall ${pct(e.micro.recall).trim()} (F1 ${pct(e.micro.f1).trim()}) placement ${pct(e.placement.accuracy).trim()}`;
  const againstTheirs = (items: Labelled[]) => evaluate(relabelled(items, theirs!), catalog);
  if (theirs) {
    const o = againstTheirs(heldoutItems);
    console.log(`  against the one-line annotation (${o.papers}, ${path.relative(PACKAGE_ROOT, outside)}): ${summary(o)}`);
  }
  // A 2026 listing has ai_keywords for every paper; most labelled papers came without (eval/annotations/KEYWORDS.md).
  const stand = path.join(EVAL_DIR, 'annotations', 'keywords-synthetic.jsonl');
  if (existsSync(stand)) {
    const items = withKeywords(heldoutItems, loadKeywords(stand));
    const k = evaluate(items, catalog);
    console.log(
      `  every paper with ai_keywords (${items.filter((i) => i.ai_keywords?.length).length} of ${k.papers}; stand-ins from ${path.relative(PACKAGE_ROOT, stand)} where the listing had none): ${summary(k)}`,
    );
    if (theirs) console.log(`    the same, against the one-line annotation: ${summary(againstTheirs(items))}`);
  }
  if (flags.check) {
    const b = loadBaseline().heldout;
    const fails = [
      heldout.micro.precision < b.precision &&
        `micro precision ${pct(heldout.micro.precision).trim()} < baseline ${pct(b.precision).trim()}`,
      heldout.micro.recall < b.recall && `micro recall ${pct(heldout.micro.recall).trim()} < baseline ${pct(b.recall).trim()}`,
      heldout.placement.accuracy < b.placement &&
        `placement ${pct(heldout.placement.accuracy).trim()} < baseline ${pct(b.placement).trim()}`,
    ].filter(Boolean);
    if (fails.length) {
      console.error(`\nHeld-out check FAILED: ${fails.join('; ')}`);
      return 1;
    }
    console.log('\nHeld-out check passed (eval/baseline.json).');
  }
  return 0;
}

await runScript(import.meta.url, 'eval:topics', main);
