/**
 * A listing saved as JSON (the API's shape): its items are that day's listing,
 * whatever dates they carry. For offline runs, demos and tests.
 */
import { readFile } from 'node:fs/promises';
import { PaperboyError } from '../errors.js';
import { parseListing, type ParsedListing } from '../listing.js';
import type { Source } from '../source.js';

export function fileSource(file: string): Source {
  return {
    name: file,
    async fetch(): Promise<ParsedListing> {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (e) {
        throw new PaperboyError(
          'LISTING',
          `${file}: cannot read listing file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
        );
      }
      let json: unknown;
      try {
        // A byte-order mark (Windows editors add one) is not part of the JSON.
        json = JSON.parse(text.replace(/^\uFEFF/, ''));
      } catch (e) {
        throw new PaperboyError('LISTING', `${file}: not valid JSON (${(e as Error).message})`);
      }
      return parseListing(json, file);
    },
  };
}
