/**
 * The Source seam: where a day's listing comes from. Implementations live in
 * src/sources/ (the Hugging Face API, a local file).
 */
import type { ParsedListing } from './listing.js';

export interface Source {
  /** Names the source in logs and errors, e.g. a URL or a file path. */
  readonly name: string;
  /** The listing for a digest date (YYYY-MM-DD). An empty day is `papers: []`, not an error. */
  fetch(date: string): Promise<ParsedListing>;
}
