/**
 * Hugging Face Daily Papers API: GET {base}?date=YYYY-MM-DD&limit=100&p=N,
 * paging until a short page. Weekends answer [] and that is a normal day.
 */
import { PaperboyError } from '../errors.js';
import { listingDateGap, listingItems, parseListing, type ParsedListing } from '../listing.js';
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
      let bytes = 0;
      for (let page = 0; ; page++) {
        if (page === MAX_PAGES) {
          throw new PaperboyError(
            'LISTING',
            `${baseUrl}?date=${date}: more than ${MAX_PAGES * PAGE_SIZE} papers for one day, page after page of new ones: ` +
              'not a daily listing (does the server ignore "limit"?)',
          );
        }
        const url = new URL(baseUrl);
        url.searchParams.set('date', date);
        url.searchParams.set('limit', String(PAGE_SIZE));
        url.searchParams.set('p', String(page));
        // Each response is capped as it streams in (getText); the pages kept are capped together below.
        const body = await getText(url.href, http);
        let json: unknown;
        try {
          json = JSON.parse(body.replace(/^\uFEFF/, ''));
        } catch {
          throw new PaperboyError('LISTING', `${url.href}: response is not JSON (starts with ${JSON.stringify(body.slice(0, 60))})`);
        }
        // The same unwrapping and the same error wording as every other source.
        const pageItems = listingItems(json, url.href);
        // A server that ignores `p` would hand back page 0 forever: stop when a page brings nothing new.
        const ids = pageItems.map(itemId);
        if (page > 0 && ids.every((id) => id !== undefined && seen.has(id))) break;
        // Counted once kept: a repeated page is dropped, and so are its bytes.
        bytes += Buffer.byteLength(body);
        if (bytes > http.maxBytes) {
          throw new PaperboyError(
            'SOURCE',
            `${url.href}: the listing's pages so far come to ${bytes} bytes, over the ${http.maxBytes}-byte cap (SOURCE_MAX_BYTES)`,
          );
        }
        ids.forEach((id) => id && seen.add(id));
        items.push(...pageItems);
        if (pageItems.length < PAGE_SIZE) break;
      }
      const origin = `${baseUrl}?date=${date}`;
      const listing = parseListing(items, origin);
      // Asked for one day and given another: the server ignored `date` (a mirror, or an API change). Sent
      // under this date, it would be yesterday's news or a year-old list. A listing file may be any day
      // (`--listing` warns instead); a source asked for a date must answer for it.
      const gap = listing.listedOn ? listingDateGap(listing, date) : undefined;
      if (gap && Math.abs(gap.days) > gap.slack) {
        throw new PaperboyError(
          'LISTING',
          `${origin}: asked for ${date} but the papers were listed on ${gap.from} (${Math.abs(gap.days)} days apart): ` +
            'the server ignored the date; nothing was sent',
        );
      }
      return listing;
    },
  };
}

function itemId(item: unknown): string | undefined {
  const id = (item as { paper?: { id?: unknown } } | null)?.paper?.id;
  return typeof id === 'string' ? id : undefined;
}
