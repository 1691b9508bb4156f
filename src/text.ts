/**
 * Tokens and term keys for topic matching.
 *
 * A word's key is its Porter stem (the `stemmer` package) plus a tag for the
 * derivational suffix it carries, so inflections meet (adapter/adapters,
 * merge/merging/merged, reason/reasoning) while the derivations that Porter
 * folds together stay apart (adapter ≠ adaptation ≠ adaptive;
 * general ≠ generation ≠ generate). Hyphens split words, and a pair of words
 * is also tried joined, so fine-tuning = fine tuning = finetuning.
 * Acronyms (LoRA, DPO, MoE…) are matched whole and case-insensitively, with
 * an optional plural "s" written in lower case after a word with a capital
 * (VLMs, ConvNets; not SDS, GPS or clips), never inside another word; one written
 * in capitals only (DARE, GAIA, MT) not by a word written as a name (Dare, Gaia,
 * Mt). A phrase, or two words read as one, never spans a sentence or clause break
 * (". , ; : ! ?" then a space, but not "U.S.", "e.g.", "et al." nor a list's
 * last comma, "code, and models"): "…visual reasoning. Trace…" is not
 * "reasoning trace", "data, based" not "database". Punctuation separates words,
 * except in C++, C# and F#.
 */
import { stemmer } from 'stemmer';

export interface Token {
  /** Lower-case surface form. */
  raw: string;
  /**
   * Written with one leading capital and the rest lower-case (Dare, Gaia, Mt): a word at the start of a
   * sentence, or a name. An acronym written in capitals only (DARE, GAIA, MT) does not match it.
   */
  titled?: true;
  /** Stem key, for ordinary words. */
  key: string;
  /** Key of this word and the next written as one (fine + tuning → finetun), computed once per paper. */
  pairKey?: string;
  /** A sentence or clause break (". , ; : ! ?" before a space) follows: no phrase continues past it. */
  breakAfter?: true;
  /** A hyphen joins this word to the next ("post-training"): how an explanation writes the pair. */
  hyphenAfter?: true;
  /** Ends in a lower-case "s" after a word with a capital (VLMs, ConvNets): may be an acronym's plural. */
  acronymPlural?: true;
}

// A word; "C++", "C#" and "F#" keep their symbols, which say which language it is (only those:
// "GenEval++" is the word GenEval).
const WORD = /(?:[Cc]\+\+|[CcFf]#)(?![\p{L}\p{N}+#])|[\p{L}\p{N}]+/gu;
const TITLED = /^\p{Lu}\p{Ll}+$/u;
// In the gap between two words: punctuation (and any closing bracket or quote) then a space. "3.5" and
// "Qwen2.5" are not breaks, nor the point after a single letter or a common abbreviation (U.S., e.g., et al.).
const BREAK = /[.,;:!?。！？…][)\]}"'”’]*\s/;
const POINT_ONLY = /^\.[)\]}"'”’]*\s+$/;
const ABBREVIATIONS = new Set(['al', 'fig', 'figs', 'eq', 'eqs', 'sec', 'vs', 'cf', 'resp', 'approx', 'ref', 'refs', 'tab', 'no']);
// A list's last comma ("code, and models") joins rather than breaks.
const LIST_COMMA = /^,\s+$/;
const isBreak = (gap: string, before: string, next: string) =>
  BREAK.test(gap) &&
  !(POINT_ONLY.test(gap) && (before.length === 1 || ABBREVIATIONS.has(before))) &&
  !(LIST_COMMA.test(gap) && (next === 'and' || next === 'or'));

/** The words of `text`, lower-cased one by one (so positions stay those of the text as written). */
function wordsOf(text: string): Array<{ raw: string; written: string; start: number; end: number }> {
  const out = [];
  const lower = text.toLowerCase();
  // Lower-casing the whole text keeps positions unless some capital lower-cases to a letter plus a
  // combining mark (İ → i̇); then words are lower-cased one by one and the mark, not a letter, dropped.
  const aligned = lower.length === text.length;
  for (const m of text.matchAll(WORD)) {
    const end = m.index + m[0].length;
    const raw = aligned ? lower.slice(m.index, end) : m[0].toLowerCase().replace(/\p{M}/gu, '');
    if (raw) out.push({ raw, written: m[0], start: m.index, end });
  }
  return out;
}

const DERIVATION: Array<[RegExp, string]> = [
  [/(?:tion|sion)$/, 'tion'],
  [/(?:ability|ibility|ity|ities)$/, 'ity'],
  [/(?:ively|ive)$/, 'ive'],
  [/(?:ically|ical|ally|al)$/, 'al'],
  [/(?:ness)$/, 'ness'],
  [/(?:ment)$/, 'ment'],
  [/(?:ism)$/, 'ism'],
  [/(?:ist)$/, 'ist'],
  [/(?:ics|ic)$/, 'ic'],
  [/(?:able|ible)$/, 'able'],
  [/(?:izer|iser|er|or)$/, 'er'],
];

function dropPlural(w: string): string {
  if (w.length <= 3) return w;
  if (w.endsWith('sses')) return w.slice(0, -2);
  if (w.endsWith('ies')) return w.slice(0, -3) + 'y';
  if (w.endsWith('s') && !/(?:ss|us|is)$/.test(w)) return w.slice(0, -1);
  return w;
}

/**
 * Plurals that Porter keeps apart from their singular (bias → "bia" but biases → "bias";
 * hypothesis → "hypothesi" but hypotheses → "hypothes"), mostly Latin and Greek ones of academic
 * text. A general singulariser (the `pluralize` package, tried) also rewrites ordinary words the
 * stemmer already handles — they → she, these → this, have → has, misuses → "misus" — so only
 * these are mapped, before stemming.
 */
const IRREGULAR_PLURALS = new Map<string, string>(
  (
    'analyses analysis|hypotheses hypothesis|theses thesis|syntheses synthesis|diagnoses diagnosis|prognoses prognosis|' +
    'paralyses paralysis|parentheses parenthesis|ellipses ellipsis|crises crisis|oases oasis|' +
    'matrices matrix|indices index|vertices vertex|appendices appendix|simplices simplex|' +
    'criteria criterion|phenomena phenomenon|corpora corpus|radii radius|stimuli stimulus|foci focus|loci locus|nuclei nucleus|' +
    'biases bias|statuses status|viruses virus|lenses lens|canvases canvas|atlases atlas|aliases alias|consensuses consensus|' +
    'censuses census|bonuses bonus|campuses campus|corpuses corpus|syllabi syllabus|' +
    'apparatuses apparatus|neuroses neurosis'
  )
    .split('|')
    .map((pair) => pair.split(' ') as [string, string]),
);
const singular = (w: string) => IRREGULAR_PLURALS.get(w) ?? w;
/** Words Porter folds into a different word (news → "new"): kept whole. */
const UNSTEMMED = new Set(['news', 'goods']);


const keyCache = new Map<string, string>();

/** The match key of one lower-case word. */
export function wordKey(word: string): string {
  const cached = keyCache.get(word);
  if (cached !== undefined) return cached;
  let key = word;
  if (word.length > 3 && !/\d/.test(word) && !UNSTEMMED.has(word)) {
    const one = singular(word);
    const base = dropPlural(one);
    const tag = DERIVATION.find(([re]) => re.test(base) && base.length > 4)?.[1];
    const stem = stemmer(one);
    // Porter cuts the forms of a three-letter word in -e to two letters (uses, used, using → "us"; eyes →
    // "ey"), and words that short are not stemmed: give them back the e, so they meet "use" and "eye".
    key = (stem.length <= 2 ? `${stem}e` : stem) + (tag ? `~${tag}` : '');
  }
  if (keyCache.size < 200_000) keyCache.set(word, key);
  return key;
}

export function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let end = 0;
  for (const w of wordsOf(text)) {
    const token: Token = { raw: w.raw, key: wordKey(w.raw) };
    if (TITLED.test(w.written)) token.titled = true;
    // A lower-case s after a word with a capital in it: VLMs, LoRAs, ConvNets (not SDS, GPS, its or clips).
    if (w.written.endsWith('s') && /\p{Lu}/u.test(w.written.slice(0, -1))) token.acronymPlural = true;
    const previous = out[out.length - 1];
    // Most gaps are one space: neither a break nor a hyphen, and not worth a regular expression.
    if (previous && !(w.start === end + 1 && text.charCodeAt(end) === 32)) {
      const gap = text.slice(end, w.start);
      if (isBreak(gap, previous.raw, w.raw)) previous.breakAfter = true;
      else if (gap === '-' || gap === '‐' || gap === '‑') previous.hyphenAfter = true;
    }
    end = w.end;
    out.push(token);
  }
  for (let i = 0; i + 1 < out.length; i++) {
    if (out[i]!.breakAfter) continue;
    const joined = out[i]!.raw + out[i + 1]!.raw;
    // Numbers never join (GPT 4 is not "gpt4"-the-term); very long pairs are not compounds.
    if (!/\d/.test(joined) && joined.length <= 24) out[i]!.pairKey = wordKey(joined);
  }
  return out;
}

/** A compiled catalog or subscriber term. */
export interface TermPattern {
  /** The term as written, for explanations ("matched: LoRA, adapters"). */
  label: string;
  /** Acronym: one token compared whole, case-insensitively, optional plural s. */
  acronym: boolean;
  /** A word-part pattern ("*bench" = any word ending in "bench", "agent*" = any word starting so), matched on the raw word. */
  affix?: { kind: 'suffix' | 'prefix'; text: string };
  /**
   * Key sequences that count as this term: the words as written, plus each
   * adjacent pair written as one word (multi-task learning = multitask learning).
   * For an acronym: its lower-case form.
   */
  variants: string[][];
}

/**
 * An acronym is a single word written with at least two capitals, or a short
 * all-capitals word: LoRA, DPO, RLHF, MoE, RAG, VLM, PEFT, GRPO, CoT, KV.
 */
export function isAcronym(term: string): boolean {
  if (!/^[\p{L}\p{N}]+$/u.test(term)) return false;
  const capitals = term.replace(/[^A-Z]/g, '').length;
  return term.length <= 8 && (capitals >= 2 || (capitals === 1 && term.length <= 2 && /^[A-Z]/.test(term)));
}

/**
 * Why a catalog term or subscriber keyword cannot be matched as written, or undefined. Words are
 * matched with punctuation left out, so "x+y" would be the words "x y" and "A*" any word starting
 * with "a": such terms are refused with the reason rather than quietly matching something else.
 */
export function termProblem(term: string): string | undefined {
  const t = term.trim();
  if (t.includes('*')) {
    return /^\*[\p{L}\p{N}]{3,}$/u.test(t) || /^[\p{L}\p{N}]{3,}\*$/u.test(t)
      ? undefined
      : `"${t}": a * must begin or end a single word of 3 or more letters, e.g. "*bench" or "agent*"`;
  }
  const words = wordsOf(t);
  if (words.length === 0) return `"${t}": needs a letter or digit`;
  // What lies between the words: separators (spaces, dashes, quotes, @, &, brackets) read the same in the
  // text; these symbols would be dropped from a term that means something else without them.
  const between = words.reduceRight((rest, w) => rest.slice(0, w.start) + ' ' + rest.slice(w.end), t);
  const symbols = [...new Set(between.match(/[+#\\<>^|~]/g) ?? [])];
  if (symbols.length)
    return `"${t}": words are matched without punctuation, so ${symbols.map((c) => `"${c}"`).join(' ')} would be left out and it would match "${words.map((w) => w.raw).join(' ')}"; write it as words only`;
  return undefined;
}

/** Learned catalogs hold the same word in every topic: compiling each spelling once keeps building a matcher cheap. */
const compiled = new Map<string, TermPattern | undefined>();

export function compileTerm(term: string): TermPattern | undefined {
  if (compiled.has(term)) return compiled.get(term);
  if (compiled.size >= 100_000) compiled.clear();
  const pattern = compileTermUncached(term);
  compiled.set(term, pattern);
  return pattern;
}

function compileTermUncached(term: string): TermPattern | undefined {
  const label = term.trim();
  // Names built on a common part, like benchmark names (ToolBench, reWordBench): "*bench".
  const affix = /^\*([\p{L}\p{N}]{3,})$/u.exec(label) ?? /^([\p{L}\p{N}]{3,})\*$/u.exec(label);
  if (affix) {
    const kind = label.startsWith('*') ? 'suffix' : 'prefix';
    return { label, acronym: false, affix: { kind, text: affix[1]!.toLowerCase() }, variants: [] };
  }
  // Written in the plural (LLMs, FLOPs), an acronym is keyed by its singular (the text's plural "s" is optional
  // anyway) and by the plural as written, so "FLOPS" and "LLMS" in capitals match it too.
  if (isAcronym(label)) {
    const plural = /[A-Z]s$/.test(label);
    const one = (plural ? label.slice(0, -1) : label).toLowerCase();
    return { label, acronym: true, variants: plural ? [[one], [label.toLowerCase()]] : [[one]] };
  }
  const words = wordsOf(label).map((w) => w.raw);
  if (words.length === 0) return undefined;
  const variants = [words.map(wordKey)];
  for (let j = 0; j + 1 < words.length && words.length <= 5; j++) {
    variants.push([...words.slice(0, j), words[j]! + words[j + 1]!, ...words.slice(j + 2)].map(wordKey));
  }
  return { label, acronym: false, variants };
}
