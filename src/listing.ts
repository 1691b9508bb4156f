/**
 * Listing payload → Paper[]. Lenient per item (fields drift between the 2024
 * and 2026 shapes of the Hugging Face API), strict about the whole: a payload
 * that is not a listing fails the run before anything is sent, while one
 * malformed item is dropped with a warning that names it.
 */
import { z } from 'zod';
import { PaperboyError } from './errors.js';
import type { Logger } from './log.js';
import { cleanText, normaliseArxivId, paperLinks, safeHttpsUrl, type Paper } from './paper.js';

export interface ParsedListing {
  papers: Paper[];
  /** One line per dropped or merged item, naming it. */
  warnings: string[];
  /** Those of `warnings` that are duplicate items merged into another copy: no paper of them is lost. */
  merged?: string[];
  /**
   * The newest day (YYYY-MM-DD) an item was put on the Daily Papers list, when the
   * payload says: `paper.submittedOnDailyAt` (2025+), else the item's own `publishedAt`
   * (2024, the day of the list). Not the papers' arXiv dates.
   */
  listedOn?: string;
}

const authorSchema = z.looseObject({ name: z.unknown().optional(), hidden: z.unknown().optional() });

// Everything optional: the item-level rules below decide what is fatal for an item.
const paperSchema = z.looseObject({
  id: z.unknown().optional(),
  title: z.unknown().optional(),
  summary: z.unknown().optional(),
  authors: z.array(z.unknown()).optional().catch(undefined),
  publishedAt: z.unknown().optional(),
  upvotes: z.unknown().optional(),
  ai_summary: z.unknown().optional(),
  ai_keywords: z.unknown().optional(),
  githubRepo: z.unknown().optional(),
  githubStars: z.unknown().optional(),
  projectPage: z.unknown().optional(),
  organization: z.unknown().optional(),
});
const itemSchema = z.looseObject({
  paper: paperSchema,
  title: z.unknown().optional(),
  summary: z.unknown().optional(),
  thumbnail: z.unknown().optional(),
  numComments: z.unknown().optional(),
  organization: z.unknown().optional(),
});

const MAX_TEXT = 20_000; // an abstract longer than this is not an abstract
/** A listing with more than half its items unusable, and at least this many, is refused (see parseListing). */
const MIN_DROPPED_TO_REFUSE = 3;

/** Parse a decoded JSON payload. `origin` names it in messages (a file path or URL). */
export function parseListing(payload: unknown, origin: string): ParsedListing {
  const items = listingItems(payload, origin);
  const warnings: string[] = [];
  const byId = new Map<string, Paper>();
  const merged: string[] = [];
  items.forEach((raw, index) => {
    const result = parseItem(raw);
    if (typeof result === 'string') {
      warnings.push(`${origin}: item ${index} dropped: ${result}`);
      return;
    }
    const seen = byId.get(result.id);
    if (seen) {
      const line = `${origin}: item ${index} (${result.id}) is a duplicate; kept one copy`;
      warnings.push(line);
      merged.push(line);
      byId.set(result.id, mergeCopies(seen, result));
      return;
    }
    byId.set(result.id, result);
  });
  // Items, but not one usable paper: the payload's shape has changed (or it is not a listing at all).
  // Reported as an empty day, it would pass for a weekend and nobody would look.
  if (items.length > 0 && byId.size === 0) {
    throw new PaperboyError(
      'LISTING',
      `${origin}: none of its ${items.length} item(s) is a usable paper, so this does not look like a daily papers listing ` +
        `(has the format changed?); first problem: ${warnings[0]!.slice(origin.length + 2)}`,
    );
  }
  // Most items unusable is a changed format too, only half-noticed: sent, the few papers that survived would
  // go out as the day's digest and the ledger would keep the day from ever being sent whole. A stray bad
  // item among good ones (the usual case) is dropped with its warning, and the others go out.
  const dropped = warnings.length - merged.length;
  if (dropped >= MIN_DROPPED_TO_REFUSE && dropped * 2 > items.length) {
    throw new PaperboyError(
      'LISTING',
      `${origin}: ${dropped} of its ${items.length} items are not usable papers, so its format has probably changed; ` +
        `nothing was sent (the day can be sent once the listing reads again). First problem: ${warnings.find((w) => !merged.includes(w))!.slice(origin.length + 2)}`,
    );
  }
  const listedOn = newestDay(items.map(listedDay));
  return { papers: [...byId.values()], warnings, ...(merged.length ? { merged } : {}), ...(listedOn ? { listedOn } : {}) };
}

/**
 * Logs each warning of a listing: an item dropped (a paper nobody will get) as a warning, a merged
 * duplicate as information. Returns the counts, for the run's summary.
 */
export function logListingWarnings(listing: ParsedListing, log: Logger): { dropped: number; merged: number } {
  const merged = new Set(listing.merged ?? []);
  for (const w of listing.warnings) {
    if (merged.has(w)) log.info('listing.item_merged', { detail: w });
    else log.warn('listing.item_dropped', { detail: w });
  }
  return { dropped: listing.warnings.length - merged.size, merged: merged.size };
}

/** The latest of some YYYY-MM-DD… dates, as YYYY-MM-DD (ISO strings sort by time). */
function newestDay(dates: Array<string | undefined>): string | undefined {
  return dates.reduce<string | undefined>((m, d) => (d && (!m || d > m) ? d : m), undefined)?.slice(0, 10);
}

function listedDay(raw: unknown): string | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const item = raw as { publishedAt?: unknown; paper?: { submittedOnDailyAt?: unknown } };
  return isoDate(item.paper?.submittedOnDailyAt) ?? isoDate(item.publishedAt);
}

/**
 * How far a digest date is from the listing it is about to be sent with, in days
 * (positive: the date is later), or undefined when the payload carries no date.
 * Measured from the day the items were listed when the payload says
 * (`listedOn`: a listing fetched for a date is listed on that date), else from
 * the newest paper's arXiv date, which runs a few days earlier: `slack` says
 * how far from it is still normal.
 */
export function listingDateGap(listing: ParsedListing, date: string): { days: number; from: string; slack: number } | undefined {
  const from = listing.listedOn ?? newestDay(listing.papers.map((p) => p.publishedAt));
  if (!from) return undefined;
  const days = Math.round((Date.parse(`${date}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000);
  return { days, from, slack: listing.listedOn ? 3 : 10 };
}

/** The items of a listing payload (an array, or an object wrapping one), or PaperboyError('LISTING'). */
export function listingItems(payload: unknown, origin: string): unknown[] {
  if (Array.isArray(payload)) return payload;
  // Some mirrors wrap the array; accept the obvious wrappers, nothing else.
  if (payload && typeof payload === 'object') {
    for (const key of ['papers', 'items', 'data'] as const) {
      const inner = (payload as Record<string, unknown>)[key];
      if (Array.isArray(inner)) return inner;
    }
  }
  const kind = payload === null ? 'null' : Array.isArray(payload) ? 'array' : typeof payload;
  throw new PaperboyError(
    'LISTING',
    `${origin}: not a daily papers listing: expected a JSON array of items like [{"paper": {"id": "2410.17243", "title": "…"}}], got ${kind}`,
  );
}

/**
 * Two copies of one paper: the one with the stronger community signal (the earlier on a tie), with each
 * field it lacks taken from the other, so a bare copy never erases the abstract or keywords of a full one.
 */
function mergeCopies(seen: Paper, other: Paper): Paper {
  const [main, spare] = other.upvotes > seen.upvotes ? [other, seen] : [seen, other];
  const merged: Paper = { ...main };
  if (!merged.abstract) merged.abstract = spare.abstract;
  if (merged.authors.length === 0) merged.authors = spare.authors;
  if (merged.aiKeywords.length === 0) merged.aiKeywords = spare.aiKeywords;
  for (const k of [
    'publishedAt',
    'aiSummary',
    'githubRepo',
    'githubStars',
    'projectPage',
    'organization',
    'thumbnail',
    'numComments',
  ] as const)
    if (merged[k] === undefined && spare[k] !== undefined) (merged as Record<typeof k, unknown>)[k] = spare[k];
  return merged;
}

/** A Paper, or the reason the item is unusable. */
function parseItem(raw: unknown): Paper | string {
  const parsed = itemSchema.safeParse(raw);
  if (!parsed.success) return 'expected an object with a "paper" object';
  const item = parsed.data;
  const p = item.paper;
  const id = normaliseArxivId(p.id);
  if (!id) return `paper.id ${JSON.stringify(p.id)?.slice(0, 40) ?? 'missing'} is not an arXiv id (expected e.g. "2410.17243")`;
  // The item's own title and summary stand in for an empty paper field as well as a missing one.
  const title = cleanText(p.title, 1000) || cleanText(item.title, 1000);
  // Letters or digits, not only punctuation or joiners: anything else renders as a blank link.
  if (!/[\p{L}\p{N}]/u.test(title)) return `${id}: paper.title is missing or empty (expected the paper's title as text)`;
  const abstract = cleanText(p.summary, MAX_TEXT) || cleanText(item.summary, MAX_TEXT);
  const upvotes = nonNegativeInt(p.upvotes) ?? 0;
  const authors = (p.authors ?? [])
    // {name, hidden} objects in the API; a plain name string in hand-made listings and some mirrors.
    .map((a) => (typeof a === 'string' ? a : authorSchema.safeParse(a).data))
    .filter((a) => typeof a === 'string' || (a !== undefined && a.hidden !== true))
    .map((a) => cleanText(typeof a === 'string' ? a : a!.name, 200))
    .filter((n) => n.length > 0);
  const keywords = Array.isArray(p.ai_keywords) ? [...new Set(p.ai_keywords.map((k) => cleanText(k, 200)).filter(Boolean))] : [];
  const org = p.organization ?? item.organization;
  const orgName =
    org && typeof org === 'object' ? cleanText((org as Record<string, unknown>).fullname ?? (org as Record<string, unknown>).name) : '';
  const aiSummary = cleanText(p.ai_summary, MAX_TEXT);
  return {
    id,
    title,
    abstract,
    authors,
    publishedAt: isoDate(p.publishedAt),
    upvotes,
    aiSummary: aiSummary || undefined,
    aiKeywords: keywords,
    githubRepo: safeHttpsUrl(p.githubRepo),
    githubStars: nonNegativeInt(p.githubStars),
    projectPage: safeHttpsUrl(p.projectPage),
    organization: orgName || undefined,
    thumbnail: safeHttpsUrl(item.thumbnail),
    numComments: nonNegativeInt(item.numComments),
    links: paperLinks(id),
  };
}

function nonNegativeInt(v: unknown): number | undefined {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? Math.floor(n) : undefined;
}

function isoDate(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}
