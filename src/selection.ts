/**
 * Selection: which papers one subscriber gets, in which section, in which
 * order. Pure: no I/O, no clock; everything it needs is passed in.
 *
 * - A paper appears once per email, under the followed topic where it scores
 *   best; the other followed topics it matched are carried as tags.
 * - Within a section: relevance first, then community signal on a log scale
 *   (so one viral paper does not bury the rest); ties by id, so runs repeat.
 * - Papers this subscriber got on an earlier day are left out.
 * - Favourite authors' papers go first, in their own section, marked.
 */
import type { Catalog } from './catalog.js';
import { analyse, Matcher, type Doc, type TopicMatch } from './matcher.js';
import type { Paper } from './paper.js';

/** A paper with its text analysed and its catalog topics scored: computed once per run. */
export interface FiledPaper {
  paper: Paper;
  doc: Doc;
  topics: TopicMatch[];
}

export interface Profile {
  id: string;
  topics: string[];
  keywords: string[];
  authors: string[];
  max_papers: number;
  min_upvotes: number;
  top_of_day: number;
}

export interface DigestEntry {
  paper: Paper;
  /** Relevance to the section's topic (0 for the top-of-day section). */
  score: number;
  rank: number;
  matched: string[];
  /** Other followed topics this paper matched (ids). */
  alsoIn: string[];
  favourite: boolean;
  /** Shown with abstract and links (true) or as a compact title line (false). */
  full: boolean;
}

export const SPECIAL_SECTIONS = { authors: 'authors', keywords: 'keywords', top: 'top-of-day' } as const;

export interface DigestSection {
  /** A catalog topic id, or one of SPECIAL_SECTIONS. */
  topic: string;
  name: string;
  description: string;
  entries: DigestEntry[];
}

export interface Selection {
  sections: DigestSection[];
  /** Distinct papers in the email. */
  total: number;
  /** Why there is nothing to send, when sections is empty. */
  emptyReason?: string;
}

/** Analyse and score a listing once; every subscriber's selection reuses it. */
export function fileListing(papers: Paper[], matcher: Matcher): FiledPaper[] {
  return papers.map((paper) => {
    const doc = analyseCached(paper);
    return { paper, doc, topics: matcher.match(doc) };
  });
}

const docCache = new WeakMap<Paper, Doc>();
function analyseCached(p: Paper): Doc {
  let d = docCache.get(p);
  if (!d) docCache.set(p, (d = analyse(p)));
  return d;
}

/**
 * Subscriber keywords are matched like catalog terms (stems, variants, acronyms, phrases), but one
 * mention anywhere is enough: they are a person's own alert words, and BM25's length normalisation
 * would otherwise let a single mention late in a long abstract fall short. The score still ranks.
 */
export const KEYWORD_THRESHOLD = 1e-9;
const keywordMatchers = new Map<string, Matcher>();
function keywordMatcher(keywords: string[]): Matcher {
  const key = keywords.join('\u0000');
  let m = keywordMatchers.get(key);
  if (!m) {
    m = new Matcher([{ id: SPECIAL_SECTIONS.keywords, terms: keywords, threshold: KEYWORD_THRESHOLD }]);
    if (keywordMatchers.size > 1000) keywordMatchers.clear();
    keywordMatchers.set(key, m);
  }
  return m;
}

/** Ranking value: relevance, nudged by log upvotes. */
export const rankValue = (score: number, upvotes: number) => score + 0.6 * Math.log1p(upvotes);

/**
 * The forms a person's name is compared in: case, accents, spacing and punctuation never count
 * ("José García" = "Jose Garcia", "Yann LeCun" = "Yann Le Cun"), "Dao, Tri" is "Tri Dao", and
 * middle initials may be there or not ("Tri C. Dao" = "Tri Dao"). A name given by initials and
 * surname alone is compared whole, so "T. Dao" never stands for every Dao.
 */
export function nameKeys(name: string): string[] {
  let s = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    // Letters that are not a base letter plus an accent, so NFKD leaves them: Łukasz = Lukasz.
    .replace(/[łøđßæœþ]/g, (c) => ({ ł: 'l', ø: 'o', đ: 'd', ß: 'ss', æ: 'ae', œ: 'oe', þ: 'th' })[c]!);
  const comma = s.split(',');
  // "Dao, Tri" is Tri Dao; "King, Jr." is King Jr.
  if (comma.length === 2 && comma[1]!.trim() && !/^\s*(?:jr|sr|i{2,3}|iv|phd|md)\.?\s*$/.test(comma[1]!)) s = `${comma[1]} ${comma[0]}`;
  const parts = s.match(/[\p{L}\p{N}]+/gu) ?? [];
  const whole = parts.join('');
  const full = parts.filter((p) => p.length > 1);
  return full.length >= 2 && full.length < parts.length ? [whole, full.join('')] : [whole];
}
const isFavourite = (author: string, favourites: ReadonlySet<string>) => nameKeys(author).some((k) => favourites.has(k));

export function select(profile: Profile, filed: FiledPaper[], catalog: Catalog, alreadySent: ReadonlySet<string> = new Set()): Selection {
  const followed = profile.topics;
  const names = new Map(catalog.topics.map((t) => [t.id, t]));
  const favourites = new Set(profile.authors.flatMap(nameKeys).filter(Boolean));
  const kwMatcher = profile.keywords.length ? keywordMatcher(profile.keywords) : undefined;

  const buckets = new Map<string, DigestEntry[]>();
  const push = (section: string, e: DigestEntry) => {
    const list = buckets.get(section) ?? [];
    list.push(e);
    buckets.set(section, list);
  };
  const placed = new Set<string>();
  let considered = 0;

  for (const f of filed) {
    const { paper } = f;
    if (alreadySent.has(paper.id) || paper.upvotes < profile.min_upvotes) continue;
    considered++;
    const hits = f.topics.filter((t) => followed.includes(t.topic));
    const kw = kwMatcher?.match(f.doc)[0];
    const favourite = favourites.size > 0 && paper.authors.some((a) => isFavourite(a, favourites));
    if (hits.length === 0 && !kw && !favourite) continue;
    // Best followed topic; ties go to the topic the subscriber listed first.
    const best = [...hits].sort((a, b) => b.score - a.score || followed.indexOf(a.topic) - followed.indexOf(b.topic))[0];
    const section = favourite ? SPECIAL_SECTIONS.authors : best ? best.topic : SPECIAL_SECTIONS.keywords;
    const main = best ?? kw;
    const matched = [...new Set([...(main?.matched ?? []), ...(kw && kw !== main ? kw.matched : [])])];
    if (favourite) {
      const mine = paper.authors.filter((a) => isFavourite(a, favourites));
      matched.unshift(...mine.map((a) => `author: ${a}`));
    }
    const score = Math.round(((main?.score ?? 0) + (kw && kw !== main ? kw.score : 0)) * 1000) / 1000;
    push(section, {
      paper,
      score,
      rank: rankValue(score, paper.upvotes),
      matched,
      alsoIn: hits.filter((h) => h !== best || favourite).map((h) => h.topic),
      favourite,
      full: true,
    });
    placed.add(paper.id);
  }

  if (profile.top_of_day > 0) {
    const top = filed
      .filter((f) => !placed.has(f.paper.id) && !alreadySent.has(f.paper.id) && f.paper.upvotes >= profile.min_upvotes)
      .sort((a, b) => b.paper.upvotes - a.paper.upvotes || a.paper.id.localeCompare(b.paper.id))
      .slice(0, profile.top_of_day);
    for (const f of top) {
      push(SPECIAL_SECTIONS.top, {
        paper: f.paper,
        score: 0,
        rank: f.paper.upvotes,
        matched: [],
        alsoIn: f.topics.filter((t) => followed.includes(t.topic)).map((t) => t.topic),
        favourite: false,
        full: true,
      });
    }
  }

  const order = [SPECIAL_SECTIONS.authors, ...followed, SPECIAL_SECTIONS.keywords, SPECIAL_SECTIONS.top];
  const sections: DigestSection[] = [];
  for (const id of order) {
    const entries = buckets.get(id);
    if (!entries?.length) continue;
    entries.sort((a, b) => b.rank - a.rank || b.paper.upvotes - a.paper.upvotes || a.paper.id.localeCompare(b.paper.id));
    const topic = names.get(id);
    sections.push({
      topic: id,
      name: topic?.name ?? SPECIAL_NAMES[id] ?? id,
      description: topic?.description ?? '',
      entries,
    });
  }
  const selection: Selection = { sections, total: sections.reduce((n, s) => n + s.entries.length, 0) };
  limitFull(selection, profile.max_papers);
  if (selection.total === 0) {
    selection.emptyReason =
      filed.length === 0
        ? 'the listing is empty'
        : considered === 0
          ? 'every paper in the listing was already sent or below min_upvotes'
          : 'no new paper matches the followed topics';
  }
  return selection;
}

const SPECIAL_NAMES: Record<string, string> = {
  [SPECIAL_SECTIONS.authors]: 'From authors you follow',
  [SPECIAL_SECTIONS.keywords]: 'Your keywords',
  [SPECIAL_SECTIONS.top]: 'Top of the day',
};

/**
 * Show at most `n` papers in full, the rest as compact title lines. Full slots
 * go round-robin over sections (each section's best first), so a long section
 * cannot push every other section down to titles.
 */
export function limitFull(selection: Selection, n: number): void {
  for (const s of selection.sections) for (const e of s.entries) e.full = false;
  let left = n;
  for (let depth = 0; left > 0; depth++) {
    let any = false;
    for (const s of selection.sections) {
      const e = s.entries[depth];
      if (!e || left === 0) continue;
      e.full = true;
      left--;
      any = true;
    }
    if (!any) break;
  }
}
