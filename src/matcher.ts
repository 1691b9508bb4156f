/**
 * Files papers under topics. A catalog (or a subscriber's own keywords) is
 * compiled once into an index from word keys to terms; each paper is
 * tokenised once; one pass over its tokens finds every term of every topic.
 *
 * Score of a (paper, topic) = Σ over the topic's distinct matched terms of
 *   weight × (TITLE if in the title
 *             + max(KEYWORDS × (one abstract mention + LEAD) if in ai_keywords,
 *                   BM25(tf in abstract) + LEAD if in the abstract's first two sentences))
 * BM25's saturation and length normalisation keep a long abstract that
 * repeats a word from beating a short one that states it once. A paper is
 * filed when its score reaches the topic's threshold (KEYWORDS_BAR × it when
 * one of the topic's terms is in the paper's ai_keywords) and no exclusion
 * matched.
 *
 * The opening sentences of an abstract say what field the paper is in ("Vision-
 * language models often…", "We study reward hacking in…"); later ones name the
 * methods and data it merely uses. Cross-validated on the labelled papers
 * (eval/LABELLING.md), a bonus of 0.75 for a term in the first two sentences
 * raised F1 from 81.0% to 82.0% (3 folds) and 81.2% to 82.1% (5 folds); the
 * first sentence alone, three sentences, or a larger bonus did less.
 *
 * ai_keywords are a model's summary of the abstract, and list the methods a
 * paper merely uses as readily as its subject. So a term listed there counts
 * as a stronger mention in the abstract (KEYWORDS × what one mention in the
 * lead is worth in this paper, so a keyword still counts more than any single
 * abstract mention), in place of the abstract's own mentions, not on top of
 * them: added on top (the first design, title 3 + keywords 2 + abstract), a
 * listing with keywords filed many more papers than the same listing without
 * (cross-validated on the labelled papers that have them: precision 76.8% /
 * recall 88.6% with, 82.3% / 83.3% without; counted this way 80.4% / 86.4%),
 * and the thresholds are fitted mostly on papers without keywords.
 *
 * Even so, a keyword nearly always repeats a phrase of the abstract, so it
 * lifts a method named once in passing to the worth of a lead mention, and a
 * listing with keywords files more papers than without. So a topic with a term
 * in the paper's keywords must reach KEYWORDS_BAR × its threshold. Measured
 * with every labelled paper given keywords (eval/annotations/KEYWORDS.md), the
 * filing stops depending on whether the listing has them: cross-validated
 * against the one-line-definition labels, P 83.8% / R 84.0% with keywords and
 * 84.1% / 83.2% without, against 80.1% / 86.0% and 84.2% / 83.3% before
 * (keywords 1.2 × a lead mention, no bar).
 * A keyword still counts more than any single abstract mention in the same
 * paper (KEYWORDS > 1), and scores, which rank, are not changed by the bar.
 * The price: a paper at the edge of a threshold can stop being filed when the
 * listing adds as a keyword a term its abstract already names (× 1.1 against
 * × 1.2). Keywords that share no term with a topic leave its threshold alone.
 */
import type { Catalog, Topic, TopicTerm } from './catalog.js';
import { effectiveFiling, learnedFor } from './learned.js';
import type { Paper } from './paper.js';
import { compileTerm, tokenize, type Token } from './text.js';

export const FIELD_WEIGHTS = { title: 3, keywords: 1.1, abstract: 1, lead: 0.75 } as const;
/** A topic with a term in the paper's ai_keywords files it when its score reaches this × the topic's threshold (see above). */
export const KEYWORDS_BAR = 1.2;
/** Sentences at the start of the abstract that count as its lead. */
const LEAD_SENTENCES = 2;
const BM25_K1 = 1.2;
const BM25_B = 0.75;
const AVG_ABSTRACT_TOKENS = 190;
/** Learned words are named in an explanation only while it has fewer terms than this. */
const LEARNED_IN_EXPLANATION = 3;

export interface Doc {
  id: string;
  title: Token[];
  /** Each ai_keyword separately, so a phrase never spans two keywords. */
  keywords: Token[][];
  abstract: Token[];
  /** How many of the abstract's tokens are its first LEAD_SENTENCES sentences. */
  leadEnd: number;
}

export function analyse(paper: Pick<Paper, 'id' | 'title' | 'abstract' | 'aiKeywords'>): Doc {
  return {
    id: paper.id,
    title: tokenize(paper.title),
    keywords: paper.aiKeywords.map(tokenize),
    abstract: tokenize(paper.abstract),
    leadEnd: tokenize(leadOf(paper.abstract)).length,
  };
}

/** The first LEAD_SENTENCES sentences: split after . ! or ? where a capital or "(" starts the next. */
export function leadOf(abstract: string): string {
  return abstract
    .split(/(?<=[.!?])\s+(?=[A-Z(])/)
    .slice(0, LEAD_SENTENCES)
    .join(' ');
}

export interface TopicMatch {
  topic: string;
  score: number;
  /**
   * Terms that put the paper here, as written in the catalog: hand-written ones first, strongest first;
   * learned words only while fewer than LEARNED_IN_EXPLANATION terms are named.
   */
  matched: string[];
}

export interface TermGroup {
  id: string;
  terms: TopicTerm[];
  /** Trained terms (src/learned.ts): matched like `terms`, but explained after them. */
  learned?: TopicTerm[];
  exclude?: string[];
  threshold: number;
  /** Fraction of the paper's best topic score this group must also reach (0 = none). */
  relative?: number;
}

interface Entry {
  group: number;
  term: number;
  /** One variant of the term: its word keys in order. */
  keys: string[];
  exclusion: boolean;
  /**
   * An acronym written in capitals only (DPO, DARE, GAIA, MT): it matches "dpo" and "DPO" but not a word
   * written as a name or at a sentence start ("Dare", "Gaia", "Mt."). In the labelled papers such words
   * were the acronym's topic 1 time in 7 (Clip, Gui, Vit), a word in capitals or lower case nearly always.
   */
  capitals?: true;
}

type Field = 'title' | 'keywords' | 'abstract';

interface Hit {
  title: boolean;
  keywords: boolean;
  /** Mentioned in the abstract's lead. */
  lead: boolean;
  tf: number;
  /** For a one-word term: the first word it matched, which explains a word-part ("*bench") or learned term better than its stored form. */
  word?: string;
}

export class Matcher {
  private readonly index = new Map<string, Entry[]>();
  /** Word-part terms ("*bench"): few, so each word is simply checked against all of them. */
  private readonly affixes: Array<{ entry: Entry; kind: 'suffix' | 'prefix'; text: string }> = [];
  private readonly weights: number[][];
  private readonly labels: string[][];
  /** Per group: terms from this index on are learned ones. */
  private readonly handCount: number[];

  private readonly byId: Map<string, TermGroup>;

  constructor(readonly groups: TermGroup[]) {
    this.byId = new Map(groups.map((g) => [g.id, g]));
    const terms = groups.map((g) => [...g.terms, ...(g.learned ?? [])]);
    this.handCount = groups.map((g) => g.terms.length);
    this.weights = terms.map((ts) => ts.map((t) => (typeof t === 'string' ? 1 : t.weight)));
    this.labels = terms.map((ts) => ts.map((t) => (typeof t === 'string' ? t : t.term)));
    groups.forEach((g, gi) => {
      // Two spellings of one term ("pre-training", "pretraining") count once: the first written wins.
      const canonical = new Map<string, number>();
      terms[gi]!.forEach((t, ti) => {
        const pattern = compileTerm(typeof t === 'string' ? t : t.term);
        const key = pattern?.affix
          ? `*${pattern.affix.kind}:${pattern.affix.text}`
          : pattern
            ? (pattern.acronym ? '=' : '') +
              pattern.variants
                .map((v) => v.join(' '))
                .sort()
                .join('|')
            : '';
        const joined = pattern?.variants.find((v) => v.length === 1)?.[0];
        const first = canonical.get(key) ?? (joined !== undefined ? canonical.get(`1:${joined}`) : undefined);
        if (first !== undefined) return;
        canonical.set(key, ti);
        if (joined !== undefined) canonical.set(`1:${joined}`, ti);
        this.add(typeof t === 'string' ? t : t.term, gi, ti, false);
      });
      (g.exclude ?? []).forEach((t, ti) => this.add(t, gi, ti, true));
    });
  }

  /**
   * A trained topic (catalog.learned) adds its learned terms and uses its learned
   * threshold and relative floor, which were fitted together with them, moved by
   * any edit an admin made to the topic's own since (`effectiveFiling`).
   */
  static fromCatalog(catalog: Catalog): Matcher {
    return new Matcher(
      catalog.topics.map((t) => {
        const fit = learnedFor(catalog.learned, t.id);
        return {
          id: t.id,
          terms: t.keywords,
          learned: fit ? Object.entries(fit.terms).map(([term, weight]) => ({ term, weight })) : undefined,
          exclude: t.exclude,
          ...topicFiling(catalog, t),
        };
      }),
    );
  }

  private add(term: string, group: number, index: number, exclusion: boolean) {
    const pattern = compileTerm(term);
    if (!pattern) return;
    if (pattern.affix) {
      this.affixes.push({ entry: { group, term: index, keys: [], exclusion }, ...pattern.affix });
      return;
    }
    const capitals = pattern.acronym && !/\p{Ll}/u.test(pattern.label.replace(/s$/, ''));
    for (const keys of pattern.variants) {
      const key = pattern.acronym ? `=${keys[0]}` : keys[0]!;
      const list = this.index.get(key) ?? [];
      list.push({ group, term: index, keys, exclusion, ...(capitals && { capitals: true as const }) });
      this.index.set(key, list);
    }
  }

  /** Every group the doc reaches the threshold of (× KEYWORDS_BAR if a term of it is in ai_keywords; and `relative` × the best score), best first. */
  match(doc: Doc): TopicMatch[] {
    const { all, keyworded } = this.scored(doc);
    const best = all[0]?.score ?? 0;
    return all.filter((m) => {
      const g = this.byId.get(m.topic)!;
      return m.score >= g.threshold * (keyworded.has(m.topic) ? KEYWORDS_BAR : 1) && m.score >= best * (g.relative ?? 0);
    });
  }

  /**
   * The unweighted evidence for every term of every group: TITLE if in the title
   * + the larger of KEYWORDS × one lead mention if in ai_keywords and BM25 of its
   * abstract mentions (+ LEAD if one is in the lead); null for a group an
   * exclusion vetoed. `scores` weighs this; training fits weights to it.
   */
  evidence(doc: Doc): Array<Map<number, number> | null> {
    const { hits, vetoed } = this.collect(doc);
    const values = this.valuer(doc);
    return hits.map((termHits, gi) => (vetoed.has(gi) ? null : values(termHits)));
  }

  private collect(doc: Doc): { hits: Array<Map<number, Hit>>; vetoed: Set<number> } {
    const hits: Array<Map<number, Hit>> = this.groups.map(() => new Map());
    const vetoed = new Set<number>();
    const visit = (tokens: Token[], field: Field) => this.scan(tokens, field, hits, vetoed, doc.leadEnd);
    visit(doc.title, 'title');
    for (const kw of doc.keywords) visit(kw, 'keywords');
    visit(doc.abstract, 'abstract');
    return { hits, vetoed };
  }

  /** Turns one group's hits into each term's unweighted value, for this doc's abstract length. */
  private valuer(doc: Doc): (termHits: Map<number, Hit>) => Map<number, number> {
    const lengthNorm = 1 - BM25_B + BM25_B * (doc.abstract.length / AVG_ABSTRACT_TOKENS);
    const bm25 = (tf: number) => (tf * (BM25_K1 + 1)) / (tf + BM25_K1 * lengthNorm);
    // A keyword is the paper's summary of itself: a little more than the most one abstract mention can count (one in the lead).
    const keyword = FIELD_WEIGHTS.keywords * (bm25(1) + FIELD_WEIGHTS.lead);
    return (termHits) => {
      const values = new Map<number, number>();
      for (const [ti, h] of termHits) {
        const abstract = FIELD_WEIGHTS.abstract * (h.tf > 0 ? bm25(h.tf) : 0) + (h.lead ? FIELD_WEIGHTS.lead : 0);
        values.set(ti, (h.title ? FIELD_WEIGHTS.title : 0) + Math.max(h.keywords ? keyword : 0, abstract));
      }
      return values;
    };
  }

  /** Scores for every group with at least one matched term (vetoed groups left out), best first. */
  scores(doc: Doc): TopicMatch[] {
    return this.scored(doc).all;
  }

  /** `scores`, and the topics with a term found in the paper's ai_keywords (KEYWORDS_BAR applies to them). */
  private scored(doc: Doc): { all: TopicMatch[]; keyworded: Set<string> } {
    const out: TopicMatch[] = [];
    const keyworded = new Set<string>();
    const { hits, vetoed } = this.collect(doc);
    const values = this.valuer(doc);
    hits.forEach((termHits, gi) => {
      if (vetoed.has(gi) || termHits.size === 0) return;
      const parts: Array<{ label: string; value: number; learned: boolean }> = [];
      for (const [ti, raw] of values(termHits)) {
        if (termHits.get(ti)!.keywords && this.weights[gi]![ti]! > 0) keyworded.add(this.groups[gi]!.id);
        // "*bench" means nothing to a reader, nor a learned word's stored form ("standing" for "stand"); the word
        // the paper used ("toolbench", "stand") does. A hand-written word keeps the admin's spelling.
        const learned = ti >= this.handCount[gi]!;
        const stored = this.labels[gi]![ti]!;
        const word = termHits.get(ti)!.word;
        const label = word && (learned || stored.startsWith('*') || stored.endsWith('*')) ? word : stored;
        parts.push({ label, value: this.weights[gi]![ti]! * raw, learned });
      }
      // Hand-written terms explain a filing best (they say what the topic is); learned words follow.
      parts.sort((a, b) => +a.learned - +b.learned || b.value - a.value || a.label.localeCompare(b.label));
      const score = parts.reduce((s, p) => s + p.value, 0);
      if (score <= 0) return;
      const matched = explain(
        parts
          .filter((p) => p.value > 0)
          // Learned words only fill a short explanation: one of dozens of small weights ("memory") says little
          // to a reader next to the topic's own terms, but a filing made by learned words alone is explained by them.
          .filter((p, i) => !p.learned || i < LEARNED_IN_EXPLANATION)
          .map((p) => p.label),
      );
      out.push({ topic: this.groups[gi]!.id, score: round(score), matched });
    });
    return { all: out.sort((a, b) => b.score - a.score || a.topic.localeCompare(b.topic)), keyworded };
  }

  private scan(tokens: Token[], field: Field, hits: Array<Map<number, Hit>>, vetoed: Set<number>, leadEnd: number) {
    // One occurrence counts once even when two variants of a term match it.
    const lastAt = new Map<string, number>();
    const record = (e: Entry, at: number, word?: string) => {
      if (e.exclusion) {
        vetoed.add(e.group);
        return;
      }
      const id = `${e.group}:${e.term}`;
      if (lastAt.get(id) === at) return;
      lastAt.set(id, at);
      const map = hits[e.group]!;
      const h = map.get(e.term) ?? { title: false, keywords: false, lead: false, tf: 0, word };
      if (field === 'title') h.title = true;
      else if (field === 'keywords') h.keywords = true;
      else {
        h.tf += 1;
        if (at < leadEnd) h.lead = true;
      }
      map.set(e.term, h);
    };
    for (let i = 0; i < tokens.length; i++) {
      const tok = tokens[i]!;
      for (const a of this.affixes) {
        const hit = a.kind === 'suffix' ? tok.raw.endsWith(a.text) : tok.raw.startsWith(a.text);
        if (hit && tok.raw.length > a.text.length) record(a.entry, i, tok.raw);
      }
      // Acronyms: the whole token, or the token less a plural "s" (VLMs).
      // (A name-like word never stands for an acronym in capitals: see Entry.capitals.) Two plain loops, no
      // array per token: this runs for every word of every paper.
      for (const e of this.index.get(`=${tok.raw}`) ?? []) if (!(e.capitals && tok.titled)) record(e, i);
      if (tok.acronymPlural && tok.raw.length > 2)
        for (const e of this.index.get(`=${tok.raw.slice(0, -1)}`) ?? []) if (!(e.capitals && tok.titled)) record(e, i);
      // Words and phrases starting here; a term word may also be two text words written
      // apart (term "multitask learning" ← text "multi-task learning").
      for (const e of this.index.get(tok.key) ?? []) if (phraseFrom(tokens, i + 1, e.keys, 1)) record(e, i, e.keys.length === 1 ? tok.raw : undefined);
      if (tok.pairKey)
        for (const e of this.index.get(tok.pairKey) ?? [])
          if (phraseFrom(tokens, i + 2, e.keys, 1))
            // A learned word met as two written words is explained as the paper writes them ("post-training").
            record(e, i, e.keys.length === 1 ? `${tok.raw}${tok.hyphenAfter ? '-' : ' '}${tokens[i + 1]!.raw}` : undefined);
    }
  }
}

/** The threshold and relative floor `t` is filed by in this catalog (learned ones moved by edits since: `effectiveFiling`). */
export function topicFiling(catalog: Catalog, t: Pick<Topic, 'id' | 'threshold' | 'relative'>): { threshold: number; relative: number } {
  return effectiveFiling(learnedFor(catalog.learned, t.id), catalog.learned, {
    threshold: t.threshold ?? catalog.threshold,
    relative: t.relative ?? catalog.relative,
    ownRelative: t.relative,
  });
}

/** Each spelling of an explanation label as word keys (" pre train " and " pretrain "), computed once per label. */
const labelForms = new Map<string, string[]>();
const formsOf = (label: string) => {
  let f = labelForms.get(label);
  if (f === undefined) {
    const pattern = compileTerm(label);
    f = pattern && !pattern.affix ? pattern.variants.map((v) => ` ${v.join(' ')} `) : [` ${label.toLowerCase()} `];
    labelForms.set(label, f);
  }
  return f;
};
/** Is `inner` the same as `outer` or a run of whole words in it, in any spelling of either? */
const within = (inner: string, outer: string) => formsOf(inner).some((i) => formsOf(outer).some((o) => o.includes(i)));

/**
 * The labels in order, once each, nested terms folded: "pre-training" next to "LLM pre-training" (both
 * matched, since one contains the other) says the same thing twice, so only the longer one is named, in
 * the place of whichever came first. The email shows the first few; each should add something.
 */
function explain(labels: string[]): string[] {
  const out: string[] = [];
  for (const label of labels) {
    const at = out.findIndex((kept) => within(label, kept) || within(kept, label));
    if (at === -1) out.push(label);
    else if (within(out[at]!, label) && !within(label, out[at]!)) {
      out[at] = label;
      // The longer term may also contain a term named later in the list.
      for (let i = out.length - 1; i > at; i--) if (within(out[i]!, label)) out.splice(i, 1);
    }
  }
  return out;
}

/** Do keys[k..] match the tokens from `pos` on? Each key takes one token, or two written apart. */
function phraseFrom(tokens: Token[], pos: number, keys: string[], k: number): boolean {
  if (k === keys.length) return true;
  const tok = tokens[pos];
  // The word before ended a sentence or clause: the phrase does not go on past it.
  if (!tok || tokens[pos - 1]!.breakAfter) return false;
  if (tok.key === keys[k] && phraseFrom(tokens, pos + 1, keys, k + 1)) return true;
  return tok.pairKey === keys[k] && phraseFrom(tokens, pos + 2, keys, k + 1);
}

const round = (n: number) => Math.round(n * 1000) / 1000;
