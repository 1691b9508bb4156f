/**
 * The normalised paper every later stage works on, whatever the source, and
 * the few rules for building links from untrusted listing data.
 */
import { isIP } from 'node:net';

export interface Paper {
  /** arXiv id without version, e.g. "2410.17243". Validated: links are built from it. */
  id: string;
  title: string;
  abstract: string;
  /** Visible authors in listing order. */
  authors: string[];
  /** When the paper itself was published (ISO 8601), if known. */
  publishedAt?: string;
  upvotes: number;
  aiSummary?: string;
  aiKeywords: string[];
  /** https URLs only; anything else from the listing is dropped. */
  githubRepo?: string;
  githubStars?: number;
  projectPage?: string;
  organization?: string;
  thumbnail?: string;
  numComments?: number;
  links: PaperLinks;
}

export interface PaperLinks {
  hf: string;
  arxiv: string;
  pdf: string;
}

/** New-style arXiv ids (YYMM.NNNNN, optional version) and old-style ones (hep-th/9901001). */
const NEW_ID = /^(\d{4}\.\d{4,5})(?:v\d+)?$/;
const OLD_ID = /^([a-z][a-z-]*(?:\.[A-Z]{2})?\/\d{7})(?:v\d+)?$/;

/** The canonical id (no version) or undefined when `raw` is not an arXiv id. */
export function normaliseArxivId(raw: unknown): string | undefined {
  if (typeof raw !== 'string') return undefined;
  const s = raw.trim().replace(/^arxiv:/i, '');
  return NEW_ID.exec(s)?.[1] ?? OLD_ID.exec(s)?.[1];
}

export function paperLinks(id: string): PaperLinks {
  // The id is validated, so it needs no escaping beyond what the URL grammar allows. Hugging Face has
  // pages for new-style ids only (huggingface.co/papers/hep-th/9901001 is a 404), so an old-style
  // paper's main link is its arXiv page.
  return {
    hf: id.includes('/') ? `https://arxiv.org/abs/${id}` : `https://huggingface.co/papers/${id}`,
    arxiv: `https://arxiv.org/abs/${id}`,
    pdf: `https://arxiv.org/pdf/${id}`,
  };
}

/** An https URL to a named host, without credentials, normalised; anything else is undefined. */
export function safeHttpsUrl(raw: unknown): string | undefined {
  if (typeof raw !== 'string' || raw.length > 2000) return undefined;
  try {
    const u = new URL(raw.trim());
    // A named public host: no credentials, no bare IP address (a link to 127.0.0.1 or a LAN box in an email is never a project page).
    if (u.protocol !== 'https:' || u.username || u.password || !u.hostname.includes('.') || isIP(u.hostname.replace(/^\[|\]$/g, '')))
      return undefined;
    return u.toString();
  } catch {
    return undefined;
  }
}

/** Collapse hard wraps and runs of spaces; drop control, invisible and direction-override characters; at most `max` UTF-16 units. */
export function cleanText(raw: unknown, max = Infinity): string {
  if (typeof raw !== 'string') return '';
  const text = raw
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g, '')
    // Direction overrides and isolates: a title could otherwise flip how the link after it reads.
    .replace(/[\u202A-\u202E\u2066-\u2069]/g, '')
    // Invisible characters (zero-width space, word joiner, BOM, soft hyphen): a title of only these would be a blank link.
    // Zero-width (non-)joiners stay: scripts such as Persian and emoji sequences need them.
    .replace(/[\u200B\u2060\uFEFF\u00AD]/g, '')
    .replace(/\s+/g, ' ')
    .trim()
    // A lone surrogate (half an emoji, cut off upstream) is not valid text: show it as the replacement mark.
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
  return clip(text, max);
}

/** The first `max` UTF-16 units of `s`, never ending in half an emoji (a lone surrogate renders as �). */
export function clip(s: string, max: number): string {
  if (s.length <= max) return s;
  const end = /[\uD800-\uDBFF]/.test(s[max - 1] ?? '') ? max - 1 : max;
  return s.slice(0, end);
}

/** "Ada Lovelace, Alan Turing, Grace Hopper et al." — short enough for an email line. */
export function shortAuthors(authors: string[], max = 3): string {
  if (authors.length <= max) return authors.join(', ');
  return `${authors.slice(0, max).join(', ')} et al.`;
}
