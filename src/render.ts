/**
 * Rendering: MJML is compiled once per run (it is slow: tens of ms) into HTML
 * that still holds Handlebars expressions; Handlebars then fills it per
 * subscriber in a fraction of a millisecond. MJML never sees listing data, so
 * a title like <mj-include path="/etc/passwd"/> is just text that Handlebars
 * escapes. The plain-text part and the subject are their own templates.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import Handlebars from 'handlebars';
import mjml2html from 'mjml';
import { PaperboyError } from './errors.js';
import { clip, shortAuthors, type Paper } from './paper.js';
import { limitFull, SPECIAL_SECTIONS, type DigestEntry, type Selection } from './selection.js';

export interface RenderContext {
  date: string; // YYYY-MM-DD
  recipientName?: string;
  /** Display names of everything this subscriber follows (for the footer). */
  following: string[];
  manageUrl: string;
  unsubscribeUrl: string;
  /** Map a topic id to its display name, for "also in" tags. */
  topicName: (id: string) => string;
}

export interface RenderedEmail {
  subject: string;
  preheader: string;
  html: string;
  text: string;
  /** UTF-8 bytes of the HTML part: Gmail clips messages above 102 KB. */
  htmlBytes: number;
}

type Template = (ctx: unknown) => string;

export class Renderer {
  private constructor(
    private readonly html: Template,
    private readonly text: Template,
    private readonly subject: Template,
  ) {}

  /** Compile every template under `dir` once. */
  static async create(dir: string): Promise<Renderer> {
    const read = (f: string) =>
      readFile(path.join(dir, f), 'utf8').catch((e: NodeJS.ErrnoException) => {
        throw new PaperboyError('NOT_FOUND', `${path.join(dir, f)}: template missing (${e.code})`);
      });
    const [mjmlSource, textSource, subjectSource] = await Promise.all([read('digest.mjml'), read('digest.txt.hbs'), read('subject.hbs')]);

    // HTML: escaping on (the default); strict so a missing field fails the render instead of going out blank.
    const htmlEnv = Handlebars.create();
    // Text and subject are not HTML: escaping would print "&lt;" to the reader. nodemailer encodes headers.
    const textEnv = Handlebars.create();
    const partialDir = path.join(dir, 'partials');
    for (const name of (await readdir(partialDir).catch(() => [])).filter((n) => n.endsWith('.hbs'))) {
      const src = await readFile(path.join(partialDir, name), 'utf8');
      htmlEnv.registerPartial(name.slice(0, -4), src);
    }
    const compiledHtml = await compileMjml(mjmlSource, path.join(dir, 'digest.mjml'));
    const opts = { strict: true, knownHelpersOnly: true, assumeObjects: true } as const;
    return new Renderer(
      htmlEnv.compile(compiledHtml, opts),
      textEnv.compile(textSource, { ...opts, noEscape: true }),
      textEnv.compile(subjectSource.trim(), { ...opts, noEscape: true }),
    );
  }

  render(view: EmailView): RenderedEmail {
    const subject = this.subject(view).replace(/\s+/g, ' ').trim();
    const html = this.html({ ...view, subject });
    const text =
      this.text({ ...view, subject })
        .replace(/\n{3,}/g, '\n\n')
        .trim() + '\n';
    return { subject, preheader: view.preheader, html, text, htmlBytes: Buffer.byteLength(html) };
  }
}

/** MJML → HTML with Handlebars expressions intact; refuse output that lost any. */
export async function compileMjml(source: string, file: string): Promise<string> {
  const result = await mjml2html(source, {
    validationLevel: 'strict',
    ignoreIncludes: true,
    keepComments: false,
    minify: true,
    minifyOptions: { minifyCss: false, minifyJs: false },
    fonts: {},
  } as Parameters<typeof mjml2html>[1]);
  if (result.errors?.length) {
    const lines = result.errors.map((e) => `  line ${e.line}: ${e.message}`);
    throw new PaperboyError('NOT_FOUND', `${file}: MJML errors:\n${lines.join('\n')}`);
  }
  const expressions = (s: string) => (s.replace(/<!--[\s\S]*?-->/g, '').match(/\{\{[^}]*\}\}/g) ?? []).map((x) => x.replace(/\s+/g, ''));
  // MJML may repeat an expression (the title also becomes an aria-label) but must not lose one.
  const after = expressions(result.html);
  const lost: string[] = [];
  for (const x of expressions(source)) {
    const at = after.indexOf(x);
    if (at === -1) lost.push(x);
    else after.splice(at, 1);
  }
  if (lost.length) {
    throw new PaperboyError(
      'NOT_FOUND',
      `${file}: MJML dropped Handlebars expressions (${lost.join(' ')}); put loops and conditionals inside <mj-text> or <mj-raw>`,
    );
  }
  return result.html;
}

/** Everything the templates read. Listing text is plain strings here; the templates escape it. */
export interface EmailView {
  subject?: string;
  preheader: string;
  date: string;
  dateLabel: string;
  dateShort: string;
  countLabel: string;
  topicsLabel: string;
  followingLabel: string;
  recipientName: string;
  manageUrl: string;
  unsubscribeUrl: string;
  sections: Array<{ topic: string; name: string; count: number; full: PaperView[]; compact: PaperView[] }>;
}

export interface PaperView {
  id: string;
  title: string;
  authors: string;
  organization: string;
  upvotes: number;
  excerpt: string;
  links: Paper['links'];
  githubRepo: string;
  projectPage: string;
  favourite: boolean;
  matchedLabel: string;
  alsoInLabel: string;
}

const EXCERPT_CHARS = 320;

export function excerpt(p: Paper, max = EXCERPT_CHARS): string {
  const src = p.aiSummary || p.abstract;
  if (src.length <= max) return src;
  const cut = clip(src, max);
  const at = cut.lastIndexOf(' ');
  return `${cut.slice(0, at > max * 0.6 ? at : cut.length).replace(/[\s,;:.]+$/, '')}…`;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** "A", "A and B", "A, B and C", or "A, B +3" past `max`. */
export function listLabel(names: string[], max = 2): string {
  if (names.length > max) return `${names.slice(0, max).join(', ')} +${names.length - max}`;
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

export function buildView(selection: Selection, ctx: RenderContext): EmailView {
  const d = new Date(`${ctx.date}T12:00:00Z`);
  const dateLabel = d.toLocaleDateString('en-GB', { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });
  const dateShort = d.toLocaleDateString('en-GB', { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });
  const paperView = (e: DigestEntry): PaperView => ({
    id: e.paper.id,
    title: e.paper.title,
    authors: shortAuthors(e.paper.authors) || 'Unknown authors',
    organization: e.paper.organization ?? '',
    upvotes: e.paper.upvotes,
    excerpt: excerpt(e.paper),
    links: e.paper.links,
    githubRepo: e.paper.githubRepo ?? '',
    projectPage: e.paper.projectPage ?? '',
    favourite: e.favourite,
    matchedLabel: e.matched.slice(0, 4).join(', '),
    alsoInLabel: e.alsoIn.map(ctx.topicName).join(', '),
  });
  const sections = selection.sections.map((s) => ({
    topic: s.topic,
    name: s.name,
    count: s.entries.length,
    full: s.entries.filter((e) => e.full).map(paperView),
    compact: s.entries.filter((e) => !e.full).map(paperView),
  }));
  // The preheader previews what the reader sees first: the lead paper of the first section.
  const top = selection.sections[0]?.entries[0];
  const names = selection.sections.map((s) => IN_A_SENTENCE[s.topic] ?? s.name);
  const countLabel = plural(selection.total, 'new paper');
  return {
    preheader: top
      ? truncate(
          selection.total > 1
            ? `${top.paper.title} — and ${plural(selection.total - 1, 'more paper')} on ${listLabel(names, 3)}`
            : `${top.paper.title} — on ${listLabel(names, 3)}`,
          150,
        )
      : '',
    date: ctx.date,
    dateLabel,
    dateShort,
    countLabel,
    topicsLabel: listLabel(names),
    followingLabel: listLabel(ctx.following, 4) || 'the top papers of the day',
    recipientName: ctx.recipientName ?? '',
    manageUrl: ctx.manageUrl,
    unsubscribeUrl: ctx.unsubscribeUrl,
    sections,
  };
}

/** The sections that are not a topic, as the subject and preheader name them ("5 new papers on Reasoning & math and your keywords"). */
const IN_A_SENTENCE: Record<string, string> = {
  [SPECIAL_SECTIONS.authors]: 'authors you follow',
  [SPECIAL_SECTIONS.keywords]: 'your keywords',
  [SPECIAL_SECTIONS.top]: "the day's top papers",
};

const truncate = (s: string, n: number) => (s.length <= n ? s : `${clip(s, n - 1)}…`);

/** Gmail shows "[Message clipped]" when the HTML of a message exceeds about 102 KB. */
export const GMAIL_CLIP_BYTES = 102 * 1024;

/**
 * Render within the size budget: start with the subscriber's max_papers in
 * full, and move the lowest-ranked papers to compact lines until the HTML
 * fits. Papers are never dropped to fit.
 */
export function renderWithinBudget(
  renderer: Renderer,
  selection: Selection,
  ctx: RenderContext,
  maxPapers: number,
  maxBytes: number,
): RenderedEmail & { fullShown: number; overBudget: boolean } {
  let full = Math.min(maxPapers, selection.total);
  for (;;) {
    limitFull(selection, full);
    const out = renderer.render(buildView(selection, ctx));
    if (out.htmlBytes <= maxBytes) return { ...out, fullShown: full, overBudget: false };
    if (full === 0) return { ...out, fullShown: 0, overBudget: true };
    // Shrink geometrically by the overshoot, so a big day converges in a few renders.
    full = Math.max(0, Math.min(full - 1, Math.floor((full * maxBytes) / out.htmlBytes)));
  }
}
