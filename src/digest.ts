/**
 * One subscriber's digest: selection → rendered email within the size budget.
 * Shared by `run` (which sends it) and `preview` (which shows it).
 */
import type { Catalog } from './catalog.js';
import { renderWithinBudget, type RenderedEmail, type Renderer } from './render.js';
import { select, SPECIAL_SECTIONS, type FiledPaper, type Profile, type Selection } from './selection.js';
import type { LinkBuilder } from './tokens.js';

const SPECIAL: ReadonlySet<string> = new Set(Object.values(SPECIAL_SECTIONS));

export interface DigestRecipient extends Profile {
  email: string;
  name?: string;
}

/** The recipient of a preview "for these topics": defaults for everything else, id "preview". */
export function topicsRecipient(topics: string[]): DigestRecipient {
  return { id: 'preview', email: 'preview@example.org', topics, keywords: [], authors: [], max_papers: 30, min_upvotes: 0, top_of_day: 0 };
}

export interface ComposeDeps {
  catalog: Catalog;
  renderer: Renderer;
  links: LinkBuilder;
  maxEmailBytes: number;
}

export interface ComposedDigest {
  selection: Selection;
  /** Absent when there is nothing to send. */
  email?: RenderedEmail & { fullShown: number; overBudget: boolean };
  paperIds: string[];
}

export function composeDigest(
  recipient: DigestRecipient,
  filed: FiledPaper[],
  date: string,
  deps: ComposeDeps,
  alreadySent: ReadonlySet<string> = new Set(),
): ComposedDigest {
  const selection = select(recipient, filed, deps.catalog, alreadySent);
  const paperIds = selection.sections.flatMap((s) => s.entries.map((e) => e.paper.id));
  if (selection.total === 0) return { selection, paperIds };
  const names = new Map(deps.catalog.topics.map((t) => [t.id, t.name]));
  const following = [
    ...recipient.topics.map((t) => names.get(t) ?? t),
    ...(recipient.keywords.length ? ['your keywords'] : []),
    ...(recipient.authors.length ? ['your authors'] : []),
    ...(recipient.top_of_day > 0 ? [`the top ${recipient.top_of_day} of the day`] : []),
  ];
  const email = renderWithinBudget(
    deps.renderer,
    selection,
    {
      date,
      recipientName: recipient.name,
      following,
      manageUrl: deps.links.manageUrl(recipient.id, recipient.email),
      unsubscribeUrl: deps.links.unsubscribeUrl(recipient.id, recipient.email),
      topicName: (id) => names.get(id) ?? id,
    },
    recipient.max_papers,
    deps.maxEmailBytes,
  );
  return { selection, email, paperIds };
}

/** The JSON shape of `paperboy preview --format json` (field names are a contract). */
export function digestJson(recipientId: string, date: string, d: ComposedDigest) {
  return {
    subscriber: recipientId,
    date,
    subject: d.email?.subject ?? null,
    preheader: d.email?.preheader ?? null,
    bytes: d.email?.htmlBytes ?? 0,
    total: d.selection.total,
    emptyReason: d.selection.emptyReason ?? null,
    sections: d.selection.sections.map((s) => ({
      topic: s.topic,
      // Sections that are not a catalog topic (favourite authors, own keywords, top of the day) carry a
      // reserved id no topic may take; `kind` says so without a lookup in the catalog.
      kind: SPECIAL.has(s.topic) ? s.topic : 'topic',
      name: s.name,
      papers: s.entries.map((e) => ({
        id: e.paper.id,
        title: e.paper.title,
        upvotes: e.paper.upvotes,
        score: e.score,
        matched: e.matched,
        alsoIn: e.alsoIn,
        favourite: e.favourite,
        full: e.full,
        url: e.paper.links.hf,
      })),
    })),
  };
}
