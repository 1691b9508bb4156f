/**
 * Hugging Face Daily Papers API: GET {base}?date=YYYY-MM-DD&limit=100&p=N,
 * paging until a short page. Weekends answer [] and that is a normal day.
 */
import { PaperboyError } from '../errors.js';
import { listingItems, parseListing, type ParsedListing } from '../listing.js';
import type { Source } from '../source.js';
import { getText, type HttpOptions } from './http.js';

const PAGE_SIZE = 100;
const MAX_PAGES = 20; // 2,000 papers a day is far beyond any real day: stop rather than loop

export function hfSource(baseUrl: string, http: HttpOptions): Source {
  return {
    name: baseUrl,
    async fetch(date: string): Promise<ParsedListing> {
      const items: unknown[] = [];
      const seen = new Set<string>();
      for (let page = 0; page < MAX_PAGES; page++) {
        const url = new URL(baseUrl);
        url.searchParams.set('date', date);
        url.searchParams.set('limit', String(PAGE_SIZE));
        url.searchParams.set('p', String(page));
        const body = await getText(url.href, http);
        let json: unknown;
        try {
          json = JSON.parse(body);
        } catch {
          throw new PaperboyError('LISTING', `${url.href}: response is not JSON (starts with ${JSON.stringify(body.slice(0, 60))})`);
        }
        // The same unwrapping and the same error wording as every other source.
        const pageItems = listingItems(json, url.href);
        // A server that ignores `p` would hand back page 0 forever: stop when a page brings nothing new.
        const ids = pageItems.map(itemId);
        if (page > 0 && ids.every((id) => id !== undefined && seen.has(id))) break;
        ids.forEach((id) => id && seen.add(id));
        items.push(...pageItems);
        if (pageItems.length < PAGE_SIZE) break;
      }
      return parseListing(items, `${baseUrl}?date=${date}`);
    },
  };
}

function itemId(item: unknown): string | undefined {
  const id = (item as { paper?: { id?: unknown } } | null)?.paper?.id;
  return typeof id === 'string' ? id : undefined;
}
