/**
 * Listing payload → Paper[]. Lenient per item (fields drift between the 2024
 * and 2026 shapes of the Hugging Face API), strict about the whole: a payload
 * that is not a listing fails the run before anything is sent, while one
 * malformed item is dropped with a warning that names it.
 */
import { z } from 'zod';
import { PaperboyError } from './errors.js';
import { cleanText, normaliseArxivId, paperLinks, safeHttpsUrl, type Paper } from './paper.js';

export interface ParsedListing {
  papers: Paper[];
  /** One line per dropped or merged item, naming it. */
  warnings: string[];
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

/** Parse a decoded JSON payload. `origin` names it in messages (a file path or URL). */
export function parseListing(payload: unknown, origin: string): ParsedListing {
  const items = listingItems(payload, origin);
  const warnings: string[] = [];
  const byId = new Map<string, Paper>();
  items.forEach((raw, index) => {
    const result = parseItem(raw);
    if (typeof result === 'string') {
      warnings.push(`${origin}: item ${index} dropped: ${result}`);
      return;
    }
    const seen = byId.get(result.id);
    if (seen) {
      warnings.push(`${origin}: item ${index} (${result.id}) is a duplicate; kept one copy`);
      // Keep the copy with the stronger community signal; the text is the same paper's.
      if (result.upvotes > seen.upvotes) byId.set(result.id, result);
      return;
    }
    byId.set(result.id, result);
  });
  return { papers: [...byId.values()], warnings };
}

/** The items of a listing payload (an array, or an object wrapping one), or PaperboyError('LISTING'). */
/**
 * How many days the digest date lies after the newest paper of a listing (by
 * each paper's own publication date), and that paper's date; undefined when
 * no paper has one. A day's papers were published in the days just before
 * it: a listing file weeks away from the date it is sent for is most likely
 * the wrong file or the wrong --date.
 */
export function daysFromNewestPaper(
  papers: ReadonlyArray<{ publishedAt?: string }>,
  date: string,
): { days: number; newest: string } | undefined {
  const newest = papers.reduce<string | undefined>((m, p) => {
    const d = p.publishedAt?.slice(0, 10);
    return d && (!m || d > m) ? d : m;
  }, undefined);
  if (!newest) return undefined;
  return { days: Math.round((Date.parse(`${date}T00:00:00Z`) - Date.parse(`${newest}T00:00:00Z`)) / 86_400_000), newest };
}

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

/** A Paper, or the reason the item is unusable. */
function parseItem(raw: unknown): Paper | string {
  const parsed = itemSchema.safeParse(raw);
  if (!parsed.success) return 'expected an object with a "paper" object';
  const item = parsed.data;
  const p = item.paper;
  const id = normaliseArxivId(p.id);
  if (!id) return `paper.id ${JSON.stringify(p.id)?.slice(0, 40) ?? 'missing'} is not an arXiv id (expected e.g. "2410.17243")`;
  const title = cleanText(p.title ?? item.title).slice(0, 1000);
  if (!title) return `${id}: paper.title is missing or empty`;
  const abstract = cleanText(p.summary ?? item.summary).slice(0, MAX_TEXT);
  const upvotes = nonNegativeInt(p.upvotes) ?? 0;
  const authors = (p.authors ?? [])
    .map((a) => authorSchema.safeParse(a))
    .filter((r) => r.success && r.data.hidden !== true)
    .map((r) => cleanText(r.data?.name).slice(0, 200))
    .filter((n) => n.length > 0);
  const keywords = Array.isArray(p.ai_keywords) ? [...new Set(p.ai_keywords.map((k) => cleanText(k).slice(0, 200)).filter(Boolean))] : [];
  const org = p.organization ?? item.organization;
  const orgName =
    org && typeof org === 'object' ? cleanText((org as Record<string, unknown>).fullname ?? (org as Record<string, unknown>).name) : '';
  const aiSummary = cleanText(p.ai_summary).slice(0, MAX_TEXT);
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
