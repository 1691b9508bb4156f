/**
 * What the web app's handlers share: settings, signed links, the catalog and
 * subscriber store (re-read per request, so an edit made in a text editor,
 * the CLI or the topic page is seen at once), the compiled templates
 * (refreshed when a template changes), the listings the preview may open and
 * the ledger's "last delivery".
 */
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { loadCatalogOrBundled, type LoadedCatalog } from '../catalog.js';
import { PACKAGE_ROOT, TEMPLATES_DIR, type Config } from '../config.js';
import { getRenderer, makeSource, refreshRenderer } from '../context.js';
import { DATE_RE, latestListingDate } from '../dates.js';
import { Ledger } from '../ledger.js';
import type { ParsedListing } from '../listing.js';
import type { Logger } from '../log.js';
import type { MessageSettings } from '../message.js';
import type { Renderer } from '../render.js';
import { fileSource } from '../sources/file.js';
import { SubscriberStore } from '../subscribers.js';
import { linkBuilder, type LinkBuilder } from '../tokens.js';

export interface ServerOptions {
  config: Config;
  /** The link-signing secret (TOKEN_SECRET or the generated one). */
  secret: string;
  log: Logger;
  /** Default: the package's templates/. */
  templatesDir?: string;
  /** Default: the package's samples/. */
  samplesDir?: string;
  /** Watch templates and subscribers and tell open previews to reload (default true). */
  liveReload?: boolean;
}

export interface ListingChoice {
  /** What the form sends back: "samples/NAME.json", "listings/NAME.json" or "hf". */
  key: string;
  label: string;
  /** Absent for the live API. */
  file?: string;
  /** The date in the file name, if any: the natural digest date for it. */
  date?: string;
}

export const HF_CHOICE = 'hf';

export class Deps {
  readonly config: Config;
  readonly secret: string;
  readonly log: Logger;
  readonly links: LinkBuilder;
  readonly message: MessageSettings;
  readonly templatesDir: string;
  readonly samplesDir: string;
  readonly listingsDir: string | undefined;
  readonly liveReload: boolean;
  private readonly fileCache = new Map<string, { mtimeMs: number; size: number; listing: ParsedListing }>();
  private readonly apiCache = new Map<string, { at: number; listing: Promise<ParsedListing> }>();

  constructor(opts: ServerOptions) {
    this.config = opts.config;
    this.secret = opts.secret;
    this.log = opts.log;
    this.links = linkBuilder(opts.config.PUBLIC_URL, opts.secret);
    this.message = { from: opts.config.MAIL_FROM, unsubscribeMailto: opts.config.UNSUBSCRIBE_MAILTO, links: this.links };
    this.templatesDir = opts.templatesDir ?? TEMPLATES_DIR;
    this.samplesDir = opts.samplesDir ?? path.join(PACKAGE_ROOT, 'samples');
    this.listingsDir = opts.config.LISTINGS_DIR ? path.resolve(opts.config.LISTINGS_DIR) : undefined;
    this.liveReload = opts.liveReload ?? true;
  }

  /** The catalog and a store bound to it, read now. */
  async parts(): Promise<{ catalog: LoadedCatalog; store: SubscriberStore }> {
    const catalog = await loadCatalogOrBundled(this.config.subscribersDir);
    return { catalog, store: new SubscriberStore(this.config.subscribersDir, catalog) };
  }

  renderer(): Promise<Renderer> {
    return getRenderer(this.templatesDir, { cache: true });
  }

  refreshTemplates(): void {
    refreshRenderer(this.templatesDir);
  }

  /** Papers a subscriber got for other digest dates (read only; empty when nothing was ever sent). */
  sentBefore(id: string, date: string): Set<string> {
    if (!existsSync(path.join(this.config.dataDir, 'ledger.jsonl'))) return new Set();
    return new Ledger(this.config.dataDir).papersSentBefore(id, date);
  }

  /** Whether mail to the subscriber bounced on its last BOUNCE_DAYS tries (read only; false with no ledger). */
  bouncing(id: string): boolean {
    if (!existsSync(path.join(this.config.dataDir, 'ledger.jsonl'))) return false;
    return new Ledger(this.config.dataDir).bouncing(id, this.config.BOUNCE_DAYS);
  }

  /** Last digest date per subscriber; empty when nothing was ever sent (the ledger file is not created by looking). */
  lastSent(): Map<string, string> {
    if (!existsSync(path.join(this.config.dataDir, 'ledger.jsonl'))) return new Map();
    return new Ledger(this.config.dataDir).lastSent();
  }

  /**
   * The listings a form may name: the JSON files directly inside samples/ and
   * LISTINGS_DIR, and the live API. A request names one by key and gets it
   * only if the key is in this list, so no request can make the app read any
   * other file.
   */
  async listingChoices(): Promise<ListingChoice[]> {
    const out: ListingChoice[] = [];
    const scan = async (dir: string | undefined, prefix: string, label: string) => {
      if (!dir) return;
      const names = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const e of names
        .filter((e) => e.isFile() && e.name.endsWith('.json') && !e.name.startsWith('.'))
        .sort((a, b) => a.name.localeCompare(b.name))) {
        out.push({
          key: `${prefix}/${e.name}`,
          label: `${label}: ${e.name}`,
          file: path.join(dir, e.name),
          date: /(\d{4}-\d{2}-\d{2})/.exec(e.name)?.[1],
        });
      }
    };
    await scan(this.samplesDir, 'samples', 'Sample');
    await scan(this.listingsDir, 'listings', 'Saved');
    // Without an admin login the preview is anonymous: no outbound fetches on its behalf.
    if (this.config.ADMIN_TOKEN) out.push({ key: HF_CHOICE, label: 'Hugging Face API (live, for the date)' });
    return out;
  }

  async listingChoice(key: string | undefined): Promise<ListingChoice | undefined> {
    const choices = await this.listingChoices();
    if (!key) return choices[0];
    return choices.find((c) => c.key === key);
  }

  defaultDate(choice: ListingChoice | undefined): string {
    return choice?.date ?? latestListingDate(new Date(), this.config.DIGEST_TZ);
  }

  /** The papers of a listing choice for a date: files re-read only when they change, API answers kept 10 minutes. */
  async listing(choice: ListingChoice, date: string): Promise<ParsedListing> {
    if (choice.file) {
      const st = await stat(choice.file);
      const hit = this.fileCache.get(choice.file);
      if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit.listing;
      const listing = await fileSource(choice.file).fetch(date);
      this.fileCache.set(choice.file, { mtimeMs: st.mtimeMs, size: st.size, listing });
      return listing;
    }
    if (!DATE_RE.test(date)) throw new Error(`not a date: ${date}`);
    const hit = this.apiCache.get(date);
    if (hit && Date.now() - hit.at < 600_000) return hit.listing;
    const listing = makeSource(this.config, undefined, this.log).fetch(date);
    this.apiCache.set(date, { at: Date.now(), listing });
    listing.catch(() => this.apiCache.delete(date));
    if (this.apiCache.size > 20) this.apiCache.delete(this.apiCache.keys().next().value!);
    return listing;
  }
}
